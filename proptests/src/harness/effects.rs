//! Draining the core's effects after a step: opens, closes, owner notices, command
//! completions and events are routed to the run's bookkeeping and compared with what the
//! model expected of the step.

use std::collections::{BTreeMap, BTreeSet};

use plugin_runtime::generation::{CommandError, Effect, Event, Outcome};

use crate::model::{self, MState};

use super::Run;

impl Run {
    pub(super) fn check_effects(&mut self) {
        let expect = std::mem::take(&mut self.model.expect);
        let mut opens = 0;
        let mut closes = Vec::new();
        let mut notices: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut completes = Vec::new();
        let mut stalls = Vec::new();
        let mut closed_events = Vec::new();
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Open {
                    load,
                    path,
                    expected_plugin_id,
                } => {
                    opens += 1;
                    let pending = self
                        .model
                        .loads
                        .iter_mut()
                        .find(|l| l.key.is_none())
                        .expect("the model expects this open");
                    assert_eq!(model::path(pending.path), path);
                    assert_eq!(pending.expected, expected_plugin_id);
                    pending.key = Some(load);
                }
                Effect::Close(token) => {
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
                Effect::Notify { owner, notice } => {
                    let generation = self.model_generation(notice.old);
                    let owner = self
                        .model
                        .owners
                        .iter()
                        .position(|o| o.key == owner)
                        .expect("notices go to registered owners");
                    assert!(notices.entry(generation).or_default().insert(owner));
                    self.stats.notices += 1;
                    assert_eq!(notice.plugin_id, self.model.generations[generation].plugin);
                }
                Effect::Complete {
                    request_id,
                    owner,
                    outcome,
                } => {
                    // I6: one outcome per command, routed to its submitter.
                    let submitter = self
                        .outstanding
                        .remove(&request_id)
                        .unwrap_or_else(|| panic!("I6: {request_id:?} completed twice"));
                    assert_eq!(owner, submitter, "I6: outcome routed to another owner");
                    match &outcome {
                        Outcome::Failed(CommandError::Superseded { .. }) => {
                            self.stats.failed_commands += 1;
                            self.stats.superseded += 1;
                        }
                        Outcome::Failed(_) => self.stats.failed_commands += 1,
                        Outcome::ShutDown { stalled } if !stalled.is_empty() => {
                            self.stats.stalled_shutdowns += 1;
                        }
                        _ => {}
                    }
                    completes.push((request_id, owner, self.model_outcome(&outcome)));
                }
                Effect::Event(Event::DrainStalled {
                    stalled, report, ..
                }) => {
                    let generation = self.model_generation(stalled.generation);
                    self.stats.stalls += 1;
                    stalls.push((generation, report, self.model_holders(&stalled.holders)));
                }
                Effect::Event(Event::Draining { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    self.stats.drains += 1;
                    notices.entry(generation).or_default();
                }
                Effect::Event(Event::Closed { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    assert_eq!(self.model.generations[generation].state, MState::Closed);
                    closed_events.push(generation);
                }
                Effect::Event(Event::PinnedByLoader { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    assert_eq!(self.model.generations[generation].state, MState::Pinned);
                    closed_events.push(generation);
                }
                Effect::Event(_) => {}
                other => panic!("unknown effect {other:?}"),
            }
        }
        assert_eq!(opens, expect.opens, "opens");
        assert_eq!(closed_events, expect.closed, "close results reported");
        let mut want_closes = expect.closes.clone();
        want_closes.sort_unstable();
        closes.sort_unstable();
        assert_eq!(
            closes, want_closes,
            "closes (I3: collected in the same step)"
        );
        let want_notices: BTreeMap<usize, BTreeSet<usize>> = expect.notices.into_iter().collect();
        assert_eq!(notices, want_notices, "drains and their notices");
        assert_eq!(completes, expect.completes, "completions");
        // Reports come in arena order, which follows slot reuse; compare them as a set.
        let mut want_stalls = expect.stalls;
        want_stalls.sort();
        stalls.sort();
        assert_eq!(stalls, want_stalls, "stalled-drain reports");
    }
}
