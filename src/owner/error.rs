//! The errors of the owner operations, one type per operation.

use crate::generation::NotFoundError;

/// Why [`Lifecycle::reserve_ticket`](crate::generation::Lifecycle::reserve_ticket)
/// failed. Nothing was reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// The owner is not registered, or its key belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    Owner(NotFoundError),
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
    /// The active generation offers no capability of this kind and type id.
    #[error("plugin `{plugin_id}` has no capability `{kind}/{type_id}`")]
    NoCapability {
        /// The plugin.
        plugin_id: String,
        /// The kind asked for.
        kind: String,
        /// The type id asked for.
        type_id: String,
    },
    /// The capability exists with another interface version.
    #[error("capability `{kind}/{type_id}` has interface version {found}, expected {expected}")]
    InterfaceVersion {
        /// The kind.
        kind: String,
        /// The type id.
        type_id: String,
        /// The version asked for.
        expected: u32,
        /// The version the active generation offers.
        found: u32,
    },
    /// The runtime is shutting down.
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

/// Why finishing a ticket (created, failed or dropped) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// The ticket was already finished (or its owner unregistered), or it belongs to
    /// another core ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why [`Lifecycle::release_instance`](crate::generation::Lifecycle::release_instance)
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The instance was already released (or its owner unregistered), or it belongs to
    /// another core ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}

/// Why an operation on an owner failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    /// The owner is not registered, or its key belongs to another core
    /// ([`NotFoundError::Foreign`]).
    #[error(transparent)]
    NotFound(NotFoundError),
}
