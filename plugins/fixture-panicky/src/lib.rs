//! Fixture: `fixture.panicky`. `create` panics when the configuration is `panic`, every
//! `process` call panics, and destroying an instance panics in its destructor. The SDK
//! must turn each of these into an error status.

use fixture_api::{Probe, ProbeImpl, ProbeVTable, probe_vtable};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

struct Panicky;

impl Drop for Panicky {
    fn drop(&mut self) {
        panic!("fixture.panicky: destroy panics");
    }
}

impl CapabilityImpl for Panicky {
    type Interface = Probe;
    const TYPE_ID: &'static str = "panicky";
    const DISPLAY_NAME: &'static str = "Panics everywhere";
    const VTABLE: &'static ProbeVTable = &probe_vtable::<Self>();

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        match config {
            b"panic" => panic!("fixture.panicky: create panics"),
            b"fail" => Err(PluginError::new("fixture.panicky: create refuses")),
            _ => Ok(Panicky),
        }
    }
}

impl ProbeImpl for Panicky {
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

plugin_runtime_sdk::export_module! {
    id: "fixture.panicky",
    version: "0.1.0",
    name: "Panicky",
    capabilities: [Panicky],
}
