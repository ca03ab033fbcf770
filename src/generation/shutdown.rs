//! Shutdown: drain every generation through the same drain and collect rules, complete
//! when everything is collected and closed, or report who holds what at the deadline.

use std::time::{Duration, Instant};

use super::deadline::deadline_after;
use super::effect::{CommandError, Effect, Outcome, RequestId, StalledGeneration};
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use super::state::{DrainReason, Stage};
use crate::events::Event;
use crate::owner::OwnerKey;

/// Where the core is in its shutdown.
#[derive(Debug)]
pub(crate) enum ShutdownState {
    /// Serving normally.
    Running,
    /// Draining everything; the request completes when all is closed or at `deadline`.
    Draining {
        request_id: RequestId,
        owner: Option<OwnerKey>,
        deadline: Instant,
    },
    /// The shutdown request completed; no new work is accepted.
    Done,
}

impl ShutdownState {
    pub(crate) fn accepts_commands(&self) -> bool {
        matches!(self, Self::Running)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Draining { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}

impl Lifecycle {
    pub(crate) fn begin_shutdown(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        timeout: Duration,
    ) {
        if !self.shutdown.accepts_commands() {
            let outcome = Outcome::Failed(CommandError::ShuttingDown);
            self.complete(request_id, owner, outcome);
            return;
        }
        self.shutdown = ShutdownState::Draining {
            request_id,
            owner,
            deadline: deadline_after(now, timeout),
        };
        self.effects
            .push_back(Effect::Event(Event::ShutdownStarted { timeout }));
        for load in self.loads.values_mut() {
            load.cancelled = true;
        }
        let mut actives: Vec<GenerationKey> = self
            .plugins
            .values_mut()
            .filter_map(|plugin| plugin.active.take())
            .collect();
        // Drain in key order so the effects do not depend on the hash map's order.
        actives.sort();
        for key in actives {
            self.begin_drain(now, key, DrainReason::Shutdown, None);
        }
        self.check_shutdown(now);
    }

    /// Completes a shutdown in progress once no load is pending and no generation drains
    /// or waits for its close.
    pub(crate) fn check_shutdown(&mut self, _now: Instant) {
        let ShutdownState::Draining {
            request_id, owner, ..
        } = self.shutdown
        else {
            return;
        };
        let busy = !self.loads.is_empty()
            || self
                .generations
                .values()
                .any(|record| matches!(record.stage, Stage::Draining(_) | Stage::Closing(_)));
        if busy {
            return;
        }
        self.finish_shutdown(request_id, owner, Vec::new());
    }

    /// Completes a shutdown whose deadline passed, reporting every generation still held.
    pub(crate) fn shutdown_timeout(&mut self, now: Instant) {
        let ShutdownState::Draining {
            request_id,
            owner,
            deadline,
        } = self.shutdown
        else {
            return;
        };
        if now < deadline {
            return;
        }
        let stalled = self
            .generations
            .iter()
            .filter(|(_, record)| matches!(record.stage, Stage::Draining(_)))
            .map(|(key, record)| StalledGeneration {
                generation: key,
                plugin_id: record.plugin_id.clone(),
                holders: self.holder_reports(&record.holders),
            })
            .collect();
        self.finish_shutdown(request_id, owner, stalled);
    }

    fn finish_shutdown(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        stalled: Vec<StalledGeneration>,
    ) {
        self.shutdown = ShutdownState::Done;
        self.effects
            .push_back(Effect::Event(Event::ShutdownFinished {
                stalled: stalled.clone(),
            }));
        self.complete(request_id, owner, Outcome::ShutDown { stalled });
    }
}
