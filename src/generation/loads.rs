//! Loads and closes: the caller's answers to [`Effect::Open`] and [`Effect::Close`], and
//! the pending loads behind them.

use std::path::PathBuf;
use std::time::Instant;

use super::collect::CloseToken;
use super::effect::{CommandError, Effect, Outcome, RequestId};
use super::error::{CleanupError, ClosedError, ForeignKeyError, LoadFinishedError};
use super::holders::Holders;
use super::keys::{GenerationKey, LoadKey};
use super::lifecycle::{Lifecycle, LoadPurpose, PendingLoad, PluginRecord};
use super::serving::ServingCause;
use super::state::{Active, DrainReason, GenerationRecord, PinnedByLoader, PinnedReason, Stage};
use crate::events::Event;
use crate::module::{CloseOutcome, LoadFailure, ModuleInfo};
use crate::owner::OwnerKey;

/// What a finished load did, for the sync or the restart that started it: the generation
/// now active and the one it replaced, or the error. `None` for an outcome no load gives.
pub(super) fn load_result(
    outcome: Outcome,
) -> Option<Result<(GenerationKey, Option<GenerationKey>), CommandError>> {
    match outcome {
        Outcome::Loaded {
            generation,
            replaced,
            ..
        } => Some(Ok((generation, replaced))),
        Outcome::Enabled { generation, .. } => Some(Ok((generation, None))),
        Outcome::Failed(error) => Some(Err(error)),
        _ => None,
    }
}

impl Lifecycle {
    /// Hands a finished load's outcome to whoever waits for it: the command that
    /// started the load, the directory sync or the hot restart.
    pub(super) fn answer_load(&mut self, now: Instant, pending: &PendingLoad, outcome: Outcome) {
        match pending.purpose {
            LoadPurpose::Load | LoadPurpose::Enable => {
                self.complete(pending.request_id, pending.owner, outcome);
            }
            LoadPurpose::Sync { sync, entry } => self.answer_sync_load(sync, entry, outcome),
            LoadPurpose::Restart => self.answer_restart_load(now, pending, outcome),
        }
    }

    /// The caller's answer to [`Effect::Open`] for `load`: the validated module, or why
    /// loading failed.
    ///
    /// On success the new generation becomes the plugin's active one and the one it
    /// replaces starts draining; on failure the previous generation keeps serving. If an
    /// unload, disable or shutdown overtook the load, or the module is not the plugin
    /// asked for, the new generation never serves and is collected at once.
    ///
    /// Loads may be answered in any order (the runtime runs them in parallel), and the
    /// result is as if they had finished in the order they were submitted: a load of a
    /// plugin that finishes after a load of the same plugin submitted later has made its
    /// generation active is superseded ([`CommandError::Superseded`]); its generation
    /// never serves and is collected at once. So an older build that finishes last never
    /// replaces a newer one. A later load that failed supersedes nothing.
    ///
    /// Returns the generation made for a loaded module (`None` when the load failed);
    /// the caller stores the library under that key before draining the effects, which
    /// may already ask to close it.
    ///
    /// # Errors
    ///
    /// [`LoadFinishedError::NotFound`] if `load` was already answered or belongs to another
    /// core.
    pub fn load_finished(
        &mut self,
        now: Instant,
        load: LoadKey,
        result: Result<ModuleInfo, LoadFailure>,
    ) -> Result<Option<GenerationKey>, LoadFinishedError> {
        let pending = self.loads.take(load).map_err(LoadFinishedError::NotFound)?;
        let module = match result {
            Ok(module) => module,
            Err(failure) => {
                self.load_failed(now, pending, failure);
                return Ok(None);
            }
        };
        let plugin_id = module.plugin_id.clone();
        let refusal = self.refusal(&pending, &plugin_id);
        if self.loads.is_empty() {
            // Every load submitted from now on is newer than all those recorded.
            self.newest_active.clear();
        } else if refusal.is_none() {
            self.newest_active.insert(plugin_id.clone(), pending.order);
        }
        let made = self.next_record();
        let generation = self.generations.insert(GenerationRecord {
            made,
            plugin_id: plugin_id.clone(),
            loaded_at: now,
            path: pending.path.clone(),
            module,
            holders: Holders::default(),
            stage: Stage::Active(Active { since: now }),
        });
        if let Some((reason, error)) = refusal {
            self.begin_drain(now, generation, reason, None);
            self.answer_load(now, &pending, Outcome::Failed(error));
            return Ok(Some(generation));
        }
        self.activate(now, pending, plugin_id, generation);
        Ok(Some(generation))
    }

    /// Reports a load that failed: the previous generation, if any, keeps serving.
    fn load_failed(&mut self, now: Instant, pending: PendingLoad, failure: LoadFailure) {
        self.effects.push_back(Effect::Event(Event::LoadFailed {
            request_id: pending.request_id,
            plugin_id: pending.expected_plugin_id.clone(),
            path: pending.path.clone(),
            step: failure.step.clone(),
            message: failure.message.clone(),
        }));
        let error = CommandError::Load(failure);
        self.answer_load(now, &pending, Outcome::Failed(error));
        if self.loads.is_empty() {
            self.newest_active.clear();
        }
        self.check_quiesce(now);
    }

    /// Why the module a finished load produced must not serve, if it must not.
    fn refusal(
        &self,
        pending: &PendingLoad,
        plugin_id: &str,
    ) -> Option<(DrainReason, CommandError)> {
        match &pending.expected_plugin_id {
            Some(expected) if *expected != plugin_id => Some((
                DrainReason::Rejected,
                CommandError::PluginIdMismatch {
                    expected: expected.clone(),
                    found: plugin_id.to_owned(),
                },
            )),
            _ if pending.cancelled || !self.shutdown.accepts_commands() => {
                Some((DrainReason::Cancelled, CommandError::Cancelled))
            }
            _ if self
                .newest_active
                .get(plugin_id)
                .is_some_and(|newest| *newest > pending.order) =>
            {
                Some((
                    DrainReason::Superseded,
                    CommandError::Superseded {
                        plugin_id: plugin_id.to_owned(),
                    },
                ))
            }
            _ => None,
        }
    }

    /// Makes `generation` the plugin's active one, drains the one it replaces and
    /// completes the load's command.
    fn activate(
        &mut self,
        now: Instant,
        pending: PendingLoad,
        plugin_id: String,
        generation: GenerationKey,
    ) {
        let digest = self.loaded_digest(generation, pending.purpose);
        let plugin = self
            .plugins
            .entry(plugin_id.clone())
            .or_insert_with(|| PluginRecord {
                path: pending.path.clone(),
                enabled: true,
                active: None,
                digest: None,
                serving_cause: ServingCause::FirstLoad,
            });
        plugin.path = pending.path.clone();
        plugin.digest = digest;
        let was_disabled = !plugin.enabled;
        plugin.enabled = true;
        let replaced = plugin.active.replace(generation);
        let serving = replaced.is_none().then(|| {
            let cause = if was_disabled {
                ServingCause::Enabled
            } else {
                ServingCause::FirstLoad
            };
            plugin.serving_cause = cause;
            cause
        });
        if was_disabled {
            self.effects.push_back(Effect::Event(Event::Enabled {
                plugin_id: plugin_id.clone(),
            }));
        }
        let module = &self.generations[generation].module;
        let (version, capabilities) = (module.version.clone(), module.capabilities.clone());
        match replaced {
            Some(old) => {
                self.effects.push_back(Effect::Event(Event::Reloaded {
                    plugin_id: plugin_id.clone(),
                    old,
                    new: generation,
                    version,
                    path: pending.path.clone(),
                    capabilities,
                }));
                self.begin_drain(now, old, DrainReason::Replaced, Some(generation));
            }
            None => self.effects.push_back(Effect::Event(Event::Loaded {
                plugin_id: plugin_id.clone(),
                generation,
                version,
                path: pending.path.clone(),
                capabilities,
            })),
        }
        if let Some(cause) = serving {
            self.notify_serving(&plugin_id, generation, cause);
        }
        let outcome = match pending.purpose {
            LoadPurpose::Enable if replaced.is_none() => Outcome::Enabled {
                plugin_id,
                generation,
            },
            _ => Outcome::Loaded {
                plugin_id,
                generation,
                replaced,
            },
        };
        self.answer_load(now, &pending, outcome);
    }

    /// The caller's answer to [`Effect::Close`]: it closed the token's library and the
    /// OS did `outcome`.
    ///
    /// # Errors
    ///
    /// [`ClosedError::Foreign`] if the token came from another core,
    /// [`ClosedError::NotClosing`] if its generation is not waiting for a close.
    pub fn closed(
        &mut self,
        now: Instant,
        token: CloseToken,
        outcome: CloseOutcome,
    ) -> Result<(), ClosedError> {
        let key = token.generation();
        if key.core() != self.id {
            return Err(ClosedError::Foreign(ForeignKeyError::Generation(key)));
        }
        let record = self
            .generations
            .get_mut(key)
            .ok_or(ClosedError::NotClosing(key))?;
        // Moved out to be consumed by the transition; the placeholder never stays.
        let closing = match std::mem::replace(&mut record.stage, Stage::placeholder(now)) {
            Stage::Closing(closing) => closing,
            other => {
                record.stage = other;
                return Err(ClosedError::NotClosing(key));
            }
        };
        record.stage = closing.closed(now, outcome);
        let plugin_id = record.plugin_id.clone();
        let generation = key;
        let mapping = match &record.stage {
            Stage::PinnedByLoader(PinnedByLoader {
                reason: PinnedReason::KeptLoaded { reason },
                ..
            }) => Event::KeptLoaded {
                plugin_id: plugin_id.clone(),
                generation,
                reason: reason.clone(),
            },
            Stage::PinnedByLoader(_) => Event::StillMapped {
                plugin_id: plugin_id.clone(),
                generation,
            },
            _ => Event::Unmapped {
                plugin_id: plugin_id.clone(),
                generation,
            },
        };
        self.effects.push_back(Effect::Event(Event::Closed {
            plugin_id,
            generation,
        }));
        self.effects.push_back(Effect::Event(mapping));
        self.check_quiesce(now);
        Ok(())
    }

    /// Removes the record of a generation closed and unmapped; its key resolves to
    /// [`NotFoundError`](super::NotFoundError) afterwards. A generation whose code stays
    /// mapped keeps its record: until [`unmapped_later`](Self::unmapped_later) for one
    /// the OS loader let go later, for the life of the process for one kept loaded.
    ///
    /// # Errors
    ///
    /// [`CleanupError::NotFound`] if the record is already gone or the key belongs to
    /// another core, [`CleanupError::NotClosed`] if the generation is not closed and
    /// unmapped.
    pub fn cleanup(&mut self, generation: GenerationKey) -> Result<(), CleanupError> {
        self.remove_record(generation, |stage| matches!(stage, Stage::Closed(_)))
    }

    /// Removes the record if its stage passes `may_go`, reporting it cleaned up.
    fn remove_record(
        &mut self,
        generation: GenerationKey,
        may_go: impl FnOnce(&Stage) -> bool,
    ) -> Result<(), CleanupError> {
        let record = self
            .generations
            .find(generation)
            .map_err(CleanupError::NotFound)?;
        match &record.stage {
            stage if may_go(stage) => {
                let plugin_id = record.plugin_id.clone();
                self.generations.remove(generation);
                self.effects.push_back(Effect::Event(Event::CleanedUp {
                    plugin_id,
                    generation,
                }));
                Ok(())
            }
            _ => Err(CleanupError::NotClosed(generation)),
        }
    }

    /// The caller found the code of a generation the OS loader kept mapped at its close
    /// ([`CloseOutcome::StillMapped`]) gone from the process: reports it unmapped and
    /// removes its record, as [`cleanup`](Self::cleanup) does.
    ///
    /// # Errors
    ///
    /// [`CleanupError::NotFound`] if the record is already gone or the key belongs to
    /// another core, [`CleanupError::NotClosed`] if the generation is not one closed as
    /// still mapped.
    pub fn unmapped_later(&mut self, generation: GenerationKey) -> Result<(), CleanupError> {
        let record = self
            .generations
            .find(generation)
            .map_err(CleanupError::NotFound)?;
        let Stage::PinnedByLoader(PinnedByLoader {
            reason: PinnedReason::StillMapped,
            ..
        }) = record.stage
        else {
            return Err(CleanupError::NotClosed(generation));
        };
        self.effects.push_back(Effect::Event(Event::Unmapped {
            plugin_id: record.plugin_id.clone(),
            generation,
        }));
        self.remove_record(generation, |_| true)
    }

    /// Records a pending load and asks the caller to open its library.
    pub(super) fn open(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        path: PathBuf,
        expected_plugin_id: Option<String>,
        purpose: LoadPurpose,
    ) {
        let order = self.next_load;
        self.next_load += 1;
        let load = self.loads.insert(PendingLoad {
            request_id,
            owner,
            path: path.clone(),
            expected_plugin_id: expected_plugin_id.clone(),
            purpose,
            cancelled: false,
            order,
        });
        self.effects.push_back(Effect::Event(Event::LoadRequested {
            request_id,
            plugin_id: expected_plugin_id.clone(),
            path: path.clone(),
        }));
        self.effects.push_back(Effect::Open {
            request_id,
            load,
            path,
            expected_plugin_id,
        });
    }

    /// Marks the pending loads aimed at `plugin_id` as overtaken: when they finish, their
    /// generation is collected without serving.
    pub(crate) fn cancel_loads_of(&mut self, plugin_id: &str) {
        for load in self.loads.values_mut() {
            if load.expected_plugin_id.as_deref() == Some(plugin_id) {
                load.cancelled = true;
            }
        }
    }
}
