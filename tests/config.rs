//! Live configuration on real libraries: each outcome (applied, recreated, rejected,
//! failed) reported and published, an owner that missed revisions applying only the
//! newest (from its mailbox and from a `Lagged` event), new slots starting from the live
//! configuration, the command's failures, and owners without slots hearing the notice.

use std::time::Duration;

#[allow(dead_code)]
mod common;
mod slot_support;

use common::{Setup, WAIT};
use fixture_api::tally::{TallyCalls, TallyInterface};
use plugin_runtime::events::{Event, EventFilter, EventKind};
use plugin_runtime::generation::{Command, CommandError, ConfigResult, Outcome};
use plugin_runtime::runtime::{OwnerEvent, blocking_waits};
use plugin_runtime::{Listener, RuntimeConfig, RuntimeHandle};
use slot_support::{command, poll_until};

const TALLY: &str = "fixture.tally";
const COUNTER: &str = "counter";

fn tally_setup(tag: &str, config: RuntimeConfig) -> Setup {
    let setup = Setup::with_config(tag, config);
    let path = setup.install("fixture-tally-v1", "libtally.so");
    setup.load(&path);
    setup
}

fn configure(runtime: &RuntimeHandle, config: &str) -> Outcome {
    command(
        runtime,
        Command::Configure {
            plugin_id: TALLY.into(),
            type_id: COUNTER.into(),
            config: config.as_bytes().to_vec(),
        },
    )
}

/// The `instance_configured` records heard so far: (revision, result, skipped,
/// message).
fn heard(listener: &mut Listener) -> Vec<(u64, ConfigResult, u64, String)> {
    std::iter::from_fn(|| listener.try_recv())
        .filter_map(|record| match record.event {
            Event::InstanceConfigured {
                revision,
                result,
                skipped,
                message,
                plugin_id,
                type_id,
                ..
            } => {
                assert_eq!((plugin_id.as_str(), type_id.as_str()), (TALLY, COUNTER));
                Some((revision, result, skipped, message))
            }
            _ => None,
        })
        .collect()
}

/// Waits (on this test's control side) until `n` records were heard.
fn hear(listener: &mut Listener, n: usize) -> Vec<(u64, ConfigResult, u64, String)> {
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while all.len() < n {
        all.extend(heard(listener));
        assert!(std::time::Instant::now() < deadline, "heard only {all:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    all
}

#[test]
fn each_outcome_is_acted_on_reported_and_published() {
    let setup = tally_setup("config-outcomes", RuntimeConfig::default());
    let filter = EventFilter::all().kind(EventKind::InstanceConfigured);
    let mut listener = setup.runtime.listen(filter).unwrap();
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let waits = blocking_waits();
    let mut slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    poll_until(&owner, |_| slot.get().is_some());
    slot.get_mut().unwrap().tick();
    let first_ticket = slot.get().unwrap().ticket();

    // In place: the same instance takes the new setting.
    let Outcome::Configured {
        revision,
        instances,
        ..
    } = configure(&setup.runtime, "inplace:7")
    else {
        panic!("the configure failed");
    };
    assert_eq!((revision, instances), (1, 1));
    poll_until(&owner, |p| p.applied == 1);
    assert_eq!(slot.get().unwrap().setting(), 7);
    assert_eq!(
        slot.get().unwrap().ticket(),
        first_ticket,
        "the same instance"
    );
    assert_eq!(slot.source().revision, 1);

    // Recreate: a new instance with the new setting, the count carried.
    configure(&setup.runtime, "recreate:9");
    let polled = poll_until(&owner, |p| p.recreated == 1);
    assert_eq!((polled.swapped, polled.state_carried), (1, 1));
    let instance = slot.get().unwrap();
    assert_eq!((instance.setting(), instance.count()), (9, 1));
    assert_ne!(instance.ticket(), first_ticket, "a new instance");
    drop(instance);

    // Rejected by the plan, failed by the apply hook, failed by the new instance's
    // create: the instance that serves keeps setting 9.
    configure(&setup.runtime, "reject");
    poll_until(&owner, |p| p.rejected == 1);
    configure(&setup.runtime, "fail");
    poll_until(&owner, |p| p.failed == 1);
    configure(&setup.runtime, "badcreate");
    let polled = poll_until(&owner, |p| p.failed == 1);
    assert_eq!(polled.errors, 1, "the create failed: {polled:?}");
    assert_eq!(slot.get().unwrap().setting(), 9);
    assert_eq!(slot.source().revision, 2, "the configuration it runs with");

    let records = hear(&mut listener, 5);
    let results: Vec<(u64, ConfigResult, u64)> = records
        .iter()
        .map(|(r, res, s, _)| (*r, *res, *s))
        .collect();
    assert_eq!(
        results,
        [
            (1, ConfigResult::Applied, 0),
            (2, ConfigResult::Recreated, 0),
            (3, ConfigResult::Rejected, 0),
            (4, ConfigResult::Failed, 0),
            (5, ConfigResult::Failed, 0),
        ]
    );
    assert!(records[0].3.is_empty() && records[1].3.is_empty());
    assert!(records[2].3.contains("refused"), "{records:?}");
    assert!(records[3].3.contains("applying"), "{records:?}");
    assert!(records[4].3.contains("create"), "{records:?}");
    assert_eq!(
        blocking_waits(),
        waits,
        "the owner thread waited on the actor"
    );
}

#[test]
fn an_owner_that_missed_revisions_applies_only_the_newest() {
    let setup = tally_setup("config-skipped", RuntimeConfig::default());
    let filter = EventFilter::all().kind(EventKind::InstanceConfigured);
    let mut listener = setup.runtime.listen(filter).unwrap();
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    poll_until(&owner, |_| slot.get().is_some());

    for n in 1..=3 {
        configure(&setup.runtime, &format!("inplace:{n}"));
    }
    let polled = poll_until(&owner, |p| p.applied >= 1);
    assert_eq!((polled.applied, polled.skipped), (1, 2));
    assert_eq!(slot.get().unwrap().setting(), 3);
    assert_eq!(
        hear(&mut listener, 1),
        [(3, ConfigResult::Applied, 2, String::new())]
    );
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        heard(&mut listener).is_empty(),
        "revisions 1 and 2 were never applied"
    );
}

#[test]
fn a_lagging_owner_hears_the_newest_configuration_in_its_lagged_event() {
    // Two notices fit; the others are missed and coalesced.
    let config = RuntimeConfig::default().with_mailbox_capacity(4);
    let setup = tally_setup("config-lagged", config);
    let filter = EventFilter::all().kind(EventKind::InstanceConfigured);
    let mut listener = setup.runtime.listen(filter).unwrap();
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    poll_until(&owner, |_| slot.get().is_some());

    for n in 1..=6 {
        configure(&setup.runtime, &format!("inplace:{n}"));
    }
    poll_until(&owner, |_| slot.get().unwrap().setting() == 6);
    // The reports reach the listener through the actor, a little later.
    let mut records = Vec::new();
    while records
        .last()
        .is_none_or(|r: &(u64, ConfigResult, u64, String)| r.0 < 6)
    {
        records.extend(hear(&mut listener, 1));
    }
    let newest = records.last().expect("a report");
    assert_eq!((newest.0, newest.1), (6, ConfigResult::Applied));
    assert!(
        records.len() <= 2,
        "at most the queued one and the newest: {records:?}"
    );
    let skipped: u64 = records.iter().map(|r| r.2).sum();
    assert_eq!(
        skipped + records.len() as u64,
        6,
        "each revision applied or skipped"
    );
}

#[test]
fn a_new_slot_starts_from_the_live_configuration() {
    let setup = tally_setup("config-live", RuntimeConfig::default());
    let Outcome::Configured { instances, .. } = configure(&setup.runtime, "inplace:4") else {
        panic!("the configure failed");
    };
    assert_eq!(instances, 0);
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"inplace:1");
    poll_until(&owner, |_| slot.get().is_some());
    assert_eq!(slot.get().unwrap().setting(), 4);
    assert_eq!(slot.source().revision, 1);
    // An instance made with `create` runs with exactly the bytes it was given.
    let plain = owner
        .create::<TallyInterface>(TALLY, COUNTER, b"inplace:1")
        .unwrap();
    assert_eq!(plain.setting(), 1);
}

#[test]
fn a_configure_fails_for_an_unknown_plugin_a_missing_type_and_a_disabled_plugin() {
    let setup = tally_setup("config-fails", RuntimeConfig::default());
    let unknown = Command::Configure {
        plugin_id: "nobody".into(),
        type_id: COUNTER.into(),
        config: Vec::new(),
    };
    assert_eq!(
        setup.call(unknown),
        Outcome::Failed(CommandError::UnknownPlugin {
            plugin_id: "nobody".into()
        })
    );
    let missing = Command::Configure {
        plugin_id: TALLY.into(),
        type_id: "echo".into(),
        config: Vec::new(),
    };
    assert_eq!(
        setup.call(missing),
        Outcome::Failed(CommandError::NoCapability {
            plugin_id: TALLY.into(),
            type_id: "echo".into(),
        })
    );
    setup.call(Command::SetEnabled {
        plugin_id: TALLY.into(),
        enabled: false,
    });
    assert_eq!(
        configure(&setup.runtime, "inplace:1"),
        Outcome::Failed(CommandError::Disabled {
            plugin_id: TALLY.into()
        })
    );
}

#[test]
fn an_owner_holding_plain_instances_hears_the_notice_itself() {
    let setup = tally_setup("config-plain", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let slot = owner.slot::<TallyInterface>(TALLY, "other", b"");
    let _plain = owner.create::<TallyInterface>(TALLY, COUNTER, b"").unwrap();
    configure(&setup.runtime, "inplace:2");
    let polled = poll_until(&owner, |p| !p.others.is_empty());
    match &polled.others[..] {
        [OwnerEvent::Configure(notice)] => {
            assert_eq!((notice.revision, &*notice.config), (1, &b"inplace:2"[..]));
        }
        other => panic!("expected the notice, got {other:?}"),
    }
    assert!(
        slot.get().is_none(),
        "no type `other`: the slot stays empty"
    );
    assert!(polled.errors >= 1, "{polled:?}");
}
