//! How argument and return types cross the boundary.
//!
//! Every supported argument type lowers to exactly one `#[repr(C)]`-safe value
//! ([`Arg::Abi`]) and every supported return type to one plain value ([`Ret::Abi`]), so a
//! generated vtable slot has one parameter per declared parameter and a method costs
//! one indirect call.

use super::{CallError, PluginError};
use crate::abi::StrRef;

mod sealed {
    pub trait Sealed {}
}

/// Plain data: a type every bit pattern of which is a valid value, with no pointers and
/// no padding, so a slice of it can be shared with a plugin built by another compiler.
///
/// Sealed: implemented for the fixed-size integers, `usize`, `isize`, `f32` and `f64`.
/// `bool` is not plain data (only 0 and 1 are valid); pass `&[u8]` instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not plain data and cannot cross the plugin boundary in a slice",
    note = "slices may hold the fixed-size integers, usize, isize, f32 and f64"
)]
pub trait PlainData: sealed::Sealed + Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl PlainData for $t {}
    )*};
}
plain!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

/// A borrowed slice as a `(pointer, length)` pair, as it crosses the boundary.
#[repr(C)]
#[derive(Debug)]
pub struct RawSlice<T> {
    /// The first element (dangling but aligned when empty).
    pub ptr: *const T,
    /// The number of elements.
    pub len: usize,
}

/// A mutably borrowed slice as a `(pointer, length)` pair, as it crosses the boundary.
#[repr(C)]
#[derive(Debug)]
pub struct RawSliceMut<T> {
    /// The first element (dangling but aligned when empty).
    pub ptr: *mut T,
    /// The number of elements.
    pub len: usize,
}

impl<T> Clone for RawSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawSlice<T> {}
impl<T> Clone for RawSliceMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawSliceMut<T> {}

/// An argument type of an interface method.
///
/// # Safety
///
/// [`lift`](Self::lift) of a value [`lower`](Self::lower) made must give back an equal
/// value, and `Abi` must be FFI-safe.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the plugin boundary as an argument",
    note = "arguments may be integers, floats, bool, &str, &[u8], or &[T] / &mut [T] of plain data"
)]
pub unsafe trait Arg: Sized {
    /// What crosses the boundary.
    type Abi: Copy;
    /// The host side: the value as it crosses.
    fn lower(self) -> Self::Abi;
    /// The plugin side: the value back from what crossed.
    ///
    /// # Errors
    ///
    /// [`PluginError::invalid_argument`] for what a conforming host never sends (a null
    /// or misaligned slice pointer, a string that is not UTF-8).
    ///
    /// # Safety
    ///
    /// `abi` was made by [`lower`](Self::lower) from a value that lives, unaliased where
    /// it is mutable, for as long as the returned value is used.
    unsafe fn lift(abi: Self::Abi) -> Result<Self, PluginError>;
}

/// A return type of an interface method (also the `T` of `Result<T, PluginError>`).
///
/// # Safety
///
/// `Abi` must be FFI-safe, and every value of it must lift to a valid `Self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the plugin boundary as a return value",
    note = "methods may return integers, floats, bool, (), or Result<T, PluginError> of those"
)]
pub unsafe trait Ret: Sized {
    /// What crosses the boundary; its default is what a panicking method returns.
    type Abi: Copy + Default;
    /// The plugin side: the value as it crosses.
    fn lower(self) -> Self::Abi;
    /// The host side: the value back from what crossed.
    fn lift(abi: Self::Abi) -> Self;
}

/// A type an interface method returns inside `Result<T, PluginError>`: every [`Ret`],
/// and [`ConfigPlan`](super::ConfigPlan), whose crossing integer may hold values no
/// variant has.
///
/// # Safety
///
/// `Abi` must be FFI-safe, and [`lift_checked`](Self::lift_checked) must give back a
/// valid `Self` or an error for every value of it (never undefined behaviour).
pub unsafe trait Returned: Sized {
    /// What crosses the boundary; its default is what a failing method leaves.
    type Abi: Copy + Default;
    /// The plugin side: the value as it crosses.
    fn lower(self) -> Self::Abi;
    /// The host side: the value back from what crossed.
    ///
    /// # Errors
    ///
    /// For a value no `Self` lowers to: the plugin broke the interface's contract.
    fn lift_checked(abi: Self::Abi) -> Result<Self, CallError>;
}

// SAFETY: a `Ret` lifts every value of its `Abi` to a valid `Self` (its own contract).
unsafe impl<T: Ret> Returned for T {
    type Abi = T::Abi;
    #[inline(always)]
    fn lower(self) -> T::Abi {
        Ret::lower(self)
    }
    #[inline(always)]
    fn lift_checked(abi: T::Abi) -> Result<T, CallError> {
        Ok(T::lift(abi))
    }
}

macro_rules! same {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive crosses as itself; every bit pattern is valid.
        unsafe impl Arg for $t {
            type Abi = $t;
            #[inline(always)]
            fn lower(self) -> $t { self }
            #[inline(always)]
            unsafe fn lift(abi: $t) -> Result<$t, PluginError> { Ok(abi) }
        }
        // SAFETY: as above.
        unsafe impl Ret for $t {
            type Abi = $t;
            #[inline(always)]
            fn lower(self) -> $t { self }
            #[inline(always)]
            fn lift(abi: $t) -> $t { abi }
        }
    )*};
}
same!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

// SAFETY: `bool` crosses as a `u8` (0 or 1) and any non-zero byte lifts to `true`, so no
// invalid `bool` can be made from what a plugin returns.
unsafe impl Arg for bool {
    type Abi = u8;
    #[inline(always)]
    fn lower(self) -> u8 {
        self as u8
    }
    #[inline(always)]
    unsafe fn lift(abi: u8) -> Result<bool, PluginError> {
        Ok(abi != 0)
    }
}

// SAFETY: as above.
unsafe impl Ret for bool {
    type Abi = u8;
    #[inline(always)]
    fn lower(self) -> u8 {
        self as u8
    }
    #[inline(always)]
    fn lift(abi: u8) -> bool {
        abi != 0
    }
}

// SAFETY: `()` carries nothing.
unsafe impl Ret for () {
    type Abi = ();
    #[inline(always)]
    fn lower(self) {}
    #[inline(always)]
    fn lift(_: ()) {}
}

// SAFETY: a string crosses as its (pointer, length) pair and is checked for UTF-8 on the
// way back, so `lift` never makes an invalid `&str`.
unsafe impl<'a> Arg for &'a str {
    type Abi = StrRef;
    #[inline(always)]
    fn lower(self) -> StrRef {
        StrRef::new(self)
    }
    #[inline]
    unsafe fn lift(abi: StrRef) -> Result<&'a str, PluginError> {
        // SAFETY: `abi` came from `lower` of a `&str` that outlives the use (caller's
        // promise); the slice checks below catch a null or misaligned pointer.
        let bytes = unsafe {
            <&'a [u8] as Arg>::lift(RawSlice {
                ptr: abi.ptr,
                len: abi.len,
            })
        }?;
        std::str::from_utf8(bytes)
            .map_err(|_| PluginError::invalid_argument("a string argument is not UTF-8"))
    }
}

// SAFETY: a slice crosses as its (pointer, length) pair; `lift` checks the pointer is
// non-null and aligned and the length fits, and `T: PlainData` makes every element valid.
unsafe impl<'a, T: PlainData> Arg for &'a [T] {
    type Abi = RawSlice<T>;
    #[inline(always)]
    fn lower(self) -> RawSlice<T> {
        RawSlice {
            ptr: self.as_ptr(),
            len: self.len(),
        }
    }
    #[inline]
    unsafe fn lift(abi: RawSlice<T>) -> Result<&'a [T], PluginError> {
        check_slice(abi.ptr, abi.len)?;
        // SAFETY: non-null, aligned, and `len` elements fit in `isize` (checked above);
        // the caller promises the memory is the lowered slice, alive for `'a`.
        Ok(unsafe { std::slice::from_raw_parts(abi.ptr, abi.len) })
    }
}

// SAFETY: as for `&[T]`; the host's `&mut` guarantees the memory is not aliased.
unsafe impl<'a, T: PlainData> Arg for &'a mut [T] {
    type Abi = RawSliceMut<T>;
    #[inline(always)]
    fn lower(self) -> RawSliceMut<T> {
        RawSliceMut {
            ptr: self.as_mut_ptr(),
            len: self.len(),
        }
    }
    #[inline]
    unsafe fn lift(abi: RawSliceMut<T>) -> Result<&'a mut [T], PluginError> {
        check_slice(abi.ptr.cast_const(), abi.len)?;
        // SAFETY: as for `&[T]`, and the caller promises the memory is unaliased.
        Ok(unsafe { std::slice::from_raw_parts_mut(abi.ptr, abi.len) })
    }
}

fn check_slice<T>(ptr: *const T, len: usize) -> Result<(), PluginError> {
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(PluginError::invalid_argument(
            "a slice argument's pointer is null or misaligned",
        ));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|bytes| bytes > isize::MAX as usize)
    {
        return Err(PluginError::invalid_argument(
            "a slice argument's length is too large",
        ));
    }
    Ok(())
}
