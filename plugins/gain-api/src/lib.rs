//! The `gain` interface: what the README's quick start declares, shared by the example
//! plugin (`example-gain`) and the hosts that load it.

use plugin_runtime::interface::PluginError;

/// A gain stage.
#[plugin_runtime::interface(kind = "gain", major = 1)]
pub trait Gain {
    /// Scales one block of samples in place.
    fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
    /// The latency the stage adds, in samples.
    fn latency(&self) -> u32;
}
