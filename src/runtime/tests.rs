//! Runtime tests that need the actor's internals.

use std::time::Duration;

use super::mailbox::HeldBack;
use super::protocol::Request;
use super::*;
use crate::events::{Event, EventFilter};
use crate::generation::{Command, NotFoundError, Outcome};
use crate::loader::LoaderConfig;
use crate::owner::{OwnerError, Subscription};

/// The fixtures' `Probe` interface, declared again here because this test crate cannot
/// depend on the fixtures' interface crate (which depends on this crate). The layout
/// check at resolve time is what makes the copy safe: a different declaration would be
/// refused, not misread.
#[crate::interface(kind = "dsp", major = 1)]
pub trait Probe {
    fn tag(&self) -> u32;
    fn process(&mut self, samples: &mut [f32]) -> Result<(), crate::interface::PluginError>;
    fn accumulate(&mut self, x: u64) -> u64;
}

#[test]
fn a_panicking_actor_poisons_the_runtime_and_unloads_nothing() {
    let root = std::env::temp_dir().join(format!("plugin-runtime-poison-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let path = fixture_api::build::fixtures().path("fixture-echo-v1");
    let load = Command::Load {
        path,
        expected_plugin_id: None,
    };
    let outcome = runtime.call(load, Duration::from_secs(10)).unwrap();
    assert!(matches!(outcome, Outcome::Loaded { .. }), "{outcome:?}");
    let shadow = runtime
        .pin("fixture.echo")
        .unwrap()
        .library()
        .shadow_path()
        .to_owned();
    let owner = runtime.register_owner("survivor").unwrap();
    let instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();

    // Draining and held only by `instance`: a healthy actor would close it as soon as
    // the instance is dropped.
    let outcome = runtime
        .call(
            Command::Unload {
                plugin_id: "fixture.echo".into(),
            },
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(matches!(outcome, Outcome::Unloaded { .. }), "{outcome:?}");

    runtime.shared.send(Request::Panic).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !runtime.is_poisoned() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(runtime.is_poisoned());

    assert_eq!(
        runtime.call(Command::Snapshot, Duration::from_secs(1)),
        Err(RequestError::Poisoned)
    );
    assert!(matches!(
        owner.create::<ProbeInterface>("fixture.echo", "echo", b""),
        Err(CreateError::Request(RequestError::Poisoned))
    ));
    assert!(matches!(
        runtime.pin("fixture.echo"),
        Err(PinRequestError::Request(RequestError::Poisoned))
    ));
    assert!(matches!(
        runtime.register_owner("late"),
        Err(RequestError::Poisoned)
    ));
    // The instance keeps working, and its library stays mapped after it is dropped,
    // though it drains and nothing else holds it: a poisoned runtime unloads nothing.
    assert_eq!(instance.tag(), 1);
    drop(instance);
    drop(owner);
    std::thread::sleep(Duration::from_millis(50));
    assert!(crate::loader::code_mapped(&shadow).unwrap());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_listener_hears_the_poisoning_last() {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-poison-listener-{}",
        std::process::id()
    ));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let mut listener = runtime.listen(EventFilter::all()).unwrap();
    let owner = runtime.register_owner("control").unwrap();
    let outcome = runtime
        .call(Command::Snapshot, Duration::from_secs(10))
        .unwrap();
    assert!(matches!(outcome, Outcome::Snapshot(_)), "{outcome:?}");

    runtime.shared.send(Request::Panic).unwrap();
    let mut records = Vec::new();
    loop {
        match listener.recv_timeout(Duration::from_secs(10)) {
            Ok(record) => records.push(record),
            Err(ListenError::Stopped) => break,
            Err(ListenError::Timeout) => panic!("the listener was never closed: {records:?}"),
        }
    }
    let names: Vec<_> = records.iter().map(|r| r.event.name()).collect();
    assert_eq!(
        names,
        ["command_submitted", "command_completed", "runtime_poisoned"]
    );
    assert_eq!(
        records[2].event,
        Event::RuntimePoisoned {
            message: "the actor panics, as the test asked".into()
        }
    );
    assert_eq!(records[2].seq, records[1].seq + 1);
    assert!(runtime.is_poisoned());
    // Nothing reaches the actor any more, and an owner is told why.
    assert_eq!(
        owner.subscribe(Subscription::All),
        Err(SubscribeError::Request(RequestError::Poisoned))
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn subscribing_an_owner_the_core_no_longer_knows_is_refused() {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-refused-subscription-{}",
        std::process::id()
    ));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let gone = runtime.register_owner("gone").unwrap();
    let key = gone.key();
    drop(gone);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !runtime
        .snapshot(Duration::from_secs(10))
        .unwrap()
        .owners
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "never unregistered");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The public API cannot make an owner the core does not know (an owner is
    // unregistered only once it and its instances are dropped), so this builds one
    // from the parts, with the key of the owner that left.
    let (_mailbox, mailbox_rx) = crossbeam_channel::bounded(4);
    let stale = Owner::new(
        runtime.clone(),
        key,
        "gone".into(),
        mailbox_rx,
        HeldBack::default(),
    );
    assert_eq!(
        stale.subscribe(Subscription::Plugin("fixture.echo".into())),
        Err(SubscribeError::Refused(OwnerError::NotFound(
            NotFoundError::Owner(key)
        )))
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_full_request_queue_is_a_typed_error_after_the_send_timeout() {
    let root = std::env::temp_dir().join(format!("plugin-runtime-full-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default()
            .with_loader(LoaderConfig::default().with_shadow_root(&root))
            .with_queue_capacity(2)
            .with_send_timeout(Duration::from_millis(20)),
    )
    .unwrap();
    let (release, until) = crossbeam_channel::bounded::<()>(0);
    runtime.shared.send(Request::Block { until }).unwrap();
    // The actor is now blocked (or about to take the block request): at most two more
    // requests fit, and one of the next three must find the queue full.
    let results: Vec<_> = (0..3)
        .map(|_| runtime.call(Command::Snapshot, Duration::from_millis(1)))
        .collect();
    assert!(
        results.contains(&Err(RequestError::QueueFull)),
        "{results:?}"
    );
    drop(release);
    // Unblocked, it answers again; nothing was lost or poisoned.
    let outcome = runtime
        .call(Command::Snapshot, Duration::from_secs(10))
        .unwrap();
    assert!(matches!(outcome, Outcome::Snapshot(_)));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_owner_that_does_not_read_gets_a_backlog_error_at_once_and_loses_no_completion() {
    let root = std::env::temp_dir().join(format!("plugin-runtime-backlog-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default()
            .with_loader(LoaderConfig::default().with_shadow_root(&root))
            .with_mailbox_capacity(16)
            .with_send_timeout(Duration::from_secs(3600)),
    )
    .unwrap();
    let owner = runtime.register_owner("control").unwrap();
    assert_eq!(owner.outstanding_limit(), 8);

    // The actor answers nothing while blocked: the refusal cannot come from it, and a
    // submit that waited for it would hang here.
    let (release, until) = crossbeam_channel::bounded::<()>(0);
    runtime.shared.send(Request::Block { until }).unwrap();
    let mut accepted = Vec::new();
    let refused = loop {
        match owner.submit(Command::Snapshot) {
            Ok(id) => accepted.push(id),
            Err(e) => break e,
        }
    };
    assert_eq!(
        refused,
        RequestError::Backlog {
            outstanding: 8,
            limit: 8
        }
    );
    assert_eq!(accepted.len(), 8);
    assert_eq!(
        owner.call(Command::Snapshot, Duration::MAX),
        Err(refused),
        "call is bounded by the same limit"
    );
    drop(release);

    // Every accepted command completes exactly once; receiving makes room again.
    let mut completed = Vec::new();
    while completed.len() < accepted.len() {
        match owner.recv_timeout(Duration::from_secs(10)) {
            Some(OwnerEvent::CommandCompleted(done)) => completed.push(done.request_id),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(completed, accepted);
    assert_eq!(owner.outstanding(), 0);
    assert_eq!(owner.try_recv(), None);
    let outcome = owner.call(Command::Snapshot, Duration::MAX).unwrap();
    assert!(matches!(outcome, Outcome::Snapshot(_)), "{outcome:?}");
    assert_eq!(owner.outstanding(), 0);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_absurd_mailbox_capacity_is_a_typed_start_error() {
    for capacity in [0, 3, MAX_MAILBOX_CAPACITY + 1, usize::MAX] {
        let result = Runtime::start(RuntimeConfig::default().with_mailbox_capacity(capacity));
        assert!(
            matches!(
                result,
                Err(StartError::Config { field: "mailbox_capacity", ref value, .. }) if *value == capacity.to_string()
            ),
            "{result:?}"
        );
    }
}

/// An owner's mailbox events cross as JSON in the schema's conventions.
#[cfg(feature = "serde")]
#[test]
fn owner_events_round_trip_through_json() {
    use crate::generation::{
        DrainReason, Notice, Outcome, RequestId, ServingCause, ServingNotice, StalledGeneration,
    };
    use crate::routing::DrainStall;

    let runtime = Runtime::start(RuntimeConfig::default()).unwrap();
    let owner = runtime.register_owner("audio").unwrap();
    let snapshot = runtime.snapshot(Duration::from_secs(30)).unwrap();
    let key = owner.key();
    let notice_key = "1:1v1".parse().unwrap();
    let events = [
        OwnerEvent::CommandCompleted(super::CommandCompleted {
            request_id: RequestId(7),
            owner: key,
            outcome: Outcome::Snapshot(snapshot),
        }),
        OwnerEvent::Draining(Notice {
            plugin_id: "p".into(),
            old: notice_key,
            new: None,
            reason: DrainReason::Disabled,
        }),
        OwnerEvent::DrainStalled(DrainStall {
            stalled: StalledGeneration {
                generation: notice_key,
                plugin_id: "p".into(),
                holders: Vec::new(),
            },
            draining_for: Duration::from_micros(12),
            report: 1,
        }),
        OwnerEvent::Serving(ServingNotice {
            plugin_id: "p".into(),
            generation: notice_key,
            cause: ServingCause::Enabled,
        }),
        OwnerEvent::Lagged {
            missed: 3,
            draining: Vec::new(),
            serving: vec![ServingNotice {
                plugin_id: "p".into(),
                generation: notice_key,
                cause: ServingCause::FirstLoad,
            }],
            configs: vec![crate::generation::ConfigNotice {
                plugin_id: "p".into(),
                type_id: "t".into(),
                revision: 2,
                config: std::sync::Arc::from(&[0xff, 0][..]),
            }],
        },
        OwnerEvent::Configure(crate::generation::ConfigNotice {
            plugin_id: "p".into(),
            type_id: "t".into(),
            revision: 1,
            config: std::sync::Arc::from(&b"gain=2"[..]),
        }),
    ];
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        let back: OwnerEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{json}");
    }
}
