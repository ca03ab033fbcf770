//! Interfaces: one declaration gives the plugin side and the host side of a capability.
//!
//! An interface is a trait declared once, in a crate that hosts and plugins share, under
//! the [`interface`](macro@crate::interface) attribute:
//!
//! ```
//! use plugin_runtime::interface::PluginError;
//!
//! #[plugin_runtime::interface(kind = "dsp", major = 1)]
//! pub trait Dsp {
//!     /// Processes one block in place.
//!     fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
//!     /// The latency in samples.
//!     fn latency(&self) -> u32;
//!     /// A method a plugin may leave out.
//!     #[optional]
//!     fn reset(&mut self) -> Result<(), PluginError>;
//!     /// Appended by minor 1: the tail in samples. Appended methods come last.
//!     #[since(1)]
//!     fn tail(&self) -> u32;
//! }
//! # fn main() {}
//! ```
//!
//! From it the macro generates:
//!
//! * the **plugin trait** `Dsp`, which a plugin implements in safe Rust. An optional
//!   method comes with a `const HAS_<METHOD>: bool = false`; a plugin that implements
//!   it sets the constant to `true`, and the host sees the method as present;
//! * the marker type **`DspInterface`**, which host code names: `Instance<DspInterface>`,
//!   `owner.create::<DspInterface>(...)`. It implements [`Capability`](crate::Capability)
//!   with the kind, major and minor version, the layout description and its id;
//! * the `#[repr(C)]` vtable **`DspVTable`**: one `unsafe extern "C" fn` slot per
//!   method, so a slot copied out of a vtable can never be called from safe code;
//! * the plugin-side vtable for each implementing type, reachable only through the SDK,
//!   which exports a capability with the vtable made for its own type;
//! * the host-side extension trait **`DspCalls`** on `Instance<DspInterface>`: safe
//!   calls that cost a field read and an indirect call. A method appended by a later
//!   minor or declared `#[optional]` returns an `Option`, `None` when the plugin's
//!   vtable lacks it, and has a `has_<method>()` query.
//!
//! # Types
//!
//! Arguments may be integers, floats, `bool` (crossing as `u8`), `&str`, `&[u8]`, and
//! `&[T]` or `&mut [T]` of [`PlainData`]. Methods return integers, floats, `bool`, `()`,
//! or `Result<T, PluginError>` of those or of [`ConfigPlan`]; the host receives
//! `Result<T, CallError>`. Any other type is a compile error naming it. Methods take
//! `&self` or `&mut self`.
//!
//! Errors cross as a [`Status`](crate::abi::Status) and a message written into a
//! buffer on the host's stack; nothing is allocated on success. Every shim runs under a
//! panic guard: a panic in a `Result` method becomes [`Status::PANIC`] with its message,
//! and a method without `Result` returns the default of its type (0, `false`).
//!
//! # Lifecycle hooks
//!
//! An `#[optional]` method may also carry `#[hook(save_state)]`, `#[hook(load_state)]`,
//! `#[hook(plan_config)]` or `#[hook(apply_config)]`, each with a fixed signature (see
//! [`Hooks`]). The macro implements [`Hooks`] for every interface's marker type, calling
//! the marked methods and reporting the others as not offered, so that a
//! [`Slot`](crate::runtime::Slot) can carry an instance's state into its replacement
//! after a reload and apply live configuration
//! ([`Command::Configure`](crate::generation::Command::Configure)) without knowing the
//! interface. `plan_config` returns a [`ConfigPlan`], which crosses as an integer; a
//! value a plugin should not return is an error, never undefined behaviour. A hook with
//! another signature, a hook that is not `#[optional]`, an unknown hook name and a hook
//! marked twice are compile errors.
//!
//! [`Status::PANIC`]: crate::abi::Status::PANIC

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod error;
mod hooks;
mod lower;

pub use crate::loader::CallError;
pub use error::PluginError;
pub use hooks::{ConfigPlan, Hooks, MAX_STATE_LEN};
pub use lower::PlainData;
