//! Fixture: `fixture.panicky`. `create` panics when the configuration is `panic`, every
//! `process` call panics, and destroying an instance panics in its destructor. The SDK
//! must turn each of these into an error status.

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

struct Panicky;

impl Drop for Panicky {
    fn drop(&mut self) {
        panic!("fixture.panicky: destroy panics");
    }
}

impl CapabilityImpl for Panicky {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "panicky";
    const DISPLAY_NAME: &'static str = "Panics everywhere";

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        match config {
            b"panic" => panic!("fixture.panicky: create panics"),
            b"fail" => Err(PluginError::new("fixture.panicky: create refuses")),
            _ => Ok(Panicky),
        }
    }
}

impl Probe for Panicky {
    fn tag(&self) -> u32 {
        panic!("fixture.panicky: tag panics")
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        panic!("fixture.panicky: process panics")
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        x
    }
}

/// Every panic here is expected: silence this library's own panic hook (its copy of std
/// has a hook of its own) so that the tests that provoke them stay quiet.
fn quiet() -> Result<(), PluginError> {
    std::panic::set_hook(Box::new(|_| {}));
    Ok(())
}

plugin_runtime_sdk::export_module! {
    id: "fixture.panicky",
    version: "0.1.0",
    name: "Panicky",
    capabilities: [Panicky],
    init: quiet,
}
