//! Hand-built descriptors for the malformed fixtures, which must export what the SDK
//! would never produce.

pub use plugin_runtime_sdk::abi;
use plugin_runtime_sdk::abi::{
    ABI_VERSION_MINOR, BytesRef, CapabilityDescriptor, ErrorBuf, InstanceHandle, MODULE_MAGIC,
    ModuleDescriptor, ModuleHeader, Status, StrRef, layout_id,
};

/// A module descriptor claiming ABI major `abi_major`, with `capabilities`.
pub const fn module(
    abi_major: u32,
    plugin_id: &'static str,
    capabilities: &'static [CapabilityDescriptor],
) -> ModuleDescriptor {
    ModuleDescriptor {
        header: ModuleHeader {
            magic: MODULE_MAGIC,
            abi_major,
            abi_minor: ABI_VERSION_MINOR,
            descriptor_size: size_of::<ModuleDescriptor>() as u32,
            capability_size: size_of::<CapabilityDescriptor>() as u32,
        },
        plugin_id: StrRef::new(plugin_id),
        plugin_version: StrRef::new("0.1.0"),
        display_name: StrRef::new(plugin_id),
        capabilities: capabilities.as_ptr(),
        capability_count: capabilities.len(),
        init: None,
        deinit: None,
    }
}

/// A well-formed "dsp" capability of an interface with no methods (an empty layout and
/// vtable), with the given type id bytes (which need not be UTF-8), whose `create` always
/// refuses.
pub const fn capability(type_id: &'static [u8]) -> CapabilityDescriptor {
    CapabilityDescriptor {
        kind: StrRef::new("dsp"),
        type_id: StrRef {
            ptr: type_id.as_ptr(),
            len: type_id.len(),
        },
        interface_version: 1,
        interface_minor: 0,
        layout_id: layout_id("dsp", 1, ""),
        layout: StrRef::EMPTY,
        display_name: StrRef::new("malformed"),
        default_config: BytesRef::EMPTY,
        vtable: (&NOTHING as *const usize).cast(),
        vtable_size: 0,
        create: Some(refuse_create),
        destroy: Some(refuse_destroy),
    }
}

static NOTHING: usize = 0;

unsafe extern "C" fn refuse_create(
    _config: BytesRef,
    _out: *mut InstanceHandle,
    _error: *mut ErrorBuf,
) -> Status {
    Status::UNSUPPORTED
}

unsafe extern "C" fn refuse_destroy(_instance: InstanceHandle, _error: *mut ErrorBuf) -> Status {
    Status::UNSUPPORTED
}
