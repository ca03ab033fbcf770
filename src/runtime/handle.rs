//! Starting the runtime, and the handle every thread uses to talk to it.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use crate::events::EventFilter;
use crate::generation::{
    Command, GenerationKey, GenerationState, NotFoundError, Outcome, RequestId, Snapshot,
};
use crate::loader::LibraryLoader;
use crate::owner::OwnerKey;

use super::actor::Actor;
use super::config::RuntimeConfig;
use super::error::{PinRequestError, RequestError, StartError};
use super::listener::Listener;
use super::mailbox::HeldBack;
use super::owner::Owner;
use super::pin::ModulePin;
use super::protocol::{Release, Request};

/// Starts runtimes. See the [module documentation](super) for the threads it runs.
#[derive(Debug)]
pub struct Runtime;

impl Runtime {
    /// Creates the loader (and its shadow directory), spawns the loader threads and the
    /// actor thread, and returns the handle.
    ///
    /// The actor runs until every handle, owner, instance and pin is gone; then it drains
    /// and closes what is left and stops. An explicit
    /// [`Command::Shutdown`] drains everything earlier but keeps the actor collecting
    /// what owners release afterwards.
    ///
    /// # Errors
    ///
    /// [`StartError::Config`] if a setting is out of bounds (checked before anything
    /// is created); [`StartError::Loader`] if a setting of the loader is out of bounds,
    /// a plugin root of its [`Lockdown`](crate::loader::Lockdown) is not a directory, or
    /// the shadow directory cannot be created; [`StartError::Spawn`] if a thread cannot
    /// be created.
    pub fn start(config: RuntimeConfig) -> Result<RuntimeHandle, StartError> {
        config.validate()?;
        let loader = LibraryLoader::new(config.loader.clone())?;
        let (requests_tx, requests_rx) = crossbeam_channel::bounded(config.queue_capacity);
        let (releases_tx, releases_rx) = crossbeam_channel::unbounded();
        let poisoned = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            requests: requests_tx,
            releases: releases_tx,
            next_request: AtomicU64::new(1),
            poisoned: Arc::clone(&poisoned),
            send_timeout: config.send_timeout,
            mailbox_capacity: config.mailbox_capacity,
        });
        // The actor gets the flag only: a sender in its hands would keep its own queues
        // open and it would never see the last handle go.
        Actor::spawn(
            config.core,
            loader,
            config.loader_threads,
            config.listener_capacity,
            requests_rx,
            releases_rx,
            poisoned,
        )?;
        Ok(RuntimeHandle { shared })
    }
}

/// A handle to a running runtime: `Clone + Send + Sync`, cheap to clone.
///
/// Commands sent through it complete with [`call`](Self::call); instances are made
/// through an [`Owner`] registered on the thread that will own them.
#[derive(Debug, Clone)]
pub struct RuntimeHandle {
    pub(crate) shared: Arc<Shared>,
}

/// What every handle, owner, instance and pin of one runtime shares. Touched only on the
/// control plane.
#[derive(Debug)]
pub(crate) struct Shared {
    requests: Sender<Request>,
    pub(crate) releases: Sender<Release>,
    next_request: AtomicU64,
    poisoned: Arc<AtomicBool>,
    send_timeout: Duration,
    mailbox_capacity: usize,
}

thread_local! {
    /// How many times this thread waited on the runtime; see [`blocking_waits`].
    static BLOCKING_WAITS: Cell<u64> = const { Cell::new(0) };
}

/// Counts one wait of the calling thread on the runtime.
pub(crate) fn count_blocking_wait() {
    BLOCKING_WAITS.with(|waits| waits.set(waits.get().wrapping_add(1)));
}

/// How many times the calling thread has waited on the runtime since it started: for a
/// reply of the actor (registering an owner, [`Owner::create`], [`Owner::subscribe`],
/// [`Owner::pin`], [`RuntimeHandle::generation_state`], listening), for an outcome
/// ([`RuntimeHandle::call`], [`Owner::call`]), for room in the full request queue, or
/// for an event ([`Owner::recv_timeout`]).
///
/// Whether or not the wait was long: every call that may block counts. What a real-time
/// thread does at its safe point ([`Owner::poll`], [`Owner::try_recv`], its
/// [`Slot`](super::Slot)s, dropping instances) never waits, and never adds to this; a
/// test reads it before and after to prove it.
///
/// A thread-local counter: reading it takes no lock and allocates nothing.
pub fn blocking_waits() -> u64 {
    BLOCKING_WAITS.with(Cell::get)
}

impl Shared {
    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId(self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    /// Why a channel to the actor is closed.
    pub(crate) fn gone(&self) -> RequestError {
        if self.poisoned.load(Ordering::SeqCst) {
            RequestError::Poisoned
        } else {
            RequestError::Stopped
        }
    }

    /// Queues a request, waiting up to the send timeout for room.
    pub(crate) fn send(&self, request: Request) -> Result<(), RequestError> {
        let request = match self.try_send(request) {
            Ok(()) => return Ok(()),
            Err((request, RequestError::QueueFull)) if !self.send_timeout.is_zero() => request,
            Err((_, error)) => return Err(error),
        };
        count_blocking_wait();
        self.requests
            .send_timeout(request, self.send_timeout)
            .map_err(|e| match e {
                SendTimeoutError::Timeout(_) => RequestError::QueueFull,
                SendTimeoutError::Disconnected(_) => self.gone(),
            })
    }

    /// Queues a request if the queue has room, without waiting; otherwise hands it back
    /// with [`RequestError::QueueFull`] (or why the actor cannot be reached).
    // The request goes back by value so that the caller can send it again; it is moved
    // once per attempt, off the hot path.
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_send(&self, request: Request) -> Result<(), (Request, RequestError)> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err((request, RequestError::Poisoned));
        }
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(request) => (request, RequestError::QueueFull),
            TrySendError::Disconnected(request) => (request, self.gone()),
        })
    }

    /// Waits for the actor's answer on `reply`.
    pub(crate) fn answer<T>(&self, reply: &Receiver<T>) -> Result<T, RequestError> {
        count_blocking_wait();
        // The actor answers every request at once (it never waits for a load), so only
        // its death can keep an answer away.
        reply.recv().map_err(|_| self.gone())
    }

    /// Sends a release. It cannot block; if the actor is gone, nothing is left to
    /// release to, and no library will ever be closed, so dropping it is right.
    pub(crate) fn release(&self, release: Release) {
        let _ = self.releases.send(release);
    }
}

impl RuntimeHandle {
    /// Registers an owner on the calling thread: the returned [`Owner`] is bound to this
    /// thread and cannot leave it.
    ///
    /// Its mailbox is bounded by
    /// [`RuntimeConfig::mailbox_capacity`] (see [`OwnerEvent`](super::OwnerEvent)).
    ///
    /// # Errors
    ///
    /// [`RequestError`] if the actor cannot be reached.
    pub fn register_owner(&self, name: impl Into<String>) -> Result<Owner, RequestError> {
        let name = name.into();
        let (mailbox_tx, mailbox_rx) = crossbeam_channel::bounded(self.shared.mailbox_capacity);
        let held_back = HeldBack::default();
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.shared.send(Request::RegisterOwner {
            name: name.clone(),
            thread: thread_label(),
            mailbox: mailbox_tx,
            held_back: Arc::clone(&held_back),
            reply: reply_tx,
        })?;
        let key: OwnerKey = self.shared.answer(&reply_rx)?;
        Ok(Owner::new(self.clone(), key, name, mailbox_rx, held_back))
    }

    /// Submits `command` and waits up to `timeout` for its outcome; a timeout too long
    /// for the clock (up to [`Duration::MAX`]) waits for as long as it takes.
    ///
    /// This is for code that has no owner. If the wait times out, the outcome is
    /// discarded when it comes (an owner's [`Owner::call`] keeps it instead).
    ///
    /// # Errors
    ///
    /// [`RequestError::Timeout`] if no outcome came in time; the other variants if the
    /// actor cannot be reached.
    pub fn call(&self, command: Command, timeout: Duration) -> Result<Outcome, RequestError> {
        let (waiter_tx, waiter_rx) = crossbeam_channel::bounded(1);
        self.shared.send(Request::Submit {
            request_id: self.shared.next_request_id(),
            owner: None,
            command,
            waiter: Some(waiter_tx),
        })?;
        count_blocking_wait();
        waiter_rx.recv_timeout(timeout).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => RequestError::Timeout,
            crossbeam_channel::RecvTimeoutError::Disconnected => self.shared.gone(),
        })
    }

    /// Pins the plugin's active generation for module-level calls from a thread without
    /// an instance; the generation cannot close until the pin is dropped.
    ///
    /// # Errors
    ///
    /// [`PinRequestError::Pin`] if the plugin is unknown, disabled or inactive, or the
    /// runtime shuts down; [`PinRequestError::Request`] if the actor cannot be reached.
    pub fn pin(&self, plugin_id: &str) -> Result<ModulePin, PinRequestError> {
        ModulePin::take(self, None, plugin_id)
    }

    /// The state of a generation, or a typed not-found once its record is gone.
    ///
    /// # Errors
    ///
    /// `Ok(Err(NotFoundError::Generation))` for a key of a removed generation,
    /// `Ok(Err(NotFoundError::Foreign))` for a key of another runtime (never that
    /// runtime's record, nor one of this runtime);
    /// [`RequestError`] if the actor cannot be reached.
    pub fn generation_state(
        &self,
        generation: GenerationKey,
    ) -> Result<Result<GenerationState, NotFoundError>, RequestError> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.shared.send(Request::GenerationState {
            generation,
            reply: reply_tx,
        })?;
        self.shared.answer(&reply_rx)
    }

    /// Subscribes to the runtime's events that `filter` matches, from now on; see
    /// [`Listener`](super::Listener) and [`events`](crate::events). Each listener
    /// queues up to [`RuntimeConfig::listener_capacity`](super::RuntimeConfig::listener_capacity)
    /// records and loses the oldest when it falls behind; the runtime never waits for it.
    ///
    /// # Errors
    ///
    /// [`RequestError`] if the actor cannot be reached.
    pub fn listen(&self, filter: EventFilter) -> Result<Listener, RequestError> {
        super::listener::listen(self, filter)
    }

    /// Everything the runtime knows now: plugins with their versions, states, paths and
    /// capabilities (with default configurations), generations with their holders,
    /// owners, and the counters. A shorthand for [`call`](Self::call) with
    /// [`Command::Snapshot`].
    ///
    /// # Errors
    ///
    /// As for [`call`](Self::call).
    pub fn snapshot(&self, timeout: Duration) -> Result<Snapshot, RequestError> {
        match self.call(Command::Snapshot, timeout)? {
            Outcome::Snapshot(snapshot) => Ok(snapshot),
            // The core answers a snapshot command with a snapshot, even while shutting down.
            other => unreachable!("a snapshot command completed with {other:?}"),
        }
    }

    /// Whether the actor panicked (the runtime is poisoned).
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::SeqCst)
    }
}

/// The calling thread's name, or its id if it has none: what a snapshot shows for an
/// owner registered on it.
pub(crate) fn thread_label() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", thread.id()),
    }
}
