//! Owners and what they hold: tickets (phase one of creating an instance) and instance
//! records.
//!
//! An owner is a named role bound to one thread. Every ticket and instance record names
//! its owner and its generation by key; the generation counts them per owner, so the
//! core never needs a global reverse-lookup table. The operations are methods of
//! [`Lifecycle`](crate::generation::Lifecycle), which owns every arena.
#![forbid(unsafe_code)]

mod deferred;
mod error;
mod records;
mod tickets;

pub use error::{OwnerError, ReleaseError, ReserveError, TicketError};
pub use records::{INSTANCE_RECORD_SIZE, InstanceView, OwnerReleased, Subscription, Ticket};
pub(crate) use records::{InstanceRecord, OwnerRecord, TicketRecord};

crate::generation::keys::core_keys! {
    /// A generational key to one registered owner.
    ///
    /// Stale or of another core, it is refused like a
    /// [`GenerationKey`](crate::generation::GenerationKey).
    pub struct OwnerKey(OwnerSlot) => Owner;

    /// A generational key to one reserved ticket.
    ///
    /// Stale or of another core, it is refused like a
    /// [`GenerationKey`](crate::generation::GenerationKey).
    pub struct TicketKey(TicketSlot) => Ticket;

    /// A generational key to one instance record.
    ///
    /// Stale or of another core, it is refused like a
    /// [`GenerationKey`](crate::generation::GenerationKey).
    pub struct InstanceKey(InstanceSlot) => Instance;
}
