//! Fixture: `fixture.slow`, version `slow-init`. `init` sleeps for [`INIT_TIME`] before
//! it succeeds, so a host with a shorter deadline sees it time out, and one with a
//! longer deadline sees another load finish first.
//!
//! `fixture-stuck-deinit` is a build of the same plugin whose `init` returns at once:
//! together they are a slow and a fast build of one plugin.

use std::time::Duration;

use fixture_api::Idle;
use plugin_runtime_sdk::PluginError;

/// How long `init` takes.
pub const INIT_TIME: Duration = Duration::from_secs(1);

fn slow_start() -> Result<(), PluginError> {
    std::thread::sleep(INIT_TIME);
    Ok(())
}

plugin_runtime_sdk::export_module! {
    id: "fixture.slow",
    version: "slow-init",
    name: "Slow init",
    capabilities: [Idle<1>],
    init: slow_start,
}
