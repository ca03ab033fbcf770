//! What shutdown and hot restart share: a command that waits for a set of generations
//! to drain, be collected and be closed, with a deadline past which it completes and
//! reports who still holds what. Nothing is ever closed because of the deadline.

use std::time::{Duration, Instant};

use super::deadline::deadline_after;
use super::effect::{RequestId, StalledGeneration};
use super::keys::GenerationKey;
use super::lifecycle::Lifecycle;
use super::state::Stage;
use crate::owner::OwnerKey;

/// A quiescing command in progress: who asked, and when it gives up waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quiesce {
    pub(crate) request_id: RequestId,
    pub(crate) owner: Option<OwnerKey>,
    pub(crate) deadline: Instant,
}

impl Quiesce {
    /// A command submitted at `now` that waits at most `timeout` (one too long for the
    /// clock means no deadline, in practice).
    pub(crate) fn new(
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        timeout: Duration,
    ) -> Self {
        Self {
            request_id,
            owner,
            deadline: deadline_after(now, timeout),
        }
    }

    /// Whether the deadline has passed at `now` (deadlines are inclusive).
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.deadline <= now
    }
}

impl Lifecycle {
    /// Whether `generation` is out of the drain: neither draining nor waiting for its
    /// close (closed, pinned by the loader, or its record already gone).
    pub(crate) fn settled(&self, generation: GenerationKey) -> bool {
        self.generations
            .get(generation)
            .is_none_or(|record| !matches!(record.stage, Stage::Draining(_) | Stage::Closing(_)))
    }

    /// The generations among `keys` that still drain, each with everyone holding it: the
    /// report of a quiesce whose deadline passed. Generations that do not drain are
    /// left out.
    pub(crate) fn stalled_among(
        &self,
        keys: impl IntoIterator<Item = GenerationKey>,
    ) -> Vec<StalledGeneration> {
        keys.into_iter()
            .filter_map(|key| {
                let record = self.generations.get(key)?;
                matches!(record.stage, Stage::Draining(_)).then(|| StalledGeneration {
                    generation: key,
                    plugin_id: record.plugin_id.clone(),
                    holders: self.holder_reports(&record.holders),
                })
            })
            .collect()
    }

    /// Completes every quiescing command (shutdown, restart) whose wait is over. Called
    /// after every input that can end a drain, a close or a load.
    pub(crate) fn check_quiesce(&mut self, now: Instant) {
        self.check_shutdown(now);
        self.check_restart(now);
    }
}
