// A plugin written the intended way, in a crate that forbids `unsafe`: it implements an
// interface and exports it with `export_module!`. Guards that the SDK's expansion (the
// entry symbol's `#[unsafe(no_mangle)]`, the `init`/`deinit` shims) never makes a plugin
// author give up `#![forbid(unsafe_code)]`. The hooks are named `init` and `deinit` and
// the id is a `const PLUGIN_ID` on purpose: the macro's own items must not capture them.
#![forbid(unsafe_code)]

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError, export_module};

struct Doubler {
    total: u64,
}

impl CapabilityImpl for Doubler {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "doubler";
    const DISPLAY_NAME: &'static str = "Doubler";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Self { total: 0 })
    }
}

impl Probe for Doubler {
    fn tag(&self) -> u32 {
        7
    }

    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError> {
        samples.iter_mut().for_each(|s| *s *= 2.0);
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        self.total += x;
        self.total
    }
}

const PLUGIN_ID: &str = "example.doubler";

fn init() -> Result<(), PluginError> {
    plugin_runtime_sdk::log(plugin_runtime_sdk::abi::LogLevel::Info, "up");
    Ok(())
}

fn deinit() -> Result<(), PluginError> {
    plugin_runtime_sdk::log(plugin_runtime_sdk::abi::LogLevel::Info, "down");
    Ok(())
}

export_module! {
    id: PLUGIN_ID,
    version: "1.0.0",
    name: "Doubler",
    capabilities: [Doubler],
    init: init,
    deinit: deinit,
}

fn main() {}
