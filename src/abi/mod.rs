//! The C contract between the host and a plugin.
//!
//! Everything here is `#[repr(C)]` and uses only fixed-size integers, raw pointers and
//! `extern "C"` function pointers, so the two sides do not have to be built by the same
//! rustc. A plugin exports one symbol, [`ENTRY_SYMBOL`], whose name carries the ABI major
//! version; calling it returns a pointer to a static [`ModuleDescriptor`].
//!
//! # Versioning
//!
//! * The **major** version is in the entry symbol's name and in the descriptor. A host
//!   only reads a library whose major equals [`ABI_VERSION_MAJOR`]; a library built for
//!   another major is refused with a typed error before anything else of it is read.
//! * The **minor** version grows when fields are appended. Every descriptor starts with
//!   a [`ModuleHeader`] (magic, versions, its own size, the size of one capability
//!   descriptor), so a host reads the prefix it knows of a newer plugin and ignores the
//!   rest, and refuses a descriptor smaller than the prefix it needs.
//! * A capability's vtable has the layout of an **interface**, declared once with the
//!   [`interface`](macro@crate::interface) macro. Its descriptor names the interface's
//!   kind, major and minor version, the id of its base layout, its full layout
//!   description and the vtable's size (see [`layout`]). The host checks them against
//!   its own declaration when it resolves the capability, so a vtable is never read as
//!   another type, and a method appended by a later minor is called only when the
//!   plugin's vtable has it.
//!
//! # Ownership across the boundary
//!
//! Strings and byte slices cross as `(pointer, length)` pairs that the receiving side
//! validates; nothing allocated on one side is freed on the other. Error messages are
//! written by the plugin into a buffer the host owns ([`ErrorBuf`]). Instances are opaque
//! [`InstanceHandle`]s created and destroyed by the plugin's own functions.

mod descriptor;
mod host;
pub mod layout;
mod status;
mod strings;

pub use descriptor::{
    CapabilityDescriptor, CreateFn, DeinitFn, DestroyFn, EntryFn, InitFn, InstanceHandle,
    ModuleDescriptor, ModuleHeader,
};
pub use host::{HostContext, LogFn, LogLevel};
pub use layout::layout_id;
pub use status::{ErrorBuf, Status};
pub use strings::{BytesRef, StrRef};

/// The ABI major version this host reads. It is part of [`ENTRY_SYMBOL`].
pub const ABI_VERSION_MAJOR: u32 = 2;

/// The ABI minor version this side was built with: the number of append-only extensions
/// to the major version's descriptors that it knows.
pub const ABI_VERSION_MINOR: u32 = 0;

/// The name of the one symbol a plugin exports, without the trailing NUL.
///
/// It ends in the ABI major version, so a plugin built for another major has no symbol
/// of this name and can never be misread.
pub const ENTRY_SYMBOL: &str = "plugin_runtime_module_v2";

/// The prefix every entry symbol's name starts with, followed by the decimal major.
pub const ENTRY_SYMBOL_PREFIX: &str = "plugin_runtime_module_v";

/// The magic value a module descriptor starts with: `"PLRTMOD\0"` read as a little-endian
/// `u64`.
pub const MODULE_MAGIC: u64 = u64::from_le_bytes(*b"PLRTMOD\0");

/// A capability interface as host code names it: its kind, versions, layout and the
/// `#[repr(C)]` vtable type.
///
/// Implemented by the [`interface`](macro@crate::interface) macro, never by hand: the
/// macro derives every constant from one trait declaration, so the layout a host checks
/// is the layout its vtable type has.
///
/// The runtime resolves a capability by `(KIND, type_id)`, checks
/// [`INTERFACE_VERSION`](Self::INTERFACE_VERSION), [`LAYOUT_ID`](Self::LAYOUT_ID) and
/// every line of [`LAYOUT`](Self::LAYOUT) that both sides know, and only then reads the
/// plugin's vtable as `Self::VTable`, and only the slots the plugin's vtable has.
///
/// # Safety
///
/// Implementing this trait promises that:
///
/// * `Self::VTable` is `#[repr(C)]` and consists of exactly one pointer-sized slot per
///   line of [`LAYOUT`](Self::LAYOUT), in order; each slot is an `unsafe extern "C" fn`
///   pointer (an `Option` of one for optional methods), never a safe `fn` pointer,
///   reference or other data, so that a copied slot can never be called from safe code
///   after its library is gone;
/// * each slot's signature is the lowering of its line's method signature;
/// * [`LAYOUT_ID`](Self::LAYOUT_ID) is [`layout_id`] of `KIND`, `INTERFACE_VERSION` and
///   `LAYOUT`.
///
/// The runtime reads a plugin's vtable as `Self::VTable` on the strength of this promise.
pub unsafe trait Capability: 'static {
    /// The capability kind, such as `"decoder"`, `"dsp"` or `"output_sink"`.
    const KIND: &'static str;
    /// The interface's major version.
    const INTERFACE_VERSION: u32;
    /// The interface's minor version: the highest `since` in [`LAYOUT`](Self::LAYOUT).
    const INTERFACE_MINOR: u32;
    /// The layout description, one line per vtable slot (see [`layout`]).
    const LAYOUT: &'static str;
    /// The id of the base layout, [`layout_id`] of the kind, major and layout.
    const LAYOUT_ID: u64;
    /// The `#[repr(C)]` vtable type.
    type VTable: 'static;
}
