// Hole: a capability exported with a vtable that was not made for its type. `Small`
// says it implements `ProbeInterface` but does not implement `Probe`, so there is no
// vtable for it; exporting it, or building its descriptor, must not compile (rather than
// borrow some other type's vtable).
#![forbid(unsafe_code)]

use fixture_api::ProbeInterface;
use plugin_runtime_sdk::abi::CapabilityDescriptor;
use plugin_runtime_sdk::{CapabilityImpl, PluginError, capability, export_module};

struct Small(u8);

impl CapabilityImpl for Small {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "small";
    const DISPLAY_NAME: &'static str = "Small";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Small(0))
    }
}

const _: CapabilityDescriptor = capability::<Small>();

export_module! {
    id: "example.small",
    version: "1.0.0",
    name: "Small",
    capabilities: [Small],
}

fn main() {}
