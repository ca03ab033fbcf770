//! The messages between handles, owners, instances and the actor. Private: the public
//! surface is the methods of `RuntimeHandle`, `Owner`, `Instance` and `ModulePin`.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::events::EventFilter;
use crate::routing::ListenerId;

use crate::generation::{
    CloseToken, Command, DirectoryScan, GenerationKey, GenerationState, LoadKey, NotFoundError,
    Outcome, PinError, PinKey, RequestId, SyncKey,
};
use crate::loader::{CloseReport, LoadError, LoadedLibrary};
use crate::owner::{
    InstanceKey, OwnerError, OwnerKey, ReserveError, Subscription, Ticket, TicketError, TicketKey,
};

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
    Reserve {
        owner: OwnerKey,
        plugin_id: String,
        kind: &'static str,
        type_id: String,
        interface_version: u32,
        reply: Sender<Result<Reservation, ReserveError>>,
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
pub(crate) enum Release {
    TicketCreated {
        ticket: TicketKey,
        reply: Sender<Result<InstanceKey, TicketError>>,
    },
    TicketFailed {
        ticket: TicketKey,
    },
    Instance {
        instance: InstanceKey,
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

/// A reserved ticket and the library to create the instance from.
pub(crate) struct Reservation {
    pub(crate) ticket: Ticket,
    pub(crate) library: Arc<LoadedLibrary>,
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
