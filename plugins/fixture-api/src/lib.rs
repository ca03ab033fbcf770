//! The `Probe` interface the fixture plugins implement, and [`build`], which builds the
//! fixture `cdylib`s for the tests, benchmarks and examples that load them.
//!
//! `Probe` is a small "dsp" interface: [`ProbeVTable::tag`] tells which build of a plugin
//! answers, [`ProbeVTable::process`] scales samples, [`ProbeVTable::accumulate`] is the
//! cheap call the benchmarks measure. [`Echo`] is the fixture `fixture.echo` in its
//! builds: `Echo<1>` and `Echo<2>` differ in tag and gain.

pub mod build;
pub mod raw;

use plugin_runtime_sdk::abi::{Capability, ErrorBuf, InstanceHandle, Status};
use plugin_runtime_sdk::{CapabilityImpl, PluginError, with_instance, with_instance_or};

/// The `Probe` interface, version 1: kind `"dsp"`.
#[derive(Debug)]
pub struct Probe;

// SAFETY: every fixture exporting a "dsp" capability with interface version 1 points its
// vtable at a `ProbeVTable` (built by `probe_vtable`).
unsafe impl Capability for Probe {
    const KIND: &'static str = "dsp";
    const INTERFACE_VERSION: u32 = 1;
    type VTable = ProbeVTable;
}

/// A later version of `Probe` that no host here speaks: used to test interface version
/// mismatches. Its vtable layout is `ProbeVTable` too.
#[derive(Debug)]
pub struct ProbeV2;

// SAFETY: the fixtures exporting "dsp" version 2 use `ProbeVTable` as well.
unsafe impl Capability for ProbeV2 {
    const KIND: &'static str = "dsp";
    const INTERFACE_VERSION: u32 = 2;
    type VTable = ProbeVTable;
}

/// The vtable of [`Probe`].
#[repr(C)]
#[derive(Debug)]
pub struct ProbeVTable {
    /// Which build of the plugin answers (1 for version 1, 2 for version 2); 0 if the
    /// plugin panicked.
    pub tag: unsafe extern "C" fn(InstanceHandle) -> u32,
    /// Scales `len` samples in place by the plugin's gain.
    pub process: unsafe extern "C" fn(InstanceHandle, *mut f32, usize, *mut ErrorBuf) -> Status,
    /// Adds `x` to the instance's running total and returns the total.
    pub accumulate: unsafe extern "C" fn(InstanceHandle, u64) -> u64,
}

/// What a fixture implements to offer [`Probe`].
pub trait ProbeImpl: CapabilityImpl {
    /// Which build answers.
    fn tag(&self) -> u32;
    /// Scales samples in place.
    ///
    /// # Errors
    ///
    /// Whatever the fixture reports.
    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError>;
    /// Adds to the running total.
    fn accumulate(&mut self, x: u64) -> u64;
}

/// The vtable for `T`, for `CapabilityImpl::VTABLE` of a [`Probe`] or [`ProbeV2`]
/// capability.
pub const fn probe_vtable<T: ProbeImpl>() -> ProbeVTable {
    ProbeVTable {
        tag: tag_shim::<T>,
        process: process_shim::<T>,
        accumulate: accumulate_shim::<T>,
    }
}

/// The `accumulate` entry of `T`'s vtable, for fixtures that also export it as a plain
/// symbol so that a benchmark can call the very same function both ways.
///
/// # Safety
///
/// As for any vtable function: `handle` is a live instance of `T`.
pub unsafe extern "C" fn accumulate_shim<T: ProbeImpl>(handle: InstanceHandle, x: u64) -> u64 {
    // SAFETY: the host passes a live handle of this capability, used by one thread.
    unsafe { with_instance_or::<T, _>(handle, 0, |t| t.accumulate(x)) }
}

unsafe extern "C" fn tag_shim<T: ProbeImpl>(handle: InstanceHandle) -> u32 {
    // SAFETY: the host passes a live handle of this capability, used by one thread.
    unsafe { with_instance_or::<T, _>(handle, 0, |t| t.tag()) }
}

unsafe extern "C" fn process_shim<T: ProbeImpl>(
    handle: InstanceHandle,
    samples: *mut f32,
    len: usize,
    error: *mut ErrorBuf,
) -> Status {
    let body = |t: &mut T| {
        if samples.is_null() && len > 0 {
            return Err(PluginError::invalid_argument("null samples"));
        }
        let slice = if len == 0 {
            &mut [][..]
        } else {
            // SAFETY: the host passes `len` writable samples it owns for the call.
            unsafe { std::slice::from_raw_parts_mut(samples, len) }
        };
        t.process(slice)
    };
    // SAFETY: the host passes a live handle and a valid error buffer.
    unsafe { with_instance::<T>(handle, error, body) }
}

/// The signature of [`ProbeVTable::accumulate`].
pub type AccumulateFn = unsafe extern "C" fn(InstanceHandle, u64) -> u64;

/// The fixture `fixture.echo` as build `TAG`: gain `TAG` (unless configured), tag `TAG`.
///
/// Configuration: empty for the default, or `gain=<f32>`; anything else is refused with
/// [`Status::INVALID_ARGUMENT`].
#[derive(Debug)]
pub struct Echo<const TAG: u32> {
    gain: f32,
    total: u64,
}

impl<const TAG: u32> CapabilityImpl for Echo<TAG> {
    type Interface = Probe;
    const TYPE_ID: &'static str = "echo";
    const DISPLAY_NAME: &'static str = "Echo";
    const VTABLE: &'static ProbeVTable = &probe_vtable::<Self>();

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

impl<const TAG: u32> ProbeImpl for Echo<TAG> {
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

/// `fixture.echo` build 2's second capability: the same behaviour behind interface
/// version 2, which hosts here do not speak.
#[derive(Debug)]
pub struct EchoNext(Echo<2>);

impl CapabilityImpl for EchoNext {
    type Interface = ProbeV2;
    const TYPE_ID: &'static str = "echo-next";
    const DISPLAY_NAME: &'static str = "Echo (interface 2)";
    const VTABLE: &'static ProbeVTable = &probe_vtable::<Self>();

    fn create(config: &[u8]) -> Result<Self, PluginError> {
        Echo::create(config).map(Self)
    }
}

impl ProbeImpl for EchoNext {
    fn tag(&self) -> u32 {
        self.0.tag()
    }

    fn process(&mut self, samples: &mut [f32]) -> Result<(), PluginError> {
        self.0.process(samples)
    }

    fn accumulate(&mut self, x: u64) -> u64 {
        self.0.accumulate(x)
    }
}

/// Safe calls on a host-side [`Probe`] instance: what an interface crate gives host code
/// so that it never writes `unsafe` to call a plugin.
pub trait ProbeCalls {
    /// Which build of the plugin answers (0 if it panicked).
    fn tag(&mut self) -> u32;
    /// Scales samples in place.
    ///
    /// # Errors
    ///
    /// The status the plugin returned.
    fn process(&mut self, samples: &mut [f32]) -> Result<(), Status>;
    /// Adds to the running total and returns it.
    fn accumulate(&mut self, x: u64) -> u64;
}

impl ProbeCalls for plugin_runtime::Instance<Probe> {
    #[inline]
    fn tag(&mut self) -> u32 {
        // SAFETY: a live instance of a `Probe` capability, on its owner's thread (the
        // instance is `!Send`), and `&mut self` rules out reentrant calls.
        unsafe { (self.vtable().tag)(self.handle()) }
    }

    #[inline]
    fn process(&mut self, samples: &mut [f32]) -> Result<(), Status> {
        // SAFETY: as for `tag`; the samples are valid and writable for the call.
        let status = unsafe {
            (self.vtable().process)(
                self.handle(),
                samples.as_mut_ptr(),
                samples.len(),
                std::ptr::null_mut(),
            )
        };
        if status.is_ok() { Ok(()) } else { Err(status) }
    }

    #[inline]
    fn accumulate(&mut self, x: u64) -> u64 {
        // SAFETY: as for `tag`.
        unsafe { (self.vtable().accumulate)(self.handle(), x) }
    }
}
