//! Borrowed strings and byte slices as `(pointer, length)` pairs.

/// A borrowed UTF-8 string as a `(pointer, length)` pair; not NUL-terminated.
///
/// The pointer may be null only when the length is zero. The receiving side must
/// validate the bytes as UTF-8 before treating them as a string.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    /// The first byte, or null for an empty string.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl StrRef {
    /// The empty string.
    pub const EMPTY: Self = Self {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows a Rust string. `const`, so descriptors can be built in statics.
    pub const fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Borrows the bytes as a slice without validating them.
    ///
    /// # Safety
    ///
    /// Either `len` is zero, or `ptr` points to `len` initialised bytes that stay valid
    /// and unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        debug_assert!(!self.ptr.is_null(), "non-empty StrRef with a null pointer");
        // SAFETY: the caller promises `ptr` is valid for `len` bytes for `'a`; the empty
        // case, where a null pointer is allowed, returned above.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A borrowed byte slice as a `(pointer, length)` pair.
///
/// The pointer may be null only when the length is zero.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BytesRef {
    /// The first byte, or null for an empty slice.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl BytesRef {
    /// The empty slice.
    pub const EMPTY: Self = Self {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows a Rust byte slice. `const`, so descriptors can be built in statics.
    pub const fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows the bytes as a slice.
    ///
    /// # Safety
    ///
    /// Either `len` is zero, or `ptr` points to `len` initialised bytes that stay valid
    /// and unchanged for `'a`.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        debug_assert!(
            !self.ptr.is_null(),
            "non-empty BytesRef with a null pointer"
        );
        // SAFETY: the caller promises `ptr` is valid for `len` bytes for `'a`; the empty
        // case, where a null pointer is allowed, returned above.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
