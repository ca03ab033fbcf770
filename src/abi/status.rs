//! Status codes and host-owned error buffers.

/// The result of a call across the boundary: `0` is success, anything else an error.
///
/// Known codes have associated constants; a plugin may return others, which the host
/// reports as they are.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub i32);

impl Status {
    /// The call succeeded.
    pub const OK: Self = Self(0);
    /// The call failed; the error buffer says why.
    pub const ERROR: Self = Self(1);
    /// The plugin panicked; the SDK caught the unwind at the boundary.
    pub const PANIC: Self = Self(2);
    /// An argument was invalid (a null pointer, malformed configuration bytes).
    pub const INVALID_ARGUMENT: Self = Self(3);
    /// The plugin does not support what was asked.
    pub const UNSUPPORTED: Self = Self(4);

    /// Whether this is [`Status::OK`].
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// A short name for a known code, `"unknown"` for any other.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "ok",
            1 => "error",
            2 => "panic",
            3 => "invalid argument",
            4 => "unsupported",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A buffer the host owns and a plugin writes an error message into.
///
/// The plugin copies at most `capacity` bytes of UTF-8 to `ptr` and sets `len`; it
/// truncates at a character boundary. Nothing crosses ownership: the host allocates and
/// frees the buffer. A null `*mut ErrorBuf` means the caller does not want a message.
#[repr(C)]
#[derive(Debug)]
pub struct ErrorBuf {
    /// Where the message goes.
    pub ptr: *mut u8,
    /// How many bytes fit.
    pub capacity: usize,
    /// How many bytes were written.
    pub len: usize,
}

impl ErrorBuf {
    /// Points a buffer at `storage`, with nothing written yet.
    pub fn new(storage: &mut [u8]) -> Self {
        Self {
            ptr: storage.as_mut_ptr(),
            capacity: storage.len(),
            len: 0,
        }
    }

    /// Copies as much of `message` as fits, cut at a character boundary.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of `capacity` bytes (or `capacity` must be zero).
    pub unsafe fn write(&mut self, message: &str) {
        let mut n = message.len().min(self.capacity);
        while !message.is_char_boundary(n) {
            n -= 1;
        }
        if n > 0 {
            // SAFETY: the caller promises `ptr` is writable for `capacity` bytes and
            // `n <= capacity`; `message` is a distinct allocation, so they do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.ptr, n) };
        }
        self.len = n;
    }

    /// The message written into `storage`, read back lossily (a plugin may have written
    /// invalid UTF-8).
    pub fn message(&self, storage: &[u8]) -> String {
        let len = self.len.min(storage.len());
        String::from_utf8_lossy(&storage[..len]).into_owned()
    }
}
