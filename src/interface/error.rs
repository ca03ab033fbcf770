//! The error a plugin method reports.

use crate::abi::Status;

/// An error a plugin reports to the host: a status code that is never
/// [`Status::OK`], and a message.
///
/// The host receives it as a [`CallError`](super::CallError) with the same status and
/// message; the message is copied into a buffer the host owns, so nothing allocated by
/// the plugin crosses the boundary.
///
/// # Examples
///
/// ```
/// use plugin_runtime::abi::Status;
/// use plugin_runtime::interface::PluginError;
///
/// let e = PluginError::invalid_argument("the gain must be a number");
/// assert_eq!(e.status(), Status::INVALID_ARGUMENT);
/// // A success status cannot be smuggled into an error.
/// assert_eq!(PluginError::with_status(Status::OK, "fine?").status(), Status::ERROR);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    status: Status,
    message: String,
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

    /// An error with [`Status::UNSUPPORTED`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::with_status(Status::UNSUPPORTED, message)
    }

    /// An error with a given status; [`Status::OK`] becomes [`Status::ERROR`], so an
    /// error never reads as success.
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

    /// The status returned across the boundary; never [`Status::OK`].
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message written into the host's error buffer.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Splits the error into its status and message.
    pub fn into_parts(self) -> (Status, String) {
        (self.status, self.message)
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
