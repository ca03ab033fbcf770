//! Fixture: `fixture.threaded`. `init` starts a worker thread named `fixture-worker`;
//! `deinit` stops and joins it, as the ABI requires of every plugin.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use fixture_api::{Probe, ProbeInterface};
use plugin_runtime_sdk::abi::LogLevel;
use plugin_runtime_sdk::{CapabilityImpl, PluginError};

static STOP: AtomicBool = AtomicBool::new(false);
static TICKS: AtomicU64 = AtomicU64::new(0);
static WORKER: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

fn start() -> Result<(), PluginError> {
    STOP.store(false, Ordering::SeqCst);
    let handle = std::thread::Builder::new()
        .name("fixture-worker".into())
        .spawn(|| {
            while !STOP.load(Ordering::SeqCst) {
                TICKS.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .map_err(|e| PluginError::new(format!("cannot start the worker: {e}")))?;
    *WORKER.lock().map_err(|_| "worker lock poisoned")? = Some(handle);
    plugin_runtime_sdk::log(LogLevel::Info, "worker started");
    Ok(())
}

fn stop() -> Result<(), PluginError> {
    STOP.store(true, Ordering::SeqCst);
    let handle = WORKER.lock().map_err(|_| "worker lock poisoned")?.take();
    if let Some(handle) = handle {
        handle
            .join()
            .map_err(|_| PluginError::new("the worker panicked"))?;
    }
    plugin_runtime_sdk::log(LogLevel::Info, "worker joined");
    Ok(())
}

struct Worker;

impl CapabilityImpl for Worker {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "worker";
    const DISPLAY_NAME: &'static str = "Worker ticks";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Worker)
    }
}

impl Probe for Worker {
    fn tag(&self) -> u32 {
        1
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        Ok(())
    }

    fn accumulate(&mut self, _x: u64) -> u64 {
        TICKS.load(Ordering::Relaxed)
    }
}

plugin_runtime_sdk::export_module! {
    id: "fixture.threaded",
    version: "0.1.0",
    name: "Threaded",
    capabilities: [Worker],
    init: start,
    deinit: stop,
}
