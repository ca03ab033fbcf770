//! The messages between handles, owners, instances and the actor. Private: the public
//! surface is the methods of `RuntimeHandle`, `Owner`, `Instance` and `ModulePin`.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::events::EventFilter;
use crate::routing::ListenerId;

use crate::generation::{
    CloseToken, Command, ConfigNotice, ConfigReport, DirectoryScan, GenerationKey, GenerationState,
    LoadKey, NotFoundError, Outcome, PinError, PinKey, RequestId, SyncKey,
};
use crate::loader::{CloseReport, LoadError, LoadedLibrary};
use crate::owner::{OwnerError, OwnerKey, ReserveError, Subscription, Ticket, TicketKey};

use super::listener::Delivery;
use super::mailbox::HeldBack;
use super::owner::OwnerEvent;

/// What waits in the bounded request queue: everything that asks the actor for
/// something new.
pub(crate) enum Request {
    /// A control-plane command. Its outcome goes to `waiter` if there is one, else to
    /// the owner's mailbox.
    Submit {
        request_id: RequestId,
        owner: Option<OwnerKey>,
        command: Command,
        waiter: Option<Sender<Outcome>>,
    },
    RegisterOwner {
        name: String,
        /// The registering thread's name, or its id if it has none.
        thread: String,
        /// A bounded channel; see `mailbox.rs` for how it is shared.
        mailbox: Sender<OwnerEvent>,
        held_back: HeldBack,
        reply: Sender<OwnerKey>,
    },
    Subscribe {
        owner: OwnerKey,
        subscription: Subscription,
        reply: Sender<Result<(), OwnerError>>,
    },
    /// Adds a listener; the reply carries its id and the receiving end of its queue.
    Listen {
        filter: EventFilter,
        reply: Sender<(ListenerId, Receiver<Delivery>)>,
    },
    /// Reserves a ticket. The reply may be waited for ([`Owner::create`]) or polled
    /// ([`Slot`]); `releases` is the requester's release queue, for the reservation's
    /// guard.
    ///
    /// [`Owner::create`]: super::Owner::create
    /// [`Slot`]: super::Slot
    Reserve {
        owner: OwnerKey,
        plugin_id: String,
        kind: &'static str,
        type_id: String,
        interface_version: u32,
        reply: Sender<Result<Reservation, ReserveError>>,
        releases: Sender<Release>,
    },
    Pin {
        owner: Option<OwnerKey>,
        plugin_id: String,
        reply: Sender<Result<PinGrant, PinError>>,
    },
    GenerationState {
        generation: GenerationKey,
        reply: Sender<Result<GenerationState, NotFoundError>>,
    },
    /// Makes the actor panic, to test poisoning.
    #[cfg(test)]
    Panic,
    /// Makes the actor wait until the sender of `until` is dropped, to fill its queue.
    #[cfg(test)]
    Block {
        until: crossbeam_channel::Receiver<()>,
    },
}

/// What goes on the unbounded release queue: the ends of things already counted. Each
/// ticket, instance, pin and owner sends at most one of these, so the queue's length is
/// bounded by what is alive; it is unbounded so that a drop never blocks or fails.
///
/// An instance is known by the key of the ticket it was made from: `Created` turns the
/// ticket into its instance record without an answer, and the owner's thread sends every
/// release of one instance on this one FIFO queue, so `Created` is always read before the
/// same ticket's `Configured` and `Destroyed` (see `owner/deferred.rs` for why the
/// generation stays pinned throughout).
pub(crate) enum Release {
    /// The plugin's `create` succeeded; the instance was built at once.
    Created {
        ticket: TicketKey,
    },
    /// The plugin's `create` failed, or the reservation was dropped unused.
    TicketFailed {
        ticket: TicketKey,
    },
    /// The instance made from `ticket` was destroyed.
    Destroyed {
        ticket: TicketKey,
    },
    /// What the owner did with a configuration for the instance made from `ticket`.
    Configured {
        ticket: TicketKey,
        report: ConfigReport,
    },
    Unpin {
        pin: PinKey,
    },
    UnregisterOwner {
        owner: OwnerKey,
    },
    Unlisten {
        listener: ListenerId,
    },
}

/// A reserved ticket, the library to create the instance from, and the capability's
/// live configuration if it was ever configured.
///
/// Its guard (declared last, so dropped after the library reference) releases the ticket
/// if the reservation is dropped unused: a reply nobody reads (a slot dropped while its
/// reservation was on its way) leaves no ticket behind.
pub(crate) struct Reservation {
    pub(crate) ticket: Ticket,
    pub(crate) library: Arc<LoadedLibrary>,
    pub(crate) live_config: Option<ConfigNotice>,
    pub(crate) guard: TicketGuard,
}

/// Releases its ticket when dropped, unless disarmed.
pub(crate) struct TicketGuard {
    ticket: TicketKey,
    releases: Option<Sender<Release>>,
}

impl TicketGuard {
    pub(crate) fn new(ticket: TicketKey, releases: Sender<Release>) -> Self {
        Self {
            ticket,
            releases: Some(releases),
        }
    }

    /// Whoever holds the reservation now finishes the ticket itself.
    pub(crate) fn disarm(&mut self) {
        self.releases = None;
    }
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        if let Some(releases) = self.releases.take() {
            // The actor gone means nothing is left to release to.
            let _ = releases.send(Release::TicketFailed {
                ticket: self.ticket,
            });
        }
    }
}

/// A granted in-flight pin and the library it keeps loaded.
pub(crate) struct PinGrant {
    pub(crate) pin: PinKey,
    pub(crate) generation: GenerationKey,
    pub(crate) library: Arc<LoadedLibrary>,
}

/// Work for the loader threads.
pub(crate) enum LoaderJob {
    Open {
        load: LoadKey,
        path: PathBuf,
        expected_plugin_id: Option<String>,
    },
    Close {
        token: CloseToken,
        library: Arc<LoadedLibrary>,
    },
    /// List, fingerprint and describe the libraries of a directory for a sync.
    Scan { sync: SyncKey, dir: PathBuf },
}

/// What a loader thread did.
pub(crate) enum LoaderDone {
    Opened {
        load: LoadKey,
        result: Result<Arc<LoadedLibrary>, LoadError>,
    },
    Closed {
        token: CloseToken,
        report: CloseReport,
        /// Generations closed earlier as still mapped whose code is gone now, found by
        /// the one read of `/proc/self/maps` after this close.
        unmapped: Vec<GenerationKey>,
    },
    Scanned {
        sync: SyncKey,
        result: Result<DirectoryScan, String>,
    },
}
