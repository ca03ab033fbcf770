//! Fixture: a descriptor listing the capability `dsp/twice` two times.

use fixture_api::raw::abi::{ABI_VERSION_MAJOR, CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 2] = [capability(b"twice"), capability(b"twice")];
static MODULE: ModuleDescriptor = module(ABI_VERSION_MAJOR, "fixture.duplicate", &CAPABILITIES);

/// The entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v2() -> *const ModuleDescriptor {
    &MODULE
}
