//! The runtime: one actor thread around the [generation core](crate::generation), the
//! command protocol, owners with mailboxes, and `!Send` instances.
//!
//! # Threads
//!
//! * The **actor** owns the core, the loaded libraries and the owners' mailboxes. It
//!   receives requests (commands, owner registration, ticket reservations, pins) on a
//!   bounded queue and releases (instance drops, ticket outcomes, unpins, owner
//!   departures) on an unbounded one, feeds them to the core with `now`, and performs the
//!   core's effects. Nothing else holds lifecycle state.
//! * The **loader threads** (a few, [`RuntimeConfig::loader_threads`]) share the
//!   [`LibraryLoader`](crate::loader::LibraryLoader). The actor hands them opens and
//!   closes and goes on serving; it never waits for a load. They run jobs in parallel, so
//!   one plugin's slow `init` or `deinit` (each bounded by its deadline) does not delay
//!   another's load; the core keeps loads of one plugin in submission order.
//! * **Owner threads** hold [`Owner`]s and [`Instance`]s. They call plugin `create` and
//!   `destroy` themselves, and call instances directly through the vtable: the data
//!   plane never touches the actor.
//!
//! # Creating an instance
//!
//! [`Owner::create`] is two-phase, with one round trip. The actor reserves a ticket,
//! which pins the active generation, and answers with the library; the owner thread runs
//! the plugin's `create` and builds the instance at once; the actor learns the outcome
//! from a report sent without waiting and turns the ticket into an instance record (or
//! drops it). The generation cannot close in between, because the ticket pins it from
//! the start, and the instance is known to the core by its ticket's key.
//!
//! A [`Slot`] does the same without any wait: its reservation is sent with a
//! non-blocking send and its answer polled at the owner's safe point
//! ([`Owner::poll`]), which also recreates slots after reloads and applies live
//! configuration.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use plugin_runtime::generation::{Command, Outcome};
//! use plugin_runtime::interface::PluginError;
//! use plugin_runtime::{Runtime, RuntimeConfig};
//!
//! // Normally in an interface crate shared with the plugins.
//! #[plugin_runtime::interface(kind = "dsp", major = 1)]
//! pub trait Gain {
//!     fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
//! }
//!
//! let runtime = Runtime::start(RuntimeConfig::default())?;
//! let load = Command::Load { path: "plugins/libgain.so".into(), expected_plugin_id: None };
//! let Outcome::Loaded { .. } = runtime.call(load, Duration::from_secs(5))? else {
//!     panic!("the load failed");
//! };
//! // On the thread that will own instances:
//! let owner = runtime.register_owner("audio.dsp")?;
//! let mut gain = owner.create::<GainInterface>("example.gain", "gain", b"")?;
//! // The hot path: a safe call that costs an indirect call through the plugin's vtable.
//! let mut block = [0.5f32; 64];
//! gain.process(&mut block)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod config;
mod error;
mod handle;
mod instance;
mod libraries;
mod listener;
mod loader_thread;
mod mailbox;
mod owner;
mod pin;
mod protocol;
mod slot;
mod still_mapped;
#[cfg(feature = "watch")]
pub mod watch;

#[cfg(test)]
mod tests;

pub use config::{MAX_LISTENER_CAPACITY, MAX_LOADER_THREADS, MAX_QUEUE_CAPACITY, RuntimeConfig};
pub use error::{CreateError, PinRequestError, RequestError, StartError, SubscribeError};
pub use handle::{Runtime, RuntimeHandle, blocking_waits};
pub use instance::Instance;
pub use listener::{ListenError, Listener};
pub use mailbox::{MAX_MAILBOX_CAPACITY, MIN_MAILBOX_CAPACITY};
pub use owner::{CommandCompleted, Owner, OwnerEvent};
pub use pin::ModulePin;
pub use slot::{PollReport, Slot, SlotError, SlotFailure, SlotSource};
