//! Hot slots: an instance an owner keeps current across reloads, disables and new
//! configurations without ever waiting on the actor.
//!
//! A [`Slot`] holds one instance and remembers what it was made from. The owner's one
//! [`poll`](super::Owner::poll) at its safe point routes each mailbox event to the slots
//! it concerns and moves each busy slot one step on:
//!
//! * **Reload** (a drain notice with a successor): the slot asks for a reservation on
//!   the plugin's active generation with a non-blocking send, and keeps serving the old
//!   instance. A later poll finds the answer, creates the new instance here, carries the
//!   state over through the `save_state` / `load_state` [hooks](crate::interface::Hooks)
//!   when both are offered, swaps it in and drops the old one.
//! * **Disable or unload** (a drain notice without a successor): the instance is dropped
//!   and the slot stays empty until [`Owner::refill_slots`](super::Owner::refill_slots)
//!   or [`Slot::refill`].
//! * **New configuration**: the instance plans it (`plan_config`): in place (then
//!   `apply_config`), recreate (a new instance with the new configuration, state carried,
//!   swapped in as after a reload), or an error (rejected). Each outcome is reported to
//!   the actor without waiting and published as an `instance_configured` event.
//!
//! Nothing here blocks: requests go with `try_send` (retried at the next poll when the
//! queue is full), answers are polled with `try_recv`, and every report to the actor goes
//! on its unbounded release queue.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};
use smallvec::SmallVec;

use crate::generation::{ConfigNotice, ConfigReport, ConfigResult, GenerationKey, Notice};
use crate::interface::{CallError, ConfigPlan, Hooks, MAX_STATE_LEN};
use crate::owner::{ReserveError, TicketKey};

use super::error::{CreateError, RequestError};
use super::instance::Instance;
use super::owner::{OwnerBinding, instantiate};
use super::protocol::{Release, Request, Reservation};

/// The first size of a slot's state buffer; it grows to what the plugin asks for.
const FIRST_STATE_LEN: usize = 256;

/// How often `save_state` may ask for a bigger buffer in one swap.
const STATE_ATTEMPTS: usize = 4;

/// What one [`Owner::poll`](super::Owner::poll) did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PollReport {
    /// Events taken from the mailbox.
    pub events: u32,
    /// Of those, events no slot took, handed to the caller.
    pub passed_on: u32,
    /// Instances replaced by a new one (after a reload, or to apply a configuration).
    pub swapped: u32,
    /// Empty slots that got an instance.
    pub filled: u32,
    /// Swaps whose state was carried over through the state hooks.
    pub state_carried: u32,
    /// Instances dropped because their plugin was disabled or unloaded, or could not be
    /// recreated on its new generation.
    pub dropped: u32,
    /// Configurations applied in place.
    pub applied: u32,
    /// Configurations applied by recreating the instance.
    pub recreated: u32,
    /// Configurations the instance rejected.
    pub rejected: u32,
    /// Configurations whose application failed.
    pub failed: u32,
    /// Configuration revisions passed over for a newer one.
    pub skipped: u64,
    /// Slots still waiting for an answer (or for room in the request queue) after this
    /// poll.
    pub pending: u32,
    /// Slots that could not act because their instance was borrowed across the poll;
    /// they act at a later one.
    pub busy: u32,
    /// Failures; the last one is in `last_error`.
    pub errors: u32,
    /// The last failure, if any.
    pub last_error: Option<SlotError>,
}

impl PollReport {
    /// Whether the poll did nothing: no event, no step of any slot.
    pub fn is_quiet(&self) -> bool {
        self.events == 0
            && self.swapped == 0
            && self.filled == 0
            && self.dropped == 0
            && self.applied + self.recreated + self.rejected + self.failed == 0
            && self.pending == 0
            && self.busy == 0
            && self.errors == 0
    }

    fn error(&mut self, error: SlotError) {
        self.errors += 1;
        self.last_error = Some(error);
    }
}

/// Why a slot could not do what a notice asked.
#[derive(Debug, thiserror::Error)]
#[error("slot of `{plugin_id}` / `{type_id}`: {cause}")]
#[non_exhaustive]
pub struct SlotError {
    /// The slot's plugin.
    pub plugin_id: String,
    /// The slot's type id.
    pub type_id: String,
    /// What failed.
    #[source]
    pub cause: SlotFailure,
}

/// What failed in a slot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotFailure {
    /// The reservation could not be sent, or its answer will never come.
    #[error(transparent)]
    Request(RequestError),
    /// The core refused the reservation.
    #[error(transparent)]
    Reserve(ReserveError),
    /// The new instance could not be created.
    #[error(transparent)]
    Create(CreateError),
    /// The old instance's `save_state` failed; the new one starts fresh.
    #[error("saving the state failed: {0}")]
    SaveState(CallError),
    /// The new instance's `load_state` failed; it keeps what `create` made.
    #[error("loading the state failed: {0}")]
    LoadState(CallError),
    /// The state is larger than [`MAX_STATE_LEN`], or kept growing while it was saved.
    #[error("the state of {len} bytes was not carried over (at most {MAX_STATE_LEN})")]
    StateTooLarge {
        /// The length the plugin reported last.
        len: u64,
    },
}

/// What a slot's instance was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotSource {
    /// The plugin.
    pub plugin_id: String,
    /// The capability's type id.
    pub type_id: String,
    /// The configuration the instance runs with.
    pub config: Arc<[u8]>,
    /// Its revision: 0 for the configuration the slot was made with, else the
    /// [`Command::Configure`](crate::generation::Command::Configure) revision.
    pub revision: u64,
}

/// One instance of capability `C` that its owner's [`poll`](super::Owner::poll) keeps
/// current, remembering what it was made from (plugin id, type id, configuration and its
/// revision: [`source`](Self::source)).
///
/// The owner's one poll at its safe point routes each mailbox event to the slots it
/// concerns and moves each busy slot one step on:
///
/// * **Reload** (a drain notice with a successor): the slot asks for a reservation on
///   the plugin's active generation with a non-blocking send, and keeps serving the old
///   instance. A later poll finds the answer, creates the new instance on the owner's
///   thread, carries the state over through the `save_state` / `load_state`
///   [hooks](crate::interface::Hooks) when both are offered, swaps it in and drops the
///   old one.
/// * **Disable or unload** (a drain notice without a successor): the instance is dropped
///   and the slot stays empty until [`Owner::refill_slots`](super::Owner::refill_slots)
///   or [`refill`](Self::refill).
/// * **New configuration** ([`Command::Configure`](crate::generation::Command::Configure)):
///   the instance plans it (`plan_config`): in place (then `apply_config`), recreate (a
///   new instance with the new configuration, state carried, swapped in as after a
///   reload), or an error (rejected). No plan hook, or in place without an apply hook,
///   recreates; an apply or create error fails and keeps the serving instance. Each
///   outcome is reported to the actor without waiting and published as an
///   `instance_configured` event.
///
/// Nothing blocks: requests go with a non-blocking send (retried at the next poll when
/// the queue is full), answers are only looked at, and every report goes on the
/// unbounded release queue.
///
/// Made by [`Owner::slot`](super::Owner::slot), which never waits: the slot is empty
/// until a poll finds its reservation answered. The hot path is
/// [`get`](Self::get) / [`get_mut`](Self::get_mut): a borrow flag and an `Option` check,
/// no atomic, lock or allocation. `!Send` and `!Sync`, like the instance it holds.
///
/// A slot acts only when polled. An instance borrowed (by `get` or `get_mut`) across a
/// poll is left alone by that poll, which counts the slot as busy; the next poll acts.
///
/// # Examples
///
/// ```no_run
/// # use plugin_runtime::interface::PluginError;
/// #[plugin_runtime::interface(kind = "dsp", major = 1)]
/// pub trait Gain {
///     fn process(&mut self, block: &mut [f32]) -> Result<(), PluginError>;
/// }
///
/// # fn run(owner: plugin_runtime::Owner) -> Result<(), Box<dyn std::error::Error>> {
/// let mut gain = owner.slot::<GainInterface>("example.gain", "gain", b"");
/// let mut block = [0.5f32; 64];
/// loop {
///     // The audio callback: call whatever the slot holds now.
///     if let Some(mut instance) = gain.get_mut() {
///         instance.process(&mut block)?;
///     }
///     // The safe point, between blocks: never waits.
///     owner.poll(|other| println!("not for a slot: {other:?}"));
/// #   break;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Slot<C: Hooks + 'static> {
    inner: Rc<SlotInner<C>>,
}

static_assertions::assert_not_impl_any!(Slot<crate::runtime::instance::tests_support::Nothing>: Send, Sync);

impl<C: Hooks + 'static> Slot<C> {
    /// A slot registered with its owner, which asks for its first instance now.
    pub(crate) fn new(
        binding: &Rc<OwnerBinding>,
        plugin_id: &str,
        type_id: &str,
        config: &[u8],
    ) -> Self {
        debug_assert!(binding.on_owner_thread());
        let inner = Rc::new(SlotInner {
            binding: Rc::clone(binding),
            instance: RefCell::new(None),
            control: RefCell::new(Control {
                plugin_id: plugin_id.to_owned(),
                type_id: type_id.to_owned(),
                config: Arc::from(config),
                revision: 0,
                acted: 0,
                generation: None,
                ticket: None,
                reserve: Reserve::Wanted,
                draining: SmallVec::new(),
                drop_now: false,
                pending_config: None,
                recreating: None,
                state: Vec::new(),
            }),
            has_work: Cell::new(false),
        });
        binding
            .slots
            .register(Rc::clone(&inner) as Rc<dyn SlotDriver>);
        inner.set_work(true);
        if let Ok(mut control) = inner.control.try_borrow_mut() {
            inner.request(&mut control, &mut PollReport::default());
        }
        Self { inner }
    }

    /// The instance, if the slot holds one. The hot path: a borrow flag and an `Option`
    /// check.
    #[inline]
    pub fn get(&self) -> Option<Ref<'_, Instance<C>>> {
        Ref::filter_map(self.inner.instance.borrow(), Option::as_ref).ok()
    }

    /// The instance, mutably, if the slot holds one. The hot path, as [`get`](Self::get).
    #[inline]
    pub fn get_mut(&mut self) -> Option<RefMut<'_, Instance<C>>> {
        RefMut::filter_map(self.inner.instance.borrow_mut(), Option::as_mut).ok()
    }

    /// Whether the slot holds no instance.
    pub fn is_empty(&self) -> bool {
        self.inner.control.borrow().generation.is_none()
    }

    /// Whether the slot waits for a reservation (or for room to ask for one).
    pub fn is_pending(&self) -> bool {
        !matches!(self.inner.control.borrow().reserve, Reserve::Idle)
    }

    /// The generation the instance was created from, if the slot holds one.
    pub fn generation(&self) -> Option<GenerationKey> {
        self.inner.control.borrow().generation
    }

    /// What the instance was (or will be) made from.
    pub fn source(&self) -> SlotSource {
        let control = self.inner.control.borrow();
        SlotSource {
            plugin_id: control.plugin_id.clone(),
            type_id: control.type_id.clone(),
            config: Arc::clone(&control.config),
            revision: control.revision,
        }
    }

    /// Asks for an instance again if the slot is empty and asks for nothing (after its
    /// plugin was disabled or unloaded and is back). Returns whether it asked. Never
    /// waits; the instance comes at a later poll.
    pub fn refill(&self) -> bool {
        let plugin_id = self.inner.control.borrow().plugin_id.clone();
        self.inner.on_serving(&plugin_id)
    }

    /// Drops the instance now (its `destroy` runs here), gives up a reservation on its
    /// way (its ticket is released when the answer comes) and leaves the slot empty until
    /// [`refill`](Self::refill). A configuration not acted on yet is kept for the next
    /// instance.
    pub fn clear(&mut self) {
        let old = self.inner.instance.borrow_mut().take();
        let mut control = self.inner.control.borrow_mut();
        control.generation = None;
        control.ticket = None;
        control.reserve = Reserve::Idle;
        control.recreating = None;
        control.drop_now = false;
        control.draining.clear();
        let work = control.pending_config.is_some();
        drop(control);
        self.inner.set_work(work);
        drop(old);
    }
}

/// What a slot's poll drives, type-erased for the owner's registry.
pub(crate) trait SlotDriver {
    /// A generation drains; whether it concerns this slot.
    fn on_draining(&self, notice: &Notice) -> bool;
    /// A capability has a new configuration; whether it concerns this slot.
    fn on_config(&self, notice: &ConfigNotice) -> bool;
    /// `plugin_id` serves again: an empty slot of it asks for an instance. Whether it
    /// asked.
    fn on_serving(&self, plugin_id: &str) -> bool;
    /// One step on, if the slot has something to do.
    fn progress(&self, report: &mut PollReport);
}

/// The slots of one owner, weakly: a slot dropped by its holder leaves the list at the
/// next registration.
#[derive(Default)]
pub(crate) struct SlotRegistry {
    slots: RefCell<Vec<Weak<dyn SlotDriver>>>,
    /// How many slots have something to do at the next poll.
    work: Cell<usize>,
}

impl std::fmt::Debug for SlotRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotRegistry")
            .field("slots", &self.slots.borrow().len())
            .field("work", &self.work.get())
            .finish()
    }
}

impl SlotRegistry {
    fn register(&self, slot: Rc<dyn SlotDriver>) {
        let mut slots = self.slots.borrow_mut();
        slots.retain(|slot| slot.strong_count() > 0);
        slots.push(Rc::downgrade(&slot));
    }

    /// Whether no slot was ever registered (or all left).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.borrow().is_empty()
    }

    /// Offers something to every live slot; whether any took it.
    pub(crate) fn route(&self, mut offer: impl FnMut(&dyn SlotDriver) -> bool) -> bool {
        let slots = self.slots.borrow();
        let mut taken = false;
        for slot in slots.iter() {
            if let Some(slot) = slot.upgrade() {
                taken |= offer(&*slot);
            }
        }
        taken
    }

    /// Moves every slot with something to do one step on. Returns at once, touching
    /// nothing else, when no slot has anything to do.
    pub(crate) fn progress(&self, report: &mut PollReport) {
        if self.work.get() == 0 {
            return;
        }
        self.route(|slot| {
            slot.progress(report);
            false
        });
    }
}

/// The shared part of a slot: the instance the hot path borrows, and the bookkeeping
/// only the slot's own methods borrow (never across user code).
struct SlotInner<C: Hooks + 'static> {
    binding: Rc<OwnerBinding>,
    instance: RefCell<Option<Instance<C>>>,
    control: RefCell<Control>,
    /// Counted in the registry's `work` while set.
    has_work: Cell<bool>,
}

impl<C: Hooks + 'static> std::fmt::Debug for SlotInner<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("control", &self.control)
            .field("has_work", &self.has_work.get())
            .finish_non_exhaustive()
    }
}

/// Where a slot's reservation stands.
#[derive(Debug)]
enum Reserve {
    Idle,
    /// To be sent at the next poll (the queue was full, or nothing was sent yet).
    Wanted,
    /// Sent; the answer is polled.
    Waiting(Receiver<Result<Reservation, ReserveError>>),
}

#[derive(Debug)]
struct Control {
    plugin_id: String,
    type_id: String,
    /// The configuration the instance runs with, and its revision.
    config: Arc<[u8]>,
    revision: u64,
    /// The newest revision acted on (applied, recreated, rejected or failed, or created
    /// with): notices up to it are ignored, and `skipped` counts from it.
    acted: u64,
    /// The instance's generation and ticket, mirrored here so that routing a notice
    /// never borrows the instance.
    generation: Option<GenerationKey>,
    ticket: Option<TicketKey>,
    reserve: Reserve,
    /// Generations of the plugin this slot heard drain since its last creation, with
    /// their successors: a reservation answered on one of them is dropped.
    draining: SmallVec<[(GenerationKey, Option<GenerationKey>); 2]>,
    /// The plugin stopped serving: drop the instance at the next step.
    drop_now: bool,
    /// The newest configuration not acted on yet.
    pending_config: Option<ConfigNotice>,
    /// A configuration the instance planned to be recreated with, and how many revisions
    /// were skipped for it.
    recreating: Option<(ConfigNotice, u64)>,
    /// The host-owned buffer state crosses through, kept between swaps.
    state: Vec<u8>,
}

impl Control {
    /// The newest revision this slot has acted on or will act on.
    fn newest_known(&self) -> u64 {
        let pending = self.pending_config.as_ref().map_or(0, |n| n.revision);
        let recreating = self.recreating.as_ref().map_or(0, |(n, _)| n.revision);
        self.acted.max(pending).max(recreating)
    }

    fn error(&self, report: &mut PollReport, cause: SlotFailure) {
        report.error(SlotError {
            plugin_id: self.plugin_id.clone(),
            type_id: self.type_id.clone(),
            cause,
        });
    }

    /// Whether the instance's generation drains.
    fn instance_drains(&self) -> bool {
        self.generation
            .is_some_and(|g| self.draining.iter().any(|(d, _)| *d == g))
    }
}

impl<C: Hooks + 'static> SlotInner<C> {
    fn set_work(&self, work: bool) {
        if self.has_work.replace(work) != work {
            let count = &self.binding.slots.work;
            count.set(if work {
                count.get() + 1
            } else {
                count.get() - 1
            });
        }
    }

    fn shared(&self) -> &super::handle::Shared {
        &self.binding.runtime.shared
    }

    /// Sends the reservation request without waiting.
    fn request(&self, control: &mut Control, report: &mut PollReport) {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = Request::Reserve {
            owner: self.binding.key,
            plugin_id: control.plugin_id.clone(),
            kind: C::KIND,
            type_id: control.type_id.clone(),
            interface_version: C::INTERFACE_VERSION,
            reply,
            releases: self.shared().releases.clone(),
        };
        match self.shared().try_send(request) {
            Ok(()) => control.reserve = Reserve::Waiting(answer),
            // Room at a later poll.
            Err((_, RequestError::QueueFull)) => control.reserve = Reserve::Wanted,
            Err((_, error)) => {
                control.reserve = Reserve::Idle;
                control.error(report, SlotFailure::Request(error));
            }
        }
    }

    /// Looks at the reservation's answer without waiting, and acts on it.
    fn poll_answer(&self, control: &mut Control, report: &mut PollReport) {
        let Reserve::Waiting(answer) = &control.reserve else {
            return;
        };
        // The old instance must be free before the answer is taken: its state is saved
        // and it is swapped out in the same step.
        let Ok(mut slot) = self.instance.try_borrow_mut() else {
            report.busy += 1;
            return;
        };
        let answer = match answer.try_recv() {
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err(SlotFailure::Request(self.shared().gone())),
            Ok(Err(error)) => Err(SlotFailure::Reserve(error)),
            Ok(Ok(reservation)) => Ok(reservation),
        };
        control.reserve = Reserve::Idle;
        match answer {
            Ok(reservation) => self.build(control, &mut slot, reservation, report),
            Err(cause) => {
                control.error(report, cause);
                self.recreation_failed(control, &mut slot, report);
            }
        }
    }

    /// No new instance came: a configuration that asked for one failed, and an instance
    /// whose generation drains is dropped (it could only stall the drain).
    fn recreation_failed(
        &self,
        control: &mut Control,
        slot: &mut Option<Instance<C>>,
        report: &mut PollReport,
    ) {
        if let Some((notice, skipped)) = control.recreating.take() {
            let message = report
                .last_error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            self.report_config(
                control,
                &notice,
                ConfigResult::Failed,
                skipped,
                message,
                report,
            );
        }
        if control.instance_drains() {
            self.drop_instance(control, slot, report);
        }
    }

    fn drop_instance(
        &self,
        control: &mut Control,
        slot: &mut Option<Instance<C>>,
        report: &mut PollReport,
    ) {
        control.generation = None;
        control.ticket = None;
        control.draining.clear();
        if slot.take().is_some() {
            report.dropped += 1;
        }
    }

    /// Creates the new instance from an answered reservation, carries the state over and
    /// swaps it in.
    fn build(
        &self,
        control: &mut Control,
        slot: &mut Option<Instance<C>>,
        reservation: Reservation,
        report: &mut PollReport,
    ) {
        let generation = reservation.ticket.generation;
        if let Some(&(_, successor)) = control.draining.iter().find(|(g, _)| *g == generation) {
            // Reserved on a generation that drained meanwhile: its guard releases the
            // ticket, and the slot asks again if the plugin still serves.
            drop(reservation);
            if successor.is_some() {
                control.reserve = Reserve::Wanted;
            } else {
                self.recreation_failed(control, slot, report);
            }
            return;
        }
        // The newest configuration known wins: a planned recreation, a notice not acted
        // on yet, or the live configuration the reservation brought.
        let mut chosen: Option<(ConfigNotice, u64)> = control.recreating.take();
        let running = control.revision;
        let newer = |candidate: &ConfigNotice, chosen: &Option<(ConfigNotice, u64)>| {
            candidate.revision > running
                && chosen
                    .as_ref()
                    .is_none_or(|(c, _)| candidate.revision > c.revision)
        };
        if let Some(pending) = control.pending_config.take()
            && newer(&pending, &chosen)
        {
            let skipped = pending.revision.saturating_sub(control.acted + 1);
            chosen = Some((pending, skipped));
        }
        if let Some(live) = &reservation.live_config
            && live.revision > control.acted
            && newer(live, &chosen)
        {
            let skipped = live.revision.saturating_sub(control.acted + 1);
            chosen = Some((live.clone(), skipped));
        }
        let config = chosen.as_ref().map_or_else(
            || Arc::clone(&control.config),
            |(n, _)| Arc::clone(&n.config),
        );
        let type_id = control.type_id.clone();
        let created = instantiate::<C>(&self.binding, reservation, &type_id, &config);
        let mut new = match created {
            Ok(new) => new,
            Err(error) => {
                control.recreating = chosen;
                control.error(report, SlotFailure::Create(error));
                self.recreation_failed(control, slot, report);
                return;
            }
        };
        if let Some(old) = slot.as_ref() {
            self.carry_state(control, old, &mut new, report);
        }
        control.generation = Some(new.generation());
        control.ticket = Some(new.ticket());
        control.draining.clear();
        let old = slot.replace(new);
        if let Some((notice, skipped)) = chosen {
            control.config = Arc::clone(&notice.config);
            control.revision = notice.revision;
            control.acted = control.acted.max(notice.revision);
            // A configuration reached a running instance by recreation: reported. A
            // first instance simply starts with it.
            if old.is_some() {
                self.report_config(
                    control,
                    &notice,
                    ConfigResult::Recreated,
                    skipped,
                    String::new(),
                    report,
                );
            }
        }
        if old.is_some() {
            report.swapped += 1;
        } else {
            report.filled += 1;
        }
        // The old instance's `destroy` runs here, after the new one serves.
        drop(old);
    }

    /// Saves the old instance's state into the slot's buffer and loads it into the new
    /// one, when both hooks are offered.
    fn carry_state(
        &self,
        control: &mut Control,
        old: &Instance<C>,
        new: &mut Instance<C>,
        report: &mut PollReport,
    ) {
        let buffer = &mut control.state;
        let mut len = buffer.len().max(FIRST_STATE_LEN);
        let mut saved = None;
        for _ in 0..STATE_ATTEMPTS {
            buffer.resize(len, 0);
            match C::save_state(old, buffer) {
                None => return,
                Some(Err(error)) => {
                    control.error(report, SlotFailure::SaveState(error));
                    return;
                }
                Some(Ok(full)) => {
                    let fits = usize::try_from(full).ok().filter(|&f| f <= MAX_STATE_LEN);
                    match fits {
                        Some(full) if full <= buffer.len() => {
                            saved = Some(full);
                            break;
                        }
                        Some(full) => len = full,
                        None => {
                            control.error(report, SlotFailure::StateTooLarge { len: full });
                            return;
                        }
                    }
                }
            }
        }
        let Some(full) = saved else {
            let len = len as u64;
            control.error(report, SlotFailure::StateTooLarge { len });
            return;
        };
        match C::load_state(new, &control.state[..full]) {
            None => {}
            Some(Ok(())) => report.state_carried += 1,
            Some(Err(error)) => control.error(report, SlotFailure::LoadState(error)),
        }
    }

    /// Acts on the newest configuration not acted on yet: plans it with the instance,
    /// and applies it in place, rejects it, or starts a recreation.
    fn apply_config(&self, control: &mut Control, report: &mut PollReport) {
        let Some(notice) = control.pending_config.take() else {
            return;
        };
        let skipped = notice.revision.saturating_sub(control.acted + 1);
        if control.ticket.is_none() {
            // No instance to apply it to: the next one is created with it.
            report.skipped += skipped;
            control.config = Arc::clone(&notice.config);
            control.revision = notice.revision;
            control.acted = notice.revision;
            return;
        }
        let Ok(mut slot) = self.instance.try_borrow_mut() else {
            control.pending_config = Some(notice);
            report.busy += 1;
            return;
        };
        let Some(instance) = slot.as_mut() else {
            control.pending_config = Some(notice);
            return;
        };
        control.acted = notice.revision;
        // The rules: no plan hook means recreate; a plan error rejects; in place without
        // an apply hook recreates; an apply error fails and keeps the instance.
        let outcome = match C::plan_config(instance, &notice.config) {
            None | Some(Ok(ConfigPlan::Recreate)) => None,
            Some(Ok(ConfigPlan::InPlace)) => match C::apply_config(instance, &notice.config) {
                None => None,
                Some(Ok(())) => Some((ConfigResult::Applied, String::new())),
                Some(Err(error)) => Some((ConfigResult::Failed, error.to_string())),
            },
            Some(Err(error)) => Some((ConfigResult::Rejected, error.to_string())),
        };
        drop(slot);
        match outcome {
            Some((result, message)) => {
                if result == ConfigResult::Applied {
                    control.config = Arc::clone(&notice.config);
                    control.revision = notice.revision;
                }
                self.report_config(control, &notice, result, skipped, message, report);
            }
            None => {
                control.recreating = Some((notice, skipped));
                control.reserve = Reserve::Wanted;
            }
        }
    }

    /// Reports what was done with a configuration for the slot's instance, without
    /// waiting, and counts it.
    fn report_config(
        &self,
        control: &Control,
        notice: &ConfigNotice,
        result: ConfigResult,
        skipped: u64,
        message: String,
        report: &mut PollReport,
    ) {
        match result {
            ConfigResult::Applied => report.applied += 1,
            ConfigResult::Recreated => report.recreated += 1,
            ConfigResult::Rejected => report.rejected += 1,
            ConfigResult::Failed => report.failed += 1,
        }
        report.skipped += skipped;
        if let Some(ticket) = control.ticket {
            self.shared().release(Release::Configured {
                ticket,
                report: ConfigReport {
                    revision: notice.revision,
                    result,
                    skipped,
                    message,
                },
            });
        }
    }
}

impl<C: Hooks + 'static> SlotDriver for SlotInner<C> {
    fn on_draining(&self, notice: &Notice) -> bool {
        let mut control = self.control.borrow_mut();
        if control.plugin_id != notice.plugin_id {
            return false;
        }
        let holds = control.generation == Some(notice.old);
        let asking = !matches!(control.reserve, Reserve::Idle);
        if !holds && !asking {
            return false;
        }
        if !control.draining.iter().any(|(g, _)| *g == notice.old) {
            control.draining.push((notice.old, notice.new));
        }
        if holds {
            match notice.new {
                Some(_) if matches!(control.reserve, Reserve::Idle) => {
                    control.reserve = Reserve::Wanted;
                }
                Some(_) => {}
                None => control.drop_now = true,
            }
        }
        drop(control);
        self.set_work(true);
        true
    }

    fn on_config(&self, notice: &ConfigNotice) -> bool {
        let mut control = self.control.borrow_mut();
        if control.plugin_id != notice.plugin_id || control.type_id != notice.type_id {
            return false;
        }
        if notice.revision > control.newest_known() {
            control.pending_config = Some(notice.clone());
            drop(control);
            self.set_work(true);
        }
        true
    }

    fn on_serving(&self, plugin_id: &str) -> bool {
        let mut control = self.control.borrow_mut();
        let empty = control.generation.is_none() && !control.drop_now;
        if control.plugin_id != plugin_id || !empty || !matches!(control.reserve, Reserve::Idle) {
            return false;
        }
        control.draining.clear();
        control.reserve = Reserve::Wanted;
        drop(control);
        self.set_work(true);
        true
    }

    fn progress(&self, report: &mut PollReport) {
        if !self.has_work.get() {
            return;
        }
        let Ok(mut control) = self.control.try_borrow_mut() else {
            return;
        };
        if control.drop_now {
            match self.instance.try_borrow_mut() {
                Ok(mut slot) => {
                    control.drop_now = false;
                    let old = slot.take();
                    drop(slot);
                    control.generation = None;
                    control.ticket = None;
                    if old.is_some() {
                        report.dropped += 1;
                    }
                    drop(old);
                }
                Err(_) => report.busy += 1,
            }
        }
        if !control.drop_now {
            // At most two rounds: an answer that asks again (reserved on a generation
            // that drained) and a configuration that asks for a recreation send their
            // new request in this very poll.
            for _ in 0..2 {
                if let Reserve::Wanted = control.reserve {
                    self.request(&mut control, report);
                }
                self.poll_answer(&mut control, report);
                if matches!(control.reserve, Reserve::Idle) && control.pending_config.is_some() {
                    self.apply_config(&mut control, report);
                }
                if !matches!(control.reserve, Reserve::Wanted) {
                    break;
                }
            }
        }
        let pending = !matches!(control.reserve, Reserve::Idle);
        if pending {
            report.pending += 1;
        }
        let work = pending || control.drop_now || control.pending_config.is_some();
        drop(control);
        self.set_work(work);
    }
}

impl<C: Hooks + 'static> Drop for SlotInner<C> {
    fn drop(&mut self) {
        // Its reservation's answer, if one comes, is dropped with the channel and its
        // guard releases the ticket; the instance's own drop releases the instance.
        self.set_work(false);
    }
}
