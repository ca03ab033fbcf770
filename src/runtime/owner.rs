//! Owners: named roles bound to one thread, with a mailbox.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::thread::ThreadId;
use std::time::Duration;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::abi::Capability;
use crate::events::EventFilter;
use crate::generation::deadline::deadline_after;
use crate::generation::{Command, Notice, Outcome, RequestId, ServingNotice};
use crate::owner::{OwnerKey, Subscription};
use crate::routing::DrainStall;

use super::error::{CreateError, PinRequestError, RequestError, SubscribeError};
use super::handle::RuntimeHandle;
use super::instance::Instance;
use super::listener::Listener;
use super::mailbox::{HeldBack, completion_share};
use super::pin::ModulePin;
use super::protocol::{Release, Request, Reservation};

/// What arrives in an owner's mailbox.
///
/// The mailbox is bounded (see [`RuntimeConfig::mailbox_capacity`]): completions are
/// never dropped, because an owner cannot have more commands outstanding than their
/// share; notices that find no room are coalesced into one [`Lagged`](Self::Lagged).
///
/// [`RuntimeConfig::mailbox_capacity`]: super::RuntimeConfig::mailbox_capacity
///
/// With the `serde` feature it crosses as JSON like the [event schema](crate::events):
/// `{"event": "command_completed", "request_id": 3, "owner": "1:1v1", "outcome": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "event", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OwnerEvent {
    /// A command this owner submitted finished.
    CommandCompleted(CommandCompleted),
    /// A generation this owner holds something of (or subscribed to) started draining:
    /// recreate from `notice.new` at the next safe point and drop what you hold of
    /// `notice.old`.
    Draining(Notice),
    /// A plugin this owner subscribed to (by id or to all) serves again from no
    /// generation: its first load, or an enable. `notice.generation` is its active
    /// generation from now on, so a create of its capabilities succeeds; an owner with an
    /// empty place for an instance of it (a hot slot whose instance a disable or unload
    /// dropped) fills it from there. Reloads never send this: their
    /// [`Draining`](Self::Draining) notice names the new generation. Queued under the
    /// same rule as drain notices, so a lagging owner finds it in
    /// [`Lagged`](Self::Lagged) instead.
    Serving(ServingNotice),
    /// A generation this owner holds something of has drained past its deadline:
    /// release what you hold of `stall.stalled.generation` (it names every holder, and
    /// how much each holds). Repeated with backoff while the drain stays stalled;
    /// dropped rather than queued when the mailbox has no room for notices.
    DrainStalled(DrainStall),
    /// The mailbox had no room for some notices, so they were not queued; this replaces
    /// them. Treat each of `draining` as a [`Draining`](Self::Draining) notice and each
    /// of `serving` as a [`Serving`](Self::Serving) notice: together they are everything
    /// this owner must know now. A generation or plugin named in an earlier notice may be
    /// named again.
    Lagged {
        /// How many notices were not queued.
        missed: u64,
        /// One notice per generation that drains now and that this owner holds
        /// something of or subscribes to, oldest drain first; `new` is the plugin's
        /// generation active when this was sent.
        draining: Vec<Notice>,
        /// One notice per plugin this owner subscribes to that serves now, in plugin-id
        /// order, naming its active generation (whether or not a serving notice was
        /// missed: a lagging owner cannot tell which it missed).
        serving: Vec<ServingNotice>,
    },
}

/// The one outcome of one submitted command, delivered to the owner that submitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CommandCompleted {
    /// The id [`Owner::submit`] returned.
    pub request_id: RequestId,
    /// The owner that submitted the command.
    pub owner: OwnerKey,
    /// What the command did.
    pub outcome: Outcome,
}

/// A named role bound to one thread: it creates [`Instance`]s, submits commands and
/// receives what concerns it in its mailbox.
///
/// `!Send` and `!Sync`: it stays on the thread that registered it. When it and every
/// instance it created are dropped (at the latest when its thread ends or unwinds), the
/// runtime releases whatever the owner still held.
///
/// # Mailbox
///
/// At most [`outstanding_limit`](Self::outstanding_limit) commands may be outstanding
/// (submitted, completion not yet received); beyond that [`submit`](Self::submit) fails
/// at once with [`RequestError::Backlog`]. Receiving a completion makes room again.
#[derive(Debug)]
pub struct Owner {
    binding: Rc<OwnerBinding>,
    mailbox: Receiver<OwnerEvent>,
    /// Events received while [`call`](Self::call) waited for its own outcome.
    held_back: RefCell<VecDeque<OwnerEvent>>,
    /// `held_back`'s length (plus one while `call` waits), shared with the actor so that
    /// it counts against the mailbox's capacity.
    held_back_len: HeldBack,
    /// Commands submitted whose completion was not received yet.
    outstanding: Cell<usize>,
    /// The completions' share of the mailbox.
    outstanding_limit: usize,
}

static_assertions::assert_not_impl_any!(Owner: Send, Sync);

/// What an owner and all its instances share; its drop unregisters the owner.
#[derive(Debug)]
pub(crate) struct OwnerBinding {
    pub(crate) key: OwnerKey,
    pub(crate) name: String,
    pub(crate) thread: ThreadId,
    pub(crate) runtime: RuntimeHandle,
    /// `Rc` already makes this `!Send`; the marker says so where it matters.
    _not_send: PhantomData<*const ()>,
}

impl OwnerBinding {
    /// Whether the calling thread is the owner's.
    pub(crate) fn on_owner_thread(&self) -> bool {
        std::thread::current().id() == self.thread
    }
}

impl Drop for OwnerBinding {
    fn drop(&mut self) {
        self.runtime
            .shared
            .release(Release::UnregisterOwner { owner: self.key });
    }
}

impl Owner {
    pub(crate) fn new(
        runtime: RuntimeHandle,
        key: OwnerKey,
        name: String,
        mailbox: Receiver<OwnerEvent>,
        held_back_len: HeldBack,
    ) -> Self {
        let capacity = mailbox.capacity().unwrap_or(0);
        let binding = Rc::new(OwnerBinding {
            key,
            name,
            thread: std::thread::current().id(),
            runtime,
            _not_send: PhantomData,
        });
        Self {
            binding,
            mailbox,
            held_back: RefCell::new(VecDeque::new()),
            held_back_len,
            outstanding: Cell::new(0),
            outstanding_limit: completion_share(capacity),
        }
    }

    /// The owner's key.
    pub fn key(&self) -> OwnerKey {
        self.binding.key
    }

    /// The owner's name, such as `audio.decode`.
    pub fn name(&self) -> &str {
        &self.binding.name
    }

    /// Creates an instance of capability `C` with this type id from the plugin's active
    /// generation, on this thread.
    ///
    /// Two-phase: the actor reserves a ticket (pinning the generation), then the
    /// plugin's `create` runs here with `config` (empty bytes ask for the plugin's
    /// default), then the actor records the instance.
    ///
    /// # Errors
    ///
    /// [`CreateError`]; in every case the ticket is released and nothing stays pinned.
    pub fn create<C: Capability>(
        &self,
        plugin_id: &str,
        type_id: &str,
        config: &[u8],
    ) -> Result<Instance<C>, CreateError> {
        if !self.binding.on_owner_thread() {
            return Err(CreateError::WrongThread);
        }
        let shared = &self.binding.runtime.shared;
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        shared.send(Request::Reserve {
            owner: self.binding.key,
            plugin_id: plugin_id.to_owned(),
            kind: C::KIND,
            type_id: type_id.to_owned(),
            interface_version: C::INTERFACE_VERSION,
            reply: reply_tx,
        })?;
        let Reservation { ticket, library } = shared.answer(&reply_rx)??;

        // Phase two, on this thread. The library `Arc` is dropped before the actor hears
        // of the outcome, so the actor holds the only reference when it may close.
        let created = match library.capability::<C>(type_id) {
            Ok(capability) => capability
                .__create_unrecorded(config)
                .map(|handle| (handle, capability.__vtable(), capability.raw_destroy()))
                .map_err(CreateError::from),
            Err(e) => Err(CreateError::from(e)),
        };
        drop(library);
        let (handle, vtable, destroy) = match created {
            Ok(parts) => parts,
            Err(e) => {
                shared.release(Release::TicketFailed { ticket: ticket.key });
                return Err(e);
            }
        };

        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        shared.release(Release::TicketCreated {
            ticket: ticket.key,
            reply: reply_tx,
        });
        let recorded = shared
            .answer(&reply_rx)
            .map_err(CreateError::from)
            .and_then(|r| r.map_err(CreateError::from));
        match recorded {
            // SAFETY: `handle` was just made by this capability's `create` on this
            // thread, `vtable` and `destroy` are that capability's, and the instance
            // record `key` pins `ticket.generation` until the instance's drop releases it.
            Ok(key) => Ok(unsafe {
                Instance::new(
                    Rc::clone(&self.binding),
                    key,
                    ticket.generation,
                    handle,
                    vtable,
                    destroy,
                )
            }),
            Err(e) => {
                // The core did not record it (or the actor is gone). Destroying it is
                // sound either way: its generation is still pinned by the ticket, or the
                // actor that could close it no longer exists.
                // SAFETY: made by this capability's `create` on this thread, destroyed once.
                let _ = unsafe { Instance::<C>::destroy_raw(handle, destroy) };
                Err(e)
            }
        }
    }

    /// Submits `command`; its outcome arrives in this owner's mailbox as
    /// [`OwnerEvent::CommandCompleted`] with the returned id.
    ///
    /// # Errors
    ///
    /// [`RequestError::Backlog`] at once, without waiting, if
    /// [`outstanding_limit`](Self::outstanding_limit) commands are outstanding: receive
    /// their completions first. The other variants if the command could not be queued.
    /// On any error the command was not submitted and is dropped.
    pub fn submit(&self, command: Command) -> Result<RequestId, RequestError> {
        let outstanding = self.outstanding.get();
        if outstanding >= self.outstanding_limit {
            return Err(RequestError::Backlog {
                outstanding,
                limit: self.outstanding_limit,
            });
        }
        let request_id = self.binding.runtime.shared.next_request_id();
        self.binding.runtime.shared.send(Request::Submit {
            request_id,
            owner: Some(self.binding.key),
            command,
            waiter: None,
        })?;
        self.outstanding.set(outstanding + 1);
        Ok(request_id)
    }

    /// How many commands this owner submitted whose completion it has not received.
    pub fn outstanding(&self) -> usize {
        self.outstanding.get()
    }

    /// How many commands may be outstanding at once: the completions' share of the
    /// mailbox, half of [`RuntimeConfig::mailbox_capacity`].
    ///
    /// [`RuntimeConfig::mailbox_capacity`]: super::RuntimeConfig::mailbox_capacity
    pub fn outstanding_limit(&self) -> usize {
        self.outstanding_limit
    }

    /// How many events wait in the mailbox; never more than
    /// [`RuntimeConfig::mailbox_capacity`].
    ///
    /// [`RuntimeConfig::mailbox_capacity`]: super::RuntimeConfig::mailbox_capacity
    pub fn pending(&self) -> usize {
        self.held_back.borrow().len() + self.mailbox.len()
    }

    /// Submits `command` and waits up to `timeout` for its outcome. Other events that
    /// arrive meanwhile stay in the mailbox, in order. A `timeout` too large to add to
    /// the current time (such as [`Duration::MAX`]) waits without a deadline.
    ///
    /// # Errors
    ///
    /// [`RequestError::Timeout`] if the outcome did not come in time; it will still
    /// arrive in the mailbox as [`OwnerEvent::CommandCompleted`]. The errors of
    /// [`submit`](Self::submit) if the command was not submitted.
    pub fn call(&self, command: Command, timeout: Duration) -> Result<Outcome, RequestError> {
        let request_id = self.submit(command)?;
        let deadline = deadline_after(Instant::now(), timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Counted as held back before it leaves the channel, so the actor never sees
            // the mailbox emptier than it is (see `Outbox::has_room`).
            self.held_back_len.fetch_add(1, Ordering::SeqCst);
            match self.mailbox.recv_timeout(left) {
                Ok(OwnerEvent::CommandCompleted(done)) if done.request_id == request_id => {
                    self.held_back_len.fetch_sub(1, Ordering::SeqCst);
                    self.completion_received();
                    return Ok(done.outcome);
                }
                Ok(other) => self.held_back.borrow_mut().push_back(other),
                Err(e) => {
                    self.held_back_len.fetch_sub(1, Ordering::SeqCst);
                    return Err(match e {
                        RecvTimeoutError::Timeout => RequestError::Timeout,
                        RecvTimeoutError::Disconnected => self.binding.runtime.shared.gone(),
                    });
                }
            }
        }
    }

    /// The next event in the mailbox, without waiting.
    ///
    /// Never blocks, locks or allocates: fit for a real-time thread's safe point.
    pub fn try_recv(&self) -> Option<OwnerEvent> {
        let event = match self.take_held_back() {
            Some(event) => event,
            None => self.mailbox.try_recv().ok()?,
        };
        self.received(&event);
        Some(event)
    }

    /// The next event in the mailbox, waiting up to `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<OwnerEvent> {
        let event = match self.take_held_back() {
            Some(event) => event,
            None => self.mailbox.recv_timeout(timeout).ok()?,
        };
        self.received(&event);
        Some(event)
    }

    /// The oldest event [`call`](Self::call) held back, if any.
    fn take_held_back(&self) -> Option<OwnerEvent> {
        let event = self.held_back.borrow_mut().pop_front()?;
        self.held_back_len.fetch_sub(1, Ordering::SeqCst);
        Some(event)
    }

    /// Counts an event handed out.
    fn received(&self, event: &OwnerEvent) {
        if let OwnerEvent::CommandCompleted(_) = event {
            self.completion_received();
        }
    }

    /// One command less is outstanding.
    fn completion_received(&self) {
        let outstanding = self.outstanding.get();
        debug_assert!(outstanding > 0, "a completion this owner never submitted");
        self.outstanding.set(outstanding.saturating_sub(1));
    }

    /// Asks to be told about `subscription`'s lifecycle notices even where this owner
    /// holds nothing.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::Request`] if the actor cannot be reached,
    /// [`SubscribeError::Refused`] if the core refused it (it does not know this owner).
    pub fn subscribe(&self, subscription: Subscription) -> Result<(), SubscribeError> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.binding.runtime.shared.send(Request::Subscribe {
            owner: self.binding.key,
            subscription,
            reply: reply_tx,
        })?;
        self.binding.runtime.shared.answer(&reply_rx)??;
        Ok(())
    }

    /// Subscribes to the runtime's events that `filter` matches, as
    /// [`RuntimeHandle::listen`] does: the listener is independent of this owner's
    /// mailbox, `Send`, and may be read on another thread.
    ///
    /// # Errors
    ///
    /// [`RequestError`] if the actor cannot be reached.
    pub fn listen(&self, filter: EventFilter) -> Result<Listener, RequestError> {
        self.binding.runtime.listen(filter)
    }

    /// Pins the plugin's active generation on behalf of this owner, for module-level
    /// calls; see [`RuntimeHandle::pin`].
    ///
    /// # Errors
    ///
    /// As for [`RuntimeHandle::pin`].
    pub fn pin(&self, plugin_id: &str) -> Result<ModulePin, PinRequestError> {
        ModulePin::take(
            &self.binding.runtime,
            Some(Rc::clone(&self.binding)),
            plugin_id,
        )
    }

    /// The runtime this owner belongs to.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.binding.runtime
    }
}
