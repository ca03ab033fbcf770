//! Fixture: a plugin built for ABI major 3. It exports `plugin_runtime_module_v3` only,
//! as a future plugin would, so a major-2 host must refuse it by version.

use fixture_api::raw::abi::{CapabilityDescriptor, ModuleDescriptor};
use fixture_api::raw::{capability, module};

static CAPABILITIES: [CapabilityDescriptor; 1] = [capability(b"future")];
static MODULE: ModuleDescriptor = module(3, "fixture.bad-abi", &CAPABILITIES);

/// The entry symbol of ABI major 3.
#[unsafe(no_mangle)]
pub extern "C" fn plugin_runtime_module_v3() -> *const ModuleDescriptor {
    &MODULE
}
