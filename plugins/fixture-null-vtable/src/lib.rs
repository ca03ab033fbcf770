//! Fixture: a descriptor whose second capability has a null vtable.

use fixture_api::raw::abi::{CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 2] = [
    capability(b"fine"),
    CapabilityDescriptor {
        vtable: std::ptr::null(),
        ..capability(b"hollow")
    },
];
static MODULE: ModuleDescriptor = module(1, "fixture.null-vtable", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v1() -> *const ModuleDescriptor {
    &MODULE
}
