//! The runtime's errors, one type per operation.

use crate::generation::PinError;
use crate::loader::{CallError, LoadError, ResolveError};
use crate::owner::{OwnerError, ReserveError};

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is out of its documented bounds (see
    /// [`RuntimeConfig`](super::RuntimeConfig)); nothing was started.
    #[error("configuration: {field} = {value} {reason}")]
    Config {
        /// The setting, as its field is named, such as `queue_capacity`.
        field: &'static str,
        /// The value given.
        value: String,
        /// The bounds it breaks.
        reason: &'static str,
    },
    /// The loader could not be set up: a loader setting is out of bounds, a plugin root
    /// is not a directory, or the shadow directory cannot be created.
    #[error("the loader could not start: {0}")]
    Loader(#[from] LoadError),
    /// A runtime thread could not be spawned.
    #[error("cannot spawn the {thread} thread: {source}")]
    Spawn {
        /// Which thread.
        thread: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a request to the actor did not get an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request queue stayed full for the whole send timeout.
    #[error("the runtime's request queue is full")]
    QueueFull,
    /// No answer came within the timeout. For an owner's command, the outcome still
    /// arrives in its mailbox later.
    #[error("no answer within the timeout")]
    Timeout,
    /// The actor panicked. Nothing was unloaded; every later request fails with this.
    #[error("the runtime is poisoned: its actor panicked (nothing was unloaded)")]
    Poisoned,
    /// The actor has stopped.
    #[error("the runtime has stopped")]
    Stopped,
    /// The owner already has as many commands outstanding as its mailbox reserves
    /// completions for. The command was not submitted (and is dropped); receive
    /// completions from the mailbox, then submit again.
    #[error("{outstanding} commands outstanding, the owner's limit is {limit}")]
    Backlog {
        /// Commands submitted whose completion was not received yet.
        outstanding: usize,
        /// Half the mailbox capacity.
        limit: usize,
    },
}

/// Why [`Owner::subscribe`](super::Owner::subscribe) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The request did not reach the actor or got no answer.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The core refused the subscription: it does not know this owner (any more).
    #[error(transparent)]
    Refused(#[from] OwnerError),
}

/// Why [`Owner::create`](super::Owner::create) failed. No ticket or pin is left behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The request did not reach the actor or got no answer.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The core refused the reservation (unknown, disabled or draining-only plugin,
    /// missing capability, other interface version, shutting down).
    #[error(transparent)]
    Reserve(#[from] ReserveError),
    /// The loaded library does not offer the capability as the host's type names it.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The plugin's `create` failed or panicked.
    #[error("the plugin's create failed: {0}")]
    Plugin(#[from] CallError),
    /// `create` was called on another thread than the owner's.
    #[error("an owner's instances can only be created on the owner's thread")]
    WrongThread,
}

/// Why a module pin could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinRequestError {
    /// The request did not reach the actor or got no answer.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The core refused the pin (unknown, disabled or inactive plugin, shutting down).
    #[error(transparent)]
    Pin(#[from] PinError),
}
