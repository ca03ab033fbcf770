//! Fixture: `fixture.slow`, version `slow-init`. `init` sleeps for [`INIT_TIME`] before
//! it succeeds, so a host with a shorter deadline sees it time out, and one with a
//! longer deadline sees another load finish first.
//!
//! `fixture-stuck-deinit` is a build of the same plugin whose `init` returns at once:
//! together they are a slow and a fast build of one plugin.

use std::time::Duration;

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

/// How long `init` takes.
pub const INIT_TIME: Duration = Duration::from_secs(1);

fn slow_start() -> Result<(), PluginError> {
    std::thread::sleep(INIT_TIME);
    Ok(())
}

struct Slow;

impl CapabilityImpl for Slow {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "slow";
    const DISPLAY_NAME: &'static str = "Slow to start";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Slow)
    }
}

impl Probe for Slow {
    fn tag(&self) -> u32 {
        1
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
    version: "slow-init",
    name: "Slow init",
    capabilities: [Slow],
    init: slow_start,
}
