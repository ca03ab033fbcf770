//! The commands the core accepts and the effects it asks of its caller, as plain data.

use std::path::PathBuf;
use std::time::Duration;

use super::collect::CloseToken;
use super::error::ForeignKeyError;
use super::holders::HoldCounts;
use super::keys::{GenerationKey, LoadKey};
use super::restart::PluginRestart;
use super::serving::ServingNotice;
use super::state::{DrainReason, GenerationState};
use super::sync::{SyncEntry, SyncKey, SyncMode};
use crate::events::Event;
use crate::module::{CapabilityInfo, LoadFailure};
use crate::owner::OwnerKey;

/// The caller's id for one submitted command; echoed in its one [`Effect::Complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct RequestId(pub u64);

/// A control-plane command. Each one submitted yields exactly one [`Effect::Complete`].
///
/// With the `serde` feature a command crosses as JSON, as a UI or a remote control sends
/// it: `{"command": "reload", "plugin_id": "example.gain"}`; see `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Command {
    /// Load the library installed at `path`. If the plugin it contains already has an
    /// active generation, this is a reload of that plugin from `path`.
    Load {
        /// The installed library.
        #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
        path: PathBuf,
        /// The plugin id the library must have, if the caller knows it.
        #[cfg_attr(feature = "serde", serde(default))]
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
    /// Drain every generation; complete when all are collected, or once `timeout` has
    /// passed with a report of what still holds which generation. Nothing is closed by
    /// force. The timeout is relative, so the command can cross a process boundary; one
    /// too long for the clock (up to [`Duration::MAX`]) means no deadline, in practice.
    /// Its JSON member is `deadline_ms`.
    Shutdown {
        /// How long to wait for holders.
        #[cfg_attr(
            feature = "serde",
            serde(rename = "deadline_ms", with = "crate::events::serde_util::millis")
        )]
        timeout: Duration,
    },
    /// Sync the runtime with the libraries in directory `dir`: each library is scanned
    /// (fingerprinted and described, off the actor), planned as new, changed, unchanged
    /// or gone, and then what is new or changed is loaded; in
    /// [`SyncMode::Reconcile`] what is gone is unloaded and what is listed in `disabled`
    /// is disabled. Completes with [`Outcome::Synced`] once every load it started is
    /// answered. See [the sync module](super::sync) for the rules.
    Sync {
        /// The directory.
        #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
        dir: PathBuf,
        /// Plugin ids not to load (and, reconciling, to disable).
        #[cfg_attr(feature = "serde", serde(default))]
        disabled: Vec<String>,
        /// Additive (the default) or reconcile.
        #[cfg_attr(feature = "serde", serde(default))]
        mode: SyncMode,
    },
    /// Hot restart: load a new generation of every enabled plugin from its recorded path,
    /// as [`Reload`](Self::Reload) does (so the owners holding the old generations get
    /// drain notices naming the new ones), without shutting the runtime down. Complete
    /// once every load was answered and every generation they replaced was collected
    /// and closed, or once `timeout` has passed, with the replaced generations still
    /// held (reported as stalled drains too). Nothing is closed by force. A plugin whose
    /// load fails keeps serving its old generation, and the outcome names the error.
    ///
    /// Other commands run normally meanwhile; a second restart fails with
    /// [`CommandError::RestartInProgress`]. Like [`Shutdown`](Self::Shutdown), its
    /// timeout is relative (JSON member `deadline_ms`), and one too long for the clock
    /// (up to [`Duration::MAX`]) means no deadline, in practice.
    Restart {
        /// How long to wait for the holders of the replaced generations.
        #[cfg_attr(
            feature = "serde",
            serde(rename = "deadline_ms", with = "crate::events::serde_util::millis")
        )]
        timeout: Duration,
    },
    /// Give every live instance of a plugin's capability a new configuration. The core
    /// stores it under the next revision of `(plugin_id, type_id)` and tells each owner
    /// holding an instance of it (of any generation of the plugin), which plans and
    /// applies it at its next safe point and reports per instance (the
    /// `instance_configured` event). Completes at once; new instances of the capability
    /// made by slots start from this configuration. In JSON, `config` is a string when
    /// it is UTF-8, else an array of bytes.
    Configure {
        /// The plugin.
        plugin_id: String,
        /// The capability's type id (of whatever kind).
        type_id: String,
        /// The configuration bytes.
        #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::config"))]
        config: Vec<u8>,
    },
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "error", rename_all = "snake_case"))]
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
    /// A hot restart is already in progress; this one did nothing.
    #[error("a hot restart is already in progress")]
    RestartInProgress,
    /// The plugin's active generation offers no capability with this type id (or the
    /// plugin has no active generation).
    #[error("plugin `{plugin_id}` offers no capability `{type_id}`")]
    NoCapability {
        /// The plugin.
        plugin_id: String,
        /// The type id asked for.
        type_id: String,
    },
    /// The submitting owner's key belongs to another core; the command was not run.
    #[error(transparent)]
    ForeignOwner(ForeignKeyError),
    /// A directory sync could not list its directory; nothing changed (in particular,
    /// nothing was unloaded as gone).
    #[error("cannot list directory {}: {message}", dir.display())]
    DirectoryUnreadable {
        /// The directory.
        #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
        dir: PathBuf,
        /// What went wrong, for people.
        message: String,
    },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "outcome", rename_all = "snake_case"))]
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
    /// A directory sync finished: every library of the directory and every plugin gone
    /// from it, with its change and what was done, in the order of the files' names,
    /// then the plugins gone.
    Synced {
        /// The directory.
        #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
        dir: PathBuf,
        /// The sync's mode.
        mode: SyncMode,
        /// One per library file, and one per plugin gone.
        entries: Vec<SyncEntry>,
    },
    /// A hot restart finished: every load was answered and every generation they
    /// replaced was closed (`stalled` is empty), or the deadline passed and `stalled`
    /// lists the replaced generations still held, with their holders.
    Restarted {
        /// Each enabled plugin, in plugin-id order, with what its load did.
        plugins: Vec<PluginRestart>,
        /// The replaced generations still held at the deadline, with their holders.
        stalled: Vec<StalledGeneration>,
    },
    /// A new configuration was stored under `revision` and sent to the owners of the
    /// capability's `instances` live instances; each reports what it did later, as an
    /// `instance_configured` event.
    Configured {
        /// The plugin.
        plugin_id: String,
        /// The capability's type id.
        type_id: String,
        /// The new revision.
        revision: u64,
        /// Live instances of the capability when it was sent.
        instances: u64,
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
        /// The command that asked for it.
        request_id: RequestId,
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
    /// Tell `owner`, subscribed to the notice's plugin (or to all), that the plugin
    /// serves again from no generation: its first load, or an enable.
    Serving {
        /// The owner to tell.
        owner: OwnerKey,
        /// What happened.
        notice: ServingNotice,
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
    /// List, fingerprint and describe the libraries in `dir` (see
    /// [`DirectoryScan`](super::DirectoryScan)), then answer with
    /// [`Lifecycle::scan_finished`](super::Lifecycle::scan_finished) for `sync`.
    Scan {
        /// The sync command that asked for it.
        request_id: RequestId,
        /// The pending sync to answer.
        sync: SyncKey,
        /// The directory.
        dir: PathBuf,
    },
    /// Tell `owner`, which holds an instance or ticket of the capability, about its new
    /// configuration.
    Configure {
        /// The owner to tell.
        owner: OwnerKey,
        /// The configuration and its revision.
        notice: super::configure::ConfigNotice,
    },
}

/// What an owner is told when a generation starts draining.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// One owner's holds of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HolderReport {
    /// The owner, or `None` for pins taken without one.
    pub owner: Option<OwnerKey>,
    /// The owner's name, if it has one.
    pub owner_name: Option<String>,
    /// What it holds (in JSON: `instances`, `tickets` and `pins` beside the owner).
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub holds: HoldCounts,
}

/// A generation that is still held, with everyone holding it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StalledGeneration {
    /// The generation.
    pub generation: GenerationKey,
    /// Its plugin.
    pub plugin_id: String,
    /// Who holds it and how much, in the order they first took a hold.
    pub holders: Vec<HolderReport>,
}

/// Everything the core knows, as plain data.
///
/// A snapshot taken through the runtime also carries what the runtime knows beside the
/// core: each owner's thread and mailbox backlog, and the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// Every known plugin, by id.
    pub plugins: Vec<PluginSnapshot>,
    /// Every generation whose record still exists, oldest first.
    pub generations: Vec<GenerationSnapshot>,
    /// Registered owners, in the order they registered.
    pub owners: Vec<OwnerSnapshot>,
    /// What the runtime did so far. Kept by the [routing driver](crate::routing): a
    /// snapshot taken from a bare core reports zeros.
    pub counters: Counters,
    /// Live instance records.
    pub instances: usize,
    /// Reserved tickets.
    pub tickets: usize,
    /// In-flight pins.
    pub pins: usize,
    /// Loads the caller has not answered yet.
    pub pending_loads: usize,
}

/// How a known plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum PluginState {
    /// An active generation serves it.
    Serving,
    /// Enabled, no generation serves it, and a load of it is pending.
    Loading,
    /// Enabled, and no generation serves it (its first load under this id failed
    /// after an enable, or a shutdown drained it).
    Idle,
    /// Disabled.
    Disabled,
}

/// One known plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PluginSnapshot {
    /// The plugin id.
    pub plugin_id: String,
    /// The installed library it loads from.
    #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
    pub path: PathBuf,
    /// Whether it is enabled.
    pub enabled: bool,
    /// How it stands.
    pub state: PluginState,
    /// Its active generation.
    pub active: Option<GenerationKey>,
    /// The active generation's plugin version.
    pub version: Option<String>,
    /// The active generation's capabilities, each with its default configuration: what
    /// a settings page offers.
    pub capabilities: Vec<CapabilityInfo>,
}

/// One generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct GenerationSnapshot {
    /// The generation.
    pub generation: GenerationKey,
    /// Its plugin.
    pub plugin_id: String,
    /// Its plugin's version.
    pub version: String,
    /// Its state.
    pub state: GenerationState,
    /// How long since it was loaded.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_micros", with = "crate::events::serde_util::micros")
    )]
    pub age: Duration,
    /// How long it has been in its state.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "in_state_micros", with = "crate::events::serde_util::micros")
    )]
    pub in_state: Duration,
    /// The shadow copy its library was opened from, if the loader reported one.
    #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::opt_path"))]
    pub shadow_path: Option<PathBuf>,
    /// Whether its code may still be mapped: true until its close reported it unmapped,
    /// and for a generation the OS loader kept mapped until the runtime's recheck after a
    /// later close found its code gone (its record then goes).
    pub code_mapped: bool,
    /// Who holds it, per owner.
    pub holders: Vec<HolderReport>,
}

/// One registered owner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct OwnerSnapshot {
    /// The owner.
    pub owner: OwnerKey,
    /// Its name.
    pub name: String,
    /// The thread it registered from, if the runtime knows it.
    pub thread: Option<String>,
    /// Live instances it holds.
    pub instances: u32,
    /// Reserved tickets it holds.
    pub tickets: u32,
    /// In-flight pins it holds.
    pub pins: u32,
    /// Events waiting in its mailbox, if the runtime knows it.
    pub mailbox_backlog: Option<usize>,
}

/// Monotonic counts of what the runtime did since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Counters {
    /// Generations that became active (first loads, enables and reloads).
    pub loads: u64,
    /// Of those, the ones that replaced an active generation.
    pub reloads: u64,
    /// Loads that failed.
    pub failed_loads: u64,
    /// Draining generations collected (their close requested).
    pub collected: u64,
    /// Generations whose code left the process.
    pub unmapped: u64,
    /// Closes that left code mapped: still mapped by the OS loader, or kept loaded.
    pub kept_mapped: u64,
    /// Drains that stalled (counted once each, however many reports they make).
    pub stalled_drains: u64,
    /// Records listeners lost to their full queues.
    pub listener_drops: u64,
}

impl Command {
    /// The plugin the command is about, if it names one.
    pub fn plugin_id(&self) -> Option<&str> {
        match self {
            Command::Load {
                expected_plugin_id, ..
            } => expected_plugin_id.as_deref(),
            Command::Reload { plugin_id }
            | Command::Unload { plugin_id }
            | Command::SetEnabled { plugin_id, .. }
            | Command::Configure { plugin_id, .. } => Some(plugin_id),
            Command::Snapshot
            | Command::Shutdown { .. }
            | Command::Sync { .. }
            | Command::Restart { .. } => None,
        }
    }
}

impl Outcome {
    /// The plugin the outcome is about, if it names one.
    pub fn plugin_id(&self) -> Option<&str> {
        match self {
            Outcome::Loaded { plugin_id, .. }
            | Outcome::Unloaded { plugin_id, .. }
            | Outcome::Enabled { plugin_id, .. }
            | Outcome::Disabled { plugin_id, .. }
            | Outcome::Configured { plugin_id, .. } => Some(plugin_id),
            Outcome::Failed(
                CommandError::UnknownPlugin { plugin_id }
                | CommandError::Disabled { plugin_id }
                | CommandError::Superseded { plugin_id }
                | CommandError::NoCapability { plugin_id, .. },
            ) => Some(plugin_id),
            Outcome::Failed(CommandError::PluginIdMismatch { expected, .. }) => Some(expected),
            _ => None,
        }
    }
}
