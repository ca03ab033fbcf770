//! Fixture: `fixture.gauge` built against minor 1 of the gauge interface, with every
//! method: a host of minor 0 must still resolve it and read the prefix it knows.

use fixture_api::gauge::v1_1::{Gauge, GaugeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

struct Tracking {
    level: u32,
    peak: u32,
}

impl CapabilityImpl for Tracking {
    type Interface = GaugeInterface;
    const TYPE_ID: &'static str = "gauge";
    const DISPLAY_NAME: &'static str = "A gauge of a newer minor";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Tracking { level: 9, peak: 12 })
    }
}

impl Gauge for Tracking {
    const HAS_RESET: bool = true;

    fn level(&self) -> u32 {
        self.level
    }

    fn reset(&mut self) -> Result<(), PluginError> {
        self.level = 0;
        Ok(())
    }

    fn peak(&self) -> u32 {
        self.peak
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.gauge",
    version: "1.1.0",
    name: "Gauge (minor 1)",
    capabilities: [Tracking],
}
