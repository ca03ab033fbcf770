//! The plugin side of `plugin-runtime`: export a module and its capabilities from a
//! `cdylib` in safe Rust.
//!
//! A plugin crate is a `cdylib` that depends on this crate and on the crates declaring
//! the interfaces it implements (with [`interface`](macro@interface)). For each instance
//! type it offers, it implements [`CapabilityImpl`] (which interface, type id, name,
//! default configuration, `create`) and the interface's trait, then invokes
//! [`export_module!`] once. The macro emits the static descriptor and the versioned entry
//! symbol; every shim turns a panic into [`Status::PANIC`] with the panic message, so no
//! unwind ever crosses into the host.
//!
//! The SDK refuses to build with `panic = "abort"`: its guards catch unwinds, and with
//! abort a plugin's panic would end the host.
//!
//! # Examples
//!
//! An interface, normally in a crate that hosts and plugins share:
//!
//! ```
//! # mod counter_api {
//! use plugin_runtime_sdk::PluginError;
//!
//! #[plugin_runtime_sdk::interface(kind = "counter", major = 1)]
//! pub trait Counter {
//!     /// Advances and returns the count.
//!     fn next(&mut self) -> u64;
//!     /// Jumps to `at`; refuses to go back.
//!     fn seek(&mut self, at: u64) -> Result<(), PluginError>;
//! }
//! # }
//! # use counter_api::{Counter, CounterInterface};
//! # use plugin_runtime_sdk::{CapabilityImpl, PluginError, export_module};
//!
//! // The plugin, in safe Rust:
//! struct Steps {
//!     at: u64,
//!     step: u64,
//! }
//!
//! impl CapabilityImpl for Steps {
//!     type Interface = CounterInterface;
//!     const TYPE_ID: &'static str = "steps";
//!     const DISPLAY_NAME: &'static str = "Counts in steps";
//!     const DEFAULT_CONFIG: &'static [u8] = b"1";
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
//! impl Counter for Steps {
//!     fn next(&mut self) -> u64 {
//!         self.at += self.step;
//!         self.at
//!     }
//!
//!     fn seek(&mut self, at: u64) -> Result<(), PluginError> {
//!         if at < self.at {
//!             return Err(PluginError::invalid_argument("a counter never goes back"));
//!         }
//!         self.at = at;
//!         Ok(())
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
//! A capability's vtable is the one its interface generates for its own type: there is
//! no way to name another type's vtable for it, so the shims the host calls always see
//! the type `create` made.
//!
//! # Rules for plugin authors
//!
//! * Stop and join every thread you start before `deinit` returns.
//! * Do not hand the host anything that borrows from the library beyond the calls the
//!   ABI defines: the library is unmapped after `deinit`.
//! * A `thread_local!` with a destructor touched from a host thread keeps the library
//!   mapped until that thread ends; the host reports it as pinned by the OS loader.

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

#[cfg(panic = "abort")]
compile_error!(
    "plugin-runtime-sdk needs `panic = \"unwind\"`: its guards turn a plugin's panic into an error status, and with `panic = \"abort\"` a panic would end the host process"
);

pub use plugin_runtime::abi;
use plugin_runtime::abi::{
    BytesRef, Capability, CapabilityDescriptor, ErrorBuf, HostContext, InstanceHandle, LogLevel,
    Status, StrRef,
};
pub use plugin_runtime::interface;
use plugin_runtime::interface::__private::{VTableFor, guard};
pub use plugin_runtime::interface::{PlainData, PluginError};

/// An instance type a plugin offers as one capability.
///
/// The SDK boxes the value on `create` and drops it on `destroy`. Its vtable is the one
/// [`Interface`](Self::Interface) generates for this very type, so the type must also
/// implement the interface's trait.
pub trait CapabilityImpl: Sized + 'static {
    /// The interface this type implements: the marker type its
    /// [`interface`](macro@interface) declaration generates (`DspInterface` for a trait
    /// `Dsp`).
    type Interface: Capability;
    /// The type id, unique within its kind in this module.
    const TYPE_ID: &'static str;
    /// A name for people.
    const DISPLAY_NAME: &'static str;
    /// Configuration used when the host passes none: `create` receives it instead of
    /// empty bytes.
    const DEFAULT_CONFIG: &'static [u8] = b"";

    /// Makes an instance from configuration bytes (the default configuration when the
    /// host passed none).
    ///
    /// # Errors
    ///
    /// Whatever the plugin decides; the message reaches the host.
    fn create(config: &[u8]) -> Result<Self, PluginError>;
}

/// The descriptor of capability `T`, for [`export_module!`]: its interface's identity
/// and layout, and the vtable the interface made for `T`.
pub const fn capability<T: CapabilityImpl>() -> CapabilityDescriptor
where
    T::Interface: VTableFor<T>,
{
    CapabilityDescriptor {
        kind: StrRef::new(<T::Interface as Capability>::KIND),
        type_id: StrRef::new(T::TYPE_ID),
        interface_version: <T::Interface as Capability>::INTERFACE_VERSION,
        interface_minor: <T::Interface as Capability>::INTERFACE_MINOR,
        layout_id: <T::Interface as Capability>::LAYOUT_ID,
        layout: StrRef::new(<T::Interface as Capability>::LAYOUT),
        display_name: StrRef::new(T::DISPLAY_NAME),
        default_config: BytesRef::new(T::DEFAULT_CONFIG),
        vtable: (<T::Interface as VTableFor<T>>::VTABLE
            as *const <T::Interface as Capability>::VTable)
            .cast::<c_void>(),
        vtable_size: size_of::<<T::Interface as Capability>::VTable>(),
        create: Some(create_shim::<T>),
        destroy: Some(destroy_shim::<T>),
    }
}

/// Runs `f` and returns its value, or `fallback` if it panics: the guard for functions a
/// plugin exports by hand, beside its capabilities, whose signature has no status to
/// report an error with.
pub fn guard_or<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            plugin_runtime::interface::__private::forget_payload(payload);
            fallback
        }
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
        // Empty configuration asks for the capability's default.
        let bytes = if bytes.is_empty() {
            T::DEFAULT_CONFIG
        } else {
            bytes
        };
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

/// What [`export_module!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use plugin_runtime::abi::{
        ABI_VERSION_MAJOR, ABI_VERSION_MINOR, MODULE_MAGIC, ModuleDescriptor, ModuleHeader,
    };

    pub use plugin_runtime::interface::__private::guard;

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

            // Items are not hygienic in `macro_rules!`: these names are prefixed so that the
            // caller's expressions (a hook `fn init`, a `const PLUGIN_ID`) never resolve to
            // them.
            static __PLUGIN_RUNTIME_CAPABILITIES: &[__abi::CapabilityDescriptor] =
                &[$($crate::capability::<$cap>()),*];
            static __PLUGIN_RUNTIME_PLUGIN_ID: __p::Static<__abi::StrRef> = __p::Static(__abi::StrRef::new($id));
            static __PLUGIN_RUNTIME_MODULE: __p::Static<__p::ModuleDescriptor> = __p::Static(__p::ModuleDescriptor {
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
                capabilities: __PLUGIN_RUNTIME_CAPABILITIES.as_ptr(),
                capability_count: __PLUGIN_RUNTIME_CAPABILITIES.len(),
                init: Some(__plugin_runtime_init),
                deinit: Some(__plugin_runtime_deinit),
            });

            // The author's `init:` and `deinit:` expressions are evaluated in these safe
            // functions, never inside the `unsafe fn`s below, so that they get no unsafe
            // context (a raw-pointer read there would compile under
            // `#![forbid(unsafe_code)]`).
            fn __plugin_runtime_init_hook() -> ::core::option::Option<__p::Hook> {
                None $(.or(Some($init)))?
            }

            fn __plugin_runtime_deinit_hook() -> ::core::option::Option<__p::Hook> {
                None $(.or(Some($deinit)))?
            }

            unsafe extern "C" fn __plugin_runtime_init(
                context: *const __abi::HostContext,
                error: *mut __abi::ErrorBuf,
            ) -> __abi::Status {
                let hook = __plugin_runtime_init_hook();
                // SAFETY: the host passes a context valid until `deinit` and a valid or
                // null error buffer, as the ABI requires.
                unsafe { __p::init(context, error, &__PLUGIN_RUNTIME_PLUGIN_ID.0, hook) }
            }

            unsafe extern "C" fn __plugin_runtime_deinit(error: *mut __abi::ErrorBuf) -> __abi::Status {
                let hook = __plugin_runtime_deinit_hook();
                // SAFETY: the host passes a valid or null error buffer.
                unsafe { __p::deinit(error, hook) }
            }

            /// The module's entry symbol.
            #[unsafe(no_mangle)]
            pub extern "C" fn plugin_runtime_module_v2() -> *const __p::ModuleDescriptor {
                &__PLUGIN_RUNTIME_MODULE.0
            }

            // The symbol's name above spells the ABI major this SDK was built for.
            const _: () = assert!(__p::ABI_VERSION_MAJOR == 2);

            #[cfg(panic = "abort")]
            compile_error!(
                "a plugin-runtime plugin must be built with `panic = \"unwind\"`: with `panic = \"abort\"` a panic in the plugin would end the host"
            );
        };
    };
}
