//! The checks: translating the core's outcomes and holder reports into the model's
//! terms, comparing the core's state with the model's, the invariants, and the names the
//! model gives to typed errors.

use std::collections::BTreeMap;

use plugin_runtime::generation::{
    CommandError, DrainReason, GenerationKey, GenerationState, HolderReport, NotFoundError,
    Outcome, PinError, PinnedReason, ServingCause, Snapshot, SyncAction, SyncChange, SyncEntry,
    SyncError,
};
use plugin_runtime::owner::ReserveError;

use crate::model::{self, MEntry, MHolders, MOutcome, MReason, MState, MSyncAction};
use crate::op::PLUGINS;

use super::Run;
use super::apply::{owner_name, thread_name};

impl Run {
    pub(super) fn model_outcome(&mut self, outcome: &Outcome) -> MOutcome {
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
            Outcome::Snapshot(snapshot) => {
                // The router adds the counters.
                self.check_snapshot_owners(snapshot);
                let counters = snapshot.counters;
                assert_eq!(counters, self.router.counters(), "counters of the snapshot");
                let core = self.router.core().snapshot(self.now);
                assert_eq!(snapshot.plugins, core.plugins);
                assert_eq!(snapshot.generations, core.generations);
                MOutcome::Snapshot
            }
            Outcome::ShutDown { stalled } => {
                for s in stalled {
                    let g = generation(&s.generation);
                    assert_eq!(self.model_holders(&s.holders), self.model.holders(g), "I8");
                }
                MOutcome::ShutDown {
                    stalled: stalled.iter().map(|s| generation(&s.generation)).collect(),
                }
            }
            Outcome::Synced { dir, entries, .. } => {
                assert_eq!(*dir, model::sync_dir());
                self.stats.syncs += 1;
                MOutcome::Synced(entries.iter().map(|e| self.model_entry(e)).collect())
            }
            Outcome::Restarted { plugins, stalled } => {
                for s in stalled {
                    let g = generation(&s.generation);
                    assert_eq!(self.model_holders(&s.holders), self.model.holders(g), "I8");
                }
                MOutcome::Restarted {
                    plugins: self.model_restart(plugins),
                    stalled: stalled.iter().map(|s| generation(&s.generation)).collect(),
                }
            }
            Outcome::Configured {
                revision,
                instances,
                ..
            } => MOutcome::Configured {
                revision: *revision,
                instances: *instances,
            },
            Outcome::Failed(error) => MOutcome::Failed(error_name(error)),
            _ => panic!("unknown outcome {outcome:?}"),
        }
    }

    /// A sync entry in the model's terms.
    fn model_entry(&mut self, entry: &SyncEntry) -> MEntry {
        let generation = |key: &GenerationKey| self.model_generation(*key);
        let action = match &entry.action {
            SyncAction::Loaded {
                generation: g,
                replaced,
            } => MSyncAction::Loaded {
                generation: generation(g),
                replaced: replaced.as_ref().map(generation),
            },
            SyncAction::Nothing => MSyncAction::Nothing,
            SyncAction::Skipped => MSyncAction::Skipped,
            SyncAction::Disabled { draining } => MSyncAction::Disabled {
                draining: draining.as_ref().map(generation),
            },
            SyncAction::Unloaded { draining } => MSyncAction::Unloaded {
                draining: draining.as_ref().map(generation),
            },
            SyncAction::Failed {
                error: SyncError::File(_),
            } => MSyncAction::Failed("file"),
            SyncAction::Failed {
                error: SyncError::Duplicate { plugin_id, paths },
            } => {
                let claimants: Vec<usize> = paths.iter().map(|p| self.path_index(p)).collect();
                assert!(claimants.len() > 1, "a duplicate names every claimant");
                for path in claimants {
                    assert_eq!(model::plugin_at(path), plugin_id);
                }
                self.stats.sync_entries[5] += 1;
                MSyncAction::Failed("duplicate")
            }
            SyncAction::Failed {
                error: SyncError::Load(error),
            } => MSyncAction::Failed(error_name(error)),
            other => panic!("an action the model does not know: {other:?}"),
        };
        let change = match entry.change {
            SyncChange::New => "new",
            SyncChange::Changed => "changed",
            SyncChange::Unchanged => "unchanged",
            SyncChange::Gone => "gone",
            SyncChange::Unreadable => "unreadable",
            other => panic!("a change the model does not know: {other:?}"),
        };
        let counted = ["new", "changed", "unchanged", "gone", "unreadable"]
            .iter()
            .position(|c| *c == change)
            .expect("one of five");
        self.stats.sync_entries[counted] += 1;
        let fingerprint = entry.fingerprint.map(|f| {
            let path = usize::from(f.digest.0[0]);
            assert_eq!(f.digest, model::file_digest(path, f.digest.0[1]));
            (path, f.digest.0[1])
        });
        MEntry {
            path: self.path_index(&entry.path),
            plugin: entry.plugin_id.clone(),
            change,
            fingerprint,
            action,
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
                assert_eq!(h.owner_name, owner.map(owner_name), "holder's name");
                (owner, (h.holds.instances, h.holds.tickets, h.holds.pins))
            })
            .fold(MHolders::new(), |mut holders, (owner, holds)| {
                assert!(
                    holders.insert(owner, holds).is_none(),
                    "{owner:?} reported twice as a holder"
                );
                holders
            })
    }

    pub(super) fn check_agreement(&self) {
        // What a lagging owner would be told of configurations, and the live ones.
        for (index, owner) in self.model.owners.iter().enumerate() {
            if !owner.alive {
                continue;
            }
            let core: Vec<(String, String, u64, Vec<u8>)> = self
                .router
                .core()
                .config_notices(owner.key)
                .unwrap()
                .into_iter()
                .map(|n| (n.plugin_id, n.type_id, n.revision, n.config.to_vec()))
                .collect();
            let model: Vec<(String, String, u64, Vec<u8>)> = self
                .model
                .config_notices(index)
                .into_iter()
                .map(|(p, t, r, c)| (p, t.to_owned(), r, c))
                .collect();
            assert_eq!(core, model, "configurations owner {index} would be told");
        }
        for ((plugin, type_id), (revision, config)) in &self.model.configs {
            let live = self.router.core().live_config(plugin, type_id).unwrap();
            assert_eq!(
                (live.revision, &*live.config),
                (*revision, config.as_slice())
            );
        }
        for (index, generation) in self.model.generations.iter().enumerate() {
            let key = generation
                .key
                .expect("every generation's key is known after a step");
            let view = match (generation.state, self.router.core().generation(key)) {
                (MState::Removed, Err(NotFoundError::Generation(k))) if k == key => continue,
                (state, Ok(view)) if state != MState::Removed => view,
                (state, other) => panic!("generation {index}: model {state:?}, core {other:?}"),
            };
            let key_of = |g: usize| self.model.generations[g].key;
            let agrees = match (generation.state, &view.state) {
                (MState::Active, GenerationState::Active) => true,
                (
                    MState::Draining {
                        reason,
                        successor,
                        stalls,
                        ..
                    },
                    GenerationState::Draining {
                        reason: r,
                        successor: s,
                        stalls: n,
                    },
                ) => model_reason(*r) == reason && *s == successor.and_then(key_of) && stalls == *n,
                (MState::Closing, GenerationState::Closing) => true,
                (MState::Closed, GenerationState::Closed) => true,
                (
                    MState::StillMapped,
                    GenerationState::PinnedByLoader {
                        reason: PinnedReason::StillMapped,
                    },
                ) => true,
                (
                    MState::KeptLoaded,
                    GenerationState::PinnedByLoader {
                        reason: PinnedReason::KeptLoaded { reason },
                    },
                ) => reason == model::KEPT_LOADED_REASON,
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
                self.router.core().active_generation(plugin_id),
                active,
                "active of {plugin_id}"
            );
            let resolved = self
                .router
                .core()
                .resolve(plugin_id, "decoder", "wav")
                .map(|(g, _)| g);
            assert_eq!(resolved, active, "resolve reads the active generation");
        }
        let mut listed: Vec<(String, GenerationKey, String, String)> = self
            .router
            .core()
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
        let snapshot = self.router.core().snapshot(self.now);
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
        self.check_snapshot_owners(&snapshot);
        for (index, owner) in self.model.owners.iter().enumerate() {
            if !owner.alive {
                continue;
            }
            let told: Vec<(String, usize, model::MCause)> = self
                .router
                .core()
                .serving_notices(owner.key)
                .unwrap()
                .into_iter()
                .map(|n| {
                    let cause = match n.cause {
                        ServingCause::FirstLoad => model::MCause::FirstLoad,
                        _ => model::MCause::Enabled,
                    };
                    (n.plugin_id, self.model_generation(n.generation), cause)
                })
                .collect();
            assert_eq!(
                told,
                self.model.serving_notices(index),
                "serving notices owner {index} must know now"
            );
        }
        assert_eq!(
            snapshot.generations.len(),
            self.model
                .generations
                .iter()
                .filter(|g| g.state != MState::Removed)
                .count(),
            "generation records"
        );
        let listed: Vec<usize> = snapshot
            .generations
            .iter()
            .map(|g| self.model_generation(g.generation))
            .collect();
        assert!(
            listed.is_sorted(),
            "the snapshot lists generations oldest first: {listed:?}"
        );
        for g in &snapshot.generations {
            let index = self.model_generation(g.generation);
            let generation = &self.model.generations[index];
            assert_eq!(g.version, model::module(generation.path).version);
            assert_eq!(g.code_mapped, generation.state != MState::Closed);
            assert_eq!(self.model_holders(&g.holders), self.model.holders(index));
        }
        let counters = self.router.counters();
        let m = self.model.counters;
        assert_eq!(
            (
                counters.loads,
                counters.reloads,
                counters.failed_loads,
                counters.collected,
                counters.unmapped,
                counters.kept_mapped,
                counters.stalled_drains,
                counters.listener_drops,
            ),
            (
                m.loads,
                m.reloads,
                m.failed_loads,
                m.collected,
                m.unmapped,
                m.kept_mapped,
                m.stalled_drains,
                0,
            ),
            "the router's counters"
        );
        assert_eq!(
            self.router.core().poll_timeout(),
            self.model.next_timeout(),
            "next timeout"
        );
    }

    /// The owners of a snapshot are the live owners in registration order, each with
    /// its name, the thread it registered from and its holds.
    pub(super) fn check_snapshot_owners(&self, snapshot: &Snapshot) {
        let owners: Vec<_> = snapshot
            .owners
            .iter()
            .map(|o| {
                (
                    o.owner,
                    o.name.clone(),
                    o.thread.clone(),
                    (o.instances, o.tickets, o.pins),
                    o.mailbox_backlog,
                )
            })
            .collect();
        let model: Vec<_> = (0..self.model.owners.len())
            .filter(|&o| self.model.owners[o].alive)
            .map(|o| {
                let mut holds = (0, 0, 0);
                for g in 0..self.model.generations.len() {
                    if let Some(h) = self.model.holders(g).get(&Some(o)) {
                        holds = (holds.0 + h.0, holds.1 + h.1, holds.2 + h.2);
                    }
                }
                (
                    self.model.owners[o].key,
                    owner_name(o),
                    Some(thread_name(o)),
                    holds,
                    None,
                )
            })
            .collect();
        assert_eq!(owners, model, "owners of the snapshot");
    }

    pub(super) fn check_invariants(&self) {
        // I2: at most one active generation per plugin.
        let mut active_per_plugin: BTreeMap<String, u32> = BTreeMap::new();
        let mut draining = 0;
        for (key, state) in self.router.core().generations() {
            let view = self.router.core().generation(key).expect("listed just now");
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

/// The name the model gives a command error.
pub(super) fn error_name(error: &CommandError) -> &'static str {
    match error {
        CommandError::UnknownPlugin { .. } => "unknown plugin",
        CommandError::Disabled { .. } => "disabled",
        CommandError::Load(_) => "load",
        CommandError::PluginIdMismatch { .. } => "mismatch",
        CommandError::Cancelled => "cancelled",
        CommandError::Superseded { .. } => "superseded",
        CommandError::ShuttingDown => "shutting down",
        CommandError::RestartInProgress => "restart in progress",
        CommandError::DirectoryUnreadable { .. } => "directory unreadable",
        CommandError::NoCapability { .. } => "no capability",
        _ => "other",
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

pub(super) fn model_reason(reason: DrainReason) -> MReason {
    match reason {
        DrainReason::Replaced => MReason::Replaced,
        DrainReason::Unloaded => MReason::Unloaded,
        DrainReason::Disabled => MReason::Disabled,
        DrainReason::Shutdown => MReason::Shutdown,
        DrainReason::Cancelled => MReason::Cancelled,
        DrainReason::Rejected => MReason::Rejected,
        DrainReason::Superseded => MReason::Superseded,
        other => panic!("a drain reason the model does not know: {other:?}"),
    }
}
