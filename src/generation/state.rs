//! The generation record and its states, one type per state.

use std::path::PathBuf;
use std::time::Instant;

use super::holders::Holders;
use super::keys::GenerationKey;
use crate::module::{CloseOutcome, ModuleInfo};

/// Why a generation stopped serving new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum DrainReason {
    /// A newer generation of the same plugin became active.
    Replaced,
    /// The plugin was unloaded.
    Unloaded,
    /// The plugin was disabled.
    Disabled,
    /// The runtime is shutting down.
    Shutdown,
    /// The load finished after its request was overtaken (the plugin was unloaded or
    /// disabled, or the runtime began shutting down), so the generation never served.
    Cancelled,
    /// The library loaded but is not the plugin that was asked for, so it never served.
    Rejected,
    /// The load finished after a later load of the same plugin had already made its
    /// generation active, so this older one never served.
    Superseded,
}

/// Why a closed generation is still in the process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum PinnedReason {
    /// The library was closed but the OS loader still maps it.
    StillMapped,
    /// The library was deliberately left open because its `deinit` failed.
    KeptLoaded {
        /// What `deinit` reported.
        reason: String,
    },
}

/// The state of a generation, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "state", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum GenerationState {
    /// The plugin's current generation: new tickets and pins go to it.
    Active,
    /// Kept only for the instances, tickets and pins that still hold it.
    Draining {
        /// Why it drains.
        reason: DrainReason,
        /// The generation that replaced it, if any.
        successor: Option<GenerationKey>,
        /// How many stalled-drain reports it produced so far.
        stalls: u32,
    },
    /// Collected: the caller holds its [`CloseToken`](super::CloseToken) and is closing it.
    Closing,
    /// Closed, and the OS reported the library unmapped.
    Closed,
    /// Closed by us, but still in the process.
    PinnedByLoader {
        /// Why it stays.
        reason: PinnedReason,
    },
}

/// One generation: what was loaded, who holds it, and its state.
#[derive(Debug)]
pub(crate) struct GenerationRecord {
    /// Its place among the core's records, in the order they were made (slots are
    /// reused, so the arena's order is not that order).
    pub(crate) made: u64,
    pub(crate) plugin_id: String,
    /// When its load finished.
    pub(crate) loaded_at: Instant,
    pub(crate) path: PathBuf,
    pub(crate) module: ModuleInfo,
    pub(crate) holders: Holders,
    pub(crate) stage: Stage,
}

/// A generation's state with the data only that state has.
#[derive(Debug)]
pub(crate) enum Stage {
    Active(Active),
    Draining(Draining),
    Closing(Closing),
    Closed(Closed),
    PinnedByLoader(PinnedByLoader),
}

/// Serving new tickets and pins.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) since: Instant,
}

/// Kept only for what still holds it; the only state that can be collected.
#[derive(Debug)]
pub(crate) struct Draining {
    pub(crate) since: Instant,
    pub(crate) reason: DrainReason,
    pub(crate) successor: Option<GenerationKey>,
    /// When the next stalled-drain report is due.
    pub(crate) deadline: Instant,
    pub(crate) stalls: u32,
}

/// Collected; its close token is with the caller.
#[derive(Debug)]
pub(crate) struct Closing {
    pub(crate) since: Instant,
}

/// Closed and unmapped.
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) at: Instant,
}

/// Closed by us, still in the process.
#[derive(Debug)]
pub(crate) struct PinnedByLoader {
    pub(crate) at: Instant,
    pub(crate) reason: PinnedReason,
}

impl Stage {
    /// A value to leave in a record for the instant a state is moved out to be consumed
    /// by a transition; every caller overwrites it before returning.
    pub(crate) fn placeholder(now: Instant) -> Self {
        Stage::Closing(Closing { since: now })
    }

    /// The state as plain data.
    pub(crate) fn state(&self) -> GenerationState {
        match self {
            Stage::Active(_) => GenerationState::Active,
            Stage::Draining(d) => GenerationState::Draining {
                reason: d.reason,
                successor: d.successor,
                stalls: d.stalls,
            },
            Stage::Closing(_) => GenerationState::Closing,
            Stage::Closed(_) => GenerationState::Closed,
            Stage::PinnedByLoader(p) => GenerationState::PinnedByLoader {
                reason: p.reason.clone(),
            },
        }
    }

    /// When the generation entered this state.
    pub(crate) fn since(&self) -> Instant {
        match self {
            Stage::Active(a) => a.since,
            Stage::Draining(d) => d.since,
            Stage::Closing(c) => c.since,
            Stage::Closed(c) => c.at,
            Stage::PinnedByLoader(p) => p.at,
        }
    }
}

impl Closing {
    /// What the caller's close did: the library left the process, or it stays.
    pub(crate) fn closed(self, now: Instant, outcome: CloseOutcome) -> Stage {
        match outcome {
            CloseOutcome::Unmapped => Stage::Closed(Closed { at: now }),
            CloseOutcome::StillMapped => Stage::PinnedByLoader(PinnedByLoader {
                at: now,
                reason: PinnedReason::StillMapped,
            }),
            CloseOutcome::KeptLoaded { reason } => Stage::PinnedByLoader(PinnedByLoader {
                at: now,
                reason: PinnedReason::KeptLoaded { reason },
            }),
        }
    }
}
