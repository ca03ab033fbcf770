//! One scenario for each rule of the core that the scenarios in `tests.rs` leave to the
//! property suite, so a default test run checks every rule deterministically.
//! `docs/design.md` ("Rules and their unit scenarios") names the scenarios of each rule.
//!
//! The assertions read effects, outcomes, errors and states, not events, except where
//! a rule is about an event; those few matches live in small helpers.

use std::time::Duration;

use super::keys::CoreKey;
use super::tests::{
    Harness, TIMEOUT, close_tokens, load_command, module, notified, only_close, outcomes, reload,
    set_enabled, shutdown_report, unload,
};
use super::*;
use crate::loader::CloseOutcome;
use crate::owner::{OwnerError, OwnerKey, ReleaseError, ReserveError, Subscription, TicketError};

// A close token is neither cloned nor copied: each collected generation closes once.
static_assertions::assert_not_impl_any!(CloseToken: Clone, Copy);

/// A core configured with `config`, at the start of its virtual clock.
fn harness_with(config: CoreConfig) -> Harness {
    let mut h = Harness::new();
    h.core = Lifecycle::new(config);
    h
}

/// The error of the one failed completion that `effects` are made of.
fn failed_alone(effects: &[Effect]) -> &CommandError {
    match effects {
        [
            Effect::Complete {
                outcome: Outcome::Failed(error),
                ..
            },
        ] => error,
        other => panic!("expected one failed completion alone, got {other:?}"),
    }
}

/// The notices among `effects`, with the owner each one goes to.
fn notices(effects: &[Effect]) -> Vec<(OwnerKey, Notice)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify { owner, notice } => Some((*owner, notice.clone())),
            _ => None,
        })
        .collect()
}

/// The close results reported among `effects`: each generation, and why it stays in the
/// process if it does.
fn close_reports(effects: &[Effect]) -> Vec<(GenerationKey, Option<PinnedReason>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(Event::Unmapped { generation, .. }) => Some((*generation, None)),
            Effect::Event(Event::StillMapped { generation, .. }) => {
                Some((*generation, Some(PinnedReason::StillMapped)))
            }
            Effect::Event(Event::KeptLoaded {
                generation, reason, ..
            }) => Some((
                *generation,
                Some(PinnedReason::KeptLoaded {
                    reason: reason.clone(),
                }),
            )),
            _ => None,
        })
        .collect()
}

/// Why a draining generation drains, and what replaced it.
fn drain_of(h: &Harness, generation: GenerationKey) -> (DrainReason, Option<GenerationKey>) {
    match h.state(generation) {
        GenerationState::Draining {
            reason, successor, ..
        } => (reason, successor),
        other => panic!("{generation:?} is {other:?}, not draining"),
    }
}

/// How many stalled-drain reports a draining generation produced.
fn stalls_of(h: &Harness, generation: GenerationKey) -> u32 {
    match h.state(generation) {
        GenerationState::Draining { stalls, .. } => stalls,
        other => panic!("{generation:?} is {other:?}, not draining"),
    }
}

/// The index of a key's slot, whatever its version: the low half of slotmap's FFI form.
fn slot_index<K: CoreKey>(key: K) -> u64 {
    use slotmap::Key as _;
    key.slot().data().as_ffi() & 0xffff_ffff
}

fn failure() -> LoadFailure {
    LoadFailure {
        step: "open".into(),
        message: "no such file".into(),
    }
}

fn holds(instances: u32, tickets: u32, pins: u32) -> HoldCounts {
    HoldCounts {
        instances,
        tickets,
        pins,
    }
}

// Loads.

#[test]
fn a_failed_first_load_makes_no_plugin_and_no_generation() {
    let mut h = Harness::new();
    let load = h.start_load(load_command("/plugins/a.so", Some("a")));
    assert_eq!(h.core.load_finished(h.now, load, Err(failure())), Ok(None));
    let effects = h.effects();
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Load(failure()))]
    );
    assert!(close_tokens(effects).is_empty());
    assert_eq!(h.core.generations().count(), 0);
    assert_eq!(h.core.active_generation("a"), None);
    h.submit(reload("a"));
    assert_eq!(
        outcomes(&h.effects()),
        [&Outcome::Failed(CommandError::UnknownPlugin {
            plugin_id: "a".into()
        })]
    );
}

#[test]
fn a_load_completes_once_with_its_submitter_when_answered() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("control");
    let command = load_command("/plugins/a.so", None);
    h.core.submit(h.now, RequestId(3), Some(owner), command);
    let effects = h.effects();
    let [
        Effect::Event(Event::LoadRequested { .. }),
        Effect::Open { load, .. },
    ] = effects.as_slice()
    else {
        panic!("a load only opens until it is answered: {effects:?}");
    };
    let load = *load;
    let generation = h
        .core
        .load_finished(h.now, load, Ok(module("a", "1")))
        .unwrap();
    let effects = h.effects();
    let completions: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Complete {
                request_id,
                owner,
                outcome,
            } => Some((*request_id, *owner, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        completions,
        [(
            RequestId(3),
            Some(owner),
            Outcome::Loaded {
                plugin_id: "a".into(),
                generation: generation.unwrap(),
                replaced: None,
            }
        )]
    );
    assert_eq!(
        h.core.load_finished(h.now, load, Ok(module("a", "1"))),
        Err(LoadFinishedError::NotFound(NotFoundError::Load(load)))
    );
    assert!(h.effects().is_empty(), "an answered load completes once");
}

#[test]
fn a_rejected_library_never_serves_and_the_old_generation_stays() {
    let mut h = Harness::new();
    let watcher = h.core.register_owner("ui");
    h.core
        .subscribe(watcher, Subscription::Plugin("b".into()))
        .unwrap();
    let old = h.load("a", "1");
    let load = h.start_load(reload("a"));
    let (rejected, effects) = h.finish_generation(load, module("b", "1"));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::PluginIdMismatch {
            expected: "a".into(),
            found: "b".into(),
        })]
    );
    assert_eq!(
        notices(&effects),
        [(
            watcher,
            Notice {
                plugin_id: "b".into(),
                old: rejected,
                new: None,
                reason: DrainReason::Rejected,
            }
        )]
    );
    assert_eq!(only_close(effects).generation(), rejected);
    assert_eq!(h.core.active_generation("a"), Some(old));
    assert_eq!(h.state(old), GenerationState::Active);
    assert_eq!(h.core.active_generation("b"), None);
}

#[test]
fn a_disable_overtaking_a_reload_cancels_it() {
    let mut h = Harness::new();
    let watcher = h.core.register_owner("ui");
    h.core
        .subscribe(watcher, Subscription::Plugin("a".into()))
        .unwrap();
    let owner = h.core.register_owner("audio.decode");
    h.load("a", "1");
    let load = h.start_load(reload("a"));
    h.submit(set_enabled("a", false));
    assert_eq!(close_tokens(h.effects()).len(), 1);
    let (late, effects) = h.finish_generation(load, module("a", "2"));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Cancelled)]
    );
    assert_eq!(
        notices(&effects),
        [(
            watcher,
            Notice {
                plugin_id: "a".into(),
                old: late,
                new: None,
                reason: DrainReason::Cancelled,
            }
        )]
    );
    assert_eq!(
        only_close(effects).generation(),
        late,
        "the late generation never serves"
    );
    assert_eq!(h.core.active_generation("a"), None);
    assert_eq!(
        h.core
            .reserve_ticket(h.now, owner, "a", "decoder", "wav", 1),
        Err(ReserveError::Disabled {
            plugin_id: "a".into()
        }),
        "the plugin stays known and disabled"
    );
}

#[test]
fn an_unload_does_not_cancel_a_load_that_names_no_plugin() {
    let mut h = Harness::new();
    h.load("a", "1");
    let load = h.start_load(load_command("/plugins/a-2.so", None));
    h.submit(unload("a"));
    h.effects();
    let effects = h.finish(load, Ok(module("a", "2")));
    assert!(matches!(
        outcomes(&effects).as_slice(),
        [Outcome::Loaded { replaced: None, .. }]
    ));
    assert!(close_tokens(effects).is_empty());
    let active = h.core.active_generation("a").unwrap();
    assert_eq!(h.state(active), GenerationState::Active);
}

#[test]
fn commands_on_unknown_or_disabled_plugins_fail_and_change_nothing() {
    let mut h = Harness::new();
    for command in [
        reload("x"),
        unload("x"),
        set_enabled("x", true),
        set_enabled("x", false),
    ] {
        h.submit(command);
        assert_eq!(
            failed_alone(&h.effects()),
            &CommandError::UnknownPlugin {
                plugin_id: "x".into()
            }
        );
    }
    h.load("a", "1");
    h.submit(set_enabled("a", false));
    h.effects();
    h.submit(reload("a"));
    assert_eq!(
        failed_alone(&h.effects()),
        &CommandError::Disabled {
            plugin_id: "a".into()
        },
        "a disabled plugin is not reloaded"
    );
    assert_eq!(h.core.generations().count(), 1);
}

// Enable, disable, unload.

#[test]
fn enabling_a_serving_plugin_or_disabling_a_disabled_one_changes_nothing() {
    let mut h = Harness::new();
    let generation = h.load("a", "1");
    h.submit(set_enabled("a", true));
    let effects = h.effects();
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Complete { outcome: Outcome::Enabled { generation: g, .. }, .. }]
                if *g == generation
        ),
        "no load: {effects:?}"
    );
    assert_eq!(h.state(generation), GenerationState::Active);

    h.submit(set_enabled("a", false));
    h.effects();
    h.submit(set_enabled("a", false));
    let effects = h.effects();
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Complete {
                outcome: Outcome::Disabled { draining: None, .. },
                ..
            }]
        ),
        "nothing left to drain: {effects:?}"
    );
}

#[test]
fn an_enable_overtaken_by_another_load_finishes_as_a_reload() {
    let mut h = Harness::new();
    h.load("a", "1");
    h.submit(set_enabled("a", false));
    h.effects();
    let load = h.start_load(load_command("/plugins/a.so", None));
    let enable = h.start_load(set_enabled("a", true));
    h.finish(load, Ok(module("a", "2")));
    let first = h.core.active_generation("a").unwrap();
    let owner = h.core.register_owner("audio.decode");
    h.instance(owner, "a");
    let effects = h.finish(enable, Ok(module("a", "3")));
    let second = h.core.active_generation("a").unwrap();
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Loaded {
            plugin_id: "a".into(),
            generation: second,
            replaced: Some(first),
        }]
    );
    assert_eq!(drain_of(&h, first), (DrainReason::Replaced, Some(second)));
}

#[test]
fn unload_forgets_the_plugin_and_drains_its_generation() {
    let mut h = Harness::new();
    let (_, generation, _) = h.load_held("a");
    h.submit(unload("a"));
    let effects = h.effects();
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Unloaded {
            plugin_id: "a".into(),
            draining: Some(generation),
        }]
    );
    assert!(close_tokens(effects).is_empty(), "the instance holds it");
    assert_eq!(drain_of(&h, generation), (DrainReason::Unloaded, None));
    assert_eq!(h.core.active_generation("a"), None);
    assert!(h.core.resolve("a", "decoder", "wav").is_none());
    h.submit(reload("a"));
    assert!(matches!(
        outcomes(&h.effects()).as_slice(),
        [Outcome::Failed(CommandError::UnknownPlugin { .. })]
    ));
}

// Tickets and pins.

#[test]
fn reserving_checks_its_conditions_in_order() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    let gone = h.core.register_owner("gone");
    h.core.unregister_owner(h.now, gone).unwrap();
    let generation = h.load("a", "1");
    let now = h.now;
    // The owner before the plugin, the plugin before the capability.
    assert_eq!(
        h.core.reserve_ticket(now, gone, "x", "dsp", "gain", 9),
        Err(ReserveError::Owner(NotFoundError::Owner(gone)))
    );
    assert_eq!(
        h.core.reserve_ticket(now, owner, "x", "dsp", "gain", 9),
        Err(ReserveError::UnknownPlugin {
            plugin_id: "x".into()
        })
    );
    // The capability by kind and type id together, before its version.
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "gain", 9),
        Err(ReserveError::NoCapability { .. })
    ));
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "decoder", "wav", 9),
        Err(ReserveError::InterfaceVersion {
            expected: 9,
            found: 1,
            ..
        })
    ));
    assert!(h.core.generation(generation).unwrap().holds.is_empty());
    // Enabled before the capability.
    h.submit(set_enabled("a", false));
    h.effects();
    assert!(matches!(
        h.core.reserve_ticket(now, owner, "a", "dsp", "gain", 9),
        Err(ReserveError::Disabled { .. })
    ));
    // Shutdown before everything else.
    h.shutdown(Duration::from_secs(60));
    assert_eq!(
        h.core.reserve_ticket(now, gone, "x", "dsp", "gain", 9),
        Err(ReserveError::ShuttingDown)
    );
}

#[test]
fn pinning_reports_typed_errors() {
    let mut h = Harness::new();
    let gone = h.core.register_owner("gone");
    h.core.unregister_owner(h.now, gone).unwrap();
    let now = h.now;
    assert_eq!(
        h.core.pin(now, None, "x"),
        Err(PinError::UnknownPlugin {
            plugin_id: "x".into()
        })
    );
    let generation = h.load("a", "1");
    assert_eq!(
        h.core.pin(now, Some(gone), "a"),
        Err(PinError::Owner(NotFoundError::Owner(gone)))
    );
    assert!(h.core.generation(generation).unwrap().holds.is_empty());
    h.submit(set_enabled("a", false));
    h.effects();
    assert_eq!(
        h.core.pin(now, None, "a"),
        Err(PinError::Disabled {
            plugin_id: "a".into()
        })
    );
    assert_eq!(h.state(generation), GenerationState::Closing);
    h.shutdown(Duration::from_secs(60));
    assert_eq!(
        h.core.pin(now, Some(gone), "a"),
        Err(PinError::ShuttingDown)
    );
}

#[test]
fn new_tickets_and_pins_go_to_the_active_generation_never_a_draining_one() {
    let mut h = Harness::new();
    let (owner, old, _) = h.load_held("a");
    let (new, _) = h.reload("a", "2");
    let ticket = h.ticket(owner, "a");
    assert_eq!(ticket.generation, new);
    let (_, pinned) = h.core.pin(h.now, None, "a").unwrap();
    assert_eq!(pinned, new);
    let instance = h.core.ticket_created(h.now, ticket.key).unwrap();
    assert_eq!(h.core.instance(instance).unwrap().generation, new);
    assert_eq!(h.core.generation(old).unwrap().holds, holds(1, 0, 0));
    assert_eq!(h.core.generation(new).unwrap().holds, holds(1, 0, 1));
}

// Drain and notices.

#[test]
fn each_drain_records_its_reason_successor_and_start() {
    let mut h = Harness::new();
    let (owner, replaced, _) = h.load_held("a");
    h.now += Duration::from_secs(1);
    let (successor, _) = h.reload("a", "2");
    assert_eq!(
        drain_of(&h, replaced),
        (DrainReason::Replaced, Some(successor))
    );
    assert_eq!(h.core.generation(replaced).unwrap().since, h.now);
    assert_eq!(stalls_of(&h, replaced), 0);

    let disabled = h.load("b", "1");
    h.instance(owner, "b");
    h.now += Duration::from_secs(1);
    h.submit(set_enabled("b", false));
    assert_eq!(drain_of(&h, disabled), (DrainReason::Disabled, None));
    assert_eq!(h.core.generation(disabled).unwrap().since, h.now);

    h.instance(owner, "a");
    h.now += Duration::from_secs(1);
    h.shutdown(Duration::from_secs(60));
    assert_eq!(drain_of(&h, successor), (DrainReason::Shutdown, None));
    assert_eq!(h.core.generation(successor).unwrap().since, h.now);
    // A generation already draining keeps its reason and start.
    assert_eq!(
        drain_of(&h, replaced),
        (DrainReason::Replaced, Some(successor))
    );
    assert_eq!(drain_of(&h, disabled), (DrainReason::Disabled, None));
}

#[test]
fn each_concerned_owner_is_told_once() {
    let mut h = Harness::new();
    let holder = h.core.register_owner("audio.decode");
    for subscription in [
        Subscription::Plugin("a".into()),
        Subscription::Plugin("a".into()),
        Subscription::All,
    ] {
        h.core.subscribe(holder, subscription).unwrap();
    }
    let pinner = h.core.register_owner("scanner");
    let everything = h.core.register_owner("ui");
    h.core.subscribe(everything, Subscription::All).unwrap();
    let gone = h.core.register_owner("gone");
    h.core.subscribe(gone, Subscription::All).unwrap();
    h.core.unregister_owner(h.now, gone).unwrap();
    let bystander = h.core.register_owner("metadata");
    h.core
        .subscribe(bystander, Subscription::Plugin("b".into()))
        .unwrap();

    h.load("a", "1");
    h.instance(holder, "a");
    h.core
        .reserve_ticket(h.now, holder, "a", "decoder", "wav", 1)
        .unwrap();
    h.core.pin(h.now, Some(pinner), "a").unwrap();
    h.core.pin(h.now, None, "a").unwrap();
    let (_, effects) = h.reload("a", "2");
    assert_eq!(notified(&effects), [holder, pinner, everything]);
}

// Collect.

#[test]
fn releasing_every_hold_of_an_active_generation_closes_nothing() {
    let mut h = Harness::new();
    let (owner, generation, instance) = h.load_held("a");
    let ticket = h.ticket(owner, "a");
    let (owned, _) = h.core.pin(h.now, Some(owner), "a").unwrap();
    let (ownerless, _) = h.core.pin(h.now, None, "a").unwrap();
    h.core.release_instance(h.now, instance).unwrap();
    h.core.ticket_dropped(h.now, ticket.key).unwrap();
    h.core.unpin(h.now, owned).unwrap();
    h.core.unpin(h.now, ownerless).unwrap();
    assert!(h.effects().is_empty());
    assert_eq!(h.state(generation), GenerationState::Active);
    assert!(h.core.generation(generation).unwrap().holds.is_empty());
}

#[test]
fn a_generation_held_by_several_owners_waits_for_the_last() {
    let mut h = Harness::new();
    let first = h.core.register_owner("audio.decode");
    let second = h.core.register_owner("audio.output_sink");
    let old = h.load("a", "1");
    let a = h.instance(first, "a");
    let b = h.instance(second, "a");
    let (pin, _) = h.core.pin(h.now, None, "a").unwrap();
    h.reload("a", "2");
    h.core.release_instance(h.now, a).unwrap();
    assert!(close_tokens(h.effects()).is_empty());
    h.core.release_instance(h.now, b).unwrap();
    assert!(close_tokens(h.effects()).is_empty(), "the pin holds it");
    assert_eq!(drain_of(&h, old).0, DrainReason::Replaced);
    h.core.unpin(h.now, pin).unwrap();
    assert_eq!(only_close(h.effects()).generation(), old);
}

#[test]
fn a_collected_generation_is_never_collected_again() {
    let mut h = Harness::new();
    let (_, old, instance) = h.load_held("a");
    let (new, _) = h.reload("a", "2");
    h.core.release_instance(h.now, instance).unwrap();
    let old_token = only_close(h.effects());
    assert_eq!(old_token.generation(), old);
    // Neither time nor a shutdown nor another release collects it again.
    h.core.handle_timeout(h.now + Duration::from_secs(3600));
    assert!(h.effects().is_empty());
    let request = h.shutdown(Duration::from_secs(60));
    let new_token = only_close(h.effects());
    assert_eq!(new_token.generation(), new);
    h.unmap([old_token]);
    assert!(close_tokens(h.effects()).is_empty());
    h.unmap([new_token]);
    let effects = h.effects();
    assert_eq!(shutdown_report(&effects, request), Some(Vec::new()));
    assert!(close_tokens(effects).is_empty());
    assert_eq!(h.state(old), GenerationState::Closed);
}

// Stalled drains.

#[test]
fn reports_stop_once_the_generation_is_collected() {
    let mut h = Harness::new();
    let (_, old, instance) = h.load_held("a");
    h.reload("a", "2");
    let first = h.now + TIMEOUT;
    assert_eq!(h.core.poll_timeout(), Some(first));
    h.core.handle_timeout(first);
    h.effects();
    assert_eq!(stalls_of(&h, old), 1);
    h.core.release_instance(first, instance).unwrap();
    assert_eq!(close_tokens(h.effects()).len(), 1);
    assert_eq!(h.core.poll_timeout(), None);
    h.core.handle_timeout(first + Duration::from_secs(3600));
    assert!(h.effects().is_empty());
    assert_eq!(h.state(old), GenerationState::Closing);
}

#[test]
fn the_stall_interval_never_drops_below_the_drain_timeout() {
    let timeout = Duration::from_secs(10);
    let mut h = harness_with(CoreConfig {
        drain_timeout: timeout,
        max_stall_interval: Duration::from_secs(1),
    });
    assert_eq!(h.core.config().max_stall_interval, timeout);
    let (_, old, _) = h.load_held("a");
    h.reload("a", "2");
    let start = h.now;
    for (report, at) in [(1, 10), (2, 20), (3, 30)] {
        let due = start + Duration::from_secs(at);
        assert_eq!(h.core.poll_timeout(), Some(due));
        h.core.handle_timeout(due);
        assert_eq!(stalls_of(&h, old), report);
    }
}

#[test]
fn a_drain_timeout_too_long_for_the_clock_means_no_report() {
    let mut h = harness_with(CoreConfig {
        drain_timeout: Duration::MAX,
        max_stall_interval: Duration::MAX,
    });
    let (_, old, _) = h.load_held("a");
    h.reload("a", "2");
    h.effects();
    let due = h.core.poll_timeout().unwrap();
    assert!(due >= h.now + Duration::from_secs(50 * 365 * 24 * 60 * 60));
    h.core
        .handle_timeout(h.now + Duration::from_secs(24 * 60 * 60));
    assert!(h.effects().is_empty());
    assert_eq!(stalls_of(&h, old), 0);
    // Even at that far deadline, scheduling the next report does not overflow.
    h.core.handle_timeout(due);
    assert_eq!(stalls_of(&h, old), 1);
    assert!(h.core.poll_timeout().unwrap() >= due);
}

// Shutdown.

#[test]
fn a_shutdown_with_nothing_loaded_completes_at_once() {
    let mut h = Harness::new();
    let request = h.shutdown(Duration::from_secs(60));
    assert_eq!(shutdown_report(&h.effects(), request), Some(Vec::new()));
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn a_shutdown_cancels_pending_loads_and_waits_for_their_answers() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let load = h.start_load(reload("a"));
    let request = h.shutdown(Duration::from_secs(60));
    let effects = h.effects();
    assert!(outcomes(&effects).is_empty());
    let token = only_close(effects);
    assert_eq!(token.generation(), old);
    h.unmap([token]);
    assert!(outcomes(&h.effects()).is_empty(), "a load is still pending");
    let (late, effects) = h.finish_generation(load, module("a", "2"));
    assert_eq!(
        outcomes(&effects),
        [&Outcome::Failed(CommandError::Cancelled)],
        "the shutdown waits for the late generation's close"
    );
    let token = only_close(effects);
    assert_eq!(token.generation(), late);
    assert_eq!(h.core.active_generation("a"), None);
    h.unmap([token]);
    assert_eq!(shutdown_report(&h.effects(), request), Some(Vec::new()));
}

#[test]
fn a_shutting_down_core_refuses_work_but_answers_snapshots() {
    let mut h = Harness::new();
    let (owner, generation, instance) = h.load_held("a");
    let request = h.shutdown(Duration::from_secs(60));
    h.effects();
    let refuses_work = |h: &mut Harness| {
        let commands = [
            load_command("/plugins/b.so", None),
            reload("a"),
            unload("a"),
            set_enabled("a", false),
            set_enabled("a", true),
            Command::Shutdown {
                timeout: Duration::from_secs(60),
            },
        ];
        for command in commands {
            h.submit(command);
            assert_eq!(failed_alone(&h.effects()), &CommandError::ShuttingDown);
        }
        h.submit(Command::Snapshot);
        assert!(matches!(
            outcomes(&h.effects()).as_slice(),
            [Outcome::Snapshot(_)]
        ));
        assert_eq!(
            h.core
                .reserve_ticket(h.now, owner, "a", "decoder", "wav", 1),
            Err(ReserveError::ShuttingDown)
        );
        assert_eq!(h.core.pin(h.now, None, "a"), Err(PinError::ShuttingDown));
    };
    refuses_work(&mut h);
    assert_eq!(drain_of(&h, generation), (DrainReason::Shutdown, None));
    // Holds may still be released, and the shutdown ends; it still refuses work after.
    h.core.release_instance(h.now, instance).unwrap();
    let tokens = close_tokens(h.effects());
    h.unmap(tokens);
    assert_eq!(shutdown_report(&h.effects(), request), Some(Vec::new()));
    refuses_work(&mut h);
}

#[test]
fn a_shutdown_waits_for_its_deadline_through_stalled_drains() {
    let mut h = Harness::new();
    let (_, generation, _) = h.load_held("a");
    let start = h.now;
    let request = h.shutdown(Duration::from_secs(60));
    h.effects();
    // The drain is reported stalled long before the shutdown gives up.
    assert_eq!(h.core.poll_timeout(), Some(start + TIMEOUT));
    for at in [
        start + TIMEOUT,
        start + Duration::from_secs(60) - Duration::from_millis(1),
    ] {
        h.core.handle_timeout(at);
        assert_eq!(shutdown_report(&h.effects(), request), None);
    }
    assert_eq!(
        stalls_of(&h, generation),
        2,
        "one report per call that finds it due"
    );
    h.core.handle_timeout(start + Duration::from_secs(60));
    let stalled = shutdown_report(&h.effects(), request).expect("the deadline passed");
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].generation, generation);
}

#[test]
fn a_release_after_a_stalled_shutdown_still_collects() {
    let mut h = Harness::new();
    let (_, generation, instance) = h.load_held("a");
    let request = h.shutdown(Duration::from_secs(2));
    h.effects();
    h.now += Duration::from_secs(2);
    h.core.handle_timeout(h.now);
    let stalled = shutdown_report(&h.effects(), request).expect("the deadline passed");
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].generation, generation);
    h.core.release_instance(h.now, instance).unwrap();
    let token = only_close(h.effects());
    assert_eq!(token.generation(), generation);
    h.unmap([token]);
    let effects = h.effects();
    assert!(outcomes(&effects).is_empty(), "the shutdown completed once");
    assert_eq!(h.state(generation), GenerationState::Closed);
}

// Keys and owners.

#[test]
fn stale_keys_are_typed_not_found_even_after_their_slot_is_reused() {
    let mut h = Harness::new();
    let stale_owner = h.core.register_owner("first");
    h.core.unregister_owner(h.now, stale_owner).unwrap();
    let owner = h.core.register_owner("second");
    assert_eq!(slot_index(stale_owner), slot_index(owner));

    let old = h.load("a", "1");
    let stale_instance = h.instance(owner, "a");
    h.core.release_instance(h.now, stale_instance).unwrap();
    let instance = h.instance(owner, "a");
    let stale_ticket = h.ticket(owner, "a").key;
    h.core.ticket_dropped(h.now, stale_ticket).unwrap();
    let ticket = h.ticket(owner, "a").key;
    let (stale_pin, _) = h.core.pin(h.now, None, "a").unwrap();
    h.core.unpin(h.now, stale_pin).unwrap();
    let (pin, _) = h.core.pin(h.now, None, "a").unwrap();
    let stale_load = h.start_load(reload("a"));
    h.finish(stale_load, Err(failure()));
    let load = h.start_load(reload("a"));
    // The drained generation is closed and its record removed; a new one takes its slot.
    h.core.release_instance(h.now, instance).unwrap();
    h.core.ticket_dropped(h.now, ticket).unwrap();
    h.core.unpin(h.now, pin).unwrap();
    let effects = h.finish(load, Ok(module("a", "2")));
    let new = h.core.active_generation("a").unwrap();
    for token in close_tokens(effects) {
        h.core.closed(h.now, token, CloseOutcome::Unmapped).unwrap();
    }
    h.effects();
    h.core.cleanup(old).unwrap();
    let (newest, _) = h.reload("a", "3");
    assert_eq!(slot_index(old), slot_index(newest));
    let instance = h.instance(owner, "a");
    let ticket = h.ticket(owner, "a").key;
    let (pin, _) = h.core.pin(h.now, None, "a").unwrap();
    let load = h.start_load(reload("a"));
    h.effects();

    let before = h.core.snapshot(h.now);
    let now = h.now;
    let core = &mut h.core;
    let gone = NotFoundError::Owner(stale_owner);
    assert_eq!(core.owner_name(stale_owner), Err(gone));
    assert_eq!(core.draining_notices(stale_owner), Err(gone));
    assert_eq!(
        core.subscribe(stale_owner, Subscription::All),
        Err(OwnerError::NotFound(gone))
    );
    assert_eq!(
        core.unregister_owner(now, stale_owner),
        Err(OwnerError::NotFound(gone))
    );
    let gone = NotFoundError::Instance(stale_instance);
    assert_eq!(core.instance(stale_instance), Err(gone));
    assert_eq!(
        core.release_instance(now, stale_instance),
        Err(ReleaseError::NotFound(gone))
    );
    let gone = TicketError::NotFound(NotFoundError::Ticket(stale_ticket));
    assert_eq!(core.ticket_created(now, stale_ticket), Err(gone.clone()));
    assert_eq!(core.ticket_failed(now, stale_ticket), Err(gone.clone()));
    assert_eq!(core.ticket_dropped(now, stale_ticket), Err(gone));
    assert_eq!(
        core.unpin(now, stale_pin),
        Err(UnpinError::NotFound(NotFoundError::Pin(stale_pin)))
    );
    assert_eq!(
        core.load_finished(now, stale_load, Ok(module("a", "4"))),
        Err(LoadFinishedError::NotFound(NotFoundError::Load(stale_load)))
    );
    let gone = NotFoundError::Generation(old);
    assert_eq!(core.generation(old).err(), Some(gone));
    assert_eq!(core.capability(old, 0).err(), Some(gone));
    assert_eq!(core.cleanup(old), Err(CleanupError::NotFound(gone)));
    assert!(h.effects().is_empty(), "a stale key changed nothing");
    assert_eq!(h.core.snapshot(h.now), before);

    // The live keys in the same slots still name their own records.
    assert_eq!(h.core.owner_name(owner), Ok("second"));
    assert_eq!(h.core.instance(instance).unwrap().generation, newest);
    assert_ne!(new, newest);
    h.core.ticket_created(now, ticket).unwrap();
    h.core.unpin(now, pin).unwrap();
    h.core.load_finished(now, load, Err(failure())).unwrap();
}

#[test]
fn unregistering_an_owner_leaves_the_holds_of_others() {
    let mut h = Harness::new();
    let leaving = h.core.register_owner("audio.decode");
    let staying = h.core.register_owner("audio.output_sink");
    let old = h.load("a", "1");
    h.instance(leaving, "a");
    let kept = h.instance(staying, "a");
    h.core.pin(h.now, None, "a").unwrap();
    h.reload("a", "2");
    let released = h.core.unregister_owner(h.now, leaving).unwrap();
    assert_eq!(
        (released.instances, released.tickets, released.pins),
        (1, 0, 0)
    );
    assert!(close_tokens(h.effects()).is_empty());
    assert_eq!(h.core.generation(old).unwrap().holds, holds(1, 0, 1));
    assert_eq!(h.core.instance(kept).unwrap().owner, staying);
    assert_eq!(
        h.core.unregister_owner(h.now, leaving),
        Err(OwnerError::NotFound(NotFoundError::Owner(leaving)))
    );
}

// Closes, cleanup and queries.

#[test]
fn each_close_result_sets_the_state_and_is_reported() {
    let mut h = Harness::new();
    for (version, outcome) in [
        ("2", CloseOutcome::Unmapped),
        ("3", CloseOutcome::StillMapped),
        (
            "4",
            CloseOutcome::KeptLoaded {
                reason: "deinit failed".into(),
            },
        ),
    ] {
        let old = h
            .core
            .active_generation("a")
            .unwrap_or_else(|| h.load("a", "1"));
        let (_, effects) = h.reload("a", version);
        let token = close_tokens(effects).pop().unwrap();
        assert_eq!(token.generation(), old);
        let (state, reason) = match &outcome {
            CloseOutcome::Unmapped => (GenerationState::Closed, None),
            CloseOutcome::StillMapped => {
                let reason = PinnedReason::StillMapped;
                let state = GenerationState::PinnedByLoader {
                    reason: reason.clone(),
                };
                (state, Some(reason))
            }
            CloseOutcome::KeptLoaded { reason } => {
                let reason = PinnedReason::KeptLoaded {
                    reason: reason.clone(),
                };
                let state = GenerationState::PinnedByLoader {
                    reason: reason.clone(),
                };
                (state, Some(reason))
            }
        };
        h.core.closed(h.now, token, outcome).unwrap();
        assert_eq!(close_reports(&h.effects()), [(old, reason.clone())]);
        assert_eq!(h.state(old), state);
    }
}

#[test]
fn cleanup_refuses_generations_not_closed_yet() {
    let mut h = Harness::new();
    let (_, old, instance) = h.load_held("a");
    h.reload("a", "2");
    assert_eq!(h.core.cleanup(old), Err(CleanupError::NotClosed(old)));
    h.core.release_instance(h.now, instance).unwrap();
    let token = close_tokens(h.effects()).pop().unwrap();
    assert_eq!(h.state(old), GenerationState::Closing);
    assert_eq!(h.core.cleanup(old), Err(CleanupError::NotClosed(old)));
    h.core.closed(h.now, token, CloseOutcome::Unmapped).unwrap();
    h.core.cleanup(old).unwrap();
    assert_eq!(
        h.core.generation(old).err(),
        Some(NotFoundError::Generation(old))
    );
}

#[test]
fn queries_read_only_active_generations() {
    let mut h = Harness::new();
    let (_, old, _) = h.load_held("a");
    let listed = |h: &Harness| -> Vec<(String, GenerationKey)> {
        h.core
            .list()
            .map(|(plugin, generation, _)| (plugin.to_owned(), generation))
            .collect()
    };
    assert_eq!(listed(&h), [("a".to_owned(), old)]);
    let (new, _) = h.reload("a", "2");
    assert_eq!(listed(&h), [("a".to_owned(), new)]);
    assert_eq!(h.core.resolve("a", "decoder", "wav").unwrap().0, new);
    assert!(h.core.resolve("a", "decoder", "flac").is_none());
    // A draining generation can still be looked at, by its key.
    assert_eq!(h.core.capability(old, 0).unwrap().type_id, "wav");
    assert_eq!(
        h.core.capability(old, 1).err(),
        Some(NotFoundError::Generation(old))
    );
    h.submit(set_enabled("a", false));
    h.effects();
    assert!(listed(&h).is_empty());
    assert!(h.core.resolve("a", "decoder", "wav").is_none());
    assert_eq!(h.core.active_generation("a"), None);
}

#[test]
fn a_snapshot_lists_plugins_generations_and_live_records() {
    let mut h = Harness::new();
    let owner = h.core.register_owner("audio.decode");
    h.load("b", "1");
    let old = h.load("a", "1");
    h.instance(owner, "a");
    h.ticket(owner, "a");
    h.core.pin(h.now, Some(owner), "a").unwrap();
    h.core.pin(h.now, None, "a").unwrap();
    let (new, _) = h.reload("a", "2");
    h.submit(set_enabled("b", false));
    h.effects();
    h.start_load(reload("a"));

    let snapshot = h.core.snapshot(h.now);
    let plugins: Vec<_> = snapshot
        .plugins
        .iter()
        .map(|p| (p.plugin_id.as_str(), p.enabled, p.active))
        .collect();
    assert_eq!(plugins, [("a", true, Some(new)), ("b", false, None)]);
    let generations: Vec<_> = snapshot
        .generations
        .iter()
        .map(|g| (g.generation, g.state.clone()))
        .collect();
    assert_eq!(generations.len(), 3);
    assert!(generations.contains(&(new, GenerationState::Active)));
    let old_generation = snapshot
        .generations
        .iter()
        .find(|g| g.generation == old)
        .unwrap();
    assert_eq!(
        old_generation.holders,
        [
            HolderReport {
                owner: Some(owner),
                owner_name: Some("audio.decode".into()),
                holds: holds(1, 1, 1),
            },
            HolderReport {
                owner: None,
                owner_name: None,
                holds: holds(0, 0, 1),
            },
        ]
    );
    assert_eq!(
        (
            snapshot.owners.len(),
            snapshot.instances,
            snapshot.tickets,
            snapshot.pins,
            snapshot.pending_loads
        ),
        (1, 1, 1, 2, 1)
    );
    h.submit(Command::Snapshot);
    assert_eq!(
        outcomes(&h.effects()),
        [&Outcome::Snapshot(snapshot)],
        "the command answers what the query reads"
    );
}
