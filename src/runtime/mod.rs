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
//! * The **loader thread** owns the [`LibraryLoader`](crate::loader::LibraryLoader). The
//!   actor hands it opens and closes and goes on serving; it never waits for a load.
//! * **Owner threads** hold [`Owner`]s and [`Instance`]s. They call plugin `create` and
//!   `destroy` themselves, and call instances directly through the vtable: the data
//!   plane never touches the actor.
//!
//! # Creating an instance
//!
//! [`Owner::create`] is two-phase. The actor reserves a ticket, which pins the active
//! generation, and answers with the library; the owner thread runs the plugin's
//! `create`; the actor learns the outcome and turns the ticket into an instance record
//! (or drops it). The generation cannot close between the two phases, because the
//! ticket pins it from the start.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use plugin_runtime::generation::{Command, Outcome};
//! use plugin_runtime::{Runtime, RuntimeConfig};
//! # use plugin_runtime::abi::{Capability, InstanceHandle};
//! # pub struct Gain;
//! # #[repr(C)] pub struct GainVTable { pub gain: unsafe extern "C" fn(InstanceHandle) -> f32 }
//! # // SAFETY: example only.
//! # unsafe impl Capability for Gain { const KIND: &'static str = "dsp"; const INTERFACE_VERSION: u32 = 1; type VTable = GainVTable; }
//!
//! let runtime = Runtime::start(RuntimeConfig::default())?;
//! let load = Command::Load { path: "plugins/libgain.so".into(), expected_plugin_id: None };
//! let Outcome::Loaded { .. } = runtime.call(load, Duration::from_secs(5))? else {
//!     panic!("the load failed");
//! };
//! // On the thread that will own instances:
//! let owner = runtime.register_owner("audio.dsp")?;
//! let gain = owner.create::<Gain>("example.gain", "gain", b"")?;
//! // The hot path: a plain call through the plugin's vtable.
//! // SAFETY: `gain` is a live instance of this capability, on its owner's thread.
//! let g = unsafe { (gain.vtable().gain)(gain.handle()) };
//! # let _ = g;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod config;
mod error;
mod handle;
mod instance;
mod libraries;
mod loader_thread;
mod owner;
mod pin;
mod protocol;

#[cfg(test)]
mod tests;

pub use config::RuntimeConfig;
pub use error::{CreateError, PinRequestError, RequestError, StartError};
pub use handle::{Runtime, RuntimeHandle};
pub use instance::Instance;
pub use owner::{CommandCompleted, Owner, OwnerEvent};
pub use pin::ModulePin;
