//! The generation core: the single source of truth for every plugin's lifecycle.
//!
//! [`Lifecycle`] is a plain state machine (sans-IO): it owns every arena (plugins,
//! generations, pending loads, owners, tickets, instance records, in-flight pins) and
//! never opens a library, reads a clock, spawns a thread or touches a channel. Time comes
//! in as `now`; what must happen outside comes out as [`Effect`]s that the caller drains.
//!
//! # States
//!
//! A generation is one load of one plugin's library. It is **active** (serves new
//! tickets and pins), **draining** (kept only for what still holds it), **closing** (a
//! [`CloseToken`] was handed out and the caller is closing the library), then **closed**
//! (the OS unmapped it) or **pinned by the loader** (closed by us, still mapped by the
//! OS, or deliberately kept loaded). The states are distinct types; only a draining
//! generation with no instance, ticket or pin can produce the [`CloseToken`] the caller
//! needs to close it, and there is no other path to a close.
//!
//! # Files
//!
//! * `keys.rs`, `arena.rs`: the key types, which carry their core's [`CoreId`], and the
//!   arenas, which refuse keys of other cores.
//! * `holders.rs`: how many instances, tickets and pins each owner holds of a generation.
//! * `pins.rs`: in-flight pins taken and released around module-level calls.
//! * `drain.rs`: the drain rule (active to draining, notices, stalled-drain deadlines).
//! * `collect.rs`: the collect rule and the [`CloseToken`].
//! * `lifecycle.rs`: the [`Lifecycle`] struct, its configuration and shared helpers.
//! * `commands.rs`: [`Lifecycle::submit`] and one handler per [`Command`].
//! * `configure.rs`: live configuration: revisions, notices to holders, reports.
//! * `loads.rs`: pending loads, and the caller's answers to opens and closes.
//! * `queries.rs`: the read-only views.
//! * `quiesce.rs`: what shutdown and hot restart share: a deadline, and the report of
//!   what still holds the generations they wait for.
//! * `shutdown.rs`: the shutdown command's drain and deadline.
//! * `sync.rs`: the directory sync: its plan from a scan, and its outcome.
//! * `restart.rs`: the hot restart command: reload everything, wait for the old
//!   generations to close.
//! * `serving.rs`: serving notices, for subscribers of a plugin that starts serving.
//! * `state.rs`: the generation record and its states, one type per state.
//! * `effect.rs`, `error.rs`: the commands, effects and events, and the errors.
#![forbid(unsafe_code)]

mod arena;
mod collect;
mod commands;
mod configure;
pub(crate) mod deadline;
mod drain;
mod effect;
mod error;
mod holders;
pub(crate) mod keys;
mod lifecycle;
mod loads;
mod pins;
mod queries;
mod quiesce;
mod restart;
mod serving;
mod shutdown;
mod state;
pub mod sync;

#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;

pub use collect::CloseToken;
pub use configure::{ConfigNotice, ConfigReport, ConfigResult};
pub use effect::{
    Command, CommandError, Counters, Effect, GenerationSnapshot, HolderReport, Notice, Outcome,
    OwnerSnapshot, PluginSnapshot, PluginState, RequestId, Snapshot, StalledGeneration,
};
pub use error::{
    CleanupError, ClosedError, ForeignKeyError, LoadFinishedError, NotFoundError, PinError,
    ScanFinishedError, UnpinError,
};
pub use holders::{Hold, HoldCounts};
pub use keys::{CoreId, GenerationKey, LoadKey, ParseKeyError, PinKey};
pub use lifecycle::{CoreConfig, GenerationView, Lifecycle};
pub use restart::{PluginRestart, RestartResult};
pub use serving::{ServingCause, ServingNotice};
pub use state::{DrainReason, GenerationState, PinnedReason};
pub use sync::{
    DirectoryScan, FileError, Fingerprint, ScannedFile, ScannedLibrary, SyncAction, SyncChange,
    SyncEntry, SyncError, SyncKey, SyncMode,
};

pub use crate::events::Event;
pub use crate::module::LoadFailure;
