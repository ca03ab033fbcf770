//! The event schema: every lifecycle fact, command and outcome as one typed [`Event`],
//! stamped into an [`EventRecord`] and written as one JSON object.
//!
//! The core emits the lifecycle events; the [routing driver](crate::routing) stamps each
//! one with a sequence number and the time since the runtime started, adds the command
//! and runtime events, and hands the record to the runtime, which delivers it to
//! [listeners](crate::Listener) and emits it as a `tracing` event under the target
//! `plugin_runtime::events`.
//!
//! # JSON form
//!
//! With the default-on `serde` feature, a record is one JSON object:
//!
//! ```json
//! {"seq": 7, "t_micros": 1042, "topic": "lifecycle", "event": "generation_draining",
//!  "fields": {"plugin_id": "example.gain", "generation": "1:3v1",
//!             "reason": "replaced", "successor": "1:4v1"}}
//! ```
//!
//! * `seq` grows by one per record the runtime makes, so a gap means a lost record
//!   (a filtered listener sees gaps by design; it counts its own losses in `dropped`).
//! * `t_micros` counts microseconds since the runtime started.
//! * `topic` and `event` are stable snake_case names; [`SCHEMA`] lists every pair with
//!   its fields, and `docs/events.md` documents them.
//! * Keys are strings `<core>:<index>v<version>`; durations are whole microseconds in
//!   fields ending `_micros` (milliseconds in `_ms`); paths are strings.
//! * `dropped`, present only when not zero, counts the records this listener lost to
//!   its full queue right before this one.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use plugin_runtime::events::{Event, EventRecord};
//!
//! let line = r#"{"seq":1,"t_micros":20,"topic":"lifecycle","event":"plugin_enabled",
//!               "fields":{"plugin_id":"example.gain"}}"#;
//! let record: EventRecord = serde_json::from_str(line).unwrap();
//! assert_eq!(record.event, Event::Enabled { plugin_id: "example.gain".into() });
//! assert_eq!(record.event.name(), "plugin_enabled");
//! # }
//! ```

#[cfg(feature = "serde")]
pub(crate) mod serde_util;

mod event;
mod filter;
mod follow;
mod schema;

#[cfg(test)]
mod tests;

pub use event::{Event, EventKind, EventRecord, Topic};
pub use filter::EventFilter;
pub use follow::{Follower, LifecycleView, PluginView};
pub use schema::{EventSchema, FieldSchema, SCHEMA};
