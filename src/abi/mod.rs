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
//! * A capability's vtable is opaque to the runtime. Its layout is named by the
//!   capability's `kind` and `interface_version`; host code names it through the
//!   [`Capability`] trait, so resolving a capability yields a typed vtable and a version
//!   mismatch is an error instead of undefined behaviour.
//!
//! # Ownership across the boundary
//!
//! Strings and byte slices cross as `(pointer, length)` pairs that the receiving side
//! validates; nothing allocated on one side is freed on the other. Error messages are
//! written by the plugin into a buffer the host owns ([`ErrorBuf`]). Instances are opaque
//! [`InstanceHandle`]s created and destroyed by the plugin's own functions.

mod descriptor;
mod host;
mod status;
mod strings;

pub use descriptor::{
    CapabilityDescriptor, CreateFn, DeinitFn, DestroyFn, EntryFn, InitFn, InstanceHandle,
    ModuleDescriptor, ModuleHeader,
};
pub use host::{HostContext, LogFn, LogLevel};
pub use status::{ErrorBuf, Status};
pub use strings::{BytesRef, StrRef};

/// The ABI major version this host reads. It is part of [`ENTRY_SYMBOL`].
pub const ABI_VERSION_MAJOR: u32 = 1;

/// The ABI minor version this side was built with: the number of append-only extensions
/// to the major version's descriptors that it knows.
pub const ABI_VERSION_MINOR: u32 = 0;

/// The name of the one symbol a plugin exports, without the trailing NUL.
///
/// It ends in the ABI major version, so a plugin built for another major has no symbol
/// of this name and can never be misread.
pub const ENTRY_SYMBOL: &str = "plugin_runtime_module_v1";

/// The prefix every entry symbol's name starts with, followed by the decimal major.
pub const ENTRY_SYMBOL_PREFIX: &str = "plugin_runtime_module_v";

/// The magic value a module descriptor starts with: `"PLRTMOD\0"` read as a little-endian
/// `u64`.
pub const MODULE_MAGIC: u64 = u64::from_le_bytes(*b"PLRTMOD\0");

/// A capability interface as host code names it: its kind, its interface version and the
/// `#[repr(C)]` vtable type every plugin of that kind and version exports.
///
/// The runtime resolves a capability by `(KIND, type_id)`, checks `INTERFACE_VERSION`,
/// and only then hands out a `&Self::VTable`.
///
/// # Safety
///
/// Implementing this trait promises that every plugin exporting a capability of kind
/// [`KIND`](Self::KIND) with interface version
/// [`INTERFACE_VERSION`](Self::INTERFACE_VERSION) points its vtable at a value whose
/// layout is exactly `Self::VTable`, and that `Self::VTable` is `#[repr(C)]` and made of
/// `extern "C"` function pointers and plain data only. The runtime reads the plugin's
/// vtable as `Self::VTable` on the strength of this promise.
///
/// # Examples
///
/// ```
/// use plugin_runtime::abi::{Capability, ErrorBuf, InstanceHandle, Status};
///
/// /// Version 1 of a gain stage.
/// #[repr(C)]
/// pub struct GainV1 {
///     pub process: unsafe extern "C" fn(InstanceHandle, *mut f32, usize, *mut ErrorBuf) -> Status,
/// }
///
/// pub struct Gain;
///
/// // SAFETY: every "dsp" capability with interface version 1 exports a `GainV1`.
/// unsafe impl Capability for Gain {
///     const KIND: &'static str = "dsp";
///     const INTERFACE_VERSION: u32 = 1;
///     type VTable = GainV1;
/// }
/// ```
pub unsafe trait Capability: 'static {
    /// The capability kind, such as `"decoder"`, `"dsp"` or `"output_sink"`.
    const KIND: &'static str;
    /// The version of the vtable layout.
    const INTERFACE_VERSION: u32;
    /// The `#[repr(C)]` vtable type of this kind and interface version.
    type VTable: 'static;
}
