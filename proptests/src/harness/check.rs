//! The checks: translating the core's outcomes and holder reports into the model's
//! terms, comparing the core's state with the model's, the invariants, and the names the
//! model gives to typed errors.

use std::collections::BTreeMap;

use plugin_runtime::generation::{
    CommandError, GenerationKey, GenerationState, HolderReport, NotFoundError, Outcome, PinError,
};
use plugin_runtime::owner::ReserveError;

use crate::model::{self, MHolders, MOutcome, MState};
use crate::op::PLUGINS;

use super::Run;

impl Run {
    pub(super) fn model_outcome(&self, outcome: &Outcome) -> MOutcome {
        let generation = |key: &GenerationKey| self.model_generation(*key);
        match outcome {
            Outcome::Loaded {
                generation: g,
                replaced,
                ..
            } => MOutcome::Loaded {
                generation: generation(g),
                replaced: replaced.as_ref().map(generation),
            },
            Outcome::Enabled { generation: g, .. } => MOutcome::Enabled {
                generation: generation(g),
            },
            Outcome::Unloaded { draining, .. } => MOutcome::Unloaded {
                draining: draining.as_ref().map(generation),
            },
            Outcome::Disabled { draining, .. } => MOutcome::Disabled {
                draining: draining.as_ref().map(generation),
            },
            Outcome::Snapshot(_) => MOutcome::Snapshot,
            Outcome::ShutDown { stalled } => {
                for s in stalled {
                    let g = generation(&s.generation);
                    assert_eq!(self.model_holders(&s.holders), self.model.holders(g), "I8");
                }
                MOutcome::ShutDown {
                    stalled: stalled.iter().map(|s| generation(&s.generation)).collect(),
                }
            }
            Outcome::Failed(error) => MOutcome::Failed(match error {
                CommandError::UnknownPlugin { .. } => "unknown plugin",
                CommandError::Disabled { .. } => "disabled",
                CommandError::Load(_) => "load",
                CommandError::PluginIdMismatch { .. } => "mismatch",
                CommandError::Cancelled => "cancelled",
                CommandError::Superseded { .. } => "superseded",
                CommandError::ShuttingDown => "shutting down",
                _ => "other",
            }),
            _ => panic!("unknown outcome {outcome:?}"),
        }
    }

    pub(super) fn model_holders(&self, holders: &[HolderReport]) -> MHolders {
        holders
            .iter()
            .map(|h| {
                let owner = h.owner.map(|key| {
                    self.model
                        .owners
                        .iter()
                        .position(|o| o.key == key)
                        .expect("holders are registered owners")
                });
                (owner, (h.holds.instances, h.holds.tickets, h.holds.pins))
            })
            .collect()
    }

    pub(super) fn check_agreement(&self) {
        for (index, generation) in self.model.generations.iter().enumerate() {
            let key = generation
                .key
                .expect("every generation's key is known after a step");
            let view = match (generation.state, self.core.generation(key)) {
                (MState::Removed, Err(NotFoundError::Generation(k))) if k == key => continue,
                (state, Ok(view)) if state != MState::Removed => view,
                (state, other) => panic!("generation {index}: model {state:?}, core {other:?}"),
            };
            let agrees = match (generation.state, &view.state) {
                (MState::Active, GenerationState::Active) => true,
                (MState::Draining { stalls, .. }, GenerationState::Draining { stalls: s, .. }) => {
                    stalls == *s
                }
                (MState::Closing, GenerationState::Closing) => true,
                (MState::Closed, GenerationState::Closed) => true,
                (MState::Pinned, GenerationState::PinnedByLoader { .. }) => true,
                _ => false,
            };
            assert!(
                agrees,
                "generation {index}: model {:?}, core {:?}",
                generation.state, view.state
            );
            let holders = self.model.holders(index);
            let totals = holders
                .values()
                .fold((0, 0, 0), |a, h| (a.0 + h.0, a.1 + h.1, a.2 + h.2));
            assert_eq!(
                (view.holds.instances, view.holds.tickets, view.holds.pins),
                totals,
                "holds of generation {index}"
            );
            assert_eq!(view.plugin_id, generation.plugin);
        }
        for plugin_id in PLUGINS {
            let model = self.model.plugins.get(plugin_id);
            let active = model
                .and_then(|p| p.active)
                .map(|g| self.model.generations[g].key.expect("known"));
            assert_eq!(
                self.core.active_generation(plugin_id),
                active,
                "active of {plugin_id}"
            );
            let resolved = self
                .core
                .resolve(plugin_id, "decoder", "wav")
                .map(|(g, _)| g);
            assert_eq!(resolved, active, "resolve reads the active generation");
        }
        let mut listed: Vec<(String, GenerationKey, String, String)> = self
            .core
            .list()
            .map(|(p, g, c)| (p.to_owned(), g, c.kind.clone(), c.type_id.clone()))
            .collect();
        listed.sort();
        let mut model_listed = Vec::new();
        for (plugin_id, plugin) in &self.model.plugins {
            let Some(active) = plugin.active else {
                continue;
            };
            let generation = &self.model.generations[active];
            let key = generation.key.expect("known");
            for c in model::module(generation.path).capabilities {
                model_listed.push((plugin_id.clone(), key, c.kind, c.type_id));
            }
        }
        model_listed.sort();
        assert_eq!(listed, model_listed, "list reads the active generations");
        let snapshot = self.core.snapshot();
        let enabled: Vec<(String, bool)> = snapshot
            .plugins
            .iter()
            .map(|p| (p.plugin_id.clone(), p.enabled))
            .collect();
        let model_enabled: Vec<(String, bool)> = self
            .model
            .plugins
            .iter()
            .map(|(id, p)| (id.clone(), p.enabled))
            .collect();
        assert_eq!(enabled, model_enabled, "known plugins");
        assert_eq!(
            (
                snapshot.instances,
                snapshot.tickets,
                snapshot.pins,
                snapshot.pending_loads
            ),
            (
                self.model.instances.len(),
                self.model.tickets.len(),
                self.model.pins.len(),
                self.model.loads.len()
            ),
            "live records"
        );
        assert_eq!(
            snapshot.owners,
            self.model.owners.iter().filter(|o| o.alive).count()
        );
        assert_eq!(
            self.core.poll_timeout(),
            self.model.next_timeout(),
            "next timeout"
        );
    }

    pub(super) fn check_invariants(&self) {
        // I2: at most one active generation per plugin.
        let mut active_per_plugin: BTreeMap<String, u32> = BTreeMap::new();
        let mut draining = 0;
        for (key, state) in self.core.generations() {
            let view = self.core.generation(key).expect("listed just now");
            match state {
                GenerationState::Active => {
                    *active_per_plugin
                        .entry(view.plugin_id.to_owned())
                        .or_default() += 1;
                }
                GenerationState::Draining { .. } => {
                    draining += 1;
                    // I3: a draining generation is held, or it would have been collected.
                    assert!(!view.holds.is_empty(), "I3: {key:?} drains unheld");
                }
                _ => {}
            }
        }
        assert!(
            active_per_plugin.values().all(|&n| n <= 1),
            "I2: {active_per_plugin:?}"
        );
        // I4: no more draining generations than distinct pinned ones.
        assert!(draining <= self.model.held_generations().len(), "I4");
    }
}

pub(super) fn reserve_error_name(error: &ReserveError) -> &'static str {
    match error {
        ReserveError::Owner(_) => "owner",
        ReserveError::UnknownPlugin { .. } => "unknown plugin",
        ReserveError::Disabled { .. } => "disabled",
        ReserveError::DrainingOnly { .. } => "draining only",
        ReserveError::NoCapability { .. } => "no capability",
        ReserveError::InterfaceVersion { .. } => "interface version",
        ReserveError::ShuttingDown => "shutting down",
        _ => "other",
    }
}

pub(super) fn pin_error_name(error: &PinError) -> &'static str {
    match error {
        PinError::Owner(_) => "owner",
        PinError::UnknownPlugin { .. } => "unknown plugin",
        PinError::Disabled { .. } => "disabled",
        PinError::DrainingOnly { .. } => "draining only",
        PinError::ShuttingDown => "shutting down",
        _ => "other",
    }
}
