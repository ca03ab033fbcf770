//! What the [`interface`](macro@crate::interface) macro's expansion and the SDK call.
//! Not part of the API: the names here may change in any release.

use std::any::Any;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use super::lower::{Arg, RawSlice, RawSliceMut, Ret, Returned};
use super::{CallError, PluginError};
use crate::abi::{Capability, ErrorBuf, InstanceHandle, Status};

/// How many bytes of error message a host reads back from one plugin call.
pub const ERROR_CAPACITY: usize = 1024;

/// The vtable an interface builds for one implementing type.
///
/// # Safety
///
/// Implemented only by the interface macro, for every `T` that implements the
/// interface's plugin trait: `VTABLE`'s slots are shims that treat every instance
/// handle as a `Box<T>` made by the SDK's `create` for `T`. The SDK exports a
/// capability's vtable only as `<T::Interface as VTableFor<T>>::VTABLE` for the very `T`
/// its `create` boxes, so a capability can never carry another type's vtable.
pub unsafe trait VTableFor<T>: Capability {
    /// The vtable whose shims call `T`'s methods.
    const VTABLE: &'static Self::VTable;
}

/// The instance behind a handle, shared.
///
/// # Errors
///
/// For a null handle, which a conforming host never passes.
///
/// # Safety
///
/// `handle` is null or a live `T` boxed by the SDK's `create` for `T`, not mutably
/// borrowed elsewhere for `'a`.
#[inline(always)]
pub unsafe fn instance_ref<'a, T>(handle: InstanceHandle) -> Result<&'a T, PluginError> {
    // SAFETY: forwarded from the caller.
    unsafe { handle.0.cast::<T>().as_ref() }.ok_or_else(null_handle)
}

/// The instance behind a handle, exclusively.
///
/// # Errors
///
/// For a null handle.
///
/// # Safety
///
/// `handle` is null or a live `T` boxed by the SDK's `create` for `T`, not borrowed
/// elsewhere for `'a` (the host's `&mut` on its instance guarantees it).
#[inline(always)]
pub unsafe fn instance_mut<'a, T>(handle: InstanceHandle) -> Result<&'a mut T, PluginError> {
    // SAFETY: forwarded from the caller.
    unsafe { handle.0.cast::<T>().as_mut() }.ok_or_else(null_handle)
}

#[cold]
fn null_handle() -> PluginError {
    PluginError::invalid_argument("null instance handle")
}

/// Runs a method that reports errors: writes the value to `out` on success, or the
/// error's message to `error` and returns its status. A panic becomes
/// [`Status::PANIC`] with the panic's message; no unwind leaves this function.
///
/// # Safety
///
/// `out` is null or valid for a write of `R::Abi`; `error` is null or a valid
/// [`ErrorBuf`] whose storage is writable for its capacity.
#[inline]
pub unsafe fn guard_result<R: Returned>(
    out: *mut R::Abi,
    error: *mut ErrorBuf,
    body: impl FnOnce() -> Result<R, PluginError>,
) -> Status {
    let (status, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            if !out.is_null() {
                // SAFETY: the caller promises a non-null `out` is writable.
                unsafe { out.write(value.lower()) };
            }
            return Status::OK;
        }
        Ok(Err(e)) => e.into_parts(),
        Err(payload) => panicked(payload),
    };
    // SAFETY: forwarded from the caller.
    unsafe { write_error(error, &message) };
    status
}

/// Runs a method that has no way to report an error: its value, or the default of its
/// crossing type (0, `false`) when it fails or panics. No unwind leaves this function.
#[inline]
pub fn guard_value<R: Ret>(body: impl FnOnce() -> Result<R, PluginError>) -> R::Abi {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value.lower(),
        Ok(Err(_)) => R::Abi::default(),
        Err(payload) => {
            forget_payload(payload);
            R::Abi::default()
        }
    }
}

/// Runs a lifecycle function (`init`, `deinit`, `create`, `destroy`) under the panic
/// guard; see [`guard_result`].
///
/// # Safety
///
/// `error` is null or a valid [`ErrorBuf`].
#[inline]
pub unsafe fn guard(
    error: *mut ErrorBuf,
    body: impl FnOnce() -> Result<(), PluginError>,
) -> Status {
    // SAFETY: a null `out` is never written; `error` is forwarded.
    unsafe { guard_result::<()>(std::ptr::null_mut(), error, body) }
}

/// The host side of a method that reports errors: makes the output slot and the error
/// buffer on the stack, runs `call`, and reads the value or the error back. Allocates
/// only to return an error's message.
#[inline(always)]
pub fn call_status<R: Returned>(
    call: impl FnOnce(*mut R::Abi, *mut ErrorBuf) -> Status,
) -> Result<R, CallError> {
    let mut out = R::Abi::default();
    let mut storage = MaybeUninit::<[u8; ERROR_CAPACITY]>::uninit();
    let mut error = ErrorBuf {
        ptr: storage.as_mut_ptr().cast(),
        capacity: ERROR_CAPACITY,
        len: 0,
    };
    let status = call(&mut out, &mut error);
    if status.is_ok() {
        R::lift_checked(out)
    } else {
        // The plugin may have overwritten `ptr` and `capacity` through its pointer to
        // `error`: only the length it reports is used, bounded by our own storage.
        Err(failed(status, &storage, error.len))
    }
}

#[cold]
#[inline(never)]
fn failed(status: Status, storage: &MaybeUninit<[u8; ERROR_CAPACITY]>, len: usize) -> CallError {
    let len = len.min(ERROR_CAPACITY);
    // SAFETY: the ABI has the plugin write `len` bytes of the buffer before it returns
    // (the SDK's `ErrorBuf::write` does exactly that), and `len` is clamped to the
    // storage's size, so only bytes of our own storage that the plugin wrote are read.
    let bytes = unsafe { std::slice::from_raw_parts(storage.as_ptr().cast::<u8>(), len) };
    CallError {
        status,
        message: String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// # Safety
///
/// `error` is null or a valid [`ErrorBuf`].
unsafe fn write_error(error: *mut ErrorBuf, message: &str) {
    // SAFETY: the caller promises `error` is null or valid and its storage writable.
    if let Some(buf) = unsafe { error.as_mut() } {
        // SAFETY: as above.
        unsafe { buf.write(message) };
    }
}

fn panicked(payload: Box<dyn Any + Send>) -> (Status, String) {
    let message = format!("plugin panicked: {}", panic_message(&*payload));
    forget_payload(payload);
    (Status::PANIC, message)
}

/// Leaks a caught panic's payload instead of dropping it: a payload's own `Drop` may
/// panic (`std::panic::panic_any` takes any type), and that second unwind would escape
/// the boundary. A panic is rare enough that the leak does not matter.
pub fn forget_payload(payload: Box<dyn Any + Send>) {
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
