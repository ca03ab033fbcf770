//! Fixture: `fixture.init-fails`. `init` starts a thread named `fixture-orphan` that runs
//! the library's code forever, then reports failure. The host must not unmap it.

use std::time::Duration;

use fixture_api::Echo;
use plugin_runtime_sdk::PluginError;

fn start_then_fail() -> Result<(), PluginError> {
    std::thread::Builder::new()
        .name("fixture-orphan".into())
        .spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .map_err(|e| PluginError::new(format!("cannot start: {e}")))?;
    Err(PluginError::new(
        "fixture.init-fails: init fails after starting a thread",
    ))
}

plugin_runtime_sdk::export_module! {
    id: "fixture.init-fails",
    version: "0.1.0",
    name: "Init fails",
    capabilities: [Echo<1>],
    init: start_then_fail,
}
