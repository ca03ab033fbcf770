//! Fixture: a descriptor whose capability type id is not UTF-8.

use fixture_api::raw::abi::{CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 1] = [capability(b"bad-\xff\xfe")];
static MODULE: ModuleDescriptor = module(1, "fixture.bad-utf8", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v1() -> *const ModuleDescriptor {
    &MODULE
}
