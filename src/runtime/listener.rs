//! Listeners: bounded queues of event records for code with or without an owner.
//!
//! The actor never waits for a listener. Each listener has a bounded channel; when it is
//! full the actor takes the oldest record out itself (it keeps a receiver for that) and
//! queues the new one, so a listener that stops reading costs the runtime one channel of
//! memory and nothing else. Each record carries the listener's own running number, so
//! the listener computes how many it lost without sharing a counter with the actor, and
//! reports them in the next record it hands out ([`EventRecord::dropped`]).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::events::EventRecord;
use crate::routing::ListenerId;

use super::error::RequestError;
use super::handle::{RuntimeHandle, Shared};
use super::protocol::Release;

/// One record on its way to one listener, numbered per listener from 1.
#[derive(Debug)]
pub(crate) struct Delivery {
    number: u64,
    record: Arc<EventRecord>,
}

/// The actor's end of one listener.
#[derive(Debug)]
pub(crate) struct ListenerOutbox {
    sender: Sender<Delivery>,
    /// The actor's own receiver, to drop the oldest record when the queue is full.
    oldest: Receiver<Delivery>,
    next_number: u64,
}

impl ListenerOutbox {
    /// A listener's two ends with room for `capacity` records.
    pub(crate) fn channel(capacity: usize) -> (Self, Receiver<Delivery>) {
        let (sender, receiver) = crossbeam_channel::bounded(capacity);
        let outbox = Self {
            sender,
            oldest: receiver.clone(),
            next_number: 1,
        };
        (outbox, receiver)
    }

    /// Queues `record`, dropping the oldest queued record if the queue is full. Returns
    /// how many records were dropped (0 or 1). Never blocks.
    pub(crate) fn deliver(&mut self, record: &Arc<EventRecord>) -> u64 {
        let mut delivery = Delivery {
            number: self.next_number,
            record: Arc::clone(record),
        };
        self.next_number += 1;
        let mut dropped = 0;
        // Only the actor sends, so after it takes one record out there is room; the
        // second round is for a listener that emptied the queue in between.
        for _ in 0..2 {
            match self.sender.try_send(delivery) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return dropped,
                Err(TrySendError::Full(back)) => {
                    delivery = back;
                    if self.oldest.try_recv().is_ok() {
                        dropped += 1;
                    }
                }
            }
        }
        dropped
    }
}

/// Why [`Listener::recv_timeout`] returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// No record came within the timeout.
    #[error("no event within the timeout")]
    Timeout,
    /// The runtime stopped; no record will come.
    #[error("the runtime has stopped")]
    Stopped,
}

/// A subscription to the runtime's events, made with
/// [`RuntimeHandle::listen`] or [`Owner::listen`](super::Owner::listen).
///
/// It holds a bounded queue of [`EventRecord`]s that match its
/// [filter](crate::events::EventFilter), in `seq` order. The runtime never waits for it:
/// when the queue is full the oldest record is dropped, and the next record read says
/// how many were lost before it in [`EventRecord::dropped`]. Dropping the listener
/// unsubscribes it.
///
/// A listener only watches: it does not keep the runtime running. Once the last handle,
/// owner, instance and pin is gone, the runtime shuts down; the listener receives the
/// final records (the shutdown, and the closes and cleanups that end it) and then
/// [`ListenError::Stopped`].
///
/// `Send`, so a UI bridge or a router can read it on a thread of its own.
///
/// # Examples
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use plugin_runtime::events::{EventFilter, Topic};
/// use plugin_runtime::{Runtime, RuntimeConfig};
///
/// let runtime = Runtime::start(RuntimeConfig::default())?;
/// let mut listener = runtime.listen(EventFilter::all().topic(Topic::Lifecycle))?;
/// while let Ok(record) = listener.recv_timeout(Duration::from_secs(1)) {
///     println!("{}", record.to_json());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    id: ListenerId,
    receiver: Receiver<Delivery>,
    /// Weak, so that a listener never keeps the actor running: it is only needed to
    /// unsubscribe, which is moot once the runtime is going.
    runtime: Weak<Shared>,
    /// The number of the last record handed out.
    last_number: u64,
    /// Records lost in total.
    dropped_total: u64,
}

impl Listener {
    pub(crate) fn new(id: ListenerId, receiver: Receiver<Delivery>, runtime: Weak<Shared>) -> Self {
        Self {
            id,
            receiver,
            runtime,
            last_number: 0,
            dropped_total: 0,
        }
    }

    /// The next record if one is queued.
    pub fn try_recv(&mut self) -> Option<EventRecord> {
        match self.receiver.try_recv() {
            Ok(delivery) => Some(self.hand_out(delivery)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// The next record, waiting up to `timeout` (a timeout too long for the clock, up to
    /// [`Duration::MAX`], waits for as long as it takes).
    ///
    /// # Errors
    ///
    /// [`ListenError::Timeout`] if none came in time, [`ListenError::Stopped`] once the
    /// runtime has stopped and every queued record was read.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<EventRecord, ListenError> {
        let deadline = crate::generation::deadline::deadline_after(Instant::now(), timeout);
        match self.receiver.recv_deadline(deadline) {
            Ok(delivery) => Ok(self.hand_out(delivery)),
            Err(RecvTimeoutError::Timeout) => Err(ListenError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(ListenError::Stopped),
        }
    }

    /// Records lost to the full queue so far.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Records queued and not read yet.
    pub fn pending(&self) -> usize {
        self.receiver.len()
    }

    fn hand_out(&mut self, delivery: Delivery) -> EventRecord {
        let dropped = delivery.number.saturating_sub(self.last_number + 1);
        self.last_number = delivery.number;
        self.dropped_total += dropped;
        let mut record = Arc::unwrap_or_clone(delivery.record);
        record.dropped = dropped;
        record
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Without a handle left the actor is finishing and will drop every listener's
        // queue itself.
        if let Some(shared) = self.runtime.upgrade() {
            shared.release(Release::Unlisten { listener: self.id });
        }
    }
}

/// Subscribes a listener; shared by the handle and owners.
pub(crate) fn listen(
    runtime: &RuntimeHandle,
    filter: crate::events::EventFilter,
) -> Result<Listener, RequestError> {
    let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
    runtime.shared.send(super::protocol::Request::Listen {
        filter,
        reply: reply_tx,
    })?;
    let (id, receiver) = runtime.shared.answer(&reply_rx)?;
    Ok(Listener::new(id, receiver, Arc::downgrade(&runtime.shared)))
}
