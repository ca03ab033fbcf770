//! What the host gives a plugin at `init`.

use super::StrRef;

/// A log record's severity, as passed to [`HostContext::log`].
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very verbose diagnostics.
    Trace = 0,
    /// Diagnostics.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that the plugin handled.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

impl LogLevel {
    /// Reads a level from its integer form; unknown values become [`LogLevel::Error`] so
    /// that nothing a plugin says is dropped.
    pub const fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            _ => Self::Error,
        }
    }
}

/// The host's log callback: level (a [`LogLevel`] as `u32`), the plugin id and the
/// message. The host makes it safe to call from any thread at any time until `deinit`
/// returns.
pub type LogFn = unsafe extern "C" fn(level: u32, plugin_id: StrRef, message: StrRef);

/// What the host hands a plugin's `init`: the ABI it speaks and its services.
///
/// The host keeps this value alive and unchanged from `init` until `deinit` returns, so a
/// plugin may keep the pointer. New fields are appended in later minor versions; `size`
/// says how many bytes are valid, and a plugin must not read past it.
#[repr(C)]
#[derive(Debug)]
pub struct HostContext {
    /// `size_of::<HostContext>()` as the host knows it.
    pub size: u32,
    /// The host's ABI major version.
    pub abi_major: u32,
    /// The host's ABI minor version.
    pub abi_minor: u32,
    /// The log callback; never null from this host, but plugins must accept null.
    pub log: Option<LogFn>,
}
