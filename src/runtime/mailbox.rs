//! Owners' mailboxes: bounded, completions never dropped, notices coalesced.
//!
//! A mailbox is a bounded channel of capacity `C` plus the events
//! [`Owner::call`](super::Owner::call) took out of it while waiting for its own outcome
//! (the owner's held-back queue). Both count against `C`, and `C` is split in two shares:
//!
//! * **Completions**: `K = C / 2` slots. An owner has at most `K` commands outstanding
//!   (submitted, outcome not yet taken out of its mailbox); it counts them itself and
//!   refuses to submit beyond that ([`RequestError::Backlog`](super::RequestError)). So
//!   at most `K` completions are ever queued, and the actor's non-blocking send of one
//!   always finds room.
//! * **Notices**: the other `C - K` slots. The actor queues a
//!   [`Draining`](super::OwnerEvent::Draining) or
//!   [`Configure`](super::OwnerEvent::Configure) notice only while fewer than `C - K`
//!   events are queued in all; otherwise it counts the notice as missed and the owner
//!   *lags*. [`Serving`](super::OwnerEvent::Serving) and
//!   [`Configure`](super::OwnerEvent::Configure) notices follow the same rule. Once
//!   there is room again it queues one [`Lagged`](super::OwnerEvent::Lagged) event
//!   carrying the missed count and the current state from the core: one notice per
//!   draining generation the owner holds or subscribes to, one serving notice per
//!   subscribed plugin that serves, and the live configuration of every capability it
//!   holds instances of. Notices about one generation (or one plugin's serving)
//!   coalesce into one, and a generation the owner holds cannot be collected, so it is
//!   never left out; configurations coalesce into the newest revision, which is all an
//!   owner that missed some applies.
//!
//! The owner never waits on the actor for any of this: it only reads its own channel and
//! a counter it shares with the actor (see [`Outbox`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Sender, TrySendError};

use crate::generation::{ConfigNotice, Notice, ServingNotice};
use crate::routing::DrainStall;

use super::owner::{CommandCompleted, OwnerEvent};

/// What a lagging owner must know now: the drain notices of what it holds or subscribes
/// to, the serving notices of the subscribed plugins that serve, and the newest
/// configuration of every capability it holds instances of.
pub(crate) type LagState = (Vec<Notice>, Vec<ServingNotice>, Vec<ConfigNotice>);

/// The smallest mailbox capacity accepted: two completions and two notices.
pub const MIN_MAILBOX_CAPACITY: usize = 4;

/// The largest mailbox capacity accepted (2^20). The channel's slots are allocated when
/// the owner registers, so a larger value is a mistake, not a wish.
pub const MAX_MAILBOX_CAPACITY: usize = 1 << 20;

/// The completions' share of a mailbox of `capacity`: how many commands one owner may
/// have outstanding.
pub(crate) fn completion_share(capacity: usize) -> usize {
    capacity / 2
}

/// How many events an owner moved from its channel to its held-back queue and has not
/// handed out yet, plus one while `call` waits to take one. The owner changes it only in
/// `call` and in a receive that finds the held-back queue non-empty, never on its fast
/// path.
pub(crate) type HeldBack = Arc<AtomicUsize>;

/// The actor's end of one owner's mailbox.
#[derive(Debug)]
pub(crate) struct Outbox {
    sender: Sender<OwnerEvent>,
    held_back: HeldBack,
    /// `C - K`: the notices' share.
    notice_share: usize,
    /// Notices not queued since the last `Lagged`; non-zero means the owner lags.
    missed: u64,
}

impl Outbox {
    /// The actor's end of a mailbox made by `crossbeam_channel::bounded`.
    pub(crate) fn new(sender: Sender<OwnerEvent>, held_back: HeldBack) -> Self {
        let capacity = sender.capacity().unwrap_or(MIN_MAILBOX_CAPACITY);
        Self {
            sender,
            held_back,
            notice_share: capacity - completion_share(capacity),
            missed: 0,
        }
    }

    /// Queues a completion. The owner's outstanding limit guarantees room; a full
    /// mailbox here is a broken invariant, reported and never waited on.
    pub(crate) fn complete(&self, completed: CommandCompleted) {
        match self
            .sender
            .try_send(OwnerEvent::CommandCompleted(completed))
        {
            // An owner that left is unregistered by its own release message.
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(event)) => {
                tracing::error!(
                    ?event,
                    "an owner's mailbox had no room for a completion; its outstanding limit failed"
                );
                debug_assert!(false, "a completion found its owner's mailbox full");
            }
        }
    }

    /// Queues a notice if the notices' share has room and the owner does not lag;
    /// otherwise counts it as missed. Returns whether the owner lags afterwards.
    pub(crate) fn notify(&mut self, notice: Notice) -> bool {
        self.queue_notice(OwnerEvent::Draining(notice))
    }

    /// Queues a serving notice under the same rule as a drain notice: if the notices'
    /// share has room and the owner does not lag; otherwise counts it as missed (the
    /// owner's `Lagged` names every subscribed plugin that serves). Returns whether the
    /// owner lags afterwards.
    pub(crate) fn serving(&mut self, notice: ServingNotice) -> bool {
        self.queue_notice(OwnerEvent::Serving(notice))
    }

    /// Queues a configuration notice like a drain notice ([`notify`](Self::notify)).
    pub(crate) fn configure(&mut self, notice: ConfigNotice) -> bool {
        self.queue_notice(OwnerEvent::Configure(notice))
    }

    /// Queues a notice-share event that must not be lost: if it cannot be queued, it is
    /// counted as missed and the owner lags until a `Lagged` replaces what it missed.
    fn queue_notice(&mut self, event: OwnerEvent) -> bool {
        if self.owner_gone() {
            // Nobody will read it; lagging would only keep the actor retrying.
            self.missed = 0;
            return false;
        }
        if self.missed == 0 && self.has_room() {
            match self.sender.try_send(event) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return false,
                // Cannot happen after `has_room`; counted as missed all the same.
                Err(TrySendError::Full(_)) => {}
            }
        }
        self.missed += 1;
        true
    }

    /// Queues a drain-stall report if the notices' share has room and the owner does
    /// not lag; otherwise drops it. Stall reports repeat (with backoff) while the drain
    /// stays stalled, and the owner's drain notice or `Lagged` event already says what
    /// to release, so a dropped one costs nothing but its timing.
    pub(crate) fn stalled(&self, stall: DrainStall) {
        if self.missed == 0 && self.has_room() {
            let _ = self.sender.try_send(OwnerEvent::DrainStalled(stall));
        }
    }

    /// Events queued or held back and not handed out yet.
    pub(crate) fn backlog(&self) -> usize {
        self.sender.len() + self.held_back.load(Ordering::SeqCst)
    }

    /// If the owner lags and its mailbox has room, queues one `Lagged` event with the
    /// state `state` computes now: the draining generations, the serving plugins and the
    /// live configurations the owner must know of. Returns whether the owner still lags.
    pub(crate) fn catch_up(&mut self, state: impl FnOnce() -> LagState) -> bool {
        if self.missed == 0 {
            return false;
        }
        if self.owner_gone() {
            self.missed = 0;
            return false;
        }
        if !self.has_room() {
            return true;
        }
        let (draining, serving, configs) = state();
        let event = OwnerEvent::Lagged {
            missed: self.missed,
            draining,
            serving,
            configs,
        };
        match self.sender.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {
                self.missed = 0;
                false
            }
            Err(TrySendError::Full(_)) => true,
        }
    }

    /// Whether the `Owner` dropped its end. Its channel keeps the events it never read
    /// (crossbeam keeps undelivered messages), so without this an owner dropped with a
    /// full mailbox, whose instances or pins live on, would lag for ever. The `Owner` is
    /// the only other holder of `held_back`.
    fn owner_gone(&self) -> bool {
        Arc::strong_count(&self.held_back) == 1
    }

    /// Whether one more notice-share event fits. Only the actor adds events, so room
    /// seen here is still there when it sends.
    ///
    /// The sum never undercounts: the owner counts an event as held back *before* it
    /// takes it out of the channel, and the channel length is read first. If that read
    /// sees the event gone, the channel's `SeqCst` receive it synchronizes with comes
    /// after the owner's increment, so the load below sees the increment too.
    fn has_room(&self) -> bool {
        let queued = self.sender.len();
        let held_back = self.held_back.load(Ordering::SeqCst);
        queued + held_back < self.notice_share
    }
}
