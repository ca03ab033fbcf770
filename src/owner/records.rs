//! The owner, ticket and instance records, and their public views.

use crate::generation::GenerationKey;

use super::OwnerKey;
use super::TicketKey;

/// What an owner wants to be told about besides the generations it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subscription {
    /// Every lifecycle notice of this plugin.
    Plugin(String),
    /// Every lifecycle notice of every plugin.
    All,
}

/// A reserved ticket: the instance slot and the pinned generation an owner creates its
/// instance from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// The ticket, to pass to exactly one of
    /// [`ticket_created`](crate::generation::Lifecycle::ticket_created),
    /// [`ticket_failed`](crate::generation::Lifecycle::ticket_failed) or
    /// [`ticket_dropped`](crate::generation::Lifecycle::ticket_dropped).
    pub key: TicketKey,
    /// The generation the ticket pins; its library holds the capability.
    pub generation: GenerationKey,
    /// The capability's index in the generation's module (see
    /// [`Lifecycle::capability`](crate::generation::Lifecycle::capability)).
    pub capability: usize,
    /// The capability's interface version.
    pub interface_version: u32,
}

/// A read-only view of one instance record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceView {
    /// The generation whose library the instance lives in.
    pub generation: GenerationKey,
    /// The owner the instance belongs to.
    pub owner: OwnerKey,
    /// The capability's index in the generation's module.
    pub capability: usize,
}

/// What unregistering an owner released on its behalf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OwnerReleased {
    /// Instance records removed.
    pub instances: usize,
    /// Tickets dropped.
    pub tickets: usize,
    /// Pins released.
    pub pins: usize,
}

/// One registered owner.
#[derive(Debug)]
pub(crate) struct OwnerRecord {
    /// Its place among the core's records, in the order they were made (slots are
    /// reused, so the arena's order is not that order).
    pub(crate) made: u64,
    pub(crate) name: String,
    /// The thread it registered from, if the caller said.
    pub(crate) thread: Option<String>,
    pub(crate) subscriptions: Vec<Subscription>,
}

impl OwnerRecord {
    /// Whether the owner asked for notices of `plugin_id` regardless of what it holds.
    pub(crate) fn subscribes_to(&self, plugin_id: &str) -> bool {
        self.subscriptions.iter().any(|s| match s {
            Subscription::All => true,
            Subscription::Plugin(id) => id == plugin_id,
        })
    }
}

/// A reserved ticket: it holds its generation like an instance does.
#[derive(Debug)]
pub(crate) struct TicketRecord {
    pub(crate) generation: GenerationKey,
    pub(crate) owner: OwnerKey,
    pub(crate) capability: u32,
}

/// A live instance: its generation, owner and capability, and nothing else, so a million
/// of them stay cheap.
#[derive(Debug)]
pub(crate) struct InstanceRecord {
    pub(crate) generation: GenerationKey,
    pub(crate) owner: OwnerKey,
    pub(crate) capability: u32,
    /// The ticket it was made from, when its owner knows it by that key (it was
    /// recorded with [`record_created`](crate::generation::Lifecycle::record_created)):
    /// the key of its entry in the core's alias map, removed with the record.
    pub(crate) alias: Option<TicketKey>,
}

const _: () = assert!(size_of::<InstanceRecord>() <= 64);

/// The size in bytes of one instance record (at most 64, checked at compile time).
pub const INSTANCE_RECORD_SIZE: usize = size_of::<InstanceRecord>();
