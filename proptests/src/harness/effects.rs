//! Performing the router's actions after a step, as the runtime's actor does: opens and
//! closes go to the run's bookkeeping; notices, drain stalls and outcomes are checked
//! against their destinations; and every published record is checked against the
//! model, field by field, in the order the documented guarantees fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use plugin_runtime::events::{Event, EventRecord};
use plugin_runtime::generation::{
    CommandError, GenerationKey, Outcome, PluginRestart, RequestId, RestartResult, ServingCause,
    StalledGeneration, SyncMode,
};
use plugin_runtime::owner::OwnerKey;
use plugin_runtime::routing::{Action, DrainStall, ListenerId};

use crate::model::{self, MCause, MEvent, MHolders, MReason, MRestartResult};
use crate::op::PLUGINS;

use super::check::{error_name, model_reason};
use super::{Life, Run, Wants};

/// A command whose `command_completed` was just published: the next action must hand
/// its outcome to the waiting caller or the submitting owner, or (neither) nothing.
#[derive(Debug)]
struct Completed {
    request_id: RequestId,
    owner: Option<OwnerKey>,
    waiter: bool,
    outcome: Outcome,
}

impl Run {
    pub(super) fn check_actions(&mut self) {
        let expect = std::mem::take(&mut self.model.expect);
        let command_step = self.submitted.front().map(|(id, ..)| *id);
        let mut opens = 0;
        let mut scans = 0;
        let mut closes = Vec::new();
        let mut notices: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut serving: BTreeSet<(usize, usize, MCause)> = BTreeSet::new();
        let mut completes = Vec::new();
        let mut events: Vec<MEvent> = Vec::new();
        let mut stalls_told: Vec<(usize, usize, DrainStall)> = Vec::new();
        let mut configures: BTreeMap<(String, String, u64), BTreeSet<usize>> = BTreeMap::new();
        let mut completed: Option<Completed> = None;
        while let Some(action) = self.router.poll_action(self.now) {
            if let Some(done) = completed.take()
                && self.routed(done, Some(&action))
            {
                continue;
            }
            match action {
                Action::Open {
                    request_id,
                    load,
                    path,
                    expected_plugin_id,
                } => {
                    opens += 1;
                    let model = &mut self.model;
                    let pending = model
                        .loads
                        .iter_mut()
                        .find(|l| l.key.is_none())
                        .expect("the model expects this open");
                    assert_eq!(pending.request, request_id);
                    assert_eq!(model.paths[pending.path], path);
                    assert_eq!(pending.expected, expected_plugin_id);
                    pending.key = Some(load);
                }
                Action::Scan {
                    request_id,
                    sync,
                    dir,
                } => {
                    scans += 1;
                    assert_eq!(dir, model::sync_dir());
                    let pending = self
                        .model
                        .syncs
                        .iter_mut()
                        .find(|s| s.key.is_none() && s.request == request_id)
                        .expect("the model expects this scan");
                    pending.key = Some(sync);
                }
                Action::Close(token) => {
                    let generation = self.model_generation(token.generation());
                    // I1: closed only with no instance, ticket or pin left.
                    assert!(
                        !self.model.is_held(generation),
                        "I1: generation {generation} closed while held"
                    );
                    let count = self.close_requests.entry(generation).or_default();
                    *count += 1;
                    assert_eq!(*count, 1, "generation {generation} collected twice");
                    closes.push(generation);
                    self.stats.collects += 1;
                    self.closes.push(token);
                }
                Action::Notify { owner, notice } => {
                    let generation = self.model_generation(notice.old);
                    let owner = self.model_owner(owner);
                    assert!(notices.entry(generation).or_default().insert(owner));
                    self.stats.notices += 1;
                    assert_eq!(notice.plugin_id, self.model.generations[generation].plugin);
                    let drain = expect.events.iter().find_map(|e| match e {
                        MEvent::Draining {
                            generation: g,
                            reason,
                            successor,
                        } if *g == generation => Some((*reason, *successor)),
                        _ => None,
                    });
                    let told = (
                        model_reason(notice.reason),
                        notice.new.map(|key| self.model_generation(key)),
                    );
                    assert_eq!(Some(told), drain, "notice of generation {generation}");
                }
                Action::Serving { owner, notice } => {
                    let generation = self.model_generation(notice.generation);
                    assert_eq!(notice.plugin_id, self.model.generations[generation].plugin);
                    let cause = match notice.cause {
                        ServingCause::FirstLoad => MCause::FirstLoad,
                        ServingCause::Enabled => MCause::Enabled,
                        other => panic!("a serving cause the model does not know: {other:?}"),
                    };
                    let told = (self.model_owner(owner), generation, cause);
                    assert!(serving.insert(told), "serving notice told twice: {told:?}");
                    assert!(
                        expect.events.iter().any(|e| matches!(
                            e,
                            MEvent::Loaded { generation: g, .. } if *g == generation
                        )),
                        "a serving notice comes with its plugin_loaded"
                    );
                    self.stats.serving_notices += 1;
                }
                Action::Configure { owner, notice } => {
                    let owner = self.model_owner(owner);
                    let key = (
                        notice.plugin_id.clone(),
                        notice.type_id.clone(),
                        notice.revision,
                    );
                    let stored = self
                        .model
                        .configs
                        .iter()
                        .find(|((p, t), _)| *p == notice.plugin_id && *t == notice.type_id)
                        .map(|(_, (revision, config))| (*revision, config.clone()));
                    assert_eq!(
                        stored,
                        Some((notice.revision, notice.config.to_vec())),
                        "a notice carries the newest configuration"
                    );
                    assert!(
                        configures.entry(key).or_default().insert(owner),
                        "an owner told twice"
                    );
                    self.stats.config_notices += 1;
                }
                Action::Stalled { owner, stall } => {
                    let generation = self.model_generation(stall.stalled.generation);
                    assert_eq!(
                        stall.stalled.plugin_id,
                        self.model.generations[generation].plugin
                    );
                    stalls_told.push((generation, self.model_owner(owner), stall));
                    self.stats.stalls_told += 1;
                }
                Action::Reply { request_id, .. } | Action::Complete { request_id, .. } => {
                    panic!("I6: the outcome of {request_id:?} was routed without its record")
                }
                Action::Publish { record, listeners } => {
                    self.check_record(&record, &listeners);
                    match &record.event {
                        Event::CommandSubmitted {
                            request_id,
                            owner,
                            command,
                        } => {
                            let submitted = self
                                .submitted
                                .pop_front()
                                .expect("a command_submitted for a command submitted");
                            assert_eq!(
                                (*request_id, *owner, command),
                                (submitted.0, submitted.1, &submitted.2),
                                "command_submitted"
                            );
                            events.push(MEvent::CommandSubmitted {
                                request: *request_id,
                            });
                        }
                        Event::CommandCompleted {
                            request_id,
                            owner,
                            outcome,
                        } => {
                            // I6: one outcome per command, for its submitter.
                            let outstanding = self
                                .outstanding
                                .remove(request_id)
                                .unwrap_or_else(|| panic!("I6: {request_id:?} completed twice"));
                            assert_eq!(*owner, outstanding.owner, "I6: another owner's outcome");
                            match outcome {
                                Outcome::Failed(CommandError::Superseded { .. }) => {
                                    self.stats.failed_commands += 1;
                                    self.stats.superseded += 1;
                                }
                                Outcome::Failed(_) => self.stats.failed_commands += 1,
                                Outcome::ShutDown { stalled } if !stalled.is_empty() => {
                                    self.stats.stalled_shutdowns += 1;
                                }
                                Outcome::Restarted { plugins, stalled } => {
                                    self.stats.restarts += 1;
                                    if !stalled.is_empty() {
                                        self.stats.stalled_restarts += 1;
                                    }
                                    for p in plugins {
                                        match p.result {
                                            RestartResult::Loading => {
                                                self.stats.restart_loading += 1;
                                            }
                                            RestartResult::Failed { .. } => {
                                                self.stats.restart_failures += 1;
                                            }
                                            _ => {}
                                        }
                                    }
                                }
                                Outcome::Configured { .. } => self.stats.configured += 1,
                                _ => {}
                            }
                            completes.push((*request_id, *owner, self.model_outcome(outcome)));
                            events.push(MEvent::CommandCompleted {
                                request: *request_id,
                            });
                            completed = Some(Completed {
                                request_id: *request_id,
                                owner: *owner,
                                waiter: outstanding.waiter,
                                outcome: outcome.clone(),
                            });
                        }
                        event => {
                            let event = self.model_event(event);
                            self.live(&event);
                            match &event {
                                MEvent::Draining { generation, .. } => {
                                    self.stats.drains += 1;
                                    notices.entry(*generation).or_default();
                                }
                                MEvent::DrainStalled { .. } => self.stats.stalls += 1,
                                _ => {}
                            }
                            events.push(event);
                        }
                    }
                }
                other => panic!("an action the harness does not know: {other:?}"),
            }
        }
        if let Some(done) = completed {
            self.routed(done, None);
        }
        assert!(
            self.submitted.is_empty(),
            "commands never published: {:?}",
            self.submitted
        );
        assert_eq!(opens, expect.opens, "opens");
        assert_eq!(scans, expect.scans, "scans");
        let mut want_closes = expect.closes.clone();
        want_closes.sort_unstable();
        closes.sort_unstable();
        assert_eq!(
            closes, want_closes,
            "closes (I3: collected in the same step)"
        );
        let want_notices: BTreeMap<usize, BTreeSet<usize>> = expect.notices.into_iter().collect();
        assert_eq!(notices, want_notices, "drains and their notices");
        assert_eq!(serving, expect.serving, "serving notices");
        let want_configures: BTreeMap<(String, String, u64), BTreeSet<usize>> = expect
            .configures
            .into_iter()
            .map(|((p, t, r), owners)| ((p, t.to_owned(), r), owners))
            .collect();
        assert_eq!(
            configures, want_configures,
            "configuration notices: every holder of the capability, once"
        );
        assert_eq!(completes, expect.completes, "completions");
        check_order(&events, &expect.events, command_step);
        self.check_stalls_told(&events, stalls_told);
        for (generation, life) in &self.lives {
            assert_ne!(
                *life,
                Life::Closed,
                "generation {generation} closed without its mapping outcome"
            );
        }
    }

    /// Whether `action` (`None`: the step ended) routes the outcome of the command
    /// completed just before, as it must be routed.
    fn routed(&mut self, done: Completed, action: Option<&Action>) -> bool {
        let Completed {
            request_id,
            owner,
            waiter,
            outcome,
        } = done;
        if waiter {
            let Some(Action::Reply {
                request_id: id,
                outcome: o,
            }) = action
            else {
                panic!("I6: {request_id:?}'s waiting caller did not get its outcome: {action:?}")
            };
            assert_eq!((*id, o), (request_id, &outcome), "I6: the reply");
            self.stats.replies += 1;
            true
        } else if let Some(owner) = owner {
            let Some(Action::Complete {
                owner: to,
                request_id: id,
                outcome: o,
            }) = action
            else {
                panic!("I6: {request_id:?}'s owner did not get its outcome: {action:?}")
            };
            assert_eq!(
                (*to, *id, o),
                (owner, request_id, &outcome),
                "I6: the outcome in the submitter's mailbox"
            );
            self.stats.owner_completions += 1;
            true
        } else {
            assert!(
                !matches!(action, Some(Action::Reply { .. } | Action::Complete { .. })),
                "I6: {request_id:?} had neither caller nor owner, yet was routed: {action:?}"
            );
            self.stats.unrouted += 1;
            false
        }
    }

    /// A record's stamp and listeners.
    fn check_record(&mut self, record: &EventRecord, listeners: &[ListenerId]) {
        assert_eq!(
            record.seq,
            self.last_seq + 1,
            "seq grows by one per record: {record:?}"
        );
        self.last_seq = record.seq;
        // Saturated, for a clock moved past `u64::MAX` microseconds by a far deadline.
        let since = self.now.duration_since(self.origin).as_micros();
        let since = u64::try_from(since).unwrap_or(u64::MAX);
        assert_eq!(record.t_micros, since, "t_micros of {record:?}");
        assert_eq!(
            record.dropped, 0,
            "a record outside a listener lost nothing"
        );
        let want: Vec<ListenerId> = self
            .listeners
            .iter()
            .filter(|(_, wants)| wanted(*wants, &record.event))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(listeners, want.as_slice(), "listeners of {record:?}");
        self.stats.records += 1;
        if listeners.len() > 1 {
            self.stats.filtered_deliveries += 1;
        }
    }

    /// Each drain stall goes to exactly the owners among its holders, with the record's
    /// holders, duration and report.
    fn check_stalls_told(&self, events: &[MEvent], told: Vec<(usize, usize, DrainStall)>) {
        let mut want = Vec::new();
        for event in events {
            if let MEvent::DrainStalled {
                generation,
                report,
                holders,
                ..
            } = event
            {
                want.extend(holders.keys().flatten().map(|o| (*generation, *report, *o)));
            }
        }
        let mut got = Vec::new();
        for (generation, owner, stall) in told {
            let record = events.iter().find_map(|e| match e {
                MEvent::DrainStalled {
                    generation: g,
                    report,
                    draining_for,
                    holders,
                    ..
                } if *g == generation && *report == stall.report => Some((draining_for, holders)),
                _ => None,
            });
            let (draining_for, holders) =
                record.expect("a drain stall is told only with its drain_stalled record");
            assert_eq!(stall.draining_for, *draining_for, "stall told: duration");
            assert_eq!(
                self.model_holders(&stall.stalled.holders),
                *holders,
                "stall told: holders"
            );
            got.push((generation, stall.report, owner));
        }
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "drain stalls told to the holding owners");
    }

    /// A report of stalled generations in the model's terms, each named once, with its
    /// plugin id checked against the generation's.
    fn model_stalled(&self, stalled: &[StalledGeneration]) -> BTreeMap<usize, MHolders> {
        let mut generations = BTreeMap::new();
        for s in stalled {
            let g = self.model_generation(s.generation);
            assert_eq!(s.plugin_id, self.model.generations[g].plugin);
            let holders = self.model_holders(&s.holders);
            assert!(
                generations.insert(g, holders).is_none(),
                "generation {g} reported stalled twice"
            );
        }
        generations
    }

    /// What a restart did with each plugin, in the model's terms.
    pub(super) fn model_restart(&self, plugins: &[PluginRestart]) -> Vec<(String, MRestartResult)> {
        plugins
            .iter()
            .map(|p| {
                let result = match &p.result {
                    RestartResult::Reloaded {
                        generation,
                        replaced,
                    } => {
                        let g = self.model_generation(*generation);
                        assert_eq!(p.plugin_id, self.model.generations[g].plugin);
                        MRestartResult::Reloaded {
                            generation: g,
                            replaced: replaced.map(|r| self.model_generation(r)),
                        }
                    }
                    RestartResult::Failed { error } => MRestartResult::Failed(error_name(error)),
                    RestartResult::Loading => MRestartResult::Loading,
                    other => panic!("a restart result the model does not know: {other:?}"),
                };
                (p.plugin_id.clone(), result)
            })
            .collect()
    }

    fn model_owner(&self, key: OwnerKey) -> usize {
        self.model
            .owners
            .iter()
            .position(|o| o.key == key)
            .expect("actions name registered owners")
    }

    /// A lifecycle or runtime event in the model's terms; the plugin ids, paths and
    /// capabilities it carries are checked here against the generations they name.
    fn model_event(&self, event: &Event) -> MEvent {
        let generation = |key: &GenerationKey, plugin_id: &str| {
            let g = self.model_generation(*key);
            assert_eq!(
                plugin_id, self.model.generations[g].plugin,
                "{event:?} names another plugin than its generation's"
            );
            g
        };
        let capabilities_of = |path: usize, capabilities| {
            assert_eq!(
                capabilities,
                &model::module(path).capabilities,
                "capabilities of {event:?}"
            );
        };
        match event {
            Event::LoadRequested {
                request_id,
                plugin_id,
                path,
            } => MEvent::LoadRequested {
                request: *request_id,
                plugin: plugin_id.clone(),
                path: self.path_index(path),
            },
            Event::Loaded {
                plugin_id,
                generation: g,
                version,
                path,
                capabilities,
            } => {
                let path = self.path_index(path);
                capabilities_of(path, capabilities);
                MEvent::Loaded {
                    plugin: plugin_id.clone(),
                    generation: generation(g, plugin_id),
                    version: version.clone(),
                    path,
                }
            }
            Event::Reloaded {
                plugin_id,
                old,
                new,
                version,
                path,
                capabilities,
            } => {
                let path = self.path_index(path);
                capabilities_of(path, capabilities);
                MEvent::Reloaded {
                    plugin: plugin_id.clone(),
                    old: generation(old, plugin_id),
                    new: generation(new, plugin_id),
                    version: version.clone(),
                    path,
                }
            }
            Event::LoadFailed {
                request_id,
                plugin_id,
                path,
                step,
                message,
            } => MEvent::LoadFailed {
                request: *request_id,
                plugin: plugin_id.clone(),
                path: self.path_index(path),
                step: step.clone(),
                message: message.clone(),
            },
            Event::Enabled { plugin_id } => MEvent::Enabled {
                plugin: plugin_id.clone(),
            },
            Event::Disabled { plugin_id } => MEvent::Disabled {
                plugin: plugin_id.clone(),
            },
            Event::Unloaded { plugin_id } => MEvent::Unloaded {
                plugin: plugin_id.clone(),
            },
            Event::Draining {
                plugin_id,
                generation: g,
                reason,
                successor,
            } => MEvent::Draining {
                generation: generation(g, plugin_id),
                reason: model_reason(*reason),
                successor: successor.map(|s| self.model_generation(s)),
            },
            Event::DrainStalled {
                plugin_id,
                generation: g,
                reason,
                draining_for,
                report,
                holders,
            } => MEvent::DrainStalled {
                generation: generation(g, plugin_id),
                reason: model_reason(*reason),
                report: *report,
                draining_for: *draining_for,
                holders: self.model_holders(holders),
            },
            Event::Collected {
                plugin_id,
                generation: g,
            } => MEvent::Collected {
                generation: generation(g, plugin_id),
            },
            Event::Closed {
                plugin_id,
                generation: g,
            } => MEvent::Closed {
                generation: generation(g, plugin_id),
            },
            Event::Unmapped {
                plugin_id,
                generation: g,
            } => MEvent::Unmapped {
                generation: generation(g, plugin_id),
            },
            Event::StillMapped {
                plugin_id,
                generation: g,
            } => MEvent::StillMapped {
                generation: generation(g, plugin_id),
            },
            Event::KeptLoaded {
                plugin_id,
                generation: g,
                reason,
            } => MEvent::KeptLoaded {
                generation: generation(g, plugin_id),
                reason: reason.clone(),
            },
            Event::CleanedUp {
                plugin_id,
                generation: g,
            } => MEvent::CleanedUp {
                generation: generation(g, plugin_id),
            },
            Event::InstanceConfigured {
                plugin_id,
                type_id,
                owner,
                instance,
                revision,
                result,
                skipped,
                message,
            } => MEvent::InstanceConfigured {
                plugin: plugin_id.clone(),
                type_id: type_id.clone(),
                owner: self.model_owner(*owner),
                instance: *instance,
                revision: *revision,
                result: result.name(),
                skipped: *skipped,
                message: message.clone(),
            },
            Event::ShutdownStarted { timeout } => MEvent::ShutdownStarted { timeout: *timeout },
            Event::DirectorySynced {
                request_id,
                dir,
                mode,
                new,
                changed,
                unchanged,
                gone,
                unreadable,
                loaded,
                unloaded,
                disabled,
                failed,
            } => {
                assert_eq!(*dir, model::sync_dir());
                MEvent::DirectorySynced {
                    request: *request_id,
                    reconcile: *mode == SyncMode::Reconcile,
                    counts: [
                        *new,
                        *changed,
                        *unchanged,
                        *gone,
                        *unreadable,
                        *loaded,
                        *unloaded,
                        *disabled,
                        *failed,
                    ],
                }
            }
            Event::RestartStarted { plugins, timeout } => MEvent::RestartStarted {
                plugins: plugins.clone(),
                timeout: *timeout,
            },
            Event::RestartFinished { plugins, stalled } => MEvent::RestartFinished {
                plugins: self.model_restart(plugins),
                stalled: self.model_stalled(stalled),
            },
            Event::ShutdownFinished { stalled } => MEvent::ShutdownFinished {
                stalled: self.model_stalled(stalled),
            },
            other => panic!("an event the model does not know: {other:?}"),
        }
    }

    /// Moves a generation along its documented life: `plugin_loaded` or
    /// `plugin_reloaded` (as `new`), or a first drain that never served; then
    /// `generation_draining`, any `drain_stalled`, `generation_collected`,
    /// `generation_closed`, one of unmapped, still mapped and kept loaded, and
    /// `generation_cleaned_up` once unmapped (a still-mapped one is unmapped later first).
    fn live(&mut self, event: &MEvent) {
        use Life::*;
        let mut step = |generation: usize, from: &[Life], to: Life| {
            let life = self.lives.get(&generation).copied();
            assert!(
                life.is_some_and(|l| from.contains(&l)),
                "generation {generation} is {life:?}, yet {event:?} came"
            );
            self.lives.insert(generation, to);
        };
        match *event {
            MEvent::Loaded { generation, .. } => self.born(generation),
            MEvent::Reloaded { old, new, .. } => {
                step(old, &[Serving], Serving);
                self.born(new);
            }
            MEvent::Draining {
                generation, reason, ..
            } => {
                if matches!(
                    reason,
                    MReason::Cancelled | MReason::Rejected | MReason::Superseded
                ) {
                    assert!(
                        self.lives.insert(generation, Draining).is_none(),
                        "generation {generation} served, yet {event:?} came"
                    );
                } else {
                    step(generation, &[Serving], Draining);
                }
            }
            MEvent::DrainStalled { generation, .. } => step(generation, &[Draining], Draining),
            MEvent::Collected { generation } => step(generation, &[Draining], Collected),
            MEvent::Closed { generation } => step(generation, &[Collected], Closed),
            MEvent::Unmapped { generation } => step(generation, &[Closed, StillMapped], Unmapped),
            MEvent::StillMapped { generation } => step(generation, &[Closed], StillMapped),
            MEvent::KeptLoaded { generation, .. } => step(generation, &[Closed], KeptLoaded),
            MEvent::CleanedUp { generation } => step(generation, &[Unmapped], CleanedUp),
            MEvent::ShutdownFinished { ref stalled }
            | MEvent::RestartFinished { ref stalled, .. } => {
                for &generation in stalled.keys() {
                    step(generation, &[Draining], Draining);
                }
            }
            _ => {}
        }
    }

    fn born(&mut self, generation: usize) {
        assert!(
            self.lives.insert(generation, Life::Serving).is_none(),
            "generation {generation} became active twice"
        );
    }
}

/// Compares a step's records with the model's: the same records field by field; the
/// same order of each generation's records; the same order of every record whose place
/// its cause fixes (all but those the core makes for several generations at once, in
/// the order of its arena); a command's records first and last in its step; and a
/// shutdown's drains after its start.
fn check_order(actual: &[MEvent], want: &[MEvent], command: Option<RequestId>) {
    let mut sorted = actual.to_vec();
    sorted.sort();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "the step's records (sorted)");
    let generations: BTreeSet<usize> = want.iter().flat_map(MEvent::generations).collect();
    for g in generations {
        let of = |events: &[MEvent]| -> Vec<MEvent> {
            events
                .iter()
                .filter(|e| e.generations().contains(&g))
                .cloned()
                .collect()
        };
        assert_eq!(
            of(actual),
            of(want),
            "the order of generation {g}'s records"
        );
    }
    let ordered = |events: &[MEvent]| -> Vec<MEvent> {
        events.iter().filter(|e| e.ordered()).cloned().collect()
    };
    assert_eq!(
        ordered(actual),
        ordered(want),
        "the order of the step's records"
    );
    if let Some(request) = command {
        assert_eq!(
            actual.first(),
            Some(&MEvent::CommandSubmitted { request }),
            "a command's step starts with its command_submitted"
        );
        let done = MEvent::CommandCompleted { request };
        if actual.contains(&done) {
            assert_eq!(
                actual.last(),
                Some(&done),
                "a command completed in its step ends it"
            );
        }
    }
    let started = actual
        .iter()
        .position(|e| matches!(e, MEvent::ShutdownStarted { .. }));
    for (index, event) in actual.iter().enumerate() {
        if let MEvent::Draining {
            reason: MReason::Shutdown,
            ..
        } = event
        {
            assert!(
                started.is_some_and(|s| s < index),
                "a shutdown drain before shutdown_started"
            );
        }
    }
}

/// Whether a listener of the run must hear `event`, by the run's own reading of the
/// filter it registered.
fn wanted(wants: Wants, event: &Event) -> bool {
    let lifecycle = !matches!(
        event,
        Event::ShutdownStarted { .. }
            | Event::ShutdownFinished { .. }
            | Event::RuntimePoisoned { .. }
            | Event::RestartStarted { .. }
            | Event::RestartFinished { .. }
            | Event::CommandSubmitted { .. }
            | Event::CommandCompleted { .. }
    );
    match wants {
        Wants::All => true,
        Wants::PluginA => event.plugin_id() == Some(PLUGINS[0]),
        Wants::DrainsOfB => {
            lifecycle
                && event.plugin_id() == Some(PLUGINS[1])
                && matches!(event, Event::Draining { .. } | Event::Collected { .. })
        }
        Wants::RuntimeAndCommands => !lifecycle,
    }
}

impl Run {
    /// The model's index of a path a record names.
    pub(super) fn path_index(&self, path: &Path) -> usize {
        self.model
            .find_path(path)
            .unwrap_or_else(|| panic!("a path the run never used: {path:?}"))
    }
}
