// Hole: a plugin exporting a descriptor it assembled itself, with one type's `create`
// and another type's vtable. The descriptor's fields are public, but a module is only
// found through its entry symbol, and exporting a symbol (`no_mangle`) is `unsafe`:
// safe code can only export through `export_module!`, which takes types.
#![forbid(unsafe_code)]

use fixture_api::{Echo, ProbeInterface, ProbeVTable};
use plugin_runtime::interface::__private::VTableFor;
use plugin_runtime_sdk::__private::{
    ABI_VERSION_MAJOR, ABI_VERSION_MINOR, MODULE_MAGIC, ModuleDescriptor, ModuleHeader,
};
use plugin_runtime_sdk::abi::{CapabilityDescriptor, StrRef};
use plugin_runtime_sdk::capability;

/// `Echo<2>`'s `create` with `Echo<1>`'s vtable.
static MIXED: [CapabilityDescriptor; 1] = [CapabilityDescriptor {
    vtable: (<ProbeInterface as VTableFor<Echo<1>>>::VTABLE as *const ProbeVTable).cast(),
    ..capability::<Echo<2>>()
}];

static MODULE: ModuleDescriptor = ModuleDescriptor {
    header: ModuleHeader {
        magic: MODULE_MAGIC,
        abi_major: ABI_VERSION_MAJOR,
        abi_minor: ABI_VERSION_MINOR,
        descriptor_size: size_of::<ModuleDescriptor>() as u32,
        capability_size: size_of::<CapabilityDescriptor>() as u32,
    },
    plugin_id: StrRef::new("example.mixed"),
    plugin_version: StrRef::new("1.0.0"),
    display_name: StrRef::new("Mixed"),
    capabilities: MIXED.as_ptr(),
    capability_count: MIXED.len(),
    init: None,
    deinit: None,
};

#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v2() -> *const ModuleDescriptor {
    &MODULE
}

fn main() {}
