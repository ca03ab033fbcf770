//! The routing rules, one deterministic scenario each.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::events::{EventKind, Topic};
use crate::generation::{DrainReason, LoadFailure};
use crate::module::{CloseOutcome, ModuleInfo};

fn module(plugin_id: &str) -> ModuleInfo {
    ModuleInfo {
        digest: None,
        plugin_id: plugin_id.into(),
        version: "1.0.0".into(),
        display_name: plugin_id.into(),
        abi_major: 2,
        abi_minor: 0,
        capabilities: Vec::new(),
    }
}

struct Setup {
    router: Router,
    start: Instant,
    now: Instant,
    next_request: u64,
}

impl Setup {
    fn new() -> Self {
        let start = Instant::now();
        let config = CoreConfig {
            drain_timeout: Duration::from_secs(1),
            max_stall_interval: Duration::from_secs(4),
        };
        Self {
            router: Router::new(config, start),
            start,
            now: start,
            next_request: 0,
        }
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.router.poll_action(self.now)).collect()
    }

    fn submit(&mut self, owner: Option<OwnerKey>, command: Command, waiter: bool) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.router.submit(self.now, id, owner, command, waiter);
        id
    }

    /// Loads `plugin_id`, answering the open with `result`; returns every action.
    fn load(&mut self, plugin_id: &str, result: Result<ModuleInfo, LoadFailure>) -> Vec<Action> {
        let command = Command::Load {
            path: PathBuf::from(format!("plugins/{plugin_id}.so")),
            expected_plugin_id: Some(plugin_id.into()),
        };
        self.submit(None, command, true);
        let mut actions = self.actions();
        let load = actions
            .iter()
            .find_map(|a| match a {
                Action::Open { load, .. } => Some(*load),
                _ => None,
            })
            .expect("a load opens a library");
        self.router
            .core_mut()
            .load_finished(self.now, load, result)
            .unwrap();
        actions.extend(self.actions());
        actions
    }
}

fn records(actions: &[Action]) -> Vec<Arc<EventRecord>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Publish { record, .. } => Some(Arc::clone(record)),
            _ => None,
        })
        .collect()
}

fn kinds(actions: &[Action]) -> Vec<EventKind> {
    records(actions).iter().map(|r| r.event.kind()).collect()
}

#[test]
fn records_are_numbered_from_one_without_gaps_and_timed_from_the_origin() {
    let mut s = Setup::new();
    s.now = s.start + Duration::from_micros(1_500);
    let mut actions = s.load("a", Ok(module("a")));
    s.now = s.start + Duration::from_secs(2);
    s.submit(None, Command::Snapshot, true);
    actions.extend(s.actions());
    let records = records(&actions);
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(records[0].t_micros, 1_500);
    assert_eq!(records.last().unwrap().t_micros, 2_000_000);
    assert!(records.iter().all(|r| r.dropped == 0));
}

#[test]
fn an_outcome_goes_to_its_waiter_else_its_owner_else_nowhere() {
    let mut s = Setup::new();
    let owner = s.router.core_mut().register_owner_on("control", "main");
    let waited = s.submit(Some(owner), Command::Snapshot, true);
    let owned = s.submit(Some(owner), Command::Snapshot, false);
    let nobody = s.submit(None, Command::Snapshot, false);
    let left = s.submit(Some(owner), Command::Snapshot, true);
    // Every action so far was queued by `submit`; the waiter of `left` goes first.
    s.router.waiter_gone(left);
    let mut routes = Vec::new();
    for action in s.actions() {
        match action {
            Action::Reply { request_id, .. } => routes.push((request_id, "reply")),
            Action::Complete {
                request_id,
                owner: to,
                ..
            } => {
                assert_eq!(to, owner);
                routes.push((request_id, "owner"));
            }
            Action::Publish { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        routes,
        [(waited, "reply"), (owned, "owner"), (left, "owner")],
        "{nobody:?} completes nowhere"
    );
}

#[test]
fn every_command_is_published_as_submitted_and_completed_in_order() {
    let mut s = Setup::new();
    let actions = s.load(
        "a",
        Err(LoadFailure {
            step: "open".into(),
            message: "no such file".into(),
        }),
    );
    assert_eq!(
        kinds(&actions),
        [
            EventKind::CommandSubmitted,
            EventKind::LoadRequested,
            EventKind::LoadFailed,
            EventKind::CommandCompleted,
        ]
    );
    assert_eq!(s.router.counters().failed_loads, 1);
}

#[test]
fn a_listener_hears_what_its_filter_matches_until_it_leaves() {
    let mut s = Setup::new();
    let all = s.router.listen(EventFilter::all());
    let lifecycle_of_a = s
        .router
        .listen(EventFilter::all().topic(Topic::Lifecycle).plugin("a"));
    let actions = s.load("a", Ok(module("a")));
    for action in &actions {
        if let Action::Publish { record, listeners } = action {
            let a_lifecycle =
                record.event.topic() == Topic::Lifecycle && record.event.plugin_id() == Some("a");
            let expected: Vec<ListenerId> = if a_lifecycle {
                vec![all, lifecycle_of_a]
            } else {
                vec![all]
            };
            assert_eq!(listeners.as_slice(), expected, "{:?}", record.event);
        }
    }
    assert!(s.router.unlisten(lifecycle_of_a));
    assert!(!s.router.unlisten(lifecycle_of_a), "already gone");
    s.load("b", Ok(module("b")));
    s.submit(
        None,
        Command::Reload {
            plugin_id: "a".into(),
        },
        true,
    );
    for action in s.actions() {
        if let Action::Publish { listeners, .. } = action {
            assert_eq!(listeners.as_slice(), [all]);
        }
    }
}

#[test]
fn a_stall_goes_to_each_owner_holding_the_generation_once_per_report() {
    let mut s = Setup::new();
    s.load("a", Ok(module("a")));
    let audio = s
        .router
        .core_mut()
        .register_owner_on("audio", "audio-thread");
    let ui = s.router.core_mut().register_owner_on("ui", "ui-thread");
    let bystander = s.router.core_mut().register_owner_on("bystander", "other");
    let old = s.router.core().active_generation("a").unwrap();
    let now = s.now;
    let core = s.router.core_mut();
    let ticket = core.reserve_ticket(now, audio, "a", "k", "t", 1);
    // The module offers no capability: hold the generation with pins instead.
    assert!(ticket.is_err());
    core.pin(now, Some(audio), "a").unwrap();
    core.pin(now, Some(ui), "a").unwrap();
    core.pin(now, None, "a").unwrap();
    let reload = s.load("a", Ok(module("a")));
    assert!(kinds(&reload).contains(&EventKind::Draining));
    for (at, report) in [(1, 1), (3, 2)] {
        s.now = s.start + Duration::from_secs(at);
        s.router.core_mut().handle_timeout(s.now);
        let actions = s.actions();
        let stalled_to: Vec<OwnerKey> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Stalled { owner, stall } => {
                    assert_eq!(stall.stalled.generation, old);
                    assert_eq!(stall.report, report);
                    assert_eq!(stall.stalled.holders.len(), 3);
                    Some(*owner)
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            stalled_to,
            [audio, ui],
            "not {bystander:?}, not the pin without owner"
        );
        assert_eq!(kinds(&actions), [EventKind::DrainStalled]);
    }
    assert_eq!(
        s.router.counters().stalled_drains,
        1,
        "one drain, however many reports"
    );
}

#[test]
fn counters_count_what_happened_and_snapshots_carry_them_with_threads() {
    let mut s = Setup::new();
    let owner = s
        .router
        .core_mut()
        .register_owner_on("audio", "audio-thread");
    s.load("a", Ok(module("a")));
    let reload = s.load("a", Ok(module("a")));
    let token_generation = reload.iter().find_map(|a| match a {
        Action::Close(token) => Some(token.generation()),
        _ => None,
    });
    assert!(
        token_generation.is_some(),
        "the replaced generation is collected at once"
    );
    for action in reload {
        if let Action::Close(token) = action {
            s.router
                .core_mut()
                .closed(s.now, token, CloseOutcome::StillMapped)
                .unwrap();
        }
    }
    let closes = s.actions();
    assert_eq!(kinds(&closes), [EventKind::Closed, EventKind::StillMapped]);
    s.router
        .core_mut()
        .unmapped_later(token_generation.unwrap())
        .unwrap();
    assert_eq!(
        kinds(&s.actions()),
        [EventKind::Unmapped, EventKind::CleanedUp]
    );
    s.router.listener_dropped(3);
    s.submit(Some(owner), Command::Snapshot, true);
    let snapshot = s
        .actions()
        .into_iter()
        .find_map(|a| match a {
            Action::Reply {
                outcome: Outcome::Snapshot(snapshot),
                ..
            } => Some(snapshot),
            _ => None,
        })
        .unwrap();
    let c = snapshot.counters;
    assert_eq!(
        (
            c.loads,
            c.reloads,
            c.collected,
            c.kept_mapped,
            c.unmapped,
            c.listener_drops
        ),
        (2, 1, 1, 1, 1, 3)
    );
    assert_eq!(snapshot.owners.len(), 1);
    assert_eq!(snapshot.owners[0].thread.as_deref(), Some("audio-thread"));
}

#[test]
fn a_drain_carries_its_reason_and_successor() {
    let mut s = Setup::new();
    s.load("a", Ok(module("a")));
    let old = s.router.core().active_generation("a").unwrap();
    let actions = s.load("a", Ok(module("a")));
    let new = s.router.core().active_generation("a").unwrap();
    let drains: Vec<_> = records(&actions)
        .iter()
        .filter_map(|r| match &r.event {
            Event::Draining {
                generation,
                reason,
                successor,
                ..
            } => Some((*generation, *reason, *successor)),
            _ => None,
        })
        .collect();
    assert_eq!(drains, [(old, DrainReason::Replaced, Some(new))]);
}

#[test]
fn poisoning_is_the_last_record() {
    let mut s = Setup::new();
    let listener = s.router.listen(EventFilter::all().topic(Topic::Runtime));
    match s.router.poisoned(s.now, "boom".into()) {
        Action::Publish { record, listeners } => {
            assert_eq!(
                record.event,
                Event::RuntimePoisoned {
                    message: "boom".into()
                }
            );
            assert_eq!(listeners.as_slice(), [listener]);
        }
        other => panic!("unexpected {other:?}"),
    }
}
