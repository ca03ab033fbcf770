//! The plugin side of `plugin-runtime`: export a module and its capabilities from a
//! `cdylib` in safe Rust.
//!
//! A plugin crate is a `cdylib` that depends on this crate. It implements
//! [`CapabilityImpl`] for each instance type it offers, builds each capability's vtable
//! (interface crates give a `const fn` that does it from a safe trait), and invokes
//! [`export_module!`] once. The macro emits the static descriptor and the versioned entry
//! symbol; the SDK's shims turn every panic into [`Status::PANIC`] with the panic message,
//! so no unwind ever crosses into the host.
//!
//! # Examples
//!
//! An interface (normally in a crate shared by host and plugins) and a plugin offering
//! it:
//!
//! ```
//! use plugin_runtime_sdk::abi::{Capability, InstanceHandle};
//! use plugin_runtime_sdk::{CapabilityImpl, PluginError, export_module, with_instance_or};
//!
//! // The interface: kind "counter", version 1, one function.
//! pub struct Counter;
//! #[repr(C)]
//! pub struct CounterVTable {
//!     pub next: unsafe extern "C" fn(InstanceHandle) -> u64,
//! }
//! // SAFETY: every "counter" v1 capability exports a `CounterVTable`.
//! unsafe impl Capability for Counter {
//!     const KIND: &'static str = "counter";
//!     const INTERFACE_VERSION: u32 = 1;
//!     type VTable = CounterVTable;
//! }
//! pub trait CounterImpl: CapabilityImpl {
//!     fn next(&mut self) -> u64;
//! }
//! pub const fn counter_vtable<T: CounterImpl>() -> CounterVTable {
//!     unsafe extern "C" fn next<T: CounterImpl>(handle: InstanceHandle) -> u64 {
//!         // SAFETY: the host passes a live handle of this capability.
//!         unsafe { with_instance_or::<T, _>(handle, 0, |t| t.next()) }
//!     }
//!     CounterVTable { next: next::<T> }
//! }
//!
//! // The plugin: safe Rust only.
//! struct Steps {
//!     at: u64,
//!     step: u64,
//! }
//!
//! impl CapabilityImpl for Steps {
//!     type Interface = Counter;
//!     const TYPE_ID: &'static str = "steps";
//!     const DISPLAY_NAME: &'static str = "Counts in steps";
//!     const DEFAULT_CONFIG: &'static [u8] = b"1";
//!     const VTABLE: &'static CounterVTable = &counter_vtable::<Self>();
//!
//!     fn create(config: &[u8]) -> Result<Self, PluginError> {
//!         let step = std::str::from_utf8(config)
//!             .ok()
//!             .and_then(|s| s.parse().ok())
//!             .ok_or_else(|| PluginError::invalid_argument("the step must be a number"))?;
//!         Ok(Steps { at: 0, step })
//!     }
//! }
//!
//! impl CounterImpl for Steps {
//!     fn next(&mut self) -> u64 {
//!         self.at += self.step;
//!         self.at
//!     }
//! }
//!
//! export_module! {
//!     id: "example.steps",
//!     version: "1.0.0",
//!     name: "Steps",
//!     capabilities: [Steps],
//! }
//! # fn main() {}
//! ```
//!
//! # Rules for plugin authors
//!
//! * Stop and join every thread you start before `deinit` returns.
//! * Do not hand the host anything that borrows from the library beyond the calls the
//!   ABI defines: the library is unmapped after `deinit`.
//! * A `thread_local!` with a destructor touched from a host thread keeps the library
//!   mapped until that thread ends; the host reports it as pinned by the OS loader.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};

pub use plugin_runtime::abi;
use plugin_runtime::abi::{
    BytesRef, Capability, CapabilityDescriptor, ErrorBuf, HostContext, InstanceHandle, LogLevel,
    Status, StrRef,
};

/// An error a plugin function reports to the host: a status code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The code returned across the boundary; never [`Status::OK`].
    pub status: Status,
    /// The message written into the host's error buffer.
    pub message: String,
}

impl PluginError {
    /// An error with [`Status::ERROR`].
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_status(Status::ERROR, message)
    }

    /// An error with [`Status::INVALID_ARGUMENT`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::with_status(Status::INVALID_ARGUMENT, message)
    }

    /// An error with a given status; [`Status::OK`] becomes [`Status::ERROR`].
    pub fn with_status(status: Status, message: impl Into<String>) -> Self {
        let status = if status.is_ok() {
            Status::ERROR
        } else {
            status
        };
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for PluginError {}

/// An instance type a plugin offers as one capability.
///
/// The SDK boxes the value on `create` and drops it on `destroy`; the interface's vtable
/// functions reach it through [`with_instance`] or [`with_instance_or`].
pub trait CapabilityImpl: Sized + 'static {
    /// The interface this type implements: its kind, version and vtable layout.
    type Interface: Capability;
    /// The type id, unique within its kind in this module.
    const TYPE_ID: &'static str;
    /// A name for people.
    const DISPLAY_NAME: &'static str;
    /// Configuration used when the host passes none.
    const DEFAULT_CONFIG: &'static [u8] = b"";
    /// The vtable the host reads for this capability.
    const VTABLE: &'static <Self::Interface as Capability>::VTable;

    /// Makes an instance from configuration bytes.
    ///
    /// # Errors
    ///
    /// Whatever the plugin decides; the message reaches the host.
    fn create(config: &[u8]) -> Result<Self, PluginError>;
}

/// The descriptor of capability `T`, for [`export_module!`].
pub const fn capability<T: CapabilityImpl>() -> CapabilityDescriptor {
    CapabilityDescriptor {
        kind: StrRef::new(<T::Interface as Capability>::KIND),
        type_id: StrRef::new(T::TYPE_ID),
        interface_version: <T::Interface as Capability>::INTERFACE_VERSION,
        display_name: StrRef::new(T::DISPLAY_NAME),
        default_config: BytesRef::new(T::DEFAULT_CONFIG),
        vtable: (T::VTABLE as *const <T::Interface as Capability>::VTable).cast::<c_void>(),
        create: Some(create_shim::<T>),
        destroy: Some(destroy_shim::<T>),
    }
}

/// Runs `f`, turning an error into its status and a panic into [`Status::PANIC`], and
/// writing the message into `error` when it is not null.
///
/// Every function a plugin exports goes through this (or [`guard_or`]), so no unwind
/// crosses the boundary.
///
/// # Safety
///
/// `error` is null or points to a valid [`ErrorBuf`] whose storage is writable.
pub unsafe fn guard(error: *mut ErrorBuf, f: impl FnOnce() -> Result<(), PluginError>) -> Status {
    let (status, message) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return Status::OK,
        Ok(Err(e)) => (e.status, e.message),
        Err(payload) => {
            let message = format!("plugin panicked: {}", panic_message(&*payload));
            forget_payload(payload);
            (Status::PANIC, message)
        }
    };
    // SAFETY: the caller promises `error` is null or valid and writable.
    if let Some(buf) = unsafe { error.as_mut() } {
        // SAFETY: as above, the buffer's storage is writable for its capacity.
        unsafe { buf.write(&message) };
    }
    status
}

/// Runs `f` and returns its value, or `fallback` if it panics. For vtable functions
/// whose signature has no status to report an error with.
pub fn guard_or<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            forget_payload(payload);
            fallback
        }
    }
}

/// Runs `f` on the instance behind `handle` under [`guard`].
///
/// # Safety
///
/// `handle` was made by `create` of capability `T` of this module and not yet destroyed,
/// no other reference to the instance is live (the host's owner model guarantees this),
/// and `error` is null or a valid [`ErrorBuf`].
pub unsafe fn with_instance<T: CapabilityImpl>(
    handle: InstanceHandle,
    error: *mut ErrorBuf,
    f: impl FnOnce(&mut T) -> Result<(), PluginError>,
) -> Status {
    let body = || {
        // SAFETY: the caller promises `handle` is a live, unaliased `T` from `create_shim::<T>`.
        let instance = unsafe { instance_mut::<T>(handle) }
            .ok_or_else(|| PluginError::invalid_argument("null instance handle"))?;
        f(instance)
    };
    // SAFETY: `error` is forwarded under the caller's promise.
    unsafe { guard(error, body) }
}

/// Runs `f` on the instance behind `handle`, or returns `fallback` if the handle is null
/// or `f` panics.
///
/// # Safety
///
/// As for [`with_instance`].
pub unsafe fn with_instance_or<T: CapabilityImpl, R>(
    handle: InstanceHandle,
    fallback: R,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    // SAFETY: the caller promises `handle` is a live, unaliased `T` from `create_shim::<T>`.
    match unsafe { instance_mut::<T>(handle) } {
        Some(instance) => match catch_unwind(AssertUnwindSafe(|| f(instance))) {
            Ok(value) => value,
            Err(payload) => {
                forget_payload(payload);
                fallback
            }
        },
        None => fallback,
    }
}

/// Logs through the host's callback; a no-op before `init` and after `deinit`.
pub fn log(level: LogLevel, message: &str) {
    let context = HOST.load(Ordering::Acquire);
    // SAFETY: `HOST` is only ever null or the pointer the host passed to `init`, which the
    // ABI keeps valid until `deinit` returns; `deinit` resets it to null before it
    // returns (after the user's hook, which may still log).
    let Some(context) = (unsafe { context.as_ref() }) else {
        return;
    };
    let Some(log) = context.log else { return };
    let id = PLUGIN_ID.load(Ordering::Acquire);
    // SAFETY: `PLUGIN_ID` holds null or a `&'static StrRef` stored by `__private::init`.
    let id = unsafe { id.as_ref() }.copied().unwrap_or(StrRef::EMPTY);
    // SAFETY: the host's callback accepts any level and valid UTF-8 pairs from any thread.
    unsafe { log(level as u32, id, StrRef::new(message)) };
}

static HOST: AtomicPtr<HostContext> = AtomicPtr::new(std::ptr::null_mut());
static PLUGIN_ID: AtomicPtr<StrRef> = AtomicPtr::new(std::ptr::null_mut());

/// # Safety
///
/// `handle` is null or a live, unaliased `T` boxed by `create_shim::<T>`.
unsafe fn instance_mut<'a, T>(handle: InstanceHandle) -> Option<&'a mut T> {
    // SAFETY: forwarded from the caller.
    unsafe { handle.0.cast::<T>().as_mut() }
}

unsafe extern "C" fn create_shim<T: CapabilityImpl>(
    config: BytesRef,
    out: *mut InstanceHandle,
    error: *mut ErrorBuf,
) -> Status {
    let body = || {
        if out.is_null() {
            return Err(PluginError::invalid_argument("null output pointer"));
        }
        if config.len != 0 && config.ptr.is_null() {
            return Err(PluginError::invalid_argument("null configuration bytes"));
        }
        // SAFETY: the host passes configuration bytes valid for this call.
        let bytes = unsafe { config.as_slice() };
        let instance = T::create(bytes)?;
        let raw = Box::into_raw(Box::new(instance));
        // SAFETY: `out` is not null (checked above) and the host made it writable.
        unsafe { out.write(InstanceHandle(raw.cast())) };
        Ok(())
    };
    // SAFETY: the ABI gives `error` as null or a valid buffer.
    unsafe { guard(error, body) }
}

unsafe extern "C" fn destroy_shim<T: CapabilityImpl>(
    handle: InstanceHandle,
    error: *mut ErrorBuf,
) -> Status {
    let body = || {
        if handle.0.is_null() {
            return Err(PluginError::invalid_argument("null instance handle"));
        }
        // SAFETY: the host destroys each handle made by `create_shim::<T>` exactly
        // once, so taking the box back is sound; the drop may panic, which `guard`
        // catches (the memory is then leaked, never freed twice).
        drop(unsafe { Box::from_raw(handle.0.cast::<T>()) });
        Ok(())
    };
    // SAFETY: the ABI gives `error` as null or a valid buffer.
    unsafe { guard(error, body) }
}

/// Leaks a caught panic's payload instead of dropping it: a payload's own `Drop` may
/// panic (`std::panic::panic_any` takes any type), and that second unwind would escape
/// the boundary. A panic is rare enough that the leak does not matter.
fn forget_payload(payload: Box<dyn Any + Send>) {
    std::mem::forget(payload);
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}

/// What [`export_module!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use plugin_runtime::abi::{
        ABI_VERSION_MAJOR, ABI_VERSION_MINOR, MODULE_MAGIC, ModuleDescriptor, ModuleHeader,
    };

    /// A user hook for `init` or `deinit`.
    pub type Hook = fn() -> Result<(), PluginError>;

    /// The module's `init`: stores the host context and id, then runs the user's hook.
    ///
    /// # Safety
    ///
    /// `context` is null or valid until `deinit`; `error` as for [`guard`].
    pub unsafe fn init(
        context: *const HostContext,
        error: *mut ErrorBuf,
        plugin_id: &'static StrRef,
        hook: Option<Hook>,
    ) -> Status {
        PLUGIN_ID.store((plugin_id as *const StrRef).cast_mut(), Ordering::Release);
        HOST.store(context.cast_mut(), Ordering::Release);
        // SAFETY: forwarded from the caller.
        unsafe { guard(error, || hook.map_or(Ok(()), |h| h())) }
    }

    /// The module's `deinit`: runs the user's hook, then forgets the host context.
    ///
    /// # Safety
    ///
    /// `error` as for [`guard`].
    pub unsafe fn deinit(error: *mut ErrorBuf, hook: Option<Hook>) -> Status {
        // SAFETY: forwarded from the caller.
        let status = unsafe { guard(error, || hook.map_or(Ok(()), |h| h())) };
        HOST.store(std::ptr::null_mut(), Ordering::Release);
        status
    }

    /// Wraps a descriptor part so it can live in a `static`.
    #[repr(transparent)]
    #[derive(Debug)]
    pub struct Static<T>(pub T);
    // SAFETY: a module descriptor is immutable static data (see `ModuleDescriptor`'s
    // `Sync`); only these two types are wrapped, so no interior mutability is shared.
    unsafe impl Sync for Static<ModuleDescriptor> {}
    // SAFETY: a string pair pointing to a `&'static str`: immutable static data.
    unsafe impl Sync for Static<StrRef> {}
}

/// Exports a module: its descriptor, its `init`/`deinit` and the versioned entry symbol.
///
/// Invoke it once per `cdylib`. `init` and `deinit` are optional
/// `fn() -> Result<(), PluginError>`; `deinit` must join every thread the plugin started.
///
/// The [crate documentation](crate#examples) has a complete plugin.
#[macro_export]
macro_rules! export_module {
    (
        id: $id:expr,
        version: $version:expr,
        name: $name:expr,
        capabilities: [$($cap:ty),* $(,)?]
        $(, init: $init:expr)?
        $(, deinit: $deinit:expr)?
        $(,)?
    ) => {
        const _: () = {
            use $crate::__private as __p;
            use $crate::abi as __abi;

            static CAPABILITIES: &[__abi::CapabilityDescriptor] =
                &[$($crate::capability::<$cap>()),*];
            static PLUGIN_ID: __p::Static<__abi::StrRef> = __p::Static(__abi::StrRef::new($id));
            static MODULE: __p::Static<__p::ModuleDescriptor> = __p::Static(__p::ModuleDescriptor {
                header: __p::ModuleHeader {
                    magic: __p::MODULE_MAGIC,
                    abi_major: __p::ABI_VERSION_MAJOR,
                    abi_minor: __p::ABI_VERSION_MINOR,
                    descriptor_size: ::core::mem::size_of::<__p::ModuleDescriptor>() as u32,
                    capability_size: ::core::mem::size_of::<__abi::CapabilityDescriptor>() as u32,
                },
                plugin_id: __abi::StrRef::new($id),
                plugin_version: __abi::StrRef::new($version),
                display_name: __abi::StrRef::new($name),
                capabilities: CAPABILITIES.as_ptr(),
                capability_count: CAPABILITIES.len(),
                init: Some(init),
                deinit: Some(deinit),
            });

            unsafe extern "C" fn init(
                context: *const __abi::HostContext,
                error: *mut __abi::ErrorBuf,
            ) -> __abi::Status {
                let hook: ::core::option::Option<__p::Hook> = None $(.or(Some($init)))?;
                // SAFETY: the host passes a context valid until `deinit` and a valid or
                // null error buffer, as the ABI requires.
                unsafe { __p::init(context, error, &PLUGIN_ID.0, hook) }
            }

            unsafe extern "C" fn deinit(error: *mut __abi::ErrorBuf) -> __abi::Status {
                let hook: ::core::option::Option<__p::Hook> = None $(.or(Some($deinit)))?;
                // SAFETY: the host passes a valid or null error buffer.
                unsafe { __p::deinit(error, hook) }
            }

            /// The module's entry symbol.
            #[unsafe(no_mangle)]
            pub extern "C" fn plugin_runtime_module_v1() -> *const __p::ModuleDescriptor {
                &MODULE.0
            }
        };
    };
}
