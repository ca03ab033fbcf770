//! The commands the core accepts and the effects it asks of its caller, as plain data.

use std::path::PathBuf;
use std::time::Instant;

use super::collect::CloseToken;
use super::error::ForeignKeyError;
use super::holders::HoldCounts;
use super::keys::{GenerationKey, LoadKey};
use super::state::{DrainReason, GenerationState, PinnedReason};
use crate::module::LoadFailure;
use crate::owner::OwnerKey;

/// The caller's id for one submitted command; echoed in its one [`Effect::Complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A control-plane command. Each one submitted yields exactly one [`Effect::Complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Load the library installed at `path`. If the plugin it contains already has an
    /// active generation, this is a reload of that plugin from `path`.
    Load {
        /// The installed library.
        path: PathBuf,
        /// The plugin id the library must have, if the caller knows it.
        expected_plugin_id: Option<String>,
    },
    /// Load a new generation of a plugin from its recorded path; the old one drains once
    /// the new one is active, and stays active if the load fails.
    Reload {
        /// The plugin.
        plugin_id: String,
    },
    /// Drain the plugin's active generation and forget the plugin.
    Unload {
        /// The plugin.
        plugin_id: String,
    },
    /// Disable (drain the active generation, keep the plugin known) or enable (load it
    /// again from its recorded path) a plugin.
    SetEnabled {
        /// The plugin.
        plugin_id: String,
        /// Whether it should serve.
        enabled: bool,
    },
    /// Report everything the core knows.
    Snapshot,
    /// Drain every generation; complete when all are collected, or at `deadline` with a
    /// report of what still holds which generation. Nothing is closed by force.
    Shutdown {
        /// When to stop waiting.
        deadline: Instant,
    },
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No plugin with this id is known.
    #[error("unknown plugin `{plugin_id}`")]
    UnknownPlugin {
        /// The plugin id asked for.
        plugin_id: String,
    },
    /// The plugin is disabled; enable it first.
    #[error("plugin `{plugin_id}` is disabled")]
    Disabled {
        /// The plugin.
        plugin_id: String,
    },
    /// The loader could not load the library; any previous generation keeps serving.
    #[error("load failed at {}: {}", .0.step, .0.message)]
    Load(LoadFailure),
    /// The library loaded but is another plugin than the one asked for; it was closed
    /// again without serving.
    #[error("expected plugin `{expected}`, the library is `{found}`")]
    PluginIdMismatch {
        /// The plugin id asked for.
        expected: String,
        /// The plugin id the library has.
        found: String,
    },
    /// The load was overtaken by an unload, a disable or a shutdown of its plugin; the
    /// loaded generation was closed again without serving.
    #[error("the load was cancelled by a later command")]
    Cancelled,
    /// The load finished after a load of the same plugin submitted later had already
    /// made its generation active (loads run in parallel and may finish out of order).
    /// The older build was closed again without serving, as if it had finished first
    /// and been replaced at once.
    #[error("a later load of plugin `{plugin_id}` finished first; this older one never served")]
    Superseded {
        /// The plugin.
        plugin_id: String,
    },
    /// The runtime is shutting down and accepts no more work.
    #[error("the runtime is shutting down")]
    ShuttingDown,
    /// The submitting owner's key belongs to another core; the command was not run.
    #[error(transparent)]
    ForeignOwner(ForeignKeyError),
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A load or reload finished: `generation` is active.
    Loaded {
        /// The plugin.
        plugin_id: String,
        /// The new active generation.
        generation: GenerationKey,
        /// The generation it replaced, now draining.
        replaced: Option<GenerationKey>,
    },
    /// The plugin is forgotten; its last generation drains.
    Unloaded {
        /// The plugin.
        plugin_id: String,
        /// The generation that was active and now drains.
        draining: Option<GenerationKey>,
    },
    /// The plugin serves from `generation`.
    Enabled {
        /// The plugin.
        plugin_id: String,
        /// Its active generation.
        generation: GenerationKey,
    },
    /// The plugin is disabled; its last generation drains.
    Disabled {
        /// The plugin.
        plugin_id: String,
        /// The generation that was active and now drains.
        draining: Option<GenerationKey>,
    },
    /// Everything the core knows.
    Snapshot(Snapshot),
    /// Shutdown finished: every generation was collected (`stalled` is empty), or the
    /// deadline passed and `stalled` lists what still holds which generation.
    ShutDown {
        /// The generations still held at the deadline, with their holders.
        stalled: Vec<StalledGeneration>,
    },
    /// The command failed; nothing changed.
    Failed(CommandError),
}

/// What the core asks its caller to do, drained with
/// [`Lifecycle::poll_effect`](super::Lifecycle::poll_effect).
#[derive(Debug)]
#[non_exhaustive]
pub enum Effect {
    /// Open the library at `path`, then answer with
    /// [`Lifecycle::load_finished`](super::Lifecycle::load_finished) for `load`.
    Open {
        /// The pending load to answer.
        load: LoadKey,
        /// The installed library.
        path: PathBuf,
        /// The plugin id the library must have, if known.
        expected_plugin_id: Option<String>,
    },
    /// Close the generation's library, then answer with
    /// [`Lifecycle::closed`](super::Lifecycle::closed), giving the token back.
    Close(CloseToken),
    /// Tell `owner` that a generation it holds (or a plugin it subscribed to) started
    /// draining.
    Notify {
        /// The owner to tell.
        owner: OwnerKey,
        /// What happened.
        notice: Notice,
    },
    /// A command finished; route `outcome` to `owner`, the submitter.
    Complete {
        /// The id the command was submitted with.
        request_id: RequestId,
        /// The owner that submitted it, if any.
        owner: Option<OwnerKey>,
        /// What it did.
        outcome: Outcome,
    },
    /// Something happened that observers may want to know.
    Event(Event),
}

/// What an owner is told when a generation starts draining.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    /// The plugin.
    pub plugin_id: String,
    /// The generation that drains: release what you hold of it.
    pub old: GenerationKey,
    /// The generation that replaces it, if any: recreate from it.
    pub new: Option<GenerationKey>,
    /// Why it drains.
    pub reason: DrainReason,
}

/// A lifecycle event, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A plugin's first generation became active.
    Loaded {
        /// The plugin.
        plugin_id: String,
        /// The new generation.
        generation: GenerationKey,
    },
    /// A new generation replaced the active one.
    Reloaded {
        /// The plugin.
        plugin_id: String,
        /// The replaced generation, now draining.
        old: GenerationKey,
        /// The new active generation.
        new: GenerationKey,
    },
    /// A load failed; the previous generation, if any, keeps serving.
    LoadFailed {
        /// The plugin id expected, if known.
        plugin_id: Option<String>,
        /// The installed library.
        path: PathBuf,
        /// What went wrong.
        failure: LoadFailure,
    },
    /// A generation started draining.
    Draining {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
        /// Why.
        reason: DrainReason,
    },
    /// A drained generation has nothing left holding it; its close was requested.
    Collected {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// A generation's library was closed and left the process.
    Closed {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// A generation's library was closed by us but stays in the process.
    PinnedByLoader {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
        /// Why it stays.
        reason: PinnedReason,
    },
    /// A draining generation is still held past its deadline. Repeated with exponential
    /// backoff while it stays held; nothing is closed because of it.
    DrainStalled {
        /// The stalled generation and who holds it.
        stalled: StalledGeneration,
        /// When it started draining.
        since: Instant,
        /// How many reports this is, counting from 1.
        report: u32,
    },
    /// A plugin was forgotten.
    Unloaded {
        /// The plugin.
        plugin_id: String,
    },
    /// A plugin was disabled.
    Disabled {
        /// The plugin.
        plugin_id: String,
    },
    /// Shutdown began.
    ShutdownStarted,
}

/// One owner's holds of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HolderReport {
    /// The owner, or `None` for pins taken without one.
    pub owner: Option<OwnerKey>,
    /// The owner's name, if it has one.
    pub owner_name: Option<String>,
    /// What it holds.
    pub holds: HoldCounts,
}

/// A generation that is still held, with everyone holding it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StalledGeneration {
    /// The generation.
    pub generation: GenerationKey,
    /// Its plugin.
    pub plugin_id: String,
    /// Who holds it and how much, in the order they first took a hold.
    pub holders: Vec<HolderReport>,
}

/// Everything the core knows, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Every known plugin.
    pub plugins: Vec<PluginSnapshot>,
    /// Every generation whose record still exists.
    pub generations: Vec<GenerationSnapshot>,
    /// Registered owners.
    pub owners: usize,
    /// Live instance records.
    pub instances: usize,
    /// Reserved tickets.
    pub tickets: usize,
    /// In-flight pins.
    pub pins: usize,
    /// Loads the caller has not answered yet.
    pub pending_loads: usize,
}

/// One known plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSnapshot {
    /// The plugin id.
    pub plugin_id: String,
    /// The path it loads from.
    pub path: PathBuf,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its active generation.
    pub active: Option<GenerationKey>,
}

/// One generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationSnapshot {
    /// The generation.
    pub generation: GenerationKey,
    /// Its plugin.
    pub plugin_id: String,
    /// Its state.
    pub state: GenerationState,
    /// Who holds it.
    pub holders: Vec<HolderReport>,
}
