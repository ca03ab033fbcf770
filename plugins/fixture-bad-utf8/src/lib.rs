//! Fixture: a descriptor whose capability type id is not UTF-8.

use fixture_api::raw::abi::{ABI_VERSION_MAJOR, CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 1] = [capability(b"bad-\xff\xfe")];
static MODULE: ModuleDescriptor = module(ABI_VERSION_MAJOR, "fixture.bad-utf8", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v2() -> *const ModuleDescriptor {
    &MODULE
}
