//! Fixture: a plugin built for ABI major 2. It exports `plugin_runtime_module_v2` only,
//! as a future plugin would, so a major-1 host must refuse it by version.

use fixture_api::raw::abi::{CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 1] = [capability(b"future")];
static MODULE: ModuleDescriptor = module(2, "fixture.bad-abi", &CAPABILITIES);

/// The entry symbol of ABI major 2.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v2() -> *const ModuleDescriptor {
    &MODULE
}
