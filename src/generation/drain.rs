//! The drain rule: an active generation stops serving, the owners holding it are told,
//! and a drain that outlives its deadline is reported (with backoff), never forced.

use std::time::{Duration, Instant};

use super::deadline::deadline_after;
use super::effect::{Effect, Notice};
use super::error::NotFoundError;
use super::keys::GenerationKey;
use super::lifecycle::{CoreConfig, Lifecycle};
use super::state::{Active, DrainReason, Draining, Stage};
use crate::events::Event;
use crate::owner::OwnerKey;

impl Active {
    /// Stops serving: the generation drains from `now`, first reported stalled at
    /// `now + drain_timeout` (never, in practice, if that is past what the clock holds).
    pub(crate) fn drain(
        self,
        now: Instant,
        reason: DrainReason,
        successor: Option<GenerationKey>,
        config: &CoreConfig,
    ) -> Draining {
        Draining {
            since: now,
            reason,
            successor,
            deadline: deadline_after(now, config.drain_timeout),
            stalls: 0,
        }
    }
}

impl Draining {
    /// Records one stalled-drain report made at `now` and schedules the next one.
    pub(crate) fn stalled(&mut self, now: Instant, config: &CoreConfig) {
        self.stalls += 1;
        self.deadline = deadline_after(now, stall_interval(config, self.stalls));
    }
}

/// The wait after the `stalls`-th report: the drain timeout doubled per report, capped.
pub(crate) fn stall_interval(config: &CoreConfig, stalls: u32) -> Duration {
    let factor = 1u32.checked_shl(stalls.min(31)).unwrap_or(u32::MAX);
    config
        .drain_timeout
        .checked_mul(factor)
        .map_or(config.max_stall_interval, |d| {
            d.min(config.max_stall_interval)
        })
}

impl Lifecycle {
    /// Moves an active generation to draining: it serves nothing new from now on. Tells
    /// the owners holding something of it and the plugin's subscribers, then collects it
    /// at once if nothing holds it.
    ///
    /// A generation that is not active is left as it is.
    pub(crate) fn begin_drain(
        &mut self,
        now: Instant,
        key: GenerationKey,
        reason: DrainReason,
        successor: Option<GenerationKey>,
    ) {
        let Some(record) = self.generations.get_mut(key) else {
            return;
        };
        // Moved out to be consumed by the transition; the placeholder never stays.
        let active = match std::mem::replace(&mut record.stage, Stage::placeholder(now)) {
            Stage::Active(active) => active,
            other => {
                record.stage = other;
                return;
            }
        };
        record.stage = Stage::Draining(active.drain(now, reason, successor, &self.config));
        let plugin_id = record.plugin_id.clone();
        let mut told: Vec<OwnerKey> = record.holders.iter().filter_map(|(o, _)| o).collect();
        for (owner, record) in self.owners.iter() {
            if record.subscribes_to(&plugin_id) && !told.contains(&owner) {
                told.push(owner);
            }
        }
        self.effects.push_back(Effect::Event(Event::Draining {
            plugin_id: plugin_id.clone(),
            generation: key,
            reason,
            successor,
        }));
        for owner in told {
            self.effects.push_back(Effect::Notify {
                owner,
                notice: Notice {
                    plugin_id: plugin_id.clone(),
                    old: key,
                    new: successor,
                    reason,
                },
            });
        }
        self.try_collect(now, key);
    }

    /// What `owner` must know now about draining generations, coalesced: one notice per
    /// draining generation it holds an instance, ticket or pin of, or whose plugin it
    /// subscribes to, oldest drain first. `new` is the plugin's generation active now
    /// (not the successor at the time, which may itself have drained since).
    ///
    /// This replaces the [`Effect::Notify`]s an owner missed: a caller that could not
    /// deliver them sends this instead, and no generation the owner holds is left out,
    /// since a held generation cannot be collected.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Owner`] if the owner is not registered,
    /// [`NotFoundError::Foreign`] if its key belongs to another core.
    pub fn draining_notices(&self, owner: OwnerKey) -> Result<Vec<Notice>, NotFoundError> {
        let record = self.owners.find(owner)?;
        let mut draining: Vec<(Instant, Notice)> = self
            .generations
            .iter()
            .filter_map(|(key, generation)| {
                let Stage::Draining(draining) = &generation.stage else {
                    return None;
                };
                let concerned = generation.holders.iter().any(|(o, _)| o == Some(owner))
                    || record.subscribes_to(&generation.plugin_id);
                concerned.then(|| {
                    let notice = Notice {
                        plugin_id: generation.plugin_id.clone(),
                        old: key,
                        new: self.active_generation(&generation.plugin_id),
                        reason: draining.reason,
                    };
                    (draining.since, notice)
                })
            })
            .collect();
        draining.sort_by_key(|(since, _)| *since);
        Ok(draining.into_iter().map(|(_, notice)| notice).collect())
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the earliest
    /// stalled-drain report, shutdown deadline or restart deadline, or `None` if nothing
    /// waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let drains = self
            .generations
            .values()
            .filter_map(|record| match &record.stage {
                Stage::Draining(draining) => Some(draining.deadline),
                _ => None,
            });
        drains
            .chain(self.shutdown.deadline())
            .chain(self.restart_deadline())
            .min()
    }

    /// Lets time pass: reports every draining generation whose deadline is due as
    /// stalled (naming who holds it), and completes a shutdown or a hot restart whose
    /// deadline passed. At a restart's deadline, the generations it replaced that still
    /// drain are reported stalled in this call, whenever their own report was due.
    /// Never closes anything.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.restart_due(now);
        let due: Vec<GenerationKey> = self
            .generations
            .iter()
            .filter_map(|(key, record)| match &record.stage {
                Stage::Draining(draining) if draining.deadline <= now => Some(key),
                _ => None,
            })
            .collect();
        for key in due {
            let Some(record) = self.generations.get_mut(key) else {
                continue;
            };
            let Stage::Draining(draining) = &mut record.stage else {
                continue;
            };
            draining.stalled(now, &self.config);
            let (since, report, reason) = (draining.since, draining.stalls, draining.reason);
            let plugin_id = record.plugin_id.clone();
            let holders = self.holder_reports(&self.generations[key].holders);
            self.effects.push_back(Effect::Event(Event::DrainStalled {
                plugin_id,
                generation: key,
                reason,
                draining_for: now.saturating_duration_since(since),
                report,
                holders,
            }));
        }
        self.shutdown_timeout(now);
        self.restart_timeout(now);
    }
}
