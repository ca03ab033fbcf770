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
use crate::generation::{Command, ConfigNotice, Notice, Outcome, RequestId, ServingNotice};
use crate::owner::{OwnerKey, Subscription};
use crate::routing::DrainStall;

use super::error::{CreateError, PinRequestError, RequestError, SubscribeError};
use super::handle::RuntimeHandle;
use super::instance::Instance;
use super::listener::Listener;
use super::mailbox::{HeldBack, completion_share};
use super::pin::ModulePin;
use super::protocol::{Release, Request, Reservation};
use super::slot::{PollReport, Slot, SlotRegistry};
use crate::interface::Hooks;

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
    /// of `serving` as a [`Serving`](Self::Serving) notice and each of `configs` as a
    /// [`Configure`](Self::Configure) notice: together they are everything this owner
    /// must know now. A generation or plugin named in an earlier notice may be named
    /// again, and a configuration revision already seen may come again.
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
        /// The newest configuration of every capability this owner holds an instance
        /// (or ticket) of that was ever configured: an owner that missed revisions
        /// applies only the newest.
        #[cfg_attr(feature = "serde", serde(default))]
        configs: Vec<ConfigNotice>,
    },
    /// A capability this owner holds instances of has a new configuration (see
    /// [`Command::Configure`]): plan and apply it at the next safe point, and report
    /// per instance. [`Owner::poll`] does this for the owner's [`Slot`]s.
    Configure(ConfigNotice),
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
    /// The owner's slots, which [`Owner::poll`] drives.
    pub(crate) slots: SlotRegistry,
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
            slots: SlotRegistry::default(),
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
    /// Two-phase, with one round trip: the actor reserves a ticket (pinning the
    /// generation) and answers with the library; the plugin's `create` runs here with
    /// `config` (empty bytes ask for the plugin's default); the instance is returned at
    /// once, and the actor records it when it reads the report this sends without
    /// waiting. The ticket pins the generation until then (see
    /// [`Lifecycle::record_created`](crate::generation::Lifecycle::record_created)).
    ///
    /// This waits for the reservation (it counts in [`blocking_waits`]); a real-time
    /// thread holds its instances in [`Slot`]s, which never wait.
    ///
    /// [`blocking_waits`]: super::blocking_waits
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
            releases: shared.releases.clone(),
        })?;
        let reservation = shared.answer(&reply_rx)??;
        instantiate(&self.binding, reservation, type_id, config)
    }

    /// A [`Slot`] holding an instance of capability `C` of this type id, made from the
    /// plugin's active generation with `config` (or with the capability's live
    /// configuration, if a [`Command::Configure`] gave it a newer one).
    ///
    /// Never waits: the slot asks for a reservation now and is empty until a later
    /// [`poll`](Self::poll) finds the answer and creates the instance. From then on,
    /// `poll` keeps it current (see [`Slot`]).
    pub fn slot<C: Hooks + 'static>(
        &self,
        plugin_id: &str,
        type_id: &str,
        config: &[u8],
    ) -> Slot<C> {
        Slot::new(&self.binding, plugin_id, type_id, config)
    }

    /// The owner's safe point: takes every event from the mailbox and routes each to the
    /// slots it concerns, then lets every slot with something to do go one step further
    /// (send its reservation, create and swap in its new instance, apply a
    /// configuration). Events no slot consumes go to `on_other`, in order; a
    /// [`Lagged`](OwnerEvent::Lagged) event goes on with only the notices no slot took.
    ///
    /// Never waits on the actor: requests go with a non-blocking send (retried at the
    /// next poll when the queue is full) and answers are only looked at. With nothing
    /// pending it takes no lock and allocates nothing. Creating, swapping and dropping
    /// instances (plugin `create` and `destroy`) happen here, on this thread.
    pub fn poll(&self, mut on_other: impl FnMut(OwnerEvent)) -> PollReport {
        let mut report = PollReport::default();
        while let Some(event) = self.try_recv() {
            report.events += 1;
            if let Some(event) = self.route(event) {
                report.passed_on += 1;
                on_other(event);
            }
        }
        self.binding.slots.progress(&mut report);
        report
    }

    /// Routes one event to the slots; what no slot took comes back.
    fn route(&self, event: OwnerEvent) -> Option<OwnerEvent> {
        let slots = &self.binding.slots;
        if slots.is_empty() {
            return Some(event);
        }
        match event {
            OwnerEvent::Draining(notice) => (!slots.route(|slot| slot.on_draining(&notice)))
                .then_some(OwnerEvent::Draining(notice)),
            OwnerEvent::Configure(notice) => (!slots.route(|slot| slot.on_config(&notice)))
                .then_some(OwnerEvent::Configure(notice)),
            OwnerEvent::Serving(notice) => (!slots
                .route(|slot| slot.on_serving(&notice.plugin_id)))
            .then_some(OwnerEvent::Serving(notice)),
            OwnerEvent::Lagged {
                missed,
                draining,
                serving,
                configs,
            } => {
                let draining: Vec<Notice> = draining
                    .into_iter()
                    .filter(|notice| !slots.route(|slot| slot.on_draining(notice)))
                    .collect();
                let serving: Vec<ServingNotice> = serving
                    .into_iter()
                    .filter(|notice| !slots.route(|slot| slot.on_serving(&notice.plugin_id)))
                    .collect();
                let configs: Vec<ConfigNotice> = configs
                    .into_iter()
                    .filter(|notice| !slots.route(|slot| slot.on_config(notice)))
                    .collect();
                let left = !draining.is_empty() || !serving.is_empty() || !configs.is_empty();
                left.then_some(OwnerEvent::Lagged {
                    missed,
                    draining,
                    serving,
                    configs,
                })
            }
            other => Some(other),
        }
    }

    /// Asks every empty slot of `plugin_id` for an instance again, as after the plugin
    /// was enabled or loaded again (a slot empties when its plugin is disabled or
    /// unloaded, and stays empty until then). Returns how many slots asked. Never
    /// waits; the instances come at later polls.
    pub fn refill_slots(&self, plugin_id: &str) -> usize {
        let mut asked = 0;
        self.binding.slots.route(|slot| {
            let refilled = slot.on_serving(plugin_id);
            asked += usize::from(refilled);
            refilled
        });
        asked
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
            super::handle::count_blocking_wait();
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
            None => {
                super::handle::count_blocking_wait();
                self.mailbox.recv_timeout(timeout).ok()?
            }
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

/// Phase two of creating an instance, on the owner's thread: runs the plugin's `create`
/// from `reservation` and reports the outcome to the actor without waiting (the instance
/// as `Created`, a failure as `TicketFailed`). Shared by [`Owner::create`] and slots.
pub(crate) fn instantiate<C: Capability>(
    binding: &Rc<OwnerBinding>,
    reservation: Reservation,
    type_id: &str,
    config: &[u8],
) -> Result<Instance<C>, CreateError> {
    let Reservation {
        ticket,
        library,
        mut guard,
        ..
    } = reservation;
    // From here this function finishes the ticket itself, on every path.
    guard.disarm();
    let created = match library.capability::<C>(type_id) {
        Ok(capability) => capability
            .__create_unrecorded(config)
            .map(|handle| (handle, capability.__vtable(), capability.raw_destroy()))
            .map_err(CreateError::from),
        Err(e) => Err(CreateError::from(e)),
    };
    // The library `Arc` is dropped before the actor hears of the outcome, so the actor
    // holds the only reference when it may close.
    drop(library);
    let shared = &binding.runtime.shared;
    match created {
        Ok((handle, vtable, destroy)) => {
            shared.release(Release::Created { ticket: ticket.key });
            // SAFETY: `handle` was just made by this capability's `create` on this thread,
            // and `vtable` and `destroy` are that capability's. `ticket` pins
            // `ticket.generation` from the reservation on: until the actor reads the
            // `Created` just sent it is a ticket, then the instance record made of it in
            // the same step, which holds until the instance's drop sends `Destroyed`
            // after `destroy` returned. Both releases go from this thread on one FIFO
            // queue, so the core reads them in that order.
            Ok(unsafe {
                Instance::new(
                    Rc::clone(binding),
                    ticket.key,
                    ticket.generation,
                    handle,
                    vtable,
                    destroy,
                )
            })
        }
        Err(e) => {
            shared.release(Release::TicketFailed { ticket: ticket.key });
            Err(e)
        }
    }
}
