//! Shutdown: drain every generation through the same drain and collect rules, complete
//! when everything is collected and closed, or report who holds what at the deadline
//! (the deadline and the report are the [quiesce](super::quiesce) piece hot restart
//! shares).

use std::time::{Duration, Instant};

use super::effect::{CommandError, Effect, Outcome, RequestId, StalledGeneration};
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use super::quiesce::Quiesce;
use super::state::DrainReason;
use crate::events::Event;
use crate::owner::OwnerKey;

/// Where the core is in its shutdown.
#[derive(Debug)]
pub(crate) enum ShutdownState {
    /// Serving normally.
    Running,
    /// Draining everything; the request completes when all is closed or at its deadline.
    Draining(Quiesce),
    /// The shutdown request completed; no new work is accepted.
    Done,
}

impl ShutdownState {
    pub(crate) fn accepts_commands(&self) -> bool {
        matches!(self, Self::Running)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Draining(quiesce) => Some(quiesce.deadline),
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
        self.shutdown = ShutdownState::Draining(Quiesce::new(now, request_id, owner, timeout));
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
        self.check_quiesce(now);
    }

    /// Completes a shutdown in progress once no load is pending and no generation drains
    /// or waits for its close.
    pub(crate) fn check_shutdown(&mut self, _now: Instant) {
        let ShutdownState::Draining(quiesce) = self.shutdown else {
            return;
        };
        let busy =
            !self.loads.is_empty() || self.generations.iter().any(|(key, _)| !self.settled(key));
        if busy {
            return;
        }
        self.finish_shutdown(quiesce, Vec::new());
    }

    /// Completes a shutdown whose deadline passed, reporting every generation still held.
    pub(crate) fn shutdown_timeout(&mut self, now: Instant) {
        let ShutdownState::Draining(quiesce) = self.shutdown else {
            return;
        };
        if !quiesce.due(now) {
            return;
        }
        let stalled = self.stalled_among(self.generations.iter().map(|(key, _)| key));
        self.finish_shutdown(quiesce, stalled);
    }

    fn finish_shutdown(&mut self, quiesce: Quiesce, stalled: Vec<StalledGeneration>) {
        self.shutdown = ShutdownState::Done;
        self.effects
            .push_back(Effect::Event(Event::ShutdownFinished {
                stalled: stalled.clone(),
            }));
        self.complete(
            quiesce.request_id,
            quiesce.owner,
            Outcome::ShutDown { stalled },
        );
    }
}
