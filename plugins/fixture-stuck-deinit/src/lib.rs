//! Fixture: `fixture.slow`, version `stuck-deinit`. `init` returns at once; `deinit`
//! never returns (it sleeps in a loop), so a host sees it pass its deadline and must
//! leave the thread running and the library loaded.
//!
//! It is a build of the same plugin as `fixture-slow-init`, whose `init` is slow: a
//! fast and a slow build of one plugin.

use std::time::Duration;

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

fn start() -> Result<(), PluginError> {
    Ok(())
}

fn never_stop() -> Result<(), PluginError> {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Stuck;

impl CapabilityImpl for Stuck {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "slow";
    const DISPLAY_NAME: &'static str = "Never stops";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Stuck)
    }
}

impl Probe for Stuck {
    fn tag(&self) -> u32 {
        2
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        x
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.slow",
    version: "stuck-deinit",
    name: "Stuck deinit",
    capabilities: [Stuck],
    init: start,
    deinit: never_stop,
}
