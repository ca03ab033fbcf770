//! The runtime (actor, owners, instances) over real libraries built from the fixtures.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{Setup, Toucher, WAIT};
use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface, ProbeNextInterface};
use plugin_runtime::events::{Event, EventFilter, EventKind};
use plugin_runtime::generation::{
    Command, CoreConfig, ForeignKeyError, GenerationKey, GenerationState, NotFoundError, Outcome,
    Snapshot,
};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::owner::{ReserveError, Subscription};
use plugin_runtime::runtime::{CreateError, ListenError, OwnerEvent, RequestError};
use plugin_runtime::{Owner, Runtime, RuntimeConfig};

impl Setup {
    fn new(tag: &str) -> Self {
        Self::with_core(tag, CoreConfig::default())
    }

    fn with_core(tag: &str, core: CoreConfig) -> Self {
        Self::with_config(tag, RuntimeConfig::default().with_core(core))
    }

    fn snapshot(&self) -> Snapshot {
        match self.call(Command::Snapshot) {
            Outcome::Snapshot(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// The shadow copy a generation was loaded from, read through a module pin.
    fn shadow_of(&self, plugin_id: &str) -> PathBuf {
        let pin = self.runtime.pin(plugin_id).unwrap();
        pin.library().shadow_path().to_owned()
    }

    fn state(&self, generation: GenerationKey) -> GenerationState {
        self.runtime.generation_state(generation).unwrap().unwrap()
    }
}

fn code_mapped(path: &Path) -> bool {
    plugin_runtime::loader::code_mapped(path).unwrap()
}

fn draining(state: &GenerationState) -> bool {
    matches!(state, GenerationState::Draining { .. })
}

#[test]
fn reload_with_a_live_instance_drains_then_closes_when_it_is_dropped() {
    let setup = Setup::new("reload");
    let installed = setup.install("fixture-echo-v1", "libecho.so");
    let v1 = setup.load(&installed);
    let v1_shadow = setup.shadow_of("fixture.echo");
    let owner = setup.runtime.register_owner("audio.dsp").unwrap();
    let bystander = setup.runtime.register_owner("library.scanner").unwrap();
    let subscriber = setup.runtime.register_owner("settings.debug").unwrap();
    subscriber
        .subscribe(Subscription::Plugin("fixture.echo".into()))
        .unwrap();
    let mut old = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    assert_eq!(old.tag(), 1);
    assert_eq!(old.generation(), v1);

    setup.install("fixture-echo-v2", "libecho.so");
    let outcome = owner
        .call(
            Command::Reload {
                plugin_id: "fixture.echo".into(),
            },
            WAIT,
        )
        .unwrap();
    let Outcome::Loaded {
        generation: v2,
        replaced: Some(replaced),
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(replaced, v1);

    // The owner holds an instance of v1, so it is told, naming old and new.
    match owner.recv_timeout(WAIT) {
        Some(OwnerEvent::Draining(notice)) => {
            assert_eq!((notice.old, notice.new), (v1, Some(v2)));
            assert_eq!(notice.plugin_id, "fixture.echo");
        }
        other => panic!("expected a draining notice, got {other:?}"),
    }
    // A subscriber hears of it; an owner holding nothing of it does not.
    assert!(matches!(
        subscriber.recv_timeout(WAIT),
        Some(OwnerEvent::Draining(notice)) if notice.old == v1
    ));
    assert_eq!(bystander.recv_timeout(Duration::from_millis(100)), None);

    let mut new = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    assert_eq!(new.tag(), 2);
    assert_eq!(
        old.tag(),
        1,
        "the old instance keeps answering as version 1"
    );
    let mut samples = [1.0, 2.0];
    old.process(&mut samples).unwrap();
    new.process(&mut samples).unwrap();
    assert_eq!(samples, [2.0, 4.0]);
    assert!(draining(&setup.state(v1)));
    assert!(code_mapped(&v1_shadow));

    drop(old);
    setup.wait_removed(v1);
    assert!(!code_mapped(&v1_shadow), "v1 closed but still mapped");
    assert_eq!(setup.state(v2), GenerationState::Active);
    assert_eq!(new.accumulate(5), 5);
}

#[test]
fn unload_and_disable_with_live_instances_drain_then_close_and_refuse_creation() {
    let setup = Setup::new("unload");
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let threaded = setup.install("fixture-threaded", "libthreaded.so");
    let echo_gen = setup.load(&echo);
    let threaded_gen = setup.load(&threaded);
    let owner = setup.runtime.register_owner("audio.decode").unwrap();
    let echo_instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    let worker = owner
        .create::<ProbeInterface>("fixture.threaded", "worker", b"")
        .unwrap();

    assert!(matches!(
        setup.call(Command::Unload {
            plugin_id: "fixture.echo".into()
        }),
        Outcome::Unloaded { .. }
    ));
    assert!(matches!(
        setup.call(Command::SetEnabled {
            plugin_id: "fixture.threaded".into(),
            enabled: false,
        }),
        Outcome::Disabled { .. }
    ));
    assert!(draining(&setup.state(echo_gen)));
    assert!(draining(&setup.state(threaded_gen)));

    // Unloaded but still held: only draining generations are left.
    assert!(matches!(
        owner.create::<ProbeInterface>("fixture.echo", "echo", b""),
        Err(CreateError::Reserve(ReserveError::DrainingOnly { .. }))
    ));
    assert!(matches!(
        owner.create::<ProbeInterface>("fixture.threaded", "worker", b""),
        Err(CreateError::Reserve(ReserveError::Disabled { .. }))
    ));

    drop(echo_instance);
    drop(worker);
    setup.wait_removed(echo_gen);
    setup.wait_removed(threaded_gen);
    // Once its last generation is gone, an unloaded plugin is unknown.
    assert!(matches!(
        owner.create::<ProbeInterface>("fixture.echo", "echo", b""),
        Err(CreateError::Reserve(ReserveError::UnknownPlugin { .. }))
    ));

    // Enabling loads a new generation from the recorded path.
    assert!(matches!(
        setup.call(Command::SetEnabled {
            plugin_id: "fixture.threaded".into(),
            enabled: true,
        }),
        Outcome::Enabled { .. }
    ));
    let again = owner
        .create::<ProbeInterface>("fixture.threaded", "worker", b"")
        .unwrap();
    assert_eq!(again.tag(), 1);
}

#[test]
fn failed_and_panicking_creates_leave_no_ticket_or_pin() {
    let setup = Setup::new("create");
    let path = setup.install("fixture-panicky", "libpanicky.so");
    let generation = setup.load(&path);
    // The panics happen on a thread that ends, so the plugin's thread-locals do not
    // keep the library mapped after the close below.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let owner = setup.runtime.register_owner("worker").unwrap();
            match owner.create::<ProbeInterface>("fixture.panicky", "panicky", b"panic") {
                Err(CreateError::Plugin(e)) => assert!(e.is_panic(), "{e}"),
                other => panic!("{other:?}"),
            }
            match owner.create::<ProbeInterface>("fixture.panicky", "panicky", b"fail") {
                Err(CreateError::Plugin(e)) => assert!(!e.is_panic(), "{e}"),
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                owner.create::<ProbeNextInterface>("fixture.panicky", "panicky", b""),
                Err(CreateError::Reserve(ReserveError::InterfaceVersion { .. }))
            ));
            assert!(matches!(
                owner.create::<ProbeInterface>("fixture.panicky", "absent", b""),
                Err(CreateError::Reserve(ReserveError::NoCapability { .. }))
            ));
        });
    });
    let snapshot = setup.snapshot();
    assert_eq!(
        (snapshot.tickets, snapshot.pins, snapshot.instances),
        (0, 0, 0)
    );
    // Nothing holds it, so unloading collects and closes it at once.
    setup.call(Command::Unload {
        plugin_id: "fixture.panicky".into(),
    });
    setup.wait_removed(generation);
}

#[test]
fn every_command_completes_exactly_once_in_its_submitters_mailbox() {
    const OWNERS: usize = 4;
    const COMMANDS: usize = 50;
    let setup = Setup::new("mailboxes");
    let path = setup.install("fixture-echo-v1", "libecho.so");
    setup.load(&path);
    let barrier = std::sync::Barrier::new(OWNERS);
    std::thread::scope(|scope| {
        for i in 0..OWNERS {
            let runtime = setup.runtime.clone();
            let barrier = &barrier;
            scope.spawn(move || {
                let owner = runtime.register_owner(format!("owner.{i}")).unwrap();
                barrier.wait();
                let mut submitted = Vec::new();
                for n in 0..COMMANDS {
                    let command = if n % 10 == 0 {
                        Command::Reload {
                            plugin_id: "fixture.echo".into(),
                        }
                    } else {
                        Command::Snapshot
                    };
                    submitted.push(owner.submit(command).unwrap());
                }
                let mut received = Vec::new();
                while received.len() < COMMANDS {
                    match owner.recv_timeout(WAIT) {
                        Some(OwnerEvent::CommandCompleted(done)) => {
                            assert_eq!(done.owner, owner.key(), "delivered to the wrong owner");
                            received.push(done.request_id);
                        }
                        Some(_) => {}
                        None => panic!("owner {i} got {} of {COMMANDS}", received.len()),
                    }
                }
                // Nothing extra arrives afterwards.
                assert!(
                    !matches!(
                        owner.recv_timeout(Duration::from_millis(50)),
                        Some(OwnerEvent::CommandCompleted(_))
                    ),
                    "a command completed twice"
                );
                received.sort();
                submitted.sort();
                assert_eq!(received, submitted);
            });
        }
    });
}

#[test]
fn stale_keys_resolve_to_typed_not_found() {
    let setup = Setup::new("stale");
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let v1 = setup.load(&path);
    let v2 = setup.load(&path);
    setup.wait_removed(v1);
    assert!(matches!(
        setup.runtime.generation_state(v1).unwrap(),
        Err(NotFoundError::Generation(key)) if key == v1
    ));
    assert_eq!(setup.state(v2), GenerationState::Active);
}

#[test]
fn keys_of_another_runtime_are_refused() {
    let a = Setup::new("foreign-a");
    let b = Setup::new("foreign-b");
    let in_a = a.load(&a.install("fixture-echo-v1", "libecho.so"));
    let in_b = b.load(&b.install("fixture-echo-v1", "libecho.so"));
    // Both runtimes hold their first generation at the same slot; only the core differs.
    assert_ne!(in_a.core(), in_b.core());
    assert_eq!(
        b.runtime.generation_state(in_a).unwrap(),
        Err(NotFoundError::Foreign(ForeignKeyError::Generation(in_a)))
    );
    assert_eq!(
        a.runtime.generation_state(in_b).unwrap(),
        Err(NotFoundError::Foreign(ForeignKeyError::Generation(in_b)))
    );
    assert_eq!(a.state(in_a), GenerationState::Active);
    assert_eq!(b.state(in_b), GenerationState::Active);
}

#[test]
fn shutdown_with_live_instances_reports_holders_and_unloads_nothing() {
    let setup = Setup::with_core(
        "shutdown",
        CoreConfig {
            drain_timeout: Duration::from_millis(50),
            ..CoreConfig::default()
        },
    );
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let generation = setup.load(&path);
    let shadow = setup.shadow_of("fixture.echo");
    let owner: Owner = setup.runtime.register_owner("audio.output_sink").unwrap();
    let mut instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();

    let outcome = setup.call(Command::Shutdown {
        timeout: Duration::from_millis(100),
    });
    let Outcome::ShutDown { stalled } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].generation, generation);
    let holder = &stalled[0].holders[0];
    assert_eq!(holder.owner_name.as_deref(), Some("audio.output_sink"));
    assert_eq!(holder.holds.instances, 1);

    assert!(code_mapped(&shadow), "shutdown unloaded a library in use");
    assert_eq!(instance.accumulate(1), 1);
    assert!(matches!(
        owner.create::<ProbeInterface>("fixture.echo", "echo", b""),
        Err(CreateError::Reserve(ReserveError::ShuttingDown))
    ));

    drop(instance);
    setup.wait_removed(generation);
    assert!(!code_mapped(&shadow));
}

#[test]
fn an_owner_thread_that_panics_releases_what_it_held() {
    let setup = Setup::new("panicking-owner");
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let generation = setup.load(&path);
    let runtime = setup.runtime.clone();
    let result = std::thread::spawn(move || {
        let owner = runtime.register_owner("doomed").unwrap();
        let _instance = owner
            .create::<ProbeInterface>("fixture.echo", "echo", b"")
            .unwrap();
        let _pin = owner.pin("fixture.echo").unwrap();
        panic!("the owner thread dies");
    })
    .join();
    assert!(result.is_err());
    setup.call(Command::Unload {
        plugin_id: "fixture.echo".into(),
    });
    setup.wait_removed(generation);
    let snapshot = setup.snapshot();
    assert_eq!(
        (snapshot.owners.len(), snapshot.instances, snapshot.pins),
        (0, 0, 0)
    );
}

#[test]
fn a_module_pin_keeps_a_draining_generation_open() {
    let setup = Setup::new("pin");
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let generation = setup.load(&path);
    let pin = setup.runtime.pin("fixture.echo").unwrap();
    assert_eq!(pin.generation(), generation);
    setup.call(Command::Unload {
        plugin_id: "fixture.echo".into(),
    });
    assert!(draining(&setup.state(generation)));
    let capability = pin.library().capability::<ProbeInterface>("echo").unwrap();
    assert_eq!(capability.info().type_id, "echo");
    drop(pin);
    setup.wait_removed(generation);
}

#[test]
fn a_generation_kept_mapped_by_a_thread_local_goes_once_the_thread_ends() {
    let setup = Setup::new("tls");
    let path = setup.install("fixture-tls", "libtls.so");
    let generation = setup.load(&path);
    let shadow = setup.shadow_of("fixture.tls");
    // An owner thread calls the plugin (which registers a thread-local destructor on
    // it), drops its instance, and stays alive until told to end.
    let toucher = Toucher::start(&setup.runtime);
    setup.call(Command::Unload {
        plugin_id: "fixture.tls".into(),
    });
    let deadline = Instant::now() + WAIT;
    while !matches!(
        setup.state(generation),
        GenerationState::PinnedByLoader { .. }
    ) {
        assert!(Instant::now() < deadline, "{:?}", setup.state(generation));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(code_mapped(&shadow), "reported pinned, but not mapped");

    toucher.finish();
    // The next close in the process lets glibc unmap it, and the runtime notices.
    let other = setup.install("fixture-echo-v1", "libecho.so");
    setup.load(&other);
    setup.call(Command::Unload {
        plugin_id: "fixture.echo".into(),
    });
    setup.wait_removed(generation);
    assert!(!code_mapped(&shadow));
}

#[test]
fn an_owners_pin_outlives_the_owner_and_still_holds_the_generation() {
    let setup = Setup::new("owner-pin");
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let generation = setup.load(&path);
    let shadow = setup.shadow_of("fixture.echo");
    let owner = setup.runtime.register_owner("metadata.worker").unwrap();
    let pin = owner.pin("fixture.echo").unwrap();
    drop(owner);
    setup.call(Command::Unload {
        plugin_id: "fixture.echo".into(),
    });
    // The owner is gone but its pin is not: the generation drains and stays mapped.
    assert!(draining(&setup.state(generation)));
    assert!(code_mapped(&shadow));
    assert!(pin.library().capability::<ProbeInterface>("echo").is_ok());
    drop(pin);
    // Then it closes normally (unmapped and removed), not kept loaded.
    setup.wait_removed(generation);
    assert!(!code_mapped(&shadow));
    assert_eq!(setup.snapshot().owners.len(), 0);
}

#[test]
fn an_owner_that_never_reads_keeps_its_mailbox_bounded_and_loses_no_completion() {
    const CAPACITY: usize = 64;
    const ATTEMPTS: usize = 400_000;
    let setup = Setup::with_config(
        "unread",
        RuntimeConfig::default().with_mailbox_capacity(CAPACITY),
    );
    let path = setup.install("fixture-echo-v1", "libecho.so");
    setup.load(&path);
    let owner = setup.runtime.register_owner("never.reads").unwrap();
    owner.subscribe(Subscription::All).unwrap();
    let _instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();

    let mut accepted = Vec::new();
    let mut refused = 0;
    let mut most = 0;
    for attempt in 0..ATTEMPTS {
        match owner.submit(Command::Snapshot) {
            Ok(id) => accepted.push(id),
            Err(RequestError::Backlog { outstanding, limit }) => {
                assert_eq!((outstanding, limit), (CAPACITY / 2, CAPACITY / 2));
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
        // Notices too: more reloads than the notices' share of the mailbox.
        if attempt % 8_000 == 0 {
            setup.reload("fixture.echo");
        }
        most = most.max(owner.pending());
    }
    assert!(most <= CAPACITY, "{most} events queued");
    assert_eq!(accepted.len(), CAPACITY / 2);
    assert_eq!(refused, ATTEMPTS - CAPACITY / 2);
    // The runtime stays healthy meanwhile.
    assert!(matches!(
        setup.call(Command::Snapshot),
        Outcome::Snapshot(_)
    ));

    // Exactly one completion per accepted command; the notices that found no room
    // come back as one `Lagged`.
    let mut completed = Vec::new();
    let mut lagged = None;
    while completed.len() < accepted.len() || lagged.is_none() {
        match owner.recv_timeout(WAIT) {
            Some(OwnerEvent::CommandCompleted(done)) => completed.push(done.request_id),
            Some(OwnerEvent::Draining(_)) => {}
            Some(OwnerEvent::Lagged {
                missed, draining, ..
            }) => lagged = Some((missed, draining)),
            Some(other) => panic!("{other:?}"),
            None => panic!("{} of {} completions", completed.len(), accepted.len()),
        }
    }
    assert_eq!(completed, accepted);
    let (missed, draining) = lagged.unwrap();
    assert!(missed > 0);
    // Every generation drained so far held by this owner: the first one.
    assert_eq!(draining.len(), 1, "{draining:?}");
    assert_eq!(owner.outstanding(), 0);
    assert!(owner.submit(Command::Snapshot).is_ok());
}

#[test]
fn a_lagging_owner_gets_the_coalesced_state_and_never_misses_a_generation_it_holds() {
    // Two completions and two notices: the third notice finds no room.
    let setup = Setup::with_config("lagged", RuntimeConfig::default().with_mailbox_capacity(4));
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let first = setup.load(&path);
    let owner = setup.runtime.register_owner("audio.dsp").unwrap();
    owner.subscribe(Subscription::All).unwrap();
    let mut held = Vec::new();
    let mut generations = vec![first];
    for _ in 0..3 {
        let instance = owner
            .create::<ProbeInterface>("fixture.echo", "echo", b"")
            .unwrap();
        assert_eq!(instance.generation(), *generations.last().unwrap());
        held.push(instance);
        generations.push(setup.reload("fixture.echo"));
    }
    // Reloads of generations it holds nothing of, which it subscribed to.
    for _ in 0..20 {
        generations.push(setup.reload("fixture.echo"));
    }
    let active = *generations.last().unwrap();
    assert!(owner.pending() <= 4);

    // The two notices that fit, then one `Lagged` for the 21 that did not.
    for expected in &generations[..2] {
        match owner.try_recv() {
            Some(OwnerEvent::Draining(notice)) => assert_eq!(notice.old, *expected),
            other => panic!("{other:?}"),
        }
    }
    let Some(OwnerEvent::Lagged {
        missed, draining, ..
    }) = owner.recv_timeout(WAIT)
    else {
        panic!("expected to hear that notices were missed");
    };
    assert_eq!(missed, 21);
    // The state now: every held generation drains (the third was never queued); the
    // others, held by nobody, are already collected and not named.
    let olds: Vec<_> = draining.iter().map(|n| n.old).collect();
    assert_eq!(olds, generations[..3]);
    assert!(draining.iter().all(|n| n.new == Some(active)));
    assert_eq!(owner.try_recv(), None);

    // Acting on it converges: recreate, let go, and every old generation closes.
    let fresh = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    assert_eq!(fresh.generation(), active);
    drop(held);
    for generation in &generations[..generations.len() - 1] {
        setup.wait_removed(*generation);
    }
    assert_eq!(setup.snapshot().instances, 1);
}

#[test]
fn notices_held_back_by_call_count_against_the_mailbox() {
    let setup = Setup::with_config(
        "held-back",
        RuntimeConfig::default().with_mailbox_capacity(4),
    );
    let path = setup.install("fixture-echo-v1", "libecho.so");
    let first = setup.load(&path);
    let owner = setup.runtime.register_owner("control").unwrap();
    owner.subscribe(Subscription::All).unwrap();
    let instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    // Each reload's notice reaches the owner while its `call` waits, and is held back.
    for _ in 0..10 {
        let outcome = owner
            .call(
                Command::Reload {
                    plugin_id: "fixture.echo".into(),
                },
                WAIT,
            )
            .unwrap();
        assert!(matches!(outcome, Outcome::Loaded { .. }), "{outcome:?}");
        assert!(owner.pending() <= 4, "{} events queued", owner.pending());
    }
    // Between two calls there may be room for a `Lagged`; either way each of the ten
    // notices was queued or counted as missed, and the held generation is named.
    let (mut queued, mut missed_total, mut named) = (0, 0, false);
    while queued + missed_total < 10 {
        match owner.recv_timeout(WAIT) {
            Some(OwnerEvent::Draining(notice)) => {
                queued += 1;
                named |= notice.old == first;
            }
            Some(OwnerEvent::Lagged {
                missed, draining, ..
            }) => {
                missed_total += missed;
                assert!(draining.iter().all(|n| n.old == first), "{draining:?}");
                named |= !draining.is_empty();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(missed_total > 0);
    assert!(named);
    assert_eq!(owner.recv_timeout(Duration::from_millis(50)), None);
    drop(instance);
    setup.wait_removed(first);
}

#[test]
fn a_listener_does_not_keep_the_runtime_running_and_ends_after_its_last_records() {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-runtime-test-listener-stops-{}",
        std::process::id()
    ));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let mut listener = runtime.listen(EventFilter::all()).unwrap();
    let load = Command::Load {
        path: fixtures().path("fixture-echo-v1"),
        expected_plugin_id: None,
    };
    let Outcome::Loaded { generation, .. } = runtime.call(load, WAIT).unwrap() else {
        panic!("the fixture did not load");
    };
    drop(runtime);
    // The listener alone must not keep the actor running: it sees the shutdown and the
    // generation's cleanup, then that the runtime stopped.
    let mut seen = Vec::new();
    loop {
        match listener.recv_timeout(WAIT) {
            Ok(record) => seen.push(record.event),
            Err(ListenError::Stopped) => break,
            Err(e) => panic!("{e} after {seen:?}"),
        }
    }
    assert!(
        seen.iter().any(|e| e.kind() == EventKind::ShutdownFinished),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Event::CleanedUp {
            plugin_id: "fixture.echo".into(),
            generation
        }),
        "{seen:?}"
    );
    let _ = fs::remove_dir_all(&root);
}
