//! Hot restart: every enabled plugin loads a new generation from its recorded path
//! through the load path of a reload, and every generation those loads replace drains,
//! is collected and closed by the same drain and collect rules as any other. The
//! command completes when every load was answered and every replaced generation is
//! closed, or at its deadline with the replaced generations still held (the
//! [quiesce](super::quiesce) piece it shares with shutdown). Nothing is closed by force.

use std::time::{Duration, Instant};

use super::effect::{CommandError, Effect, Outcome, RequestId, StalledGeneration};
use super::keys::GenerationKey;
use super::lifecycle::{Lifecycle, LoadPurpose, PendingLoad};
use super::quiesce::Quiesce;
use super::state::Stage;
use crate::events::Event;
use crate::owner::OwnerKey;

/// What a hot restart did with one plugin.
///
/// In JSON the result's members sit beside `plugin_id`:
/// `{"plugin_id": "example.gain", "result": "reloaded", "generation": "1:4v1",
/// "replaced": "1:2v1"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PluginRestart {
    /// The plugin.
    pub plugin_id: String,
    /// What its load did.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub result: RestartResult,
}

/// The result of one plugin's load in a hot restart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "result", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RestartResult {
    /// A new generation serves. The one it replaced drained; unless the restart's
    /// `stalled` names it, it was collected and closed before the restart completed.
    Reloaded {
        /// The new active generation.
        generation: GenerationKey,
        /// The generation it replaced (none if the plugin had no active generation).
        replaced: Option<GenerationKey>,
    },
    /// The load failed, or its generation never served, as a
    /// [`Command::Reload`](super::Command::Reload) would have: the plugin's previous
    /// generation keeps serving (unless the error is that an unload, a disable or a
    /// shutdown overtook the load).
    Failed {
        /// Why.
        error: CommandError,
    },
    /// The load had not finished at the restart's deadline. It finishes on its own,
    /// as a reload does; the plugin's events (`plugin_reloaded` or `load_failed`) tell
    /// how, and no outcome does.
    Loading,
}

/// The hot restart in progress.
#[derive(Debug)]
pub(crate) struct RestartState {
    quiesce: Quiesce,
    /// One entry per plugin restarted, in plugin-id order.
    entries: Vec<RestartEntry>,
}

#[derive(Debug)]
struct RestartEntry {
    plugin_id: String,
    /// The submission number of its load (see [`PendingLoad::order`]), which names the
    /// load whatever happens to other loads of the plugin.
    order: u64,
    /// `None` while the load is pending.
    result: Option<RestartResult>,
}

impl RestartState {
    /// The generations the restart's loads replaced, in key order.
    fn replaced(&self) -> Vec<GenerationKey> {
        let mut replaced: Vec<GenerationKey> = self
            .entries
            .iter()
            .filter_map(|entry| match entry.result {
                Some(RestartResult::Reloaded {
                    replaced: Some(old),
                    ..
                }) => Some(old),
                _ => None,
            })
            .collect();
        replaced.sort();
        replaced
    }
}

impl Lifecycle {
    /// [`Command::Restart`](super::Command::Restart): opens a new generation of every
    /// enabled plugin from its recorded path, in plugin-id order.
    pub(crate) fn begin_restart(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        timeout: Duration,
    ) {
        if self.restart.is_some() {
            self.fail(request_id, owner, CommandError::RestartInProgress);
            return;
        }
        let mut plugins: Vec<(String, std::path::PathBuf)> = self
            .plugins
            .iter()
            .filter(|(_, plugin)| plugin.enabled)
            .map(|(id, plugin)| (id.clone(), plugin.path.clone()))
            .collect();
        plugins.sort();
        self.effects.push_back(Effect::Event(Event::RestartStarted {
            plugins: plugins.iter().map(|(id, _)| id.clone()).collect(),
            timeout,
        }));
        let mut entries = Vec::with_capacity(plugins.len());
        for (plugin_id, path) in plugins {
            let order = self.next_load;
            self.open(
                request_id,
                owner,
                path,
                Some(plugin_id.clone()),
                LoadPurpose::Restart,
            );
            entries.push(RestartEntry {
                plugin_id,
                order,
                result: None,
            });
        }
        self.restart = Some(RestartState {
            quiesce: Quiesce::new(now, request_id, owner, timeout),
            entries,
        });
        self.check_restart(now);
    }

    /// Hands a finished load of the restart to it.
    pub(super) fn answer_restart_load(
        &mut self,
        now: Instant,
        pending: &PendingLoad,
        outcome: Outcome,
    ) {
        // A restart that completed at its deadline waits for nothing more: its load
        // finishes on its own.
        let Some(entry) = self.restart.as_mut().and_then(|restart| {
            restart
                .entries
                .iter_mut()
                .find(|entry| entry.order == pending.order && entry.result.is_none())
        }) else {
            return;
        };
        entry.result = Some(match super::loads::load_result(outcome) {
            Some(Ok((generation, replaced))) => RestartResult::Reloaded {
                generation,
                replaced,
            },
            Some(Err(error)) => RestartResult::Failed { error },
            None => {
                debug_assert!(false, "a load completed with another outcome");
                RestartResult::Loading
            }
        });
        self.check_restart(now);
    }

    /// Completes the restart in progress once every load was answered and every
    /// generation they replaced is closed.
    pub(crate) fn check_restart(&mut self, _now: Instant) {
        let Some(restart) = &self.restart else {
            return;
        };
        if restart.entries.iter().any(|entry| entry.result.is_none()) {
            return;
        }
        if !restart.replaced().into_iter().all(|g| self.settled(g)) {
            return;
        }
        self.finish_restart(Vec::new());
    }

    /// The restart's deadline, if one is in progress.
    pub(crate) fn restart_deadline(&self) -> Option<Instant> {
        self.restart
            .as_ref()
            .map(|restart| restart.quiesce.deadline)
    }

    /// At the restart's deadline, makes the stalled-drain report of every generation it
    /// replaced that still drains due now, so the drain rule reports it (`drain_stalled`,
    /// told to each holding owner) in this input, before the restart completes.
    pub(crate) fn restart_due(&mut self, now: Instant) {
        let Some(restart) = self.restart.as_ref().filter(|r| r.quiesce.due(now)) else {
            return;
        };
        for key in restart.replaced() {
            if let Some(record) = self.generations.get_mut(key)
                && let Stage::Draining(draining) = &mut record.stage
            {
                draining.deadline = draining.deadline.min(now);
            }
        }
    }

    /// Completes a restart whose deadline passed, reporting every replaced generation
    /// still held, with its holders. They keep draining.
    pub(crate) fn restart_timeout(&mut self, now: Instant) {
        let Some(restart) = self.restart.as_ref().filter(|r| r.quiesce.due(now)) else {
            return;
        };
        let stalled = self.stalled_among(restart.replaced());
        self.finish_restart(stalled);
    }

    fn finish_restart(&mut self, stalled: Vec<StalledGeneration>) {
        let Some(restart) = self.restart.take() else {
            return;
        };
        let plugins: Vec<PluginRestart> = restart
            .entries
            .into_iter()
            .map(|entry| PluginRestart {
                plugin_id: entry.plugin_id,
                result: entry.result.unwrap_or(RestartResult::Loading),
            })
            .collect();
        self.effects
            .push_back(Effect::Event(Event::RestartFinished {
                plugins: plugins.clone(),
                stalled: stalled.clone(),
            }));
        let Quiesce {
            request_id, owner, ..
        } = restart.quiesce;
        self.complete(request_id, owner, Outcome::Restarted { plugins, stalled });
    }
}
