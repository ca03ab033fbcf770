//! The typed events, their topics and names, and the stamped record.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::generation::{
    Command, ConfigResult, DrainReason, GenerationKey, HolderReport, Outcome, PluginRestart,
    RequestId, StalledGeneration, SyncMode,
};
use crate::module::CapabilityInfo;
use crate::owner::{InstanceKey, OwnerKey};

/// What an event is about; the first level of the schema's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Topic {
    /// A plugin's or a generation's life: loads, drains, closes, unmapping.
    Lifecycle,
    /// Commands submitted and completed.
    Command,
    /// The runtime as a whole: shutdown and poisoning.
    Runtime,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 3] = [Topic::Lifecycle, Topic::Command, Topic::Runtime];

    /// The stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Lifecycle => "lifecycle",
            Topic::Command => "command",
            Topic::Runtime => "runtime",
        }
    }
}

/// One fact of the runtime, as plain data. [`SCHEMA`](super::SCHEMA) and
/// `docs/events.md` list each one with its JSON name and fields.
///
/// The core emits the lifecycle events; the routing driver adds the command and runtime
/// events. Durations are relative (never an `Instant`), so every event can cross a
/// process boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "event", content = "fields", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Event {
    /// The core asked for a library to be opened: the start of a load or reload.
    #[cfg_attr(feature = "serde", serde(rename = "load_requested"))]
    LoadRequested {
        /// The command that asked for it.
        request_id: RequestId,
        /// The plugin id, if known before the library is read.
        plugin_id: Option<String>,
        /// The installed library.
        #[cfg_attr(feature = "serde", serde(with = "super::serde_util::path"))]
        path: PathBuf,
    },
    /// A plugin's first generation became active (a first load, or an enable).
    #[cfg_attr(feature = "serde", serde(rename = "plugin_loaded"))]
    Loaded {
        /// The plugin.
        plugin_id: String,
        /// The new active generation.
        generation: GenerationKey,
        /// The plugin's own version.
        version: String,
        /// The installed library it was loaded from.
        #[cfg_attr(feature = "serde", serde(with = "super::serde_util::path"))]
        path: PathBuf,
        /// What it offers, each with its default configuration.
        capabilities: Vec<CapabilityInfo>,
    },
    /// A new generation replaced the active one, which now drains.
    #[cfg_attr(feature = "serde", serde(rename = "plugin_reloaded"))]
    Reloaded {
        /// The plugin.
        plugin_id: String,
        /// The replaced generation, now draining.
        old: GenerationKey,
        /// The new active generation.
        new: GenerationKey,
        /// The new generation's plugin version.
        version: String,
        /// The installed library it was loaded from.
        #[cfg_attr(feature = "serde", serde(with = "super::serde_util::path"))]
        path: PathBuf,
        /// What the new generation offers.
        capabilities: Vec<CapabilityInfo>,
    },
    /// A load failed; the previous generation, if any, keeps serving.
    LoadFailed {
        /// The command that asked for it.
        request_id: RequestId,
        /// The plugin id, if known.
        plugin_id: Option<String>,
        /// The installed library.
        #[cfg_attr(feature = "serde", serde(with = "super::serde_util::path"))]
        path: PathBuf,
        /// The loader's step that failed, such as `open` or `descriptor`.
        step: String,
        /// What went wrong, for people.
        message: String,
    },
    /// A disabled plugin serves again: its new generation became active (by an enable, or
    /// a load of its library). Its `plugin_loaded` follows at once.
    #[cfg_attr(feature = "serde", serde(rename = "plugin_enabled"))]
    Enabled {
        /// The plugin.
        plugin_id: String,
    },
    /// A plugin was disabled; it stays known, and its generation drains.
    #[cfg_attr(feature = "serde", serde(rename = "plugin_disabled"))]
    Disabled {
        /// The plugin.
        plugin_id: String,
    },
    /// A plugin was forgotten; its generation drains.
    #[cfg_attr(feature = "serde", serde(rename = "plugin_unloaded"))]
    Unloaded {
        /// The plugin.
        plugin_id: String,
    },
    /// A generation stopped serving new work and is kept only for what holds it.
    #[cfg_attr(feature = "serde", serde(rename = "generation_draining"))]
    Draining {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
        /// Why.
        reason: DrainReason,
        /// The generation that replaced it, if any.
        successor: Option<GenerationKey>,
    },
    /// A draining generation is still held past its deadline. Repeated with exponential
    /// backoff while it stays held; nothing is closed because of it. The owners that
    /// hold it hear it too.
    DrainStalled {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
        /// Why it drains.
        reason: DrainReason,
        /// How long it has been draining.
        #[cfg_attr(
            feature = "serde",
            serde(rename = "draining_micros", with = "super::serde_util::micros")
        )]
        draining_for: Duration,
        /// How many reports this is, counting from 1.
        report: u32,
        /// Who holds it and how much, in the order they first took a hold.
        holders: Vec<HolderReport>,
    },
    /// A drained generation has nothing left holding it; its close was requested.
    #[cfg_attr(feature = "serde", serde(rename = "generation_collected"))]
    Collected {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// A generation's library was closed (`deinit` ran, `dlclose` returned). Exactly one
    /// of `generation_unmapped`, `generation_still_mapped` and `generation_kept_loaded`
    /// follows.
    #[cfg_attr(feature = "serde", serde(rename = "generation_closed"))]
    Closed {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// No code of the generation's library is mapped any more: at its close, or later
    /// for one that stayed mapped.
    #[cfg_attr(feature = "serde", serde(rename = "generation_unmapped"))]
    Unmapped {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// The library was closed but the OS loader still maps its code; it is checked
    /// again at every later close.
    #[cfg_attr(feature = "serde", serde(rename = "generation_still_mapped"))]
    StillMapped {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// The library was deliberately left loaded for the life of the process.
    #[cfg_attr(feature = "serde", serde(rename = "generation_kept_loaded"))]
    KeptLoaded {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
        /// Why.
        reason: String,
    },
    /// The generation's record is gone; its key now resolves to not-found.
    #[cfg_attr(feature = "serde", serde(rename = "generation_cleaned_up"))]
    CleanedUp {
        /// The plugin.
        plugin_id: String,
        /// The generation.
        generation: GenerationKey,
    },
    /// An owner acted on a new configuration for one of its instances (see
    /// [`Command::Configure`]): applied it in place, recreated the instance with it,
    /// or the instance rejected it, or applying failed.
    InstanceConfigured {
        /// The plugin.
        plugin_id: String,
        /// The capability's type id.
        type_id: String,
        /// The owner of the instance.
        owner: OwnerKey,
        /// The instance that serves now: the new one when it was recreated.
        instance: InstanceKey,
        /// The revision acted on.
        revision: u64,
        /// What was done.
        result: ConfigResult,
        /// How many revisions newer than the one the instance handled before were passed
        /// over for this one (the owner heard of several before it could act).
        skipped: u64,
        /// Why, for a rejection or a failure; empty otherwise.
        message: String,
    },
    /// Shutdown began: every generation drains.
    ShutdownStarted {
        /// How long shutdown waits for holders before reporting them.
        #[cfg_attr(
            feature = "serde",
            serde(rename = "timeout_ms", with = "super::serde_util::millis")
        )]
        timeout: Duration,
    },
    /// Shutdown finished: everything was collected (`stalled` is empty), or the
    /// deadline passed with `stalled` still held.
    ShutdownFinished {
        /// The generations still held at the deadline, with their holders.
        stalled: Vec<StalledGeneration>,
    },
    /// The runtime's actor panicked: the runtime is poisoned, accepts nothing more, and
    /// keeps every library loaded.
    RuntimePoisoned {
        /// The panic's message, if it had one.
        message: String,
    },
    /// A directory sync finished, with how many of its entries had each change and
    /// each action; its outcome (in `command_completed`) lists every entry.
    DirectorySynced {
        /// The sync command.
        request_id: RequestId,
        /// The directory.
        #[cfg_attr(feature = "serde", serde(with = "super::serde_util::path"))]
        dir: PathBuf,
        /// Its mode.
        mode: SyncMode,
        /// Libraries of plugins the runtime did not know.
        new: u32,
        /// Libraries that differ from their plugin's recorded library.
        changed: u32,
        /// Libraries identical to their plugin's recorded library.
        unchanged: u32,
        /// Plugins whose recorded library is gone from the directory.
        gone: u32,
        /// Files that could not be fingerprinted or described.
        unreadable: u32,
        /// Libraries loaded.
        loaded: u32,
        /// Plugins unloaded as gone (reconcile mode).
        unloaded: u32,
        /// Plugins disabled as listed (reconcile mode).
        disabled: u32,
        /// Entries that failed.
        failed: u32,
    },
    /// A hot restart began: every enabled plugin loads a new generation.
    RestartStarted {
        /// The plugins it reloads, in plugin-id order.
        plugins: Vec<String>,
        /// How long it waits for the holders of the replaced generations.
        #[cfg_attr(
            feature = "serde",
            serde(rename = "timeout_ms", with = "super::serde_util::millis")
        )]
        timeout: Duration,
    },
    /// A hot restart finished: every load was answered and every replaced generation
    /// closed (`stalled` is empty), or the deadline passed with `stalled` still held.
    RestartFinished {
        /// Each plugin with what its load did.
        plugins: Vec<PluginRestart>,
        /// The replaced generations still held at the deadline, with their holders.
        stalled: Vec<StalledGeneration>,
    },
    /// A command was accepted by the runtime.
    CommandSubmitted {
        /// Its id.
        request_id: RequestId,
        /// The submitting owner, if any.
        owner: Option<OwnerKey>,
        /// The command.
        command: Command,
    },
    /// A command finished; its outcome also went to the waiting caller or the owner.
    CommandCompleted {
        /// Its id.
        request_id: RequestId,
        /// The submitting owner, if any.
        owner: Option<OwnerKey>,
        /// What it did.
        outcome: Outcome,
    },
}

/// The kind of an [`Event`], without its fields: for filters and the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // each is documented on the `Event` variant of the same name
pub enum EventKind {
    LoadRequested,
    Loaded,
    Reloaded,
    LoadFailed,
    Enabled,
    Disabled,
    Unloaded,
    Draining,
    DrainStalled,
    Collected,
    Closed,
    Unmapped,
    StillMapped,
    KeptLoaded,
    CleanedUp,
    InstanceConfigured,
    ShutdownStarted,
    ShutdownFinished,
    RuntimePoisoned,
    RestartStarted,
    RestartFinished,
    CommandSubmitted,
    CommandCompleted,
    DirectorySynced,
}

impl EventKind {
    /// Every kind, in schema order.
    pub const ALL: [EventKind; 24] = [
        EventKind::LoadRequested,
        EventKind::Loaded,
        EventKind::Reloaded,
        EventKind::LoadFailed,
        EventKind::Enabled,
        EventKind::Disabled,
        EventKind::Unloaded,
        EventKind::Draining,
        EventKind::DrainStalled,
        EventKind::Collected,
        EventKind::Closed,
        EventKind::Unmapped,
        EventKind::StillMapped,
        EventKind::KeptLoaded,
        EventKind::CleanedUp,
        EventKind::DirectorySynced,
        EventKind::InstanceConfigured,
        EventKind::ShutdownStarted,
        EventKind::ShutdownFinished,
        EventKind::RuntimePoisoned,
        EventKind::RestartStarted,
        EventKind::RestartFinished,
        EventKind::CommandSubmitted,
        EventKind::CommandCompleted,
    ];

    /// The stable snake_case name, as in the JSON form's `event`.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::LoadRequested => "load_requested",
            EventKind::Loaded => "plugin_loaded",
            EventKind::Reloaded => "plugin_reloaded",
            EventKind::LoadFailed => "load_failed",
            EventKind::Enabled => "plugin_enabled",
            EventKind::Disabled => "plugin_disabled",
            EventKind::Unloaded => "plugin_unloaded",
            EventKind::Draining => "generation_draining",
            EventKind::DrainStalled => "drain_stalled",
            EventKind::Collected => "generation_collected",
            EventKind::Closed => "generation_closed",
            EventKind::Unmapped => "generation_unmapped",
            EventKind::StillMapped => "generation_still_mapped",
            EventKind::KeptLoaded => "generation_kept_loaded",
            EventKind::CleanedUp => "generation_cleaned_up",
            EventKind::InstanceConfigured => "instance_configured",
            EventKind::ShutdownStarted => "shutdown_started",
            EventKind::ShutdownFinished => "shutdown_finished",
            EventKind::RuntimePoisoned => "runtime_poisoned",
            EventKind::RestartStarted => "restart_started",
            EventKind::RestartFinished => "restart_finished",
            EventKind::CommandSubmitted => "command_submitted",
            EventKind::CommandCompleted => "command_completed",
            EventKind::DirectorySynced => "directory_synced",
        }
    }

    /// The topic events of this kind belong to.
    pub const fn topic(self) -> Topic {
        match self {
            EventKind::ShutdownStarted
            | EventKind::ShutdownFinished
            | EventKind::RuntimePoisoned
            | EventKind::RestartStarted
            | EventKind::RestartFinished => Topic::Runtime,
            EventKind::CommandSubmitted | EventKind::CommandCompleted => Topic::Command,
            _ => Topic::Lifecycle,
        }
    }

    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::LoadRequested { .. } => EventKind::LoadRequested,
            Event::Loaded { .. } => EventKind::Loaded,
            Event::Reloaded { .. } => EventKind::Reloaded,
            Event::LoadFailed { .. } => EventKind::LoadFailed,
            Event::Enabled { .. } => EventKind::Enabled,
            Event::Disabled { .. } => EventKind::Disabled,
            Event::Unloaded { .. } => EventKind::Unloaded,
            Event::Draining { .. } => EventKind::Draining,
            Event::DrainStalled { .. } => EventKind::DrainStalled,
            Event::Collected { .. } => EventKind::Collected,
            Event::Closed { .. } => EventKind::Closed,
            Event::Unmapped { .. } => EventKind::Unmapped,
            Event::StillMapped { .. } => EventKind::StillMapped,
            Event::KeptLoaded { .. } => EventKind::KeptLoaded,
            Event::CleanedUp { .. } => EventKind::CleanedUp,
            Event::InstanceConfigured { .. } => EventKind::InstanceConfigured,
            Event::ShutdownStarted { .. } => EventKind::ShutdownStarted,
            Event::ShutdownFinished { .. } => EventKind::ShutdownFinished,
            Event::RuntimePoisoned { .. } => EventKind::RuntimePoisoned,
            Event::RestartStarted { .. } => EventKind::RestartStarted,
            Event::RestartFinished { .. } => EventKind::RestartFinished,
            Event::CommandSubmitted { .. } => EventKind::CommandSubmitted,
            Event::CommandCompleted { .. } => EventKind::CommandCompleted,
            Event::DirectorySynced { .. } => EventKind::DirectorySynced,
        }
    }

    /// The stable snake_case name, as in the JSON form's `event`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The topic.
    pub fn topic(&self) -> Topic {
        self.kind().topic()
    }

    /// The plugin this event is about, if it is about one.
    pub fn plugin_id(&self) -> Option<&str> {
        match self {
            Event::LoadRequested { plugin_id, .. } | Event::LoadFailed { plugin_id, .. } => {
                plugin_id.as_deref()
            }
            Event::Loaded { plugin_id, .. }
            | Event::Reloaded { plugin_id, .. }
            | Event::Enabled { plugin_id }
            | Event::Disabled { plugin_id }
            | Event::Unloaded { plugin_id }
            | Event::Draining { plugin_id, .. }
            | Event::DrainStalled { plugin_id, .. }
            | Event::Collected { plugin_id, .. }
            | Event::Closed { plugin_id, .. }
            | Event::Unmapped { plugin_id, .. }
            | Event::StillMapped { plugin_id, .. }
            | Event::KeptLoaded { plugin_id, .. }
            | Event::CleanedUp { plugin_id, .. }
            | Event::InstanceConfigured { plugin_id, .. } => Some(plugin_id),
            Event::CommandSubmitted { command, .. } => command.plugin_id(),
            Event::CommandCompleted { outcome, .. } => outcome.plugin_id(),
            Event::ShutdownStarted { .. }
            | Event::ShutdownFinished { .. }
            | Event::RuntimePoisoned { .. }
            | Event::DirectorySynced { .. }
            | Event::RestartStarted { .. }
            | Event::RestartFinished { .. } => None,
        }
    }
}

/// One event as the runtime delivers it: numbered, timed and typed.
///
/// Its JSON form (feature `serde`) is
/// `{"seq", "t_micros", "topic", "event", "fields"}`, plus `"dropped"` when not zero;
/// see [the module](super) and `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Grows by one per record the runtime makes, from 1.
    pub seq: u64,
    /// Microseconds since the runtime started.
    pub t_micros: u64,
    /// How many records this listener lost to its full queue right before this one
    /// (always 0 outside a listener).
    pub dropped: u64,
    /// The event.
    pub event: Event,
}

#[cfg(feature = "serde")]
mod record_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Event, EventRecord, Topic};

    fn is_zero(n: &u64) -> bool {
        *n == 0
    }

    #[derive(Serialize)]
    struct WireRef<'a> {
        seq: u64,
        t_micros: u64,
        #[serde(skip_serializing_if = "is_zero")]
        dropped: u64,
        topic: Topic,
        #[serde(flatten)]
        event: &'a Event,
    }

    #[derive(Deserialize)]
    struct Wire {
        seq: u64,
        t_micros: u64,
        #[serde(default)]
        dropped: u64,
        topic: Topic,
        #[serde(flatten)]
        event: Event,
    }

    impl Serialize for EventRecord {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            WireRef {
                seq: self.seq,
                t_micros: self.t_micros,
                dropped: self.dropped,
                topic: self.event.topic(),
                event: &self.event,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for EventRecord {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let wire = Wire::deserialize(deserializer)?;
            if wire.topic != wire.event.topic() {
                return Err(D::Error::custom(format_args!(
                    "event `{}` belongs to topic `{}`, not `{}`",
                    wire.event.name(),
                    wire.event.topic().name(),
                    wire.topic.name()
                )));
            }
            Ok(EventRecord {
                seq: wire.seq,
                t_micros: wire.t_micros,
                dropped: wire.dropped,
                event: wire.event,
            })
        }
    }
}

#[cfg(feature = "serde")]
impl EventRecord {
    /// The record as one line of JSON, without a newline.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool, null or a sequence or map of them, and
        // paths are written lossily: serialising cannot fail.
        serde_json::to_string(self).expect("an event record always serialises")
    }
}
