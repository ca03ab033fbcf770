//! Fixture: `fixture.tls`. Calling `fixture_tls_touch` (or `process` on an instance)
//! registers a thread-local destructor on the calling thread, which keeps the library
//! mapped after `dlclose` until that thread ends.

use std::cell::Cell;

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

/// A value whose destructor the thread-local machinery must run at thread exit.
struct Registered(Cell<u64>);

impl Drop for Registered {
    fn drop(&mut self) {
        std::hint::black_box(self.0.get());
    }
}

thread_local! {
    static TOUCHED: Registered = const { Registered(Cell::new(0)) };
}

fn touch() -> u64 {
    TOUCHED.with(|t| {
        t.0.set(t.0.get() + 1);
        t.0.get()
    })
}

/// Touches the thread-local on the calling thread; returns how often it was touched
/// there.
#[unsafe(no_mangle)]
pub extern "C" fn fixture_tls_touch() -> u64 {
    plugin_runtime_sdk::guard_or(0, touch)
}

struct Tls;

impl CapabilityImpl for Tls {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "tls";
    const DISPLAY_NAME: &'static str = "Thread-local toucher";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Tls)
    }
}

impl Probe for Tls {
    fn tag(&self) -> u32 {
        1
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        touch();
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        x + touch()
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.tls",
    version: "0.1.0",
    name: "Thread-local destructor",
    capabilities: [Tls],
}
