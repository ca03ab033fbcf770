#![forbid(unsafe_code)]
//! Example plugin: a gain stage in safe Rust. Configuration: the factor, as text.
use gain_api::{Gain, GainInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError, export_module};
struct Scale(f32);

impl CapabilityImpl for Scale {
    type Interface = GainInterface;
    const TYPE_ID: &'static str = "scale";
    const DISPLAY_NAME: &'static str = "Scale";
    const DEFAULT_CONFIG: &'static [u8] = b"0.5";
    fn create(config: &[u8]) -> Result<Self, PluginError> {
        let factor = String::from_utf8_lossy(config).trim().parse();
        factor
            .map(Scale)
            .map_err(|_| PluginError::invalid_argument("not a number"))
    }
}

impl Gain for Scale {
    fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError> {
        block.iter_mut().for_each(|s| *s *= self.0);
        Ok(())
    }
    fn latency(&self) -> u32 {
        0
    }
}

export_module! { id: "example.gain", version: "1.0.0", name: "Gain", capabilities: [Scale] }
