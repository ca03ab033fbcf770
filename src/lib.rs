//! Load native plugins from shared libraries and hot-swap them inside processes with
//! real-time threads, without ever unloading code that is still in use.
//!
//! # Layers
//!
//! * [`abi`]: the `#[repr(C)]` contract between host and plugin. A plugin exports one
//!   entry symbol returning a static module descriptor with its capabilities.
//! * [`interface`](mod@interface): one trait declaration per capability interface, under the
//!   [`interface`](macro@interface) attribute, gives the vtable, the plugin side and the
//!   safe host side, so neither plugin nor host authors write `unsafe`.
//! * [`loader`]: the only user of `libloading`. It loads each generation from its own
//!   shadow copy, validates the descriptor before anything is published, and on close
//!   checks with the OS whether the library is really gone.
//! * [`module`]: the plain data the loader, the core and the runtime share: a loaded
//!   module's description, what closing it did, why loading it failed.
//! * [`generation`]: the lifecycle core, a sans-IO state machine that owns every
//!   generation, pending load, pin and drain deadline and decides every lifecycle step;
//!   the actor feeds it inputs with `now` and performs the effects it emits.
//! * [`owner`]: owners, tickets and instance records, the holds that keep a generation
//!   from closing.
//! * [`events`]: the event schema: every lifecycle fact, command and outcome as one
//!   typed event with a stable JSON form, and the filters listeners use.
//! * [`routing`]: the sans-IO routing driver between the core and the actor: it numbers
//!   and times events, routes outcomes, notices and stalls, and counts; the property
//!   suite runs the same driver.
//! * [`runtime`]: the actor thread around the core, the loader threads, and what host
//!   code holds: [`RuntimeHandle`], [`Owner`] and [`Instance`]. With the feature
//!   `watch`, `watch::DirWatcher` syncs the runtime with a plugin directory whenever a
//!   library in it changes.
//!
//! # Invariants
//!
//! * A library is never closed while something of it is in use, and never on a timeout:
//!   only a draining generation with no instance, ticket or pin yields the
//!   [`CloseToken`](generation::CloseToken) the loader's close needs.
//! * At most one generation of a plugin is active; a failed load leaves the previous one
//!   serving.
//! * A draining generation is collected in the same step in which its last hold goes.
//! * A key names at most one record, of the core (and so the runtime) that made it: a
//!   stale key or a key of another runtime is a typed error, never another record.
//! * An instance is called only on its owner's thread: it is `!Send` and `!Sync`.
//! * A close is reported as the OS performed it: unmapped, or still mapped by the OS
//!   loader (for example because of a thread-local destructor on a live thread).
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

// The `interface` macro names this crate `::plugin_runtime`; this lets the crate's own
// tests use it too.
#[cfg(test)]
extern crate self as plugin_runtime;

pub mod abi;
pub mod events;
pub mod generation;
pub mod interface;
pub mod loader;
pub mod module;
pub mod owner;
pub mod routing;
pub mod runtime;

/// The loader's private checks, for the fuzz targets in `fuzz/`; only in builds with
/// `--cfg fuzzing`.
#[cfg(fuzzing)]
pub use loader::fuzzing;
/// Watching a plugin directory and syncing the runtime with it (feature `watch`); see
/// [`runtime::watch`].
#[cfg(feature = "watch")]
pub use runtime::watch;

pub use abi::Capability;
pub use plugin_runtime_macros::interface;
pub use runtime::{Instance, Listener, Owner, Runtime, RuntimeConfig, RuntimeHandle, Slot};
