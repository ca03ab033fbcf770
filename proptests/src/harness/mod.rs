//! One run: the real core, wrapped in the routing driver the runtime uses, and the model
//! driven by the same operations, with the actor's part played against the simulated
//! loader, checked after every step.
//!
//! This file holds the run's state, its statistics and its public steps; `apply`
//! performs operations, `effects` performs the router's actions and checks them and
//! every event record against the model, `check` compares the core with the model.

mod apply;
mod check;
mod effects;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use plugin_runtime::events::{EventFilter, EventKind, Topic};
use plugin_runtime::generation::{
    CloseToken, Command, CoreConfig, GenerationKey, GenerationState, LoadKey, PinKey, RequestId,
    SyncKey,
};
use plugin_runtime::loader::simulated::{SimulatedLibrary, SimulatedLoader};
use plugin_runtime::owner::{InstanceKey, OwnerKey, TicketKey};
use plugin_runtime::routing::{ListenerId, Router};

use crate::foreign::OtherCore;
use crate::model::{self, DRAIN_TIMEOUT, MAX_STALL_INTERVAL, Model, StepExpect};
use crate::op::{INSTALLED_PATHS, Op, Route};

/// A key whose record was removed; using it must give a typed not-found.
#[derive(Debug, Clone, Copy)]
enum StaleKey {
    Generation(GenerationKey),
    Load(LoadKey),
    Owner(OwnerKey),
    Ticket(TicketKey),
    Instance(InstanceKey),
    Pin(PinKey),
    Sync(SyncKey),
    /// The ticket key of an instance recorded without an answer, released since.
    Alias(TicketKey),
}

/// A command submitted and not completed yet.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    /// Its submitter.
    owner: Option<OwnerKey>,
    /// Whether a caller still waits for its outcome.
    waiter: bool,
}

/// What a listener of the run asked for, stated independently of [`EventFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wants {
    /// Every record.
    All,
    /// Records about plugin `a`.
    PluginA,
    /// Drains and collects of plugin `b`.
    DrainsOfB,
    /// The runtime's and the commands' records.
    RuntimeAndCommands,
}

impl Wants {
    const ALL: [Wants; 4] = [
        Wants::All,
        Wants::PluginA,
        Wants::DrainsOfB,
        Wants::RuntimeAndCommands,
    ];

    fn filter(self) -> EventFilter {
        match self {
            Wants::All => EventFilter::all(),
            Wants::PluginA => EventFilter::all().plugin(crate::op::PLUGINS[0]),
            Wants::DrainsOfB => EventFilter::all()
                .topic(Topic::Lifecycle)
                .plugin(crate::op::PLUGINS[1])
                .kind(EventKind::Draining)
                .kind(EventKind::Collected),
            Wants::RuntimeAndCommands => EventFilter::all()
                .topic(Topic::Runtime)
                .topic(Topic::Command),
        }
    }
}

/// Where a generation is in its documented life, as its records tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Serving,
    Draining,
    Collected,
    Closed,
    Unmapped,
    StillMapped,
    KeptLoaded,
    CleanedUp,
}

/// The core in its router, the model, the simulated loader and the actor's bookkeeping.
#[derive(Debug)]
pub struct Run {
    router: Router,
    model: Model,
    loader: SimulatedLoader,
    /// Time zero of the records.
    origin: Instant,
    now: Instant,
    next_request: u64,
    /// The last record's sequence number.
    last_seq: u64,
    /// The router's listeners and what each asked for.
    listeners: Vec<(ListenerId, Wants)>,
    /// Commands submitted this step, whose `command_submitted` must come.
    submitted: VecDeque<(RequestId, Option<OwnerKey>, Command)>,
    /// Each generation's life so far (model index), as its records tell it.
    lives: BTreeMap<usize, Life>,
    /// Libraries the simulated loader opened, by the generation they became.
    libraries: HashMap<GenerationKey, SimulatedLibrary>,
    /// Close tokens received and not answered yet, oldest first.
    closes: Vec<CloseToken>,
    /// Closes requested per generation (model index): must never exceed one.
    close_requests: BTreeMap<usize, u32>,
    /// Ids of the libraries the loader opened, by model generation.
    library_ids: BTreeMap<usize, u64>,
    /// Requests submitted and not completed.
    outstanding: BTreeMap<RequestId, Outstanding>,
    stale: Vec<StaleKey>,
    /// Another core, whose keys and tokens the core must refuse.
    other: OtherCore,
    known_generations: HashSet<GenerationKey>,
    /// The library the pending open of this step produced, until its generation is known.
    fresh_library: Option<SimulatedLibrary>,
    stats: Stats,
}

/// How often a run reached each interesting situation, to show the suite's reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Generations made.
    pub generations: u64,
    /// Loads that failed.
    pub load_failures: u64,
    /// Command outcomes that were failures.
    pub failed_commands: u64,
    /// Close tokens issued.
    pub collects: u64,
    /// Generations that started draining.
    pub drains: u64,
    /// Owner notices.
    pub notices: u64,
    /// Stalled-drain reports.
    pub stalls: u64,
    /// Shutdowns completed with stalled generations.
    pub stalled_shutdowns: u64,
    /// Closes the loader reported as still mapped or kept loaded.
    pub pinned_by_loader: u64,
    /// Instances created.
    pub instances: u64,
    /// Stale keys used.
    pub stale_uses: u64,
    /// Keys and tokens of another core used.
    pub foreign_uses: u64,
    /// Loads that finished after a newer load of their plugin and never served.
    pub superseded: u64,
    /// Directory syncs completed.
    pub syncs: u64,
    /// Sync entries by change (new, changed, unchanged, gone, unreadable) and
    /// duplicates.
    pub sync_entries: [u64; 6],
    /// Outcomes handed to a waiting caller.
    pub replies: u64,
    /// Outcomes put in the submitting owner's mailbox.
    pub owner_completions: u64,
    /// Outcomes of owner-less commands nobody waited for: published only.
    pub unrouted: u64,
    /// Waiting callers that left.
    pub waiters_gone: u64,
    /// Drain stalls told to a holding owner.
    pub stalls_told: u64,
    /// Event records published.
    pub records: u64,
    /// Records delivered to at least one filtered listener.
    pub filtered_deliveries: u64,
    /// Hot restarts completed.
    pub restarts: u64,
    /// Of those, the ones that completed at their deadline with replaced generations
    /// still held.
    pub stalled_restarts: u64,
    /// Plugins a restart reported still loading at its deadline.
    pub restart_loading: u64,
    /// Plugins whose load in a restart failed or never served.
    pub restart_failures: u64,
    /// Serving notices sent to subscribers.
    pub serving_notices: u64,
    /// Configure commands that stored a new revision.
    pub configured: u64,
    /// Configuration notices to owners.
    pub config_notices: u64,
    /// Configuration reports published.
    pub config_reports: u64,
    /// Instances released by the ticket key they were recorded under.
    pub released_by_alias: u64,
    /// JSON commands that parsed and were submitted.
    pub json_commands: u64,
    /// JSON texts refused before reaching the core.
    pub json_refused: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Self) {
        self.generations += other.generations;
        self.load_failures += other.load_failures;
        self.failed_commands += other.failed_commands;
        self.collects += other.collects;
        self.drains += other.drains;
        self.notices += other.notices;
        self.stalls += other.stalls;
        self.stalled_shutdowns += other.stalled_shutdowns;
        self.pinned_by_loader += other.pinned_by_loader;
        self.instances += other.instances;
        self.stale_uses += other.stale_uses;
        self.foreign_uses += other.foreign_uses;
        self.superseded += other.superseded;
        self.syncs += other.syncs;
        for (mine, theirs) in self.sync_entries.iter_mut().zip(other.sync_entries) {
            *mine += theirs;
        }
        self.replies += other.replies;
        self.owner_completions += other.owner_completions;
        self.unrouted += other.unrouted;
        self.waiters_gone += other.waiters_gone;
        self.stalls_told += other.stalls_told;
        self.records += other.records;
        self.filtered_deliveries += other.filtered_deliveries;
        self.restarts += other.restarts;
        self.stalled_restarts += other.stalled_restarts;
        self.restart_loading += other.restart_loading;
        self.restart_failures += other.restart_failures;
        self.serving_notices += other.serving_notices;
        self.configured += other.configured;
        self.config_notices += other.config_notices;
        self.config_reports += other.config_reports;
        self.released_by_alias += other.released_by_alias;
        self.json_commands += other.json_commands;
        self.json_refused += other.json_refused;
    }
}

impl Run {
    /// A fresh core and model with every path installed.
    pub fn new() -> Self {
        let now = Instant::now();
        let mut loader = SimulatedLoader::new();
        for index in 0..INSTALLED_PATHS {
            loader.install(model::path(index), model::module(index));
        }
        let config = CoreConfig {
            drain_timeout: DRAIN_TIMEOUT,
            max_stall_interval: MAX_STALL_INTERVAL,
        };
        let mut router = Router::new(config.clone(), now);
        assert_eq!(router.core().config(), &config);
        let listeners = Wants::ALL
            .into_iter()
            .map(|wants| (router.listen(wants.filter()), wants))
            .collect();
        Self {
            router,
            model: Model::new(now),
            loader,
            origin: now,
            now,
            next_request: 0,
            last_seq: 0,
            listeners,
            submitted: VecDeque::new(),
            lives: BTreeMap::new(),
            libraries: HashMap::new(),
            closes: Vec::new(),
            close_requests: BTreeMap::new(),
            library_ids: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            stale: Vec::new(),
            other: OtherCore::new(now),
            known_generations: HashSet::new(),
            fresh_library: None,
            stats: Stats::default(),
        }
    }

    /// Runs `sequence` on a fresh run, checking after every step, then
    /// [`finish`](Self::finish)es it; returns what it reached.
    pub fn replay(sequence: &[Op]) -> Stats {
        let mut run = Self::new();
        for op in sequence {
            run.step(op);
        }
        run.finish();
        run.stats()
    }

    /// What this run reached so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Applies one operation to the core and the model, then checks everything.
    pub fn step(&mut self, op: &Op) {
        self.model.expect = StepExpect::default();
        self.apply(op);
        self.settle();
    }

    /// Ends a run: answers every pending load and close, makes every owner release
    /// everything, and checks that nothing drains or leaks; then shuts down and checks
    /// that every library was closed exactly once and every command completed.
    pub fn finish(&mut self) {
        self.answer_everything();
        let owners: Vec<usize> = (0..self.model.owners.len())
            .filter(|&o| self.model.owners[o].alive)
            .collect();
        for owner in owners {
            self.step_with(|run| run.unregister(owner));
            self.answer_everything();
        }
        while !self.model.pins.is_empty() {
            self.step(&Op::Unpin { pin: 0 });
        }
        self.answer_everything();
        let draining = self
            .router
            .core()
            .generations()
            .filter(|(_, s)| matches!(s, GenerationState::Draining { .. }))
            .count();
        assert_eq!(
            draining, 0,
            "a generation still drains after everything was released"
        );
        let snapshot = self.router.core().snapshot(self.now);
        assert_eq!(
            (snapshot.instances, snapshot.tickets, snapshot.pins),
            (0, 0, 0),
            "a hold leaked"
        );
        // A listener that leaves is named by no later record.
        let (gone, _) = self.listeners.remove(1);
        assert!(self.router.unlisten(gone));
        assert!(!self.router.unlisten(gone));
        if self.model.running() {
            self.step(&Op::Shutdown {
                after_secs: 60,
                route: Route::CALLER,
            });
        }
        self.answer_everything();
        for (key, state) in self.router.core().generations() {
            assert!(
                matches!(
                    state,
                    GenerationState::Closed | GenerationState::PinnedByLoader { .. }
                ),
                "{key:?} is {state:?} after shutdown"
            );
        }
        for (generation, id) in &self.library_ids {
            assert_eq!(
                self.loader.closes(*id),
                1,
                "library of generation {generation} closed {} times",
                self.loader.closes(*id)
            );
        }
        assert_eq!(self.loader.opened() as usize, self.library_ids.len());
        assert!(
            self.outstanding.is_empty(),
            "commands never completed: {:?}",
            self.outstanding
        );
        for (generation, life) in &self.lives {
            assert!(
                matches!(
                    life,
                    Life::Unmapped | Life::StillMapped | Life::KeptLoaded | Life::CleanedUp
                ),
                "generation {generation} ends its run {life:?}"
            );
        }
        assert_eq!(self.lives.len(), self.model.generations.len());
    }

    fn answer_everything(&mut self) {
        let scans = |run: &Self| {
            run.model
                .syncs
                .iter()
                .any(|s| s.key.is_some() && !s.scanned)
        };
        while !self.model.loads.is_empty() || !self.closes.is_empty() || scans(self) {
            if scans(self) {
                self.step(&Op::FinishScan { which: 0 });
            } else if !self.model.loads.is_empty() {
                self.step(&Op::FinishLoad { which: 0 });
            } else {
                self.step(&Op::FinishClose { which: 0 });
            }
        }
    }

    fn step_with(&mut self, f: impl FnOnce(&mut Self)) {
        self.model.expect = StepExpect::default();
        f(self);
        self.settle();
    }

    fn model_generation(&self, key: GenerationKey) -> usize {
        self.model
            .generations
            .iter()
            .position(|g| g.key == Some(key))
            .unwrap_or_else(|| panic!("the core named a generation the model never made: {key:?}"))
    }
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}
