//! The interfaces the fixture plugins implement, and [`build`], which builds the fixture
//! `cdylib`s for the tests, benchmarks and examples that load them.
//!
//! [`Probe`] is a small "dsp" interface: `tag` tells which build of a plugin answers,
//! `process` scales samples, `accumulate` is the cheap call the benchmarks measure.
//! [`Echo`] is the fixture `fixture.echo` in its builds: `Echo<1>` and `Echo<2>` differ
//! in tag and gain. [`gauge`] holds two minors of one interface and a conflicting
//! declaration, for the versioning tests. [`tally`] is a stateful counter with every
//! lifecycle hook, for slots and live configuration.

pub mod build;
pub mod gauge;
pub mod raw;
pub mod tally;

use plugin_runtime_sdk::{CapabilityImpl, PluginError};

/// The `Probe` interface, major 1.
#[plugin_runtime_sdk::interface(kind = "dsp", major = 1)]
pub trait Probe {
    /// Which build of the plugin answers (1 for version 1, 2 for version 2); 0 if the
    /// plugin panicked.
    fn tag(&self) -> u32;
    /// Scales samples in place by the plugin's gain.
    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError>;
    /// Adds `x` to the instance's running total and returns the total.
    fn accumulate(&mut self, x: u64) -> u64;
}

/// A later major of the `dsp` kind, with the same methods as [`Probe`], that hosts here
/// only use to test major mismatches.
#[plugin_runtime_sdk::interface(kind = "dsp", major = 2)]
pub trait ProbeNext {
    /// As [`Probe::tag`].
    fn tag(&self) -> u32;
    /// As [`Probe::process`].
    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError>;
    /// As [`Probe::accumulate`].
    fn accumulate(&mut self, x: u64) -> u64;
}

/// The signature of the `accumulate` slot, which the echo fixtures also export as a
/// plain symbol so that a benchmark can call the very same function both ways.
pub type AccumulateFn = unsafe extern "C" fn(plugin_runtime_sdk::abi::InstanceHandle, u64) -> u64;

/// The fixture `fixture.echo` as build `TAG`: gain `TAG` (unless configured), tag `TAG`.
///
/// Configuration: empty for the default, or `gain=<f32>`; anything else is refused with
/// `Status::INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct Echo<const TAG: u32> {
    gain: f32,
    total: u64,
}

impl<const TAG: u32> CapabilityImpl for Echo<TAG> {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "echo";
    const DISPLAY_NAME: &'static str = "Echo";

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        let gain = match config {
            b"" => TAG as f32,
            _ => std::str::from_utf8(config)
                .ok()
                .and_then(|c| c.strip_prefix("gain="))
                .and_then(|g| g.parse().ok())
                .ok_or_else(|| PluginError::invalid_argument("expected `gain=<number>`"))?,
        };
        Ok(Self { gain, total: 0 })
    }
}

impl<const TAG: u32> Probe for Echo<TAG> {
    fn tag(&self) -> u32 {
        TAG
    }

    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError> {
        samples.iter_mut().for_each(|s| *s *= self.gain);
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        self.total = self.total.wrapping_add(x);
        self.total
    }
}

/// `fixture.echo` build 2's second capability: the same behaviour behind the `dsp`
/// interface's major 2, which hosts here do not speak.
#[derive(Debug)]
pub struct EchoNext(Echo<2>);

impl CapabilityImpl for EchoNext {
    type Interface = ProbeNextInterface;
    const TYPE_ID: &'static str = "echo-next";
    const DISPLAY_NAME: &'static str = "Echo (interface 2)";

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        Echo::create(config).map(Self)
    }
}

impl ProbeNext for EchoNext {
    fn tag(&self) -> u32 {
        Probe::tag(&self.0)
    }

    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError> {
        Probe::process(&mut self.0, samples)
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        Probe::accumulate(&mut self.0, x)
    }
}

/// A capability that only answers its build's tag (`process` does nothing, `accumulate`
/// echoes): for fixtures whose point is their module's lifecycle (`init`, `deinit`), not
/// their instances.
#[derive(Debug)]
pub struct Idle<const TAG: u32>;

impl<const TAG: u32> CapabilityImpl for Idle<TAG> {
    type Interface = ProbeInterface;
    const TYPE_ID: &'static str = "idle";
    const DISPLAY_NAME: &'static str = "Idle";

    fn create(_config: &[u8]) -> Result<Self, PluginError> {
        Ok(Self)
    }
}

impl<const TAG: u32> Probe for Idle<TAG> {
    fn tag(&self) -> u32 {
        TAG
    }

    fn process(&mut self, _samples: &mut [f32]) -> Result<(), PluginError> {
        Ok(())
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        x
    }
}
