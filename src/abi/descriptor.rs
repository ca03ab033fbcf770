//! The module and capability descriptors a plugin exports.

use std::ffi::c_void;

use super::{BytesRef, ErrorBuf, HostContext, Status, StrRef};

/// An instance as the host sees it: an opaque pointer the plugin's `create` returned.
///
/// The host never dereferences it; it only passes it back to the capability's vtable
/// functions and to `destroy`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceHandle(pub *mut c_void);

/// The type of the exported entry symbol: returns the module's static descriptor.
pub type EntryFn = unsafe extern "C" fn() -> *const ModuleDescriptor;

/// Module initialisation, called once after the library is loaded and validated and
/// before anything else of it is used. It may keep the context pointer until `deinit`.
pub type InitFn = unsafe extern "C" fn(context: *const HostContext, error: *mut ErrorBuf) -> Status;

/// Module teardown, called once before the library is closed. The plugin must stop and
/// join every thread it started; if it reports an error, the host keeps the library
/// loaded rather than unmapping code that may still run.
pub type DeinitFn = unsafe extern "C" fn(error: *mut ErrorBuf) -> Status;

/// Creates an instance from configuration bytes (empty for "use the default").
/// On success it writes the new handle to `out` and returns [`Status::OK`].
pub type CreateFn = unsafe extern "C" fn(
    config: BytesRef,
    out: *mut InstanceHandle,
    error: *mut ErrorBuf,
) -> Status;

/// Destroys an instance made by the same capability's `create`; called exactly once per
/// instance, on the thread that owns it.
pub type DestroyFn = unsafe extern "C" fn(instance: InstanceHandle, error: *mut ErrorBuf) -> Status;

/// The fixed prefix of every module descriptor, in every ABI version.
///
/// A host reads this first: the magic says it is a descriptor at all, the major whether
/// it can read the rest, and the two sizes how much of the rest there is.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModuleHeader {
    /// [`MODULE_MAGIC`](super::MODULE_MAGIC).
    pub magic: u64,
    /// The ABI major version the plugin was built for.
    pub abi_major: u32,
    /// The ABI minor version the plugin was built for.
    pub abi_minor: u32,
    /// `size_of::<ModuleDescriptor>()` as the plugin knows it.
    pub descriptor_size: u32,
    /// `size_of::<CapabilityDescriptor>()` as the plugin knows it: the stride of the
    /// capability array.
    pub capability_size: u32,
}

/// The static description of a module: who it is, what it offers, how to start and stop
/// it. Returned by the entry symbol; it and everything it points to must stay valid and
/// unchanged while the library is loaded.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// The version and size prefix.
    pub header: ModuleHeader,
    /// The plugin id: non-empty UTF-8, the same in every version of the plugin.
    pub plugin_id: StrRef,
    /// The plugin's own version, free-form UTF-8 (semver recommended).
    pub plugin_version: StrRef,
    /// A name for people.
    pub display_name: StrRef,
    /// The first of `capability_count` capability descriptors, each
    /// `header.capability_size` bytes apart. May be null only when the count is zero.
    pub capabilities: *const CapabilityDescriptor,
    /// How many capabilities the module offers.
    pub capability_count: usize,
    /// Called once after load; optional.
    pub init: Option<InitFn>,
    /// Called once before close; optional.
    pub deinit: Option<DeinitFn>,
}

/// One capability a module offers.
///
/// Besides its name, a capability says which interface layout its vtable has: the
/// interface's major and minor version, the id of the base layout
/// ([`layout_id`](super::layout_id)), the full layout description (one line per method,
/// see [`layout`](super::layout)) and the vtable's size in bytes. The host checks all of
/// them before it reads the vtable as its own interface's type.
#[repr(C)]
#[derive(Debug)]
pub struct CapabilityDescriptor {
    /// The kind, such as `"decoder"`, `"dsp"`, `"output_sink"`.
    pub kind: StrRef,
    /// The type within its kind; `(kind, type_id)` is unique within a module.
    pub type_id: StrRef,
    /// The interface's major version: layouts of one kind and major share their base.
    pub interface_version: u32,
    /// The interface's minor version: how many times methods were appended to the base.
    pub interface_minor: u32,
    /// The id of the base layout: [`layout_id`](super::layout_id) of the kind, the major
    /// and [`layout`](Self::layout).
    pub layout_id: u64,
    /// The layout description: one line per vtable slot, in order.
    pub layout: StrRef,
    /// A name for people.
    pub display_name: StrRef,
    /// Configuration used when the host passes none; may be empty.
    pub default_config: BytesRef,
    /// The interface's vtable: `vtable_size` bytes of pointer-sized slots, never null.
    pub vtable: *const c_void,
    /// The vtable's size in bytes: one pointer per line of the layout description.
    pub vtable_size: usize,
    /// Makes an instance; never null.
    pub create: Option<CreateFn>,
    /// Destroys an instance; never null.
    pub destroy: Option<DestroyFn>,
}

// SAFETY: a descriptor is immutable static data: the ABI requires that it and everything
// its pointers reach stay valid and unchanged while the library is loaded, so sharing
// references to it between threads cannot race. The SDK needs this to put descriptors
// in `static`s.
unsafe impl Sync for ModuleDescriptor {}
// SAFETY: as for `ModuleDescriptor`: immutable static data.
unsafe impl Sync for CapabilityDescriptor {}
