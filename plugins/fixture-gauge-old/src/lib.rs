//! Fixture: `fixture.gauge` built against minor 0 of the gauge interface, leaving out its
//! optional `reset`: a host of minor 1 must see `reset` and `peak` as missing.

use fixture_api::gauge::v1_0::{Gauge, GaugeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

struct Fixed(u32);

impl CapabilityImpl for Fixed {
    type Interface = GaugeInterface;
    const TYPE_ID: &'static str = "gauge";
    const DISPLAY_NAME: &'static str = "A gauge of an older minor";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Fixed(7))
    }
}

impl Gauge for Fixed {
    fn level(&self) -> u32 {
        self.0
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.gauge",
    version: "1.0.0",
    name: "Gauge (minor 0)",
    capabilities: [Fixed],
}
