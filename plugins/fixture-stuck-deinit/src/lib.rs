//! Fixture: `fixture.slow`, version `stuck-deinit`. `init` returns at once; `deinit`
//! never returns (it sleeps in a loop), so a host sees it pass its deadline and must
//! leave the thread running and the library loaded.
//!
//! It is a build of the same plugin as `fixture-slow-init`, whose `init` is slow: a
//! fast and a slow build of one plugin.

use std::time::Duration;

use fixture_api::Idle;
use plugin_runtime_sdk::PluginError;

fn start() -> Result<(), PluginError> {
    Ok(())
}

fn never_stop() -> Result<(), PluginError> {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.slow",
    version: "stuck-deinit",
    name: "Stuck deinit",
    capabilities: [Idle<2>],
    init: start,
    deinit: never_stop,
}
