//! The errors of the core's synchronous operations, one type per operation.

use super::keys::{GenerationKey, LoadKey, PinKey};

/// A key that names nothing in this core: the record it named was removed, or the key
/// belongs to another core. A stale key never reaches another record, and a key of
/// another core never reaches a record of this one.
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
    /// No such pending directory sync.
    #[error("sync {0:?} not found")]
    Sync(super::sync::SyncKey),
    /// The key was handed out by another core (another
    /// [`Lifecycle`](super::Lifecycle) or runtime of this process). It is refused before
    /// any lookup, so it never reaches a record of this core, whatever its index.
    #[error(transparent)]
    Foreign(ForeignKeyError),
}

/// A key of another core, refused: mixing the keys of two cores (or of two runtimes) is
/// a mistake of the caller. The key names its own core ([`GenerationKey::core`] and the
/// like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ForeignKeyError {
    /// A generation key (or the generation of a close token) of another core.
    #[error("generation {0:?} belongs to another core")]
    Generation(GenerationKey),
    /// A load key of another core.
    #[error("load {0:?} belongs to another core")]
    Load(LoadKey),
    /// A pin key of another core.
    #[error("pin {0:?} belongs to another core")]
    Pin(PinKey),
    /// An owner key of another core.
    #[error("owner {0:?} belongs to another core")]
    Owner(crate::owner::OwnerKey),
    /// A ticket key of another core.
    #[error("ticket {0:?} belongs to another core")]
    Ticket(crate::owner::TicketKey),
    /// An instance key of another core.
    #[error("instance {0:?} belongs to another core")]
    Instance(crate::owner::InstanceKey),
    /// A sync key of another core.
    #[error("sync {0:?} belongs to another core")]
    Sync(super::sync::SyncKey),
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
    /// The owner named is not registered, or its key belongs to another core
    /// ([`NotFoundError::Foreign`]).
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
    /// The pin was already released, or it belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why [`Lifecycle::load_finished`](super::Lifecycle::load_finished) refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadFinishedError {
    /// The load was already answered, or it belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why [`Lifecycle::closed`](super::Lifecycle::closed) refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClosedError {
    /// The token's generation is gone or not waiting for its close.
    #[error("generation {0:?} is not waiting for a close")]
    NotClosing(GenerationKey),
    /// The token was made by another core; it is refused before any lookup.
    #[error(transparent)]
    Foreign(ForeignKeyError),
}

/// Why [`Lifecycle::cleanup`](super::Lifecycle::cleanup) refused to remove a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CleanupError {
    /// The generation's record is already gone, or the key belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
    /// The generation is not closed and unmapped (it is active, draining, closing, or
    /// its code stays mapped).
    #[error("generation {0:?} is not closed and unmapped")]
    NotClosed(GenerationKey),
}

/// Why [`Lifecycle::scan_finished`](super::Lifecycle::scan_finished) refused an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanFinishedError {
    /// The sync's scan was already answered, or the key belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}
