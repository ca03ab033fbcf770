//! Fixture: a descriptor whose second capability has a null vtable.

use fixture_api::raw::abi::{ABI_VERSION_MAJOR, CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 2] = [
    capability(b"fine"),
    CapabilityDescriptor {
        vtable: std::ptr::null(),
        ..capability(b"hollow")
    },
];
static MODULE: ModuleDescriptor = module(ABI_VERSION_MAJOR, "fixture.null-vtable", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v2() -> *const ModuleDescriptor {
    &MODULE
}
