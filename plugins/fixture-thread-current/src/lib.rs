//! Fixture: `fixture.thread-current`. Calling `fixture_thread_current_touch` (or
//! `process` on an instance) runs `std::thread::current()` on the calling thread. The
//! plugin's own standard library then sets a pthread-key destructor on the calling
//! thread (the one that drops the thread handle at thread exit), which glibc does not
//! count when deciding whether `dlclose` may unmap the library. `accumulate` also spawns
//! and joins a thread.

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

/// Asks for the calling thread's handle; returns the length of its name plus one (1
/// for an unnamed thread).
fn current() -> u64 {
    std::thread::current().name().map_or(0, str::len) as u64 + 1
}

/// Spawns a thread that asks for its own handle, joins it, and checks that its id
/// differs from the caller's. Spawning also registers the plugin's thread-local
/// destructors on the calling thread, so glibc keeps the library mapped while that
/// thread lives.
fn spawn() -> Result<u64, PluginError> {
    let spawned = std::thread::spawn(|| std::thread::current().id())
        .join()
        .map_err(|_| PluginError::new("the spawned thread panicked"))?;
    if spawned == std::thread::current().id() {
        return Err(PluginError::new("a spawned thread shares its parent's id"));
    }
    Ok(current())
}

/// Runs `thread::current()` on the calling thread (and nothing else of the standard
/// library's thread machinery); returns the length of the thread's name plus one.
#[unsafe(no_mangle)]
pub extern "C" fn fixture_thread_current_touch() -> u64 {
    plugin_runtime_sdk::guard_or(0, current)
}

struct Current;

impl CapabilityImpl for Current {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "current";
    const DISPLAY_NAME: &'static str = "Thread handle toucher";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Current)
    }
}

impl Probe for Current {
    fn tag(&self) -> u32 {
        1
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        current();
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        x + spawn().unwrap_or(0)
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.thread-current",
    version: "0.1.0",
    name: "Thread handle",
    capabilities: [Current],
}
