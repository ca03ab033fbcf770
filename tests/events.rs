//! Runtime events over real libraries built from the fixtures: every kind made by a
//! scenario and checked field by field, drain stalls reaching listeners and holders, a
//! listener that never reads, replaying the stream into the runtime's snapshot, and what
//! a snapshot shows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use common::{Setup, Toucher, WAIT};
use fixture_api::ProbeInterface;
use plugin_runtime::events::{Event, EventFilter, EventKind, EventRecord, Follower, LifecycleView};
use plugin_runtime::generation::{
    Command, CommandError, ConfigResult, CoreConfig, DrainReason, GenerationKey, GenerationState,
    HoldCounts, HolderReport, Outcome, PinnedReason, PluginState, RequestId, Snapshot,
    StalledGeneration, SyncChange, SyncMode,
};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::module::ModuleInfo;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Listener, Owner, RuntimeConfig};

/// A drain timeout short enough that a test holding an instance sees its drain stall.
const STALL_SOON: Duration = Duration::from_millis(20);

impl Setup {
    fn snapshot(&self) -> Snapshot {
        self.runtime.snapshot(WAIT).unwrap()
    }

    /// What the plugin's active generation offers, read from its library through a pin.
    fn module_of(&self, plugin_id: &str) -> ModuleInfo {
        self.runtime
            .pin(plugin_id)
            .unwrap()
            .library()
            .module()
            .clone()
    }

    /// Waits until no load is pending and no generation drains or closes, and returns
    /// the snapshot that showed it.
    fn wait_quiet(&self) -> Snapshot {
        let deadline = Instant::now() + WAIT;
        loop {
            let snapshot = self.snapshot();
            let settled = snapshot.generations.iter().all(|g| {
                matches!(
                    g.state,
                    GenerationState::Active | GenerationState::PinnedByLoader { .. }
                )
            });
            if settled && snapshot.pending_loads == 0 {
                return snapshot;
            }
            assert!(Instant::now() < deadline, "never quiet: {snapshot:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Everything one listener received, in order, read as the test goes.
struct Journal {
    listener: Listener,
    records: Vec<EventRecord>,
}

/// One command submitted through an owner: its outcome, and the `seq` of the records
/// that said it was submitted and completed.
struct Heard {
    request_id: RequestId,
    outcome: Outcome,
    submitted: u64,
    completed: u64,
}

impl Journal {
    fn new(listener: Listener) -> Self {
        Self {
            listener,
            records: Vec::new(),
        }
    }

    /// The first record received that matches, reading more (for up to [`WAIT`]) if
    /// none has yet.
    fn find(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> EventRecord {
        if let Some(record) = self.records.iter().find(|r| matches(&r.event)) {
            return record.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.listener.recv_timeout(left) {
                Ok(record) => {
                    let found = matches(&record.event);
                    self.records.push(record);
                    if found {
                        return self.records.last().unwrap().clone();
                    }
                }
                Err(e) => panic!("no {what} ({e}); heard:\n{}", self.heard()),
            }
        }
    }

    /// The first record of `kind` about `generation`.
    fn lifecycle(&mut self, kind: EventKind, generation: GenerationKey) -> EventRecord {
        self.find(&format!("{} of {generation}", kind.name()), |e| {
            e.kind() == kind && generation_of(e) == Some(generation)
        })
    }

    /// The first record equal to `event`.
    fn event(&mut self, event: &Event) -> EventRecord {
        self.find(&format!("{event:?}"), |e| e == event)
    }

    /// Submits `command` through `owner`, waits for its outcome in the mailbox, and
    /// checks that the listener heard it submitted and then completed with that outcome,
    /// both naming the owner.
    fn command(&mut self, owner: &Owner, command: Command) -> Heard {
        let request_id = owner.submit(command.clone()).unwrap();
        let outcome = loop {
            match owner.recv_timeout(WAIT) {
                Some(OwnerEvent::CommandCompleted(done)) if done.request_id == request_id => {
                    break done.outcome;
                }
                Some(_) => {}
                None => panic!("{command:?} did not complete"),
            }
        };
        let submitted = self.find(
            "command_submitted",
            |e| matches!(e, Event::CommandSubmitted { request_id: id, .. } if *id == request_id),
        );
        assert_eq!(
            submitted.event,
            Event::CommandSubmitted {
                request_id,
                owner: Some(owner.key()),
                command,
            }
        );
        let completed = self.find(
            "command_completed",
            |e| matches!(e, Event::CommandCompleted { request_id: id, .. } if *id == request_id),
        );
        assert_eq!(
            completed.event,
            Event::CommandCompleted {
                request_id,
                owner: Some(owner.key()),
                outcome: outcome.clone(),
            }
        );
        assert!(submitted.seq < completed.seq);
        Heard {
            request_id,
            outcome,
            submitted: submitted.seq,
            completed: completed.seq,
        }
    }

    /// Checks the `load_requested` of a load command; returns its `seq`.
    fn load_requested(&mut self, load: &Heard, plugin_id: Option<&str>, path: &Path) -> u64 {
        let request_id = load.request_id;
        let requested = self.find(
            "load_requested",
            |e| matches!(e, Event::LoadRequested { request_id: id, .. } if *id == request_id),
        );
        assert_eq!(
            requested.event,
            Event::LoadRequested {
                request_id,
                plugin_id: plugin_id.map(Into::into),
                path: path.to_owned(),
            }
        );
        assert_order(&[load.submitted, requested.seq, load.completed]);
        requested.seq
    }

    /// Checks a collected generation's end: `generation_collected`, `generation_closed`,
    /// then `mapping`, then `generation_cleaned_up` if `mapping` is
    /// `generation_unmapped`, in this order. Returns the records in that order.
    fn closes(
        &mut self,
        plugin_id: &str,
        generation: GenerationKey,
        mapping: EventKind,
    ) -> Vec<EventRecord> {
        let mut kinds = vec![EventKind::Collected, EventKind::Closed, mapping];
        if mapping == EventKind::Unmapped {
            kinds.push(EventKind::CleanedUp);
        }
        let records: Vec<EventRecord> = kinds
            .iter()
            .map(|kind| self.lifecycle(*kind, generation))
            .collect();
        for (record, kind) in records.iter().zip(&kinds) {
            if *kind != EventKind::KeptLoaded {
                assert_eq!(record.event, plain(*kind, plugin_id, generation));
            }
        }
        assert_order(&records.iter().map(|r| r.seq).collect::<Vec<_>>());
        records
    }

    /// Reads what is queued now.
    fn read_queued(&mut self) {
        while let Some(record) = self.listener.try_recv() {
            self.records.push(record);
        }
    }

    fn heard(&self) -> String {
        self.records
            .iter()
            .map(|r| {
                format!(
                    "{} {} {:?}\n",
                    r.seq,
                    r.event.name(),
                    generation_of(&r.event)
                )
            })
            .collect()
    }
}

/// The generation a lifecycle event is about (the new one of a reload).
fn generation_of(event: &Event) -> Option<GenerationKey> {
    match event {
        Event::Loaded { generation, .. }
        | Event::Draining { generation, .. }
        | Event::DrainStalled { generation, .. }
        | Event::Collected { generation, .. }
        | Event::Closed { generation, .. }
        | Event::Unmapped { generation, .. }
        | Event::StillMapped { generation, .. }
        | Event::KeptLoaded { generation, .. }
        | Event::CleanedUp { generation, .. } => Some(*generation),
        Event::Reloaded { new, .. } => Some(*new),
        _ => None,
    }
}

/// The event of `kind` whose only fields are a plugin and a generation.
fn plain(kind: EventKind, plugin_id: &str, generation: GenerationKey) -> Event {
    let plugin_id = plugin_id.to_owned();
    match kind {
        EventKind::Collected => Event::Collected {
            plugin_id,
            generation,
        },
        EventKind::Closed => Event::Closed {
            plugin_id,
            generation,
        },
        EventKind::Unmapped => Event::Unmapped {
            plugin_id,
            generation,
        },
        EventKind::StillMapped => Event::StillMapped {
            plugin_id,
            generation,
        },
        EventKind::CleanedUp => Event::CleanedUp {
            plugin_id,
            generation,
        },
        other => panic!("{} has more fields", other.name()),
    }
}

fn assert_order(seqs: &[u64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "records out of order: {seqs:?}"
    );
}

/// Whether `kinds` is (a beginning of) a generation's documented life: loaded or
/// reloaded (or refused: draining first), draining, any number of stalls, collected,
/// closed, one of unmapped / still mapped / kept loaded, and cleaned up once unmapped
/// (a still-mapped one is unmapped later).
fn follows_the_documented_life(kinds: &[EventKind]) -> bool {
    use EventKind as K;
    let mut previous = None;
    for &kind in kinds {
        let allowed = match previous {
            None => matches!(kind, K::Loaded | K::Reloaded | K::Draining),
            Some(K::Loaded | K::Reloaded) => kind == K::Draining,
            Some(K::Draining | K::DrainStalled) => matches!(kind, K::DrainStalled | K::Collected),
            Some(K::Collected) => kind == K::Closed,
            Some(K::Closed) => matches!(kind, K::Unmapped | K::StillMapped | K::KeptLoaded),
            Some(K::StillMapped) => kind == K::Unmapped,
            Some(K::Unmapped) => kind == K::CleanedUp,
            Some(_) => false,
        };
        if !allowed {
            return false;
        }
        previous = Some(kind);
    }
    true
}

/// Each generation's lifecycle records, by generation, in order.
fn lives(records: &[EventRecord]) -> BTreeMap<GenerationKey, Vec<EventKind>> {
    let mut lives: BTreeMap<GenerationKey, Vec<EventKind>> = BTreeMap::new();
    for record in records {
        if let Some(generation) = generation_of(&record.event) {
            lives
                .entry(generation)
                .or_default()
                .push(record.event.kind());
        }
    }
    lives
}

/// Reloads `fixture.echo` `count` times, calling `between` after each; returns how long
/// that took.
fn timed_reloads(setup: &Setup, count: usize, mut between: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    for i in 0..count {
        setup.reload("fixture.echo");
        between(i);
    }
    start.elapsed()
}

fn holder(owner: &Owner, holds: HoldCounts) -> HolderReport {
    HolderReport {
        owner: Some(owner.key()),
        owner_name: Some(owner.name().to_owned()),
        holds,
    }
}

fn instances(instances: u32) -> HoldCounts {
    HoldCounts {
        instances,
        ..HoldCounts::default()
    }
}

/// Checks that `record`'s JSON reads back as the same record, but for durations, which
/// JSON carries in whole microseconds (see `docs/events.md`), and writes the same JSON.
#[cfg(feature = "serde")]
fn assert_round_trips(record: &EventRecord) {
    let json = record.to_json();
    let back: EventRecord = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let whole = |d: &mut Duration| *d = Duration::from_micros(d.as_micros().try_into().unwrap());
    let mut written = record.clone();
    match &mut written.event {
        Event::DrainStalled { draining_for, .. } => whole(draining_for),
        Event::CommandCompleted {
            outcome: Outcome::Snapshot(snapshot),
            ..
        } => {
            for generation in &mut snapshot.generations {
                whole(&mut generation.age);
                whole(&mut generation.in_state);
            }
        }
        _ => {}
    }
    assert_eq!(back, written, "{json}");
    assert_eq!(back.to_json(), json);
}

#[test]
fn every_event_kind_comes_from_a_real_scenario_with_its_fields() {
    const DEINIT_TIMEOUT: Duration = Duration::from_secs(1);
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(300);
    let setup = Setup::with_config(
        "kinds",
        RuntimeConfig::default()
            .with_core(CoreConfig {
                drain_timeout: STALL_SOON,
                ..CoreConfig::default()
            })
            .with_loader(LoaderConfig::default().with_lifecycle_timeouts(WAIT, DEINIT_TIMEOUT)),
    );
    let mut journal = Journal::new(setup.runtime.listen(EventFilter::all()).unwrap());
    let tls_only = EventFilter::all().plugin("fixture.tls");
    let mut tls_listener = setup.runtime.listen(tls_only.clone()).unwrap();
    let control = setup.runtime.register_owner("control").unwrap();
    let dsp = setup.runtime.register_owner("audio.dsp").unwrap();
    let echo_id = "fixture.echo";

    // A first load: requested with its command, loaded with what the library offers.
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let load = journal.command(
        &control,
        Command::Load {
            path: echo.clone(),
            expected_plugin_id: None,
        },
    );
    let Outcome::Loaded {
        generation: g1,
        replaced: None,
        ..
    } = load.outcome
    else {
        panic!("{:?}", load.outcome);
    };
    let requested = journal.load_requested(&load, None, &echo);
    let offered = setup.module_of(echo_id);
    assert_eq!(offered.version, "1.0.0");
    let loaded = journal.lifecycle(EventKind::Loaded, g1);
    assert_eq!(
        loaded.event,
        Event::Loaded {
            plugin_id: echo_id.into(),
            generation: g1,
            version: "1.0.0".into(),
            path: echo.clone(),
            capabilities: offered.capabilities,
        }
    );
    assert_order(&[requested, loaded.seq, load.completed]);

    // A reload while an instance holds the old generation: reloaded, draining, stalled.
    let held = dsp.create::<ProbeInterface>(echo_id, "echo", b"").unwrap();
    setup.install("fixture-echo-v2", "libecho.so");
    let reload = journal.command(
        &control,
        Command::Reload {
            plugin_id: echo_id.into(),
        },
    );
    let Outcome::Loaded {
        generation: g2,
        replaced: Some(replaced),
        ..
    } = reload.outcome
    else {
        panic!("{:?}", reload.outcome);
    };
    assert_eq!(replaced, g1);
    let requested = journal.load_requested(&reload, Some(echo_id), &echo);
    let offered = setup.module_of(echo_id);
    assert_eq!(offered.capabilities.len(), 2);
    let reloaded = journal.lifecycle(EventKind::Reloaded, g2);
    assert_eq!(
        reloaded.event,
        Event::Reloaded {
            plugin_id: echo_id.into(),
            old: g1,
            new: g2,
            version: "2.0.0".into(),
            path: echo.clone(),
            capabilities: offered.capabilities,
        }
    );
    let draining = journal.lifecycle(EventKind::Draining, g1);
    assert_eq!(
        draining.event,
        Event::Draining {
            plugin_id: echo_id.into(),
            generation: g1,
            reason: DrainReason::Replaced,
            successor: Some(g2),
        }
    );
    assert_order(&[requested, reloaded.seq, draining.seq, reload.completed]);
    let stalled = journal.lifecycle(EventKind::DrainStalled, g1);
    let Event::DrainStalled {
        plugin_id,
        reason,
        draining_for,
        report,
        holders,
        ..
    } = &stalled.event
    else {
        unreachable!("found by kind");
    };
    assert_eq!(
        (plugin_id.as_str(), *reason, *report),
        (echo_id, DrainReason::Replaced, 1)
    );
    assert!(*draining_for >= STALL_SOON, "{draining_for:?}");
    assert_eq!(*holders, [holder(&dsp, instances(1))]);
    assert_order(&[draining.seq, stalled.seq]);
    // Let go: collected, closed, unmapped, cleaned up.
    drop(held);
    journal.closes(echo_id, g1, EventKind::Unmapped);

    // A load that fails: the step the loader names, and the message.
    let not_a_plugin = setup.install("fixture-no-entry", "libnone.so");
    let failed = journal.command(
        &control,
        Command::Load {
            path: not_a_plugin.clone(),
            expected_plugin_id: Some("fixture.none".into()),
        },
    );
    let Outcome::Failed(CommandError::Load(failure)) = &failed.outcome else {
        panic!("{:?}", failed.outcome);
    };
    assert_eq!(failure.step, "entry symbol");
    let requested = journal.load_requested(&failed, Some("fixture.none"), &not_a_plugin);
    let load_failed = journal.event(&Event::LoadFailed {
        request_id: failed.request_id,
        plugin_id: Some("fixture.none".into()),
        path: not_a_plugin,
        step: failure.step.clone(),
        message: failure.message.clone(),
    });
    assert_order(&[requested, load_failed.seq, failed.completed]);

    // An unload closes a library that a live thread's thread-local keeps mapped.
    let tls = setup.install("fixture-tls", "libtls.so");
    let load = journal.command(
        &control,
        Command::Load {
            path: tls,
            expected_plugin_id: None,
        },
    );
    let Outcome::Loaded { generation: t1, .. } = load.outcome else {
        panic!("{:?}", load.outcome);
    };
    let toucher = Toucher::start(&setup.runtime);
    let unload = journal.command(
        &control,
        Command::Unload {
            plugin_id: "fixture.tls".into(),
        },
    );
    assert_eq!(
        unload.outcome,
        Outcome::Unloaded {
            plugin_id: "fixture.tls".into(),
            draining: Some(t1),
        }
    );
    let unloaded = journal.event(&Event::Unloaded {
        plugin_id: "fixture.tls".into(),
    });
    let draining = journal.event(&Event::Draining {
        plugin_id: "fixture.tls".into(),
        generation: t1,
        reason: DrainReason::Unloaded,
        successor: None,
    });
    assert_order(&[
        unload.submitted,
        unloaded.seq,
        draining.seq,
        unload.completed,
    ]);
    let still_mapped = journal.closes("fixture.tls", t1, EventKind::StillMapped);
    toucher.finish();

    // A disable; its close also finds the thread-local's library gone at last.
    let disable = journal.command(
        &control,
        Command::SetEnabled {
            plugin_id: echo_id.into(),
            enabled: false,
        },
    );
    assert_eq!(
        disable.outcome,
        Outcome::Disabled {
            plugin_id: echo_id.into(),
            draining: Some(g2),
        }
    );
    let disabled = journal.event(&Event::Disabled {
        plugin_id: echo_id.into(),
    });
    let draining = journal.event(&Event::Draining {
        plugin_id: echo_id.into(),
        generation: g2,
        reason: DrainReason::Disabled,
        successor: None,
    });
    assert_order(&[
        disable.submitted,
        disabled.seq,
        draining.seq,
        disable.completed,
    ]);
    journal.closes(echo_id, g2, EventKind::Unmapped);
    let unmapped_later = journal.lifecycle(EventKind::Unmapped, t1);
    assert_eq!(
        unmapped_later.event,
        plain(EventKind::Unmapped, "fixture.tls", t1)
    );
    let cleaned_up = journal.lifecycle(EventKind::CleanedUp, t1);
    assert_eq!(
        cleaned_up.event,
        plain(EventKind::CleanedUp, "fixture.tls", t1)
    );
    assert_order(&[still_mapped[2].seq, unmapped_later.seq, cleaned_up.seq]);

    // A hot restart with no plugin enabled: it starts and finishes at once (restarts
    // that reload have tests of their own, in `tests/restart.rs`).
    let restart = journal.command(
        &control,
        Command::Restart {
            timeout: SHUTDOWN_TIMEOUT,
        },
    );
    assert_eq!(
        restart.outcome,
        Outcome::Restarted {
            plugins: Vec::new(),
            stalled: Vec::new(),
        }
    );
    let started = journal.event(&Event::RestartStarted {
        plugins: Vec::new(),
        timeout: SHUTDOWN_TIMEOUT,
    });
    let finished = journal.event(&Event::RestartFinished {
        plugins: Vec::new(),
        stalled: Vec::new(),
    });
    assert_order(&[
        restart.submitted,
        started.seq,
        finished.seq,
        restart.completed,
    ]);

    // An enable: requested under the plugin's id, enabled, then loaded.
    let enable = journal.command(
        &control,
        Command::SetEnabled {
            plugin_id: echo_id.into(),
            enabled: true,
        },
    );
    let Outcome::Enabled { generation: g3, .. } = enable.outcome else {
        panic!("{:?}", enable.outcome);
    };
    let requested = journal.load_requested(&enable, Some(echo_id), &echo);
    let enabled = journal.event(&Event::Enabled {
        plugin_id: echo_id.into(),
    });
    let loaded = journal.event(&Event::Loaded {
        plugin_id: echo_id.into(),
        generation: g3,
        version: "2.0.0".into(),
        path: echo.clone(),
        capabilities: setup.module_of(echo_id).capabilities,
    });
    assert_order(&[requested, enabled.seq, loaded.seq, enable.completed]);

    // Two builds of one plugin loaded at once: the slow one finishes last, is
    // superseded and never serves, so its first record is its drain.
    let slow_build = setup.install("fixture-slow-init", "libslow-1.so");
    let fast_build = setup.install("fixture-stuck-deinit", "libslow-2.so");
    let load = |path| Command::Load {
        path,
        expected_plugin_id: None,
    };
    let slow_request = control.submit(load(slow_build)).unwrap();
    let fast_request = control.submit(load(fast_build)).unwrap();
    let mut outcomes = BTreeMap::new();
    while outcomes.len() < 2 {
        match control.recv_timeout(WAIT) {
            Some(OwnerEvent::CommandCompleted(done)) => {
                outcomes.insert(done.request_id, done.outcome);
            }
            other => panic!("{other:?}"),
        }
    }
    let Outcome::Loaded { generation: s1, .. } = outcomes[&fast_request] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(
        outcomes[&slow_request],
        Outcome::Failed(CommandError::Superseded {
            plugin_id: "fixture.slow".into()
        })
    );
    let superseded = journal.find("the superseded generation's drain", |e| {
        matches!(
            e,
            Event::Draining {
                reason: DrainReason::Superseded,
                ..
            }
        )
    });
    let r1 = generation_of(&superseded.event).unwrap();
    assert_eq!(
        superseded.event,
        Event::Draining {
            plugin_id: "fixture.slow".into(),
            generation: r1,
            reason: DrainReason::Superseded,
            successor: None,
        }
    );
    let completed = journal.event(&Event::CommandCompleted {
        request_id: slow_request,
        owner: Some(control.key()),
        outcome: outcomes[&slow_request].clone(),
    });
    assert_order(&[superseded.seq, completed.seq]);
    journal.closes("fixture.slow", r1, EventKind::Unmapped);

    // A close whose deinit never returns: the library is kept loaded, and says why.
    let unload = journal.command(
        &control,
        Command::Unload {
            plugin_id: "fixture.slow".into(),
        },
    );
    assert_eq!(
        unload.outcome,
        Outcome::Unloaded {
            plugin_id: "fixture.slow".into(),
            draining: Some(s1),
        }
    );
    let kept = journal.closes("fixture.slow", s1, EventKind::KeptLoaded);
    let Ok(GenerationState::PinnedByLoader {
        reason: PinnedReason::KeptLoaded { reason },
    }) = setup.runtime.generation_state(s1).unwrap()
    else {
        panic!("{s1} is not kept loaded");
    };
    assert!(reason.contains("deinit did not return"), "{reason}");
    assert_eq!(
        kept[2].event,
        Event::KeptLoaded {
            plugin_id: "fixture.slow".into(),
            generation: s1,
            reason,
        }
    );

    // A directory sync of a directory whose one `.so` is not a library: its
    // directory_synced (with the counts) comes right before its command_completed.
    let synced_dir = setup.root.join("synced");
    std::fs::create_dir_all(&synced_dir).unwrap();
    std::fs::write(synced_dir.join("libjunk.so"), b"not an ELF file").unwrap();
    let sync = journal.command(
        &control,
        Command::Sync {
            dir: synced_dir.clone(),
            disabled: Vec::new(),
            mode: SyncMode::Reconcile,
        },
    );
    let Outcome::Synced { entries, .. } = &sync.outcome else {
        panic!("{:?}", sync.outcome);
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].change, SyncChange::Unreadable);
    let synced = journal.event(&Event::DirectorySynced {
        request_id: sync.request_id,
        dir: synced_dir,
        mode: SyncMode::Reconcile,
        new: 0,
        changed: 0,
        unchanged: 0,
        gone: 0,
        unreadable: 1,
        loaded: 0,
        unloaded: 0,
        disabled: 0,
        failed: 1,
    });
    assert_eq!(synced.seq + 1, sync.completed);
    // Live configuration: the echo interface has no plan hook, so the slot's instance is
    // recreated with the new configuration, and its owner reports it.
    let tuner = setup.runtime.register_owner("audio.tuner").unwrap();
    let slot = tuner.slot::<ProbeInterface>(echo_id, "echo", b"");
    let deadline = Instant::now() + WAIT;
    while slot.get().is_none() {
        assert!(Instant::now() < deadline, "the slot was never filled");
        tuner.poll(|other| panic!("{other:?}"));
        std::thread::sleep(Duration::from_millis(1));
    }
    let configure = journal.command(
        &control,
        Command::Configure {
            plugin_id: echo_id.into(),
            type_id: "echo".into(),
            config: b"gain=2".to_vec(),
        },
    );
    assert_eq!(
        configure.outcome,
        Outcome::Configured {
            plugin_id: echo_id.into(),
            type_id: "echo".into(),
            revision: 1,
            instances: 1,
        }
    );
    while tuner.poll(|other| panic!("{other:?}")).recreated == 0 {
        assert!(Instant::now() < deadline + WAIT, "the slot never acted");
        std::thread::sleep(Duration::from_millis(1));
    }
    let configured = journal.find("instance_configured", |e| {
        matches!(e, Event::InstanceConfigured { .. })
    });
    let Event::InstanceConfigured {
        owner, instance, ..
    } = configured.event.clone()
    else {
        unreachable!()
    };
    assert_eq!(owner, tuner.key());
    assert_eq!(
        configured.event,
        Event::InstanceConfigured {
            plugin_id: echo_id.into(),
            type_id: "echo".into(),
            owner,
            instance,
            revision: 1,
            result: ConfigResult::Recreated,
            skipped: 0,
            message: String::new(),
        }
    );
    assert_order(&[configure.completed, configured.seq]);
    drop(slot);
    drop(tuner);

    // A shutdown with an instance held past its deadline reports the holder.
    let held = dsp.create::<ProbeInterface>(echo_id, "echo", b"").unwrap();
    let shutdown = journal.command(
        &control,
        Command::Shutdown {
            timeout: SHUTDOWN_TIMEOUT,
        },
    );
    let Outcome::ShutDown { stalled } = &shutdown.outcome else {
        panic!("{:?}", shutdown.outcome);
    };
    assert_eq!(
        *stalled,
        [StalledGeneration {
            generation: g3,
            plugin_id: echo_id.into(),
            holders: vec![holder(&dsp, instances(1))],
        }]
    );
    let started = journal.event(&Event::ShutdownStarted {
        timeout: SHUTDOWN_TIMEOUT,
    });
    let draining = journal.event(&Event::Draining {
        plugin_id: echo_id.into(),
        generation: g3,
        reason: DrainReason::Shutdown,
        successor: None,
    });
    let finished = journal.event(&Event::ShutdownFinished {
        stalled: stalled.clone(),
    });
    assert_order(&[
        shutdown.submitted,
        started.seq,
        draining.seq,
        finished.seq,
        shutdown.completed,
    ]);
    drop(held);
    journal.closes(echo_id, g3, EventKind::Unmapped);
    journal.read_queued();

    // Every kind was heard (poisoning has a test of its own, which needs the actor's
    // test-only panic): a kind added without a scenario here fails this test.
    let heard: BTreeSet<EventKind> = journal.records.iter().map(|r| r.event.kind()).collect();
    let unheard: Vec<&str> = EventKind::ALL
        .into_iter()
        .filter(|kind| *kind != EventKind::RuntimePoisoned && !heard.contains(kind))
        .map(EventKind::name)
        .collect();
    assert!(unheard.is_empty(), "never heard: {unheard:?}");

    // The stream is whole and in order, and every generation's life is the documented one.
    for pair in journal.records.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert!(pair[1].t_micros >= pair[0].t_micros);
    }
    assert!(journal.records.iter().all(|r| r.dropped == 0));
    let lives = lives(&journal.records);
    for (generation, kinds) in &lives {
        assert!(
            follows_the_documented_life(kinds),
            "{generation}: {kinds:?}"
        );
    }
    assert_eq!(lives[&s1].last(), Some(&EventKind::KeptLoaded));
    for generation in [g1, g2, t1, r1, g3] {
        assert_eq!(lives[&generation].last(), Some(&EventKind::CleanedUp));
    }

    // A filtered listener heard exactly what its filter lets through, the same records.
    let mut tls_records = Vec::new();
    while let Some(record) = tls_listener.try_recv() {
        tls_records.push(record);
    }
    let expected: Vec<EventRecord> = journal
        .records
        .iter()
        .filter(|r| tls_only.matches(&r.event))
        .cloned()
        .collect();
    assert!(expected.len() > 5, "{expected:?}");
    assert_eq!(tls_records, expected);

    // Each record's JSON reads back as the same record.
    #[cfg(feature = "serde")]
    for record in &journal.records {
        assert_round_trips(record);
    }
}

#[test]
fn a_drain_stall_reaches_the_listener_and_each_holders_owner_with_every_holder() {
    let setup = Setup::with_config(
        "stall",
        RuntimeConfig::default().with_core(CoreConfig {
            drain_timeout: STALL_SOON,
            ..CoreConfig::default()
        }),
    );
    let mut stalls = Journal::new(
        setup
            .runtime
            .listen(EventFilter::all().kind(EventKind::DrainStalled))
            .unwrap(),
    );
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let g1 = setup.load(&echo);
    let decode = setup.runtime.register_owner("audio.decode").unwrap();
    let sink = setup.runtime.register_owner("audio.output_sink").unwrap();
    let bystander = setup.runtime.register_owner("library.scanner").unwrap();
    let decoders: Vec<_> = (0..2)
        .map(|_| {
            decode
                .create::<ProbeInterface>("fixture.echo", "echo", b"")
                .unwrap()
        })
        .collect();
    let sink_instance = sink
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    let sink_pin = sink.pin("fixture.echo").unwrap();
    let loose_pin = setup.runtime.pin("fixture.echo").unwrap();

    setup.install("fixture-echo-v2", "libecho.so");
    let g2 = setup.reload("fixture.echo");
    let expected = vec![
        holder(&decode, instances(2)),
        holder(
            &sink,
            HoldCounts {
                instances: 1,
                tickets: 0,
                pins: 1,
            },
        ),
        HolderReport {
            owner: None,
            owner_name: None,
            holds: HoldCounts {
                pins: 1,
                ..HoldCounts::default()
            },
        },
    ];

    let first = stalls.find(
        "the first stall report",
        |e| matches!(e, Event::DrainStalled { generation, report: 1, .. } if *generation == g1),
    );
    let Event::DrainStalled {
        plugin_id,
        reason,
        draining_for,
        holders,
        ..
    } = &first.event
    else {
        unreachable!("found by kind");
    };
    assert_eq!(plugin_id, "fixture.echo");
    assert_eq!(*reason, DrainReason::Replaced);
    assert_eq!(*holders, expected);

    // Each owner holding something hears the same report, with the same holder list.
    for owner in [&decode, &sink] {
        let stall = loop {
            match owner.recv_timeout(WAIT) {
                Some(OwnerEvent::Draining(notice)) => {
                    assert_eq!((notice.old, notice.new), (g1, Some(g2)));
                }
                Some(OwnerEvent::DrainStalled(stall)) => break stall,
                other => panic!("{}: {other:?}", owner.name()),
            }
        };
        assert_eq!(stall.report, 1);
        assert_eq!(stall.draining_for, *draining_for);
        assert_eq!(
            stall.stalled,
            StalledGeneration {
                generation: g1,
                plugin_id: "fixture.echo".into(),
                holders: expected.clone(),
            }
        );
    }
    // The owners were told before the listener: one holding nothing was told nothing.
    assert_eq!(bystander.try_recv(), None);

    drop((decoders, sink_instance, sink_pin, loose_pin));
    setup.wait_removed(g1);
}

#[test]
fn a_listener_that_never_reads_loses_its_oldest_records_and_delays_no_reload() {
    const CAPACITY: usize = 4;
    const RELOADS: usize = 40;
    let setup = Setup::with_config(
        "slow-listener",
        RuntimeConfig::default().with_listener_capacity(CAPACITY),
    );
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    setup.load(&echo);
    let unheard = timed_reloads(&setup, RELOADS, |_| {});
    setup.wait_quiet();

    let slow = setup.runtime.listen(EventFilter::all()).unwrap();
    // Tells when `slow`'s stream begins; dropped halfway through.
    let mut marker = Some(
        setup
            .runtime
            .listen(EventFilter::all().kind(EventKind::CommandSubmitted))
            .unwrap(),
    );
    // Reads every reload it can on a thread of its own.
    let mut watcher = setup
        .runtime
        .listen(EventFilter::all().kind(EventKind::Reloaded))
        .unwrap();
    let watching = std::thread::spawn(move || {
        let mut read = 0u64;
        while read + watcher.dropped() < RELOADS as u64 {
            let record = watcher.recv_timeout(WAIT).unwrap();
            assert_eq!(record.event.kind(), EventKind::Reloaded);
            read += 1;
        }
        (read, watcher.dropped())
    });

    let mut first_seq = None;
    let heard = timed_reloads(&setup, RELOADS, |i| {
        if i == 0 {
            let first = marker.as_mut().unwrap().recv_timeout(WAIT).unwrap();
            assert!(
                matches!(
                    first.event,
                    Event::CommandSubmitted {
                        command: Command::Reload { .. },
                        ..
                    }
                ),
                "{first:?}"
            );
            first_seq = Some(first.seq);
        }
        if i == RELOADS / 2 {
            // Unsubscribed mid-run, with records queued.
            marker = None;
        }
    });
    println!(
        "{RELOADS} reloads: {unheard:?} without listeners, {heard:?} with one that never reads"
    );
    setup.wait_quiet();
    let snapshot = setup.snapshot();
    let (watched, watcher_dropped) = watching.join().unwrap();
    assert_eq!(watched + watcher_dropped, RELOADS as u64);

    let mut slow = slow;
    let mut read = Vec::new();
    while let Some(record) = slow.try_recv() {
        read.push(record);
    }
    assert!(!read.is_empty() && read.len() <= CAPACITY, "{read:?}");
    assert!(read[0].dropped > 0, "{:?}", read[0]);
    assert!(read[1..].iter().all(|r| r.dropped == 0), "{read:?}");
    assert_eq!(slow.dropped(), read.iter().map(|r| r.dropped).sum::<u64>());
    assert_order(&read.iter().map(|r| r.seq).collect::<Vec<_>>());
    // What it kept are the newest records, down to the snapshot's completion; each one
    // since it subscribed was kept or counted as lost.
    let last = read.last().unwrap();
    assert!(
        matches!(&last.event, Event::CommandCompleted { outcome: Outcome::Snapshot(s), .. } if *s == snapshot),
        "{last:?}"
    );
    assert_eq!(
        slow.dropped() + read.len() as u64,
        last.seq - first_seq.unwrap() + 1
    );
    // The counters count every loss: this listener's (but the one of the snapshot's own
    // completion), the watcher's, and at most what the marker lost before it left. Had
    // the marker stayed subscribed, it would have lost about twice as many.
    let drops = snapshot.counters.listener_drops;
    assert!(drops > 0);
    let marker_most = (RELOADS / 2 + 1 - CAPACITY) as u64;
    assert!(drops >= slow.dropped() - 1, "{drops} < {}", slow.dropped());
    assert!(
        drops <= slow.dropped() + watcher_dropped + marker_most,
        "{drops} drops"
    );

    #[cfg(feature = "serde")]
    for record in &read {
        assert_round_trips(record);
    }
}

/// Applies `journal`'s records up to and including the completion of the snapshot
/// command that answered `snapshot`, from where `applied` left off.
fn follow_to(
    follower: &mut Follower,
    journal: &mut Journal,
    applied: &mut usize,
    snapshot: &Snapshot,
) {
    let cut = journal.find("the snapshot's completion", |e| {
        matches!(e, Event::CommandCompleted { outcome: Outcome::Snapshot(s), .. } if s == snapshot)
    });
    for record in &journal.records[*applied..] {
        if record.seq > cut.seq {
            break;
        }
        follower.apply(record);
        *applied += 1;
    }
}

#[test]
fn replaying_the_event_stream_gives_the_runtimes_snapshot() {
    let setup = Setup::with_config("replay", RuntimeConfig::default());
    let mut journal = Journal::new(setup.runtime.listen(EventFilter::all()).unwrap());
    let mut follower = Follower::default();
    let mut applied = 0;
    let owner = setup.runtime.register_owner("audio.dsp").unwrap();

    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let threaded = setup.install("fixture-threaded", "libthreaded.so");
    let g1 = setup.load(&echo);
    setup.load(&threaded);
    let held = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    setup.install("fixture-echo-v2", "libecho.so");
    let g2 = setup.reload("fixture.echo");

    // A cut while the old generation still drains.
    let snapshot = setup.snapshot();
    follow_to(&mut follower, &mut journal, &mut applied, &snapshot);
    assert_eq!(follower.view(), &LifecycleView::of_snapshot(&snapshot));
    assert_eq!(follower.gaps(), 0);
    assert_eq!(follower.view().generations[&g1].1, "draining");
    assert_eq!(follower.view().plugins["fixture.echo"].active, Some(g2));

    // More of everything.
    let set_threaded_enabled = |enabled| Command::SetEnabled {
        plugin_id: "fixture.threaded".into(),
        enabled,
    };
    assert!(matches!(
        setup.call(set_threaded_enabled(false)),
        Outcome::Disabled { .. }
    ));
    let snapshot = setup.snapshot();
    follow_to(&mut follower, &mut journal, &mut applied, &snapshot);
    assert_eq!(follower.view(), &LifecycleView::of_snapshot(&snapshot));
    assert!(!follower.view().plugins["fixture.threaded"].enabled);
    assert!(matches!(
        setup.call(set_threaded_enabled(true)),
        Outcome::Enabled { .. }
    ));
    let not_a_plugin = setup.install("fixture-no-entry", "libnone.so");
    assert!(matches!(
        setup.call(Command::Load {
            path: not_a_plugin,
            expected_plugin_id: None,
        }),
        Outcome::Failed(CommandError::Load(_))
    ));
    let other_build = setup.install("fixture-echo-v1", "libecho-other.so");
    // The loader reads the plugin id before anything runs, so this fails to load.
    assert!(matches!(
        setup.call(Command::Load {
            path: other_build,
            expected_plugin_id: Some("fixture.threaded".into()),
        }),
        Outcome::Failed(CommandError::Load(failure)) if failure.step == "descriptor"
    ));
    drop(held);
    assert!(matches!(
        setup.call(Command::Unload {
            plugin_id: "fixture.threaded".into(),
        }),
        Outcome::Unloaded { .. }
    ));

    // Once quiet, the whole stream gives the final snapshot.
    setup.wait_quiet();
    let snapshot = setup.snapshot();
    follow_to(&mut follower, &mut journal, &mut applied, &snapshot);
    assert_eq!(follower.view(), &LifecycleView::of_snapshot(&snapshot));
    assert_eq!(follower.gaps(), 0);
    let view = follower.view();
    assert_eq!(view.plugins.keys().collect::<Vec<_>>(), ["fixture.echo"]);
    assert_eq!(
        view.plugins["fixture.echo"].version.as_deref(),
        Some("2.0.0")
    );
    assert_eq!(
        view.generations.values().collect::<Vec<_>>(),
        [&("fixture.echo".to_owned(), "active")]
    );
}

#[test]
fn a_snapshot_shows_versions_capabilities_holders_threads_and_counters() {
    let setup = Setup::with_config(
        "snapshot",
        RuntimeConfig::default().with_core(CoreConfig {
            // No stall report in this test, however slow the machine.
            drain_timeout: Duration::from_secs(3600),
            ..CoreConfig::default()
        }),
    );
    let echo = setup.install("fixture-echo-v1", "libecho.so");
    let gain = setup.install("example-gain", "libgain.so");
    let g1 = setup.load(&echo);
    let gain_generation = setup.load(&gain);
    let not_a_plugin = setup.install("fixture-no-entry", "libnone.so");
    assert!(matches!(
        setup.call(Command::Load {
            path: not_a_plugin,
            expected_plugin_id: None,
        }),
        Outcome::Failed(_)
    ));

    // An owner on a named thread holds an instance of the first generation, and does not
    // read its mailbox.
    let (ready_tx, ready) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let runtime = setup.runtime.clone();
    let holder_thread = std::thread::Builder::new()
        .name("audio-render".into())
        .spawn(move || {
            let owner = runtime.register_owner("audio.render").unwrap();
            let instance = owner
                .create::<ProbeInterface>("fixture.echo", "echo", b"")
                .unwrap();
            ready_tx.send(owner.key()).unwrap();
            let _ = released.recv();
            drop(instance);
        })
        .unwrap();
    let render = ready.recv().unwrap();
    setup.install("fixture-echo-v2", "libecho.so");
    let g2 = setup.reload("fixture.echo");

    let snapshot = setup.snapshot();
    let plugin = |id: &str| {
        snapshot
            .plugins
            .iter()
            .find(|p| p.plugin_id == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let echo_plugin = plugin("fixture.echo");
    assert_eq!(echo_plugin.version.as_deref(), Some("2.0.0"));
    assert_eq!(echo_plugin.state, PluginState::Serving);
    assert!(echo_plugin.enabled);
    assert_eq!(echo_plugin.active, Some(g2));
    assert_eq!(echo_plugin.path, echo);
    assert_eq!(
        echo_plugin.capabilities,
        setup.module_of("fixture.echo").capabilities
    );
    let gain_plugin = plugin("example.gain");
    assert_eq!(gain_plugin.version.as_deref(), Some("1.0.0"));
    assert_eq!(gain_plugin.active, Some(gain_generation));
    let [scale] = gain_plugin.capabilities.as_slice() else {
        panic!("{:?}", gain_plugin.capabilities);
    };
    assert_eq!(
        (scale.type_id.as_str(), scale.default_config.as_slice()),
        ("scale", b"0.5".as_slice())
    );

    let generation = |key: GenerationKey| {
        snapshot
            .generations
            .iter()
            .find(|g| g.generation == key)
            .unwrap_or_else(|| panic!("{key} missing"))
    };
    let (old, new) = (generation(g1), generation(g2));
    assert_eq!(
        old.state,
        GenerationState::Draining {
            reason: DrainReason::Replaced,
            successor: Some(g2),
            stalls: 0,
        }
    );
    assert_eq!(old.version, "1.0.0");
    assert_eq!(
        old.holders,
        [HolderReport {
            owner: Some(render),
            owner_name: Some("audio.render".into()),
            holds: instances(1),
        }]
    );
    assert_eq!(new.state, GenerationState::Active);
    assert!(new.holders.is_empty());
    assert!(old.age >= new.age, "{:?} < {:?}", old.age, new.age);
    assert!(old.in_state <= old.age);
    let old_shadow = old.shadow_path.clone().unwrap();
    let new_shadow = new.shadow_path.clone().unwrap();
    assert_ne!(old_shadow, new_shadow);
    for g in [old, new] {
        assert!(g.code_mapped);
        let shadow = g.shadow_path.as_ref().unwrap();
        assert!(shadow.exists(), "{}", shadow.display());
        assert!(plugin_runtime::loader::code_mapped(shadow).unwrap());
    }

    let [owner] = snapshot.owners.as_slice() else {
        panic!("{:?}", snapshot.owners);
    };
    assert_eq!(owner.owner, render);
    assert_eq!(owner.name, "audio.render");
    assert_eq!(owner.thread.as_deref(), Some("audio-render"));
    assert_eq!((owner.instances, owner.tickets, owner.pins), (1, 0, 0));
    // The draining notice waits in its mailbox, unread.
    assert_eq!(owner.mailbox_backlog, Some(1));

    let c = snapshot.counters;
    assert_eq!(
        (c.loads, c.reloads, c.failed_loads, c.collected, c.unmapped),
        (3, 1, 1, 0, 0)
    );
    assert_eq!(
        (c.kept_mapped, c.stalled_drains, c.listener_drops),
        (0, 0, 0)
    );

    // Released and closed: its shadow copy is gone, and the counters say so.
    release.send(()).unwrap();
    holder_thread.join().unwrap();
    setup.wait_removed(g1);
    assert!(!old_shadow.exists());
    assert!(matches!(
        setup.call(Command::SetEnabled {
            plugin_id: "example.gain".into(),
            enabled: false,
        }),
        Outcome::Disabled { .. }
    ));
    setup.wait_removed(gain_generation);
    let snapshot = setup.snapshot();
    assert_eq!(
        plugin_state(&snapshot, "example.gain"),
        PluginState::Disabled
    );
    let c = snapshot.counters;
    assert_eq!(
        (c.loads, c.reloads, c.failed_loads, c.collected, c.unmapped),
        (3, 1, 1, 2, 2)
    );
    assert_eq!(
        snapshot
            .generations
            .iter()
            .map(|g| g.generation)
            .collect::<Vec<_>>(),
        [g2]
    );
}

fn plugin_state(snapshot: &Snapshot, plugin_id: &str) -> PluginState {
    snapshot
        .plugins
        .iter()
        .find(|p| p.plugin_id == plugin_id)
        .map(|p| p.state)
        .unwrap_or_else(|| panic!("{plugin_id} missing"))
}
