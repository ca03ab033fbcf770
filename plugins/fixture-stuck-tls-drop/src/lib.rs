//! Fixture: `fixture.stuck-drop`. `init` returns at once; `deinit` returns `Ok` too, but
//! first sets a thread-local whose destructor never returns (it sleeps in a loop), so the
//! thread `deinit` ran on never ends: a host must not wait for it past its deadline, and
//! must keep the library loaded.

use std::cell::Cell;
use std::time::Duration;

use fixture_api::Idle;
use plugin_runtime_sdk::PluginError;

/// A value whose destructor never returns.
struct Stuck(Cell<bool>);

impl Drop for Stuck {
    fn drop(&mut self) {
        loop {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

thread_local! {
    static STUCK: Stuck = const { Stuck(Cell::new(false)) };
}

fn start() -> Result<(), PluginError> {
    Ok(())
}

fn stop() -> Result<(), PluginError> {
    // Touching it registers its destructor, which runs when this thread exits.
    STUCK.with(|s| s.0.set(true));
    Ok(())
}

plugin_runtime_sdk::export_module! {
    id: "fixture.stuck-drop",
    version: "1.0.0",
    name: "Stuck thread-local destructor",
    capabilities: [Idle<3>],
    init: start,
    deinit: stop,
}
