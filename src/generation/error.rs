//! The errors of the core's synchronous operations, one type per operation.

use super::keys::{GenerationKey, LoadKey, PinKey};

/// A key that names nothing: the record it named was removed (or never existed in this
/// core). A stale key never reaches another record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NotFoundError {
    /// No such generation.
    #[error("generation {0:?} not found")]
    Generation(GenerationKey),
    /// No such pending load.
    #[error("load {0:?} not found")]
    Load(LoadKey),
    /// No such pin.
    #[error("pin {0:?} not found")]
    Pin(PinKey),
    /// No such owner.
    #[error("owner {0:?} not found")]
    Owner(crate::owner::OwnerKey),
    /// No such ticket.
    #[error("ticket {0:?} not found")]
    Ticket(crate::owner::TicketKey),
    /// No such instance.
    #[error("instance {0:?} not found")]
    Instance(crate::owner::InstanceKey),
}

/// Why [`Lifecycle::pin`](super::Lifecycle::pin) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// No plugin with this id is known.
    #[error("unknown plugin `{plugin_id}`")]
    UnknownPlugin {
        /// The plugin id asked for.
        plugin_id: String,
    },
    /// The plugin is disabled.
    #[error("plugin `{plugin_id}` is disabled")]
    Disabled {
        /// The plugin.
        plugin_id: String,
    },
    /// The plugin has no active generation, only draining ones: it was unloaded (or its
    /// load has not finished) while some of its generations are still held.
    #[error("plugin `{plugin_id}` only has draining generations")]
    DrainingOnly {
        /// The plugin.
        plugin_id: String,
    },
    /// The owner named is not registered.
    #[error(transparent)]
    Owner(NotFoundError),
    /// The runtime is shutting down.
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

/// Why [`Lifecycle::unpin`](super::Lifecycle::unpin) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnpinError {
    /// The pin was already released (or never taken in this core).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why [`Lifecycle::load_finished`](super::Lifecycle::load_finished) refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadFinishedError {
    /// The load was already answered (or never requested by this core).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why [`Lifecycle::closed`](super::Lifecycle::closed) refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClosedError {
    /// The token's generation is not in this core, or not waiting for its close: the
    /// token belongs to another core.
    #[error("generation {0:?} is not waiting for a close")]
    NotClosing(GenerationKey),
}

/// Why [`Lifecycle::cleanup`](super::Lifecycle::cleanup) refused to remove a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CleanupError {
    /// The generation's record is already gone.
    #[error(transparent)]
    NotFound(NotFoundError),
    /// The generation is not closed yet (it is active, draining or closing).
    #[error("generation {0:?} is not closed")]
    NotClosed(GenerationKey),
}
