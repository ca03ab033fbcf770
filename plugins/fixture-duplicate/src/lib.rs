//! Fixture: a descriptor listing the capability `dsp/twice` two times.

use fixture_api::raw::abi::{CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 2] = [capability(b"twice"), capability(b"twice")];
static MODULE: ModuleDescriptor = module(1, "fixture.duplicate", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v1() -> *const ModuleDescriptor {
    &MODULE
}
