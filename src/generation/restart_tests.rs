//! One scenario per rule of hot restart and of serving notices, on one core with a
//! virtual clock. `docs/design.md` ("Rules and their unit scenarios") names them.

use std::time::Duration;

use super::tests::{
    Harness, TIMEOUT, close_tokens, load_command, module, notified, outcomes, reload, set_enabled,
    unload,
};
use super::*;
use crate::owner::{OwnerKey, Subscription};

fn restart(timeout: Duration) -> Command {
    Command::Restart { timeout }
}

/// Submits a restart and returns the loads it opened, in the order it opened them, with
/// the plugin id each one expects.
fn start_restart(h: &mut Harness, timeout: Duration) -> (RequestId, Vec<(LoadKey, String)>) {
    let request = h.submit(restart(timeout));
    let effects = h.effects();
    let loads = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Open {
                load,
                expected_plugin_id,
                request_id,
                ..
            } => {
                assert_eq!(*request_id, request, "a restart's loads carry its request");
                Some((
                    *load,
                    expected_plugin_id.clone().expect("a restart names it"),
                ))
            }
            _ => None,
        })
        .collect();
    (request, loads)
}

/// The outcome of the restart among `effects`, if it completed there.
fn restarted(effects: &[Effect]) -> Option<(Vec<PluginRestart>, Vec<StalledGeneration>)> {
    effects.iter().find_map(|e| match e {
        Effect::Complete {
            outcome: Outcome::Restarted { plugins, stalled },
            ..
        } => Some((plugins.clone(), stalled.clone())),
        _ => None,
    })
}

fn reloaded(plugin_id: &str, generation: GenerationKey, replaced: GenerationKey) -> PluginRestart {
    PluginRestart {
        plugin_id: plugin_id.into(),
        result: RestartResult::Reloaded {
            generation,
            replaced: Some(replaced),
        },
    }
}

/// The generations reported stalled (`drain_stalled`) among `effects`.
fn stall_reports(effects: &[Effect]) -> Vec<GenerationKey> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(Event::DrainStalled { generation, .. }) => Some(*generation),
            _ => None,
        })
        .collect()
}

/// The serving notices among `effects`, with the owner each goes to.
fn serving(effects: &[Effect]) -> Vec<(OwnerKey, ServingNotice)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Serving { owner, notice } => Some((*owner, notice.clone())),
            _ => None,
        })
        .collect()
}

fn notice(plugin_id: &str, generation: GenerationKey, cause: ServingCause) -> ServingNotice {
    ServingNotice {
        plugin_id: plugin_id.into(),
        generation,
        cause,
    }
}

// Hot restart.

#[test]
fn a_restart_reloads_every_enabled_plugin_and_completes_once_the_old_ones_closed() {
    let mut h = Harness::new();
    let holder = h.core.register_owner("audio.decode");
    let old_a = h.load("a", "1");
    let old_b = h.load("b", "1");
    h.load("c", "1");
    h.submit(set_enabled("c", false));
    h.effects();
    let instance = h.instance(holder, "a");

    let (request, loads) = start_restart(&mut h, TIMEOUT);
    let plugins: Vec<&str> = loads.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(plugins, ["a", "b"], "enabled plugins, in id order");
    assert_eq!(
        h.core.active_generation("a"),
        Some(old_a),
        "nothing changes yet"
    );

    let effects = h.finish(loads[0].0, Ok(module("a", "2")));
    let new_a = h.core.active_generation("a").unwrap();
    assert_ne!(new_a, old_a);
    // The reload path: the holder hears of the drain, naming the new generation.
    assert_eq!(notified(&effects), [holder]);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Notify { notice, .. } if notice.old == old_a && notice.new == Some(new_a)
    )));
    assert!(outcomes(&effects).is_empty(), "the restart still waits");

    let effects = h.finish(loads[1].0, Ok(module("b", "2")));
    let new_b = h.core.active_generation("b").unwrap();
    let token = close_tokens(effects);
    assert_eq!(token.len(), 1, "b's old generation, unheld, is collected");
    h.unmap(token);
    let effects = h.effects();
    assert!(
        restarted(&effects).is_none(),
        "a's old generation is still held: {effects:?}"
    );

    h.core.release_instance(h.now, instance).unwrap();
    let effects = h.effects();
    assert!(
        restarted(&effects).is_none(),
        "collected is not closed: the restart waits for the close"
    );
    h.unmap(close_tokens(effects));
    let effects = h.effects();
    assert_eq!(
        restarted(&effects),
        Some((
            vec![reloaded("a", new_a, old_a), reloaded("b", new_b, old_b)],
            Vec::new()
        ))
    );
    let finished = effects
        .iter()
        .position(|e| matches!(e, Effect::Event(Event::RestartFinished { .. })));
    let completed = effects
        .iter()
        .position(|e| matches!(e, Effect::Complete { request_id, .. } if *request_id == request));
    assert!(finished.is_some() && finished < completed);
    assert_eq!(h.state(new_a), GenerationState::Active);
    assert_eq!(
        h.core.active_generation("c"),
        None,
        "a disabled plugin stays out"
    );
    h.now += TIMEOUT * 10;
    h.core.handle_timeout(h.now);
    assert!(outcomes(&h.effects()).is_empty(), "completed once");
}

#[test]
fn a_failed_reload_in_a_restart_keeps_the_old_generation_and_names_the_error() {
    let mut h = Harness::new();
    let old_a = h.load("a", "1");
    let old_b = h.load("b", "1");
    let (_, loads) = start_restart(&mut h, TIMEOUT);
    let failure = LoadFailure {
        step: "validate".into(),
        message: "not an ELF file".into(),
    };
    let effects = h.finish(loads[0].0, Err(failure.clone()));
    assert!(close_tokens(effects).is_empty());
    assert_eq!(h.core.active_generation("a"), Some(old_a));
    assert_eq!(h.state(old_a), GenerationState::Active);
    let effects = h.finish(loads[1].0, Ok(module("b", "2")));
    let new_b = h.core.active_generation("b").unwrap();
    h.unmap(close_tokens(effects));
    let (plugins, stalled) = restarted(&h.effects()).expect("completed");
    assert_eq!(
        plugins,
        [
            PluginRestart {
                plugin_id: "a".into(),
                result: RestartResult::Failed {
                    error: CommandError::Load(failure),
                },
            },
            reloaded("b", new_b, old_b),
        ]
    );
    assert!(stalled.is_empty());
}

#[test]
fn at_its_deadline_a_restart_reports_the_holders_as_a_drain_stall_and_closes_nothing() {
    let mut h = Harness::new();
    let holder = h.core.register_owner("audio.decode");
    let old = h.load("a", "1");
    let instance = h.instance(holder, "a");
    let deadline = TIMEOUT / 5;
    let (request, loads) = start_restart(&mut h, deadline);
    h.finish(loads[0].0, Ok(module("a", "2")));
    let new = h.core.active_generation("a").unwrap();
    assert_eq!(h.core.poll_timeout(), Some(h.now + deadline));

    h.now += deadline - Duration::from_millis(1);
    h.core.handle_timeout(h.now);
    assert!(h.effects().is_empty(), "nothing before the deadline");

    h.now += Duration::from_millis(1);
    h.core.handle_timeout(h.now);
    let effects = h.effects();
    // Reported stalled now, long before the drain's own report would be due.
    assert_eq!(stall_reports(&effects), [old]);
    let (plugins, stalled) = restarted(&effects).expect("completed at the deadline");
    assert_eq!(plugins, [reloaded("a", new, old)]);
    assert_eq!(stalled.len(), 1);
    assert_eq!(
        (
            stalled[0].generation,
            stalled[0].holders[0].owner,
            stalled[0].holders[0].holds.instances
        ),
        (old, Some(holder), 1)
    );
    assert!(close_tokens(effects).is_empty(), "nothing closed by force");
    assert!(matches!(
        h.state(old),
        GenerationState::Draining { stalls: 1, .. }
    ));
    // The drain's next report follows the usual backoff from this one.
    assert_eq!(h.core.poll_timeout(), Some(h.now + TIMEOUT * 2));

    h.core.release_instance(h.now, instance).unwrap();
    let effects = h.effects();
    assert_eq!(close_tokens(effects).len(), 1, "the release still collects");
    assert!(
        !h.effects()
            .iter()
            .any(|e| matches!(e, Effect::Complete { request_id, .. } if *request_id == request))
    );
}

#[test]
fn a_load_still_pending_at_the_deadline_is_reported_loading_and_finishes_on_its_own() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let (_, loads) = start_restart(&mut h, Duration::ZERO);
    h.core.handle_timeout(h.now);
    let (plugins, stalled) = restarted(&h.effects()).expect("completed at once");
    assert_eq!(
        plugins,
        [PluginRestart {
            plugin_id: "a".into(),
            result: RestartResult::Loading,
        }]
    );
    assert!(stalled.is_empty());
    let effects = h.finish(loads[0].0, Ok(module("a", "2")));
    assert!(outcomes(&effects).is_empty(), "no second completion");
    assert_ne!(h.core.active_generation("a"), Some(old), "it reloaded");
    assert_eq!(close_tokens(effects).len(), 1);
}

#[test]
fn a_second_restart_fails_and_other_commands_run_during_a_restart() {
    let mut h = Harness::new();
    h.load("a", "1");
    let old_b = h.load("b", "1");
    let (_, loads) = start_restart(&mut h, TIMEOUT);
    h.submit(restart(TIMEOUT));
    assert_eq!(
        outcomes(&h.effects()),
        [&Outcome::Failed(CommandError::RestartInProgress)]
    );
    // A reload of b, submitted after the restart's, supersedes the restart's load.
    let reload_b = h.start_load(reload("b"));
    let effects = h.finish(reload_b, Ok(module("b", "3")));
    assert!(matches!(
        outcomes(&effects)[..],
        [Outcome::Loaded { replaced: Some(r), .. }] if *r == old_b
    ));
    h.unmap(close_tokens(effects));
    // An unload of a cancels the restart's load of a.
    h.submit(unload("a"));
    let tokens = close_tokens(h.effects());
    h.unmap(tokens);
    h.finish(loads[0].0, Ok(module("a", "2")));
    let effects = h.finish(loads[1].0, Ok(module("b", "2")));
    let (plugins, _) = restarted(&effects).expect("completed");
    let errors: Vec<_> = plugins.iter().map(|p| p.result.clone()).collect();
    assert_eq!(
        errors,
        [
            RestartResult::Failed {
                error: CommandError::Cancelled
            },
            RestartResult::Failed {
                error: CommandError::Superseded {
                    plugin_id: "b".into()
                }
            },
        ]
    );
}

#[test]
fn a_restart_with_nothing_enabled_completes_at_once_and_none_during_shutdown() {
    let mut h = Harness::new();
    h.load("a", "1");
    h.submit(set_enabled("a", false));
    let tokens = close_tokens(h.effects());
    h.unmap(tokens);
    h.effects();
    h.submit(restart(TIMEOUT));
    let effects = h.effects();
    assert!(matches!(
        effects.as_slice(),
        [
            Effect::Event(Event::RestartStarted { plugins, .. }),
            Effect::Event(Event::RestartFinished { .. }),
            Effect::Complete { outcome: Outcome::Restarted { plugins: done, stalled }, .. },
        ] if plugins.is_empty() && done.is_empty() && stalled.is_empty()
    ));
    h.shutdown(TIMEOUT);
    h.effects();
    h.submit(restart(TIMEOUT));
    assert_eq!(
        outcomes(&h.effects()),
        [&Outcome::Failed(CommandError::ShuttingDown)]
    );
}

#[test]
fn a_shutdown_during_a_restart_cancels_its_loads_and_both_complete() {
    let mut h = Harness::new();
    let old = h.load("a", "1");
    let (request, loads) = start_restart(&mut h, TIMEOUT);
    let shutdown = h.shutdown(TIMEOUT);
    let tokens = close_tokens(h.effects());
    h.unmap(tokens);
    let effects = h.finish(loads[0].0, Ok(module("a", "2")));
    let (plugins, _) = restarted(&effects).expect("the restart completed");
    assert_eq!(
        plugins[0].result,
        RestartResult::Failed {
            error: CommandError::Cancelled
        }
    );
    let completed: Vec<RequestId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Complete { request_id, .. } => Some(*request_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        completed,
        [request],
        "the shutdown waits for the last close"
    );
    h.unmap(close_tokens(effects));
    let effects = h.effects();
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Complete { request_id, outcome: Outcome::ShutDown { stalled }, .. }
            if *request_id == shutdown && stalled.is_empty()
    )));
    assert_eq!(h.state(old), GenerationState::Closed);
}

// Serving notices.

#[test]
fn subscribers_hear_a_first_load_and_an_enable_and_nobody_else_does() {
    let mut h = Harness::new();
    let fan = h.core.register_owner("ui");
    let everything = h.core.register_owner("debug");
    let other = h.core.register_owner("ui.other");
    let holder = h.core.register_owner("audio");
    h.core
        .subscribe(fan, Subscription::Plugin("a".into()))
        .unwrap();
    h.core.subscribe(everything, Subscription::All).unwrap();
    h.core
        .subscribe(other, Subscription::Plugin("b".into()))
        .unwrap();

    let load = h.start_load(load_command("/plugins/a.so", Some("a")));
    let effects = h.finish(load, Ok(module("a", "1")));
    let first = h.core.active_generation("a").unwrap();
    assert_eq!(
        serving(&effects),
        [
            (fan, notice("a", first, ServingCause::FirstLoad)),
            (everything, notice("a", first, ServingCause::FirstLoad)),
        ]
    );
    h.instance(holder, "a");

    // A reload is a drain, never a serving notice.
    let (second, effects) = h.reload("a", "2");
    assert!(serving(&effects).is_empty());

    // Disable, then enable: the enable is a serving notice; the holder is not told.
    h.submit(set_enabled("a", false));
    h.effects();
    let load = h.start_load(set_enabled("a", true));
    let effects = h.finish(load, Ok(module("a", "3")));
    let third = h.core.active_generation("a").unwrap();
    assert_ne!(third, second);
    assert_eq!(
        serving(&effects),
        [
            (fan, notice("a", third, ServingCause::Enabled)),
            (everything, notice("a", third, ServingCause::Enabled)),
        ]
    );

    // A load of a disabled plugin's library enables it: the same notice.
    h.submit(set_enabled("a", false));
    h.effects();
    let load = h.start_load(load_command("/plugins/a.so", None));
    let effects = h.finish(load, Ok(module("a", "4")));
    let fourth = h.core.active_generation("a").unwrap();
    assert_eq!(
        serving(&effects)[0],
        (fan, notice("a", fourth, ServingCause::Enabled))
    );
    // A load after an unload is a first load again.
    h.submit(unload("a"));
    h.effects();
    let load = h.start_load(load_command("/plugins/a.so", None));
    let effects = h.finish(load, Ok(module("a", "5")));
    let fifth = h.core.active_generation("a").unwrap();
    assert_eq!(
        serving(&effects)[0],
        (fan, notice("a", fifth, ServingCause::FirstLoad))
    );
}

#[test]
fn serving_notices_list_what_a_subscriber_must_know_now() {
    let mut h = Harness::new();
    let fan = h.core.register_owner("ui");
    let everything = h.core.register_owner("debug");
    let nobody = h.core.register_owner("audio");
    h.core
        .subscribe(fan, Subscription::Plugin("b".into()))
        .unwrap();
    h.core.subscribe(everything, Subscription::All).unwrap();
    let a = h.load("a", "1");
    h.load("b", "1");
    let (b, _) = h.reload("b", "2");
    h.load("c", "1");
    h.submit(set_enabled("c", false));
    h.effects();
    assert_eq!(
        h.core.serving_notices(fan).unwrap(),
        [notice("b", b, ServingCause::FirstLoad)]
    );
    assert_eq!(
        h.core.serving_notices(everything).unwrap(),
        [
            notice("a", a, ServingCause::FirstLoad),
            notice("b", b, ServingCause::FirstLoad),
        ],
        "in id order, the active generation, no disabled plugin"
    );
    assert_eq!(h.core.serving_notices(nobody).unwrap(), []);
    h.core.unregister_owner(h.now, nobody).unwrap();
    assert_eq!(
        h.core.serving_notices(nobody),
        Err(NotFoundError::Owner(nobody))
    );
}
