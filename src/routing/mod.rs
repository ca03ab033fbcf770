//! The routing driver: the sans-IO layer between the [core](crate::generation) and
//! whatever performs its effects.
//!
//! [`Router`] wraps a [`Lifecycle`] and turns each of its [`Effect`]s into an
//! [`Action`] with a destination: a library to open or close, a drain or serving notice
//! or a drain stall for an owner's mailbox, an outcome for the waiting caller or for the submitting
//! owner, and every event as a numbered, timed [`EventRecord`] for the listeners whose
//! filters match. It also counts what the runtime did ([`Counters`]).
//!
//! Like the core, it never reads a clock, opens a library or touches a channel. The
//! runtime's actor performs its actions with threads and channels; the property suite
//! performs them with a simulated loader and checks each one against its model. Both
//! therefore run the same routing.
//!
//! # Examples
//!
//! ```
//! use std::time::Instant;
//! use plugin_runtime::events::{Event, EventFilter};
//! use plugin_runtime::generation::{Command, CoreConfig, Outcome, RequestId};
//! use plugin_runtime::routing::{Action, Router};
//!
//! let start = Instant::now();
//! let mut router = Router::new(CoreConfig::default(), start);
//! let listener = router.listen(EventFilter::all());
//! router.submit(start, RequestId(1), None, Command::Snapshot, true);
//! let mut heard = Vec::new();
//! while let Some(action) = router.poll_action(start) {
//!     match action {
//!         Action::Publish { record, listeners } => {
//!             assert_eq!(listeners.as_slice(), [listener]);
//!             heard.push(record.event.name());
//!         }
//!         Action::Reply { outcome: Outcome::Snapshot(_), .. } => {}
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! assert_eq!(heard, ["command_submitted", "command_completed"]);
//! ```
#![forbid(unsafe_code)]

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::events::{Event, EventFilter, EventRecord};
use crate::generation::{
    CloseToken, Command, ConfigNotice, CoreConfig, Counters, Effect, GenerationKey, Lifecycle,
    LoadKey, Notice, Outcome, RequestId, ServingNotice, Snapshot, StalledGeneration, SyncKey,
};
use crate::owner::OwnerKey;

/// A listener's id within its router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListenerId(u64);

/// What the router asks its caller to do, drained with [`Router::poll_action`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Open the library at `path`, then answer the core with
    /// [`Lifecycle::load_finished`](crate::generation::Lifecycle::load_finished).
    Open {
        /// The command that asked for it.
        request_id: RequestId,
        /// The pending load to answer.
        load: LoadKey,
        /// The installed library.
        path: PathBuf,
        /// The plugin id the library must have, if known.
        expected_plugin_id: Option<String>,
    },
    /// Close the generation's library, then answer the core with
    /// [`Lifecycle::closed`](crate::generation::Lifecycle::closed).
    Close(CloseToken),
    /// Scan the directory `dir` for a sync (list, fingerprint and describe its
    /// libraries, off the actor), then answer the core with
    /// [`Lifecycle::scan_finished`](crate::generation::Lifecycle::scan_finished).
    Scan {
        /// The sync command.
        request_id: RequestId,
        /// The pending sync to answer.
        sync: SyncKey,
        /// The directory.
        dir: PathBuf,
    },
    /// Put a draining notice in `owner`'s mailbox.
    Notify {
        /// The owner.
        owner: OwnerKey,
        /// What it must know.
        notice: Notice,
    },
    /// Put a serving notice in `owner`'s mailbox: a plugin it subscribed to serves
    /// again from no generation (its first load, or an enable).
    Serving {
        /// The owner.
        owner: OwnerKey,
        /// What it must know.
        notice: ServingNotice,
    },
    /// Tell `owner`, which holds a stalled generation, about the stall.
    Stalled {
        /// The owner.
        owner: OwnerKey,
        /// The stall, with every holder.
        stall: DrainStall,
    },
    /// Hand `outcome` to the caller waiting for `request_id`.
    Reply {
        /// The command's id.
        request_id: RequestId,
        /// What it did.
        outcome: Outcome,
    },
    /// Put `outcome` in the submitting owner's mailbox (no caller waits for it).
    Complete {
        /// The submitting owner.
        owner: OwnerKey,
        /// The command's id.
        request_id: RequestId,
        /// What it did.
        outcome: Outcome,
    },
    /// Put a configuration notice in `owner`'s mailbox.
    Configure {
        /// The owner.
        owner: OwnerKey,
        /// The configuration and its revision.
        notice: ConfigNotice,
    },
    /// Deliver `record` to `listeners` (possibly none) and log it.
    Publish {
        /// The record.
        record: Arc<EventRecord>,
        /// The listeners whose filters match, in the order they subscribed.
        listeners: SmallVec<[ListenerId; 4]>,
    },
}

/// A drain stall as its holders' owners hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DrainStall {
    /// The stalled generation, its plugin and every holder.
    pub stalled: StalledGeneration,
    /// How long it has been draining.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "draining_micros", with = "crate::events::serde_util::micros")
    )]
    pub draining_for: Duration,
    /// Which report this is, counting from 1.
    pub report: u32,
}

/// The sans-IO routing driver; see [the module](self).
#[derive(Debug)]
pub struct Router {
    core: Lifecycle,
    origin: Instant,
    next_seq: u64,
    /// Requests whose caller waits for the outcome itself.
    waiters: HashSet<RequestId>,
    listeners: Vec<(ListenerId, EventFilter)>,
    next_listener: u64,
    counters: Counters,
    actions: VecDeque<Action>,
}

impl Router {
    /// A router around a new core; `origin` is time zero of every record's `t_micros`.
    pub fn new(config: CoreConfig, origin: Instant) -> Self {
        Self {
            core: Lifecycle::new(config),
            origin,
            next_seq: 1,
            waiters: HashSet::new(),
            listeners: Vec::new(),
            next_listener: 0,
            counters: Counters::default(),
            actions: VecDeque::new(),
        }
    }

    /// The core, for queries.
    pub fn core(&self) -> &Lifecycle {
        &self.core
    }

    /// The core, for the calls that are not commands (owners, tickets, instances, pins,
    /// load and close answers). Their effects come out of [`poll_action`](Self::poll_action).
    pub fn core_mut(&mut self) -> &mut Lifecycle {
        &mut self.core
    }

    /// What the runtime did so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Submits a command. If `waiter`, its outcome comes out as [`Action::Reply`];
    /// otherwise as [`Action::Complete`] to `owner`, or nowhere if there is none.
    pub fn submit(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        command: Command,
        waiter: bool,
    ) {
        if waiter {
            self.waiters.insert(request_id);
        }
        self.publish(
            now,
            Event::CommandSubmitted {
                request_id,
                owner,
                command: command.clone(),
            },
        );
        self.core.submit(now, request_id, owner, command);
    }

    /// The caller waiting for `request_id` left: its outcome goes to the owner instead.
    pub fn waiter_gone(&mut self, request_id: RequestId) {
        self.waiters.remove(&request_id);
    }

    /// Adds a listener: every later record that `filter` matches names it.
    pub fn listen(&mut self, filter: EventFilter) -> ListenerId {
        let id = ListenerId(self.next_listener);
        self.next_listener += 1;
        self.listeners.push((id, filter));
        id
    }

    /// Removes a listener; whether it was there.
    pub fn unlisten(&mut self, id: ListenerId) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|(l, _)| *l != id);
        self.listeners.len() < before
    }

    /// Counts records a listener lost to its full queue.
    pub fn listener_dropped(&mut self, records: u64) {
        self.counters.listener_drops = self.counters.listener_drops.saturating_add(records);
    }

    /// The record of the runtime's poisoning, for the caller to deliver: the actor
    /// cannot go on, so this is the last record.
    pub fn poisoned(&mut self, now: Instant, message: String) -> Action {
        self.publish(now, Event::RuntimePoisoned { message });
        self.actions.pop_back().expect("publish queued one action")
    }

    /// The next action, converting the core's effects as needed; `now` stamps records.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        self.poll_action_with(now, &mut |_| {})
    }

    /// As [`poll_action`](Self::poll_action), letting `extras` add what only the caller
    /// knows (mailbox backlogs, shadow paths) to each snapshot before it is routed and
    /// published, so the caller and the `command_completed` record carry the same one.
    pub fn poll_action_with(
        &mut self,
        now: Instant,
        extras: &mut dyn FnMut(&mut Snapshot),
    ) -> Option<Action> {
        loop {
            if let Some(action) = self.actions.pop_front() {
                return Some(action);
            }
            let effect = self.core.poll_effect()?;
            self.route(now, effect, extras);
        }
    }

    fn route(&mut self, now: Instant, effect: Effect, extras: &mut dyn FnMut(&mut Snapshot)) {
        match effect {
            Effect::Open {
                request_id,
                load,
                path,
                expected_plugin_id,
            } => self.actions.push_back(Action::Open {
                request_id,
                load,
                path,
                expected_plugin_id,
            }),
            Effect::Close(token) => self.actions.push_back(Action::Close(token)),
            Effect::Scan {
                request_id,
                sync,
                dir,
            } => self.actions.push_back(Action::Scan {
                request_id,
                sync,
                dir,
            }),
            Effect::Notify { owner, notice } => {
                self.actions.push_back(Action::Notify { owner, notice })
            }
            Effect::Serving { owner, notice } => {
                self.actions.push_back(Action::Serving { owner, notice })
            }
            Effect::Configure { owner, notice } => {
                self.actions.push_back(Action::Configure { owner, notice })
            }
            Effect::Complete {
                request_id,
                owner,
                mut outcome,
            } => {
                if let Outcome::Snapshot(snapshot) = &mut outcome {
                    snapshot.counters = self.counters;
                    extras(snapshot);
                }
                self.publish(
                    now,
                    Event::CommandCompleted {
                        request_id,
                        owner,
                        outcome: outcome.clone(),
                    },
                );
                if self.waiters.remove(&request_id) {
                    self.actions.push_back(Action::Reply {
                        request_id,
                        outcome,
                    });
                } else if let Some(owner) = owner {
                    self.actions.push_back(Action::Complete {
                        owner,
                        request_id,
                        outcome,
                    });
                }
            }
            Effect::Event(event) => {
                self.count(&event);
                if let Event::DrainStalled {
                    plugin_id,
                    generation,
                    draining_for,
                    report,
                    holders,
                    ..
                } = &event
                {
                    self.route_stall(plugin_id, *generation, *draining_for, *report, holders);
                }
                self.publish(now, event);
            }
        }
    }

    /// Each owner holding a stalled generation hears of the stall once per report.
    fn route_stall(
        &mut self,
        plugin_id: &str,
        generation: GenerationKey,
        draining_for: Duration,
        report: u32,
        holders: &[crate::generation::HolderReport],
    ) {
        let stall = DrainStall {
            stalled: StalledGeneration {
                generation,
                plugin_id: plugin_id.to_owned(),
                holders: holders.to_vec(),
            },
            draining_for,
            report,
        };
        for owner in holders.iter().filter_map(|h| h.owner) {
            self.actions.push_back(Action::Stalled {
                owner,
                stall: stall.clone(),
            });
        }
    }

    fn count(&mut self, event: &Event) {
        let c = &mut self.counters;
        match event {
            Event::Loaded { .. } => c.loads += 1,
            Event::Reloaded { .. } => {
                c.loads += 1;
                c.reloads += 1;
            }
            Event::LoadFailed { .. } => c.failed_loads += 1,
            Event::Collected { .. } => c.collected += 1,
            Event::Unmapped { .. } => c.unmapped += 1,
            Event::StillMapped { .. } | Event::KeptLoaded { .. } => c.kept_mapped += 1,
            Event::DrainStalled { report: 1, .. } => c.stalled_drains += 1,
            _ => {}
        }
    }

    fn publish(&mut self, now: Instant, event: Event) {
        let listeners = self
            .listeners
            .iter()
            .filter(|(_, filter)| filter.matches(&event))
            .map(|(id, _)| *id)
            .collect();
        let record = EventRecord {
            seq: self.next_seq,
            t_micros: u64::try_from(now.saturating_duration_since(self.origin).as_micros())
                .unwrap_or(u64::MAX),
            dropped: 0,
            event,
        };
        self.next_seq += 1;
        self.actions.push_back(Action::Publish {
            record: Arc::new(record),
            listeners,
        });
    }
}

#[cfg(test)]
mod tests;
