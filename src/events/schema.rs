//! The documented schema, as data: every event kind with its fields and their types.
//!
//! `docs/events.md` documents the same list, and a test checks that the two, and the
//! JSON the code writes, agree field by field.

use super::event::EventKind;

/// One event kind of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EventSchema {
    /// The topic, as in the JSON form.
    pub topic: &'static str,
    /// The event name, as in the JSON form.
    pub event: &'static str,
    /// What it means.
    pub meaning: &'static str,
    /// The members of its `fields` object, in order.
    pub fields: &'static [FieldSchema],
}

/// One member of an event's `fields` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FieldSchema {
    /// The member's name.
    pub name: &'static str,
    /// Its type, in the notation of `docs/events.md` (`string`, `u64`, `key`, `path`, a
    /// named object or enum, `[T]` for an array, `T?` for `T` or `null`).
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub ty: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

const fn field(name: &'static str, ty: &'static str, meaning: &'static str) -> FieldSchema {
    FieldSchema { name, ty, meaning }
}

const fn kind(
    kind: EventKind,
    meaning: &'static str,
    fields: &'static [FieldSchema],
) -> EventSchema {
    EventSchema {
        topic: kind.topic().name(),
        event: kind.name(),
        meaning,
        fields,
    }
}

const PLUGIN: FieldSchema = field("plugin_id", "string", "the plugin");
const GENERATION: FieldSchema = field("generation", "key", "the generation");
const REQUEST: FieldSchema = field("request_id", "u64", "the command's request id");

/// Every event kind, in the order of [`EventKind::ALL`].
pub const SCHEMA: &[EventSchema] = &[
    kind(
        EventKind::LoadRequested,
        "a library is to be opened: the start of a load or reload",
        &[
            REQUEST,
            field(
                "plugin_id",
                "string?",
                "the plugin, if known before the library is read",
            ),
            field("path", "path", "the installed library"),
        ],
    ),
    kind(
        EventKind::Loaded,
        "a plugin's first generation became active",
        &[
            PLUGIN,
            field("generation", "key", "the new active generation"),
            field("version", "string", "the plugin's own version"),
            field("path", "path", "the installed library"),
            field(
                "capabilities",
                "[capability]",
                "what it offers, with default configurations",
            ),
        ],
    ),
    kind(
        EventKind::Reloaded,
        "a new generation replaced the active one, which now drains",
        &[
            PLUGIN,
            field("old", "key", "the replaced generation, now draining"),
            field("new", "key", "the new active generation"),
            field("version", "string", "the new generation's plugin version"),
            field("path", "path", "the installed library"),
            field(
                "capabilities",
                "[capability]",
                "what the new generation offers",
            ),
        ],
    ),
    kind(
        EventKind::LoadFailed,
        "a load failed; the previous generation, if any, keeps serving",
        &[
            REQUEST,
            field("plugin_id", "string?", "the plugin, if known"),
            field("path", "path", "the installed library"),
            field("step", "string", "the loader's step that failed"),
            field("message", "string", "what went wrong, for people"),
        ],
    ),
    kind(
        EventKind::Enabled,
        "a disabled plugin serves again; its plugin_loaded follows",
        &[PLUGIN],
    ),
    kind(
        EventKind::Disabled,
        "a plugin was disabled; it stays known and its generation drains",
        &[PLUGIN],
    ),
    kind(
        EventKind::Unloaded,
        "a plugin was forgotten; its generation drains",
        &[PLUGIN],
    ),
    kind(
        EventKind::Draining,
        "a generation stopped serving new work",
        &[
            PLUGIN,
            GENERATION,
            field("reason", "drain_reason", "why it drains"),
            field("successor", "key?", "the generation that replaced it"),
        ],
    ),
    kind(
        EventKind::DrainStalled,
        "a draining generation is still held past its deadline; repeated with backoff",
        &[
            PLUGIN,
            GENERATION,
            field("reason", "drain_reason", "why it drains"),
            field("draining_micros", "u64", "how long it has been draining"),
            field("report", "u32", "which report this is, from 1"),
            field("holders", "[holder]", "who holds it and how much"),
        ],
    ),
    kind(
        EventKind::Collected,
        "nothing holds a draining generation any more; its close was requested",
        &[PLUGIN, GENERATION],
    ),
    kind(
        EventKind::Closed,
        "a generation's library was closed; its mapping outcome follows",
        &[PLUGIN, GENERATION],
    ),
    kind(
        EventKind::Unmapped,
        "no code of the generation's library is mapped any more",
        &[PLUGIN, GENERATION],
    ),
    kind(
        EventKind::StillMapped,
        "the library was closed but the OS loader still maps its code",
        &[PLUGIN, GENERATION],
    ),
    kind(
        EventKind::KeptLoaded,
        "the library was deliberately left loaded for the life of the process",
        &[PLUGIN, GENERATION, field("reason", "string", "why")],
    ),
    kind(
        EventKind::CleanedUp,
        "the generation's record is gone; its key resolves to not-found",
        &[PLUGIN, GENERATION],
    ),
    kind(
        EventKind::DirectorySynced,
        "a directory sync finished; its command_completed lists every entry",
        &[
            REQUEST,
            field("dir", "path", "the directory"),
            field("mode", "sync_mode", "additive or reconcile"),
            field(
                "new",
                "u32",
                "libraries of plugins the runtime did not know",
            ),
            field(
                "changed",
                "u32",
                "libraries that differ from their plugin's recorded library",
            ),
            field(
                "unchanged",
                "u32",
                "libraries identical to their plugin's recorded library",
            ),
            field(
                "gone",
                "u32",
                "plugins whose recorded library left the directory",
            ),
            field(
                "unreadable",
                "u32",
                "files that could not be fingerprinted or described",
            ),
            field("loaded", "u32", "libraries loaded"),
            field("unloaded", "u32", "plugins unloaded as gone (reconcile)"),
            field("disabled", "u32", "plugins disabled as listed (reconcile)"),
            field("failed", "u32", "entries that failed"),
        ],
    ),
    kind(
        EventKind::InstanceConfigured,
        "an owner acted on a new configuration for one of its instances",
        &[
            PLUGIN,
            field("type_id", "string", "the capability's type id"),
            field("owner", "key", "the owner of the instance"),
            field(
                "instance",
                "key",
                "the instance that serves now (the new one when recreated)",
            ),
            field("revision", "u64", "the revision acted on"),
            field("result", "config_result", "what was done"),
            field(
                "skipped",
                "u64",
                "newer revisions than the last handled that were passed over for this one",
            ),
            field(
                "message",
                "string",
                "why, for a rejection or a failure; else empty",
            ),
        ],
    ),
    kind(
        EventKind::ShutdownStarted,
        "shutdown began: every generation drains",
        &[field(
            "timeout_ms",
            "u64",
            "how long shutdown waits for holders",
        )],
    ),
    kind(
        EventKind::ShutdownFinished,
        "shutdown finished: everything collected, or the deadline passed",
        &[field(
            "stalled",
            "[stalled_generation]",
            "what was still held at the deadline",
        )],
    ),
    kind(
        EventKind::RuntimePoisoned,
        "the actor panicked; the runtime accepts nothing and keeps every library loaded",
        &[field("message", "string", "the panic's message")],
    ),
    kind(
        EventKind::RestartStarted,
        "a hot restart began: every enabled plugin loads a new generation",
        &[
            field("plugins", "[string]", "the plugins it reloads, in id order"),
            field(
                "timeout_ms",
                "u64",
                "how long it waits for the holders of the replaced generations",
            ),
        ],
    ),
    kind(
        EventKind::RestartFinished,
        "a hot restart finished: every replaced generation closed, or the deadline passed",
        &[
            field(
                "plugins",
                "[plugin_restart]",
                "each plugin with what its load did",
            ),
            field(
                "stalled",
                "[stalled_generation]",
                "the replaced generations still held at the deadline",
            ),
        ],
    ),
    kind(
        EventKind::CommandSubmitted,
        "a command was accepted",
        &[
            REQUEST,
            field("owner", "key?", "the submitting owner"),
            field("command", "command", "the command"),
        ],
    ),
    kind(
        EventKind::CommandCompleted,
        "a command finished",
        &[
            REQUEST,
            field("owner", "key?", "the submitting owner"),
            field("outcome", "outcome", "what it did"),
        ],
    ),
];

impl EventKind {
    /// This kind's entry in [`SCHEMA`].
    pub fn schema(self) -> &'static EventSchema {
        SCHEMA
            .iter()
            .find(|s| s.event == self.name())
            .expect("every kind is in the schema")
    }
}

const _: () = assert!(SCHEMA.len() == EventKind::ALL.len());
