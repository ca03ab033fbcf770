//! One run: the real core and the model driven by the same operations, with the actor's
//! part played against the simulated loader, checked after every step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use plugin_runtime::generation::{
    CleanupError, CloseToken, ClosedError, Command, CommandError, CoreConfig, Effect, Event,
    ForeignKeyError, GenerationKey, GenerationState, HolderReport, Lifecycle, LoadFailure,
    LoadFinishedError, LoadKey, NotFoundError, Outcome, PinError, PinKey, RequestId, UnpinError,
};
use plugin_runtime::loader::simulated::{SimulatedLibrary, SimulatedLoader};
use plugin_runtime::loader::{CloseOutcome, ModuleLoader};
use plugin_runtime::owner::{
    InstanceKey, OwnerError, OwnerKey, ReleaseError, ReserveError, Subscription, TicketError,
    TicketKey,
};

use crate::foreign::OtherCore;
use crate::model::{
    self, DRAIN_TIMEOUT, MAX_STALL_INTERVAL, MClose, MHold, MHolders, MOutcome, MOwner, MPin,
    MState, Model, PluginCommand, StepExpect,
};
use crate::op::{Expect, INSTALLED_PATHS, Op, PLUGINS};

/// A key whose record was removed; using it must give a typed not-found.
#[derive(Debug, Clone, Copy)]
enum StaleKey {
    Generation(GenerationKey),
    Load(LoadKey),
    Owner(OwnerKey),
    Ticket(TicketKey),
    Instance(InstanceKey),
    Pin(PinKey),
}

/// The core, the model, the simulated loader and the actor's bookkeeping.
#[derive(Debug)]
pub struct Run {
    core: Lifecycle,
    model: Model,
    loader: SimulatedLoader,
    now: Instant,
    next_request: u64,
    /// Libraries the simulated loader opened, by the generation they became.
    libraries: HashMap<GenerationKey, SimulatedLibrary>,
    /// Close tokens received and not answered yet, oldest first.
    closes: Vec<CloseToken>,
    /// Closes requested per generation (model index): must never exceed one.
    close_requests: BTreeMap<usize, u32>,
    /// Ids of the libraries the loader opened, by model generation.
    library_ids: BTreeMap<usize, u64>,
    /// Requests submitted and not completed, with their submitter.
    outstanding: HashMap<RequestId, Option<OwnerKey>>,
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
        let core = Lifecycle::new(config.clone());
        assert_eq!(core.config(), &config);
        Self {
            core,
            model: Model::new(now),
            loader,
            now,
            next_request: 0,
            libraries: HashMap::new(),
            closes: Vec::new(),
            close_requests: BTreeMap::new(),
            library_ids: BTreeMap::new(),
            outstanding: HashMap::new(),
            stale: Vec::new(),
            other: OtherCore::new(now),
            known_generations: HashSet::new(),
            fresh_library: None,
            stats: Stats::default(),
        }
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
            .core
            .generations()
            .filter(|(_, s)| matches!(s, GenerationState::Draining { .. }))
            .count();
        assert_eq!(
            draining, 0,
            "a generation still drains after everything was released"
        );
        let snapshot = self.core.snapshot();
        assert_eq!(
            (snapshot.instances, snapshot.tickets, snapshot.pins),
            (0, 0, 0),
            "a hold leaked"
        );
        if self.model.running() {
            self.step(&Op::Shutdown { after_secs: 60 });
        }
        self.answer_everything();
        for (key, state) in self.core.generations() {
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
    }

    fn answer_everything(&mut self) {
        while !self.model.loads.is_empty() || !self.closes.is_empty() {
            if !self.model.loads.is_empty() {
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

    fn request(&mut self) -> (RequestId, Option<OwnerKey>) {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        // Every other command is sent by the newest live owner, so routing is checked.
        let submitter = if self.next_request.is_multiple_of(2) {
            self.model
                .owners
                .iter()
                .rev()
                .find(|o| o.alive)
                .map(|o| o.key)
        } else {
            None
        };
        self.outstanding.insert(id, submitter);
        (id, submitter)
    }

    fn live_owner(&self, index: u8) -> Option<usize> {
        let live: Vec<usize> = (0..self.model.owners.len())
            .filter(|&o| self.model.owners[o].alive)
            .collect();
        (!live.is_empty()).then(|| live[usize::from(index) % live.len()])
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Load { path, expect } => {
                let path = usize::from(path) % (INSTALLED_PATHS + 1);
                let expected = match expect {
                    Expect::Nothing => None,
                    Expect::Right => Some(model::plugin_at(path).to_owned()),
                    Expect::Wrong => Some(model::plugin_at(path + 1).to_owned()),
                };
                let (id, submitter) = self.request();
                self.model.load(id, submitter, path, expected.clone());
                let command = Command::Load {
                    path: model::path(path),
                    expected_plugin_id: expected,
                };
                self.core.submit(now, id, submitter, command);
            }
            Op::Reload { plugin } => self.plugin_command(plugin, PluginCommand::Reload),
            Op::Unload { plugin } => self.plugin_command(plugin, PluginCommand::Unload),
            Op::SetEnabled { plugin, enabled } => {
                let command = if enabled {
                    PluginCommand::Enable
                } else {
                    PluginCommand::Disable
                };
                self.plugin_command(plugin, command);
            }
            Op::Snapshot => {
                let (id, submitter) = self.request();
                self.model.snapshot(id, submitter);
                self.core.submit(now, id, submitter, Command::Snapshot);
            }
            Op::Shutdown { after_secs } => {
                let (id, submitter) = self.request();
                let deadline = now + Duration::from_secs(u64::from(after_secs));
                self.model.shutdown(id, submitter, deadline);
                self.core
                    .submit(now, id, submitter, Command::Shutdown { deadline });
            }
            Op::FinishLoad { which } => self.finish_load(which, true),
            Op::FinishLoadUnchecked { which } => self.finish_load(which, false),
            Op::FinishClose { which } => self.finish_close(which),
            Op::SetFailure { path, fail } => {
                let path = usize::from(path) % (INSTALLED_PATHS + 1);
                self.model.failing[path] = fail;
                let message = fail.then(|| "scripted failure".to_owned());
                self.loader.set_failure(&model::path(path), message);
            }
            Op::SetCloseOutcome { path, outcome } => {
                let path = usize::from(path) % (INSTALLED_PATHS + 1);
                let (m, real) = match outcome % 3 {
                    0 => (MClose::Unmapped, CloseOutcome::Unmapped),
                    1 => (MClose::StillMapped, CloseOutcome::StillMapped),
                    _ => (
                        MClose::KeptLoaded,
                        CloseOutcome::KeptLoaded {
                            reason: "deinit failed".to_owned(),
                        },
                    ),
                };
                if path < INSTALLED_PATHS {
                    self.model.close_outcome[path] = m;
                }
                self.loader.set_close_outcome(&model::path(path), real);
            }
            Op::RegisterOwner => {
                let key = self
                    .core
                    .register_owner(format!("owner{}", self.model.owners.len()));
                self.model.owners.push(MOwner {
                    key,
                    alive: true,
                    subscriptions: Vec::new(),
                });
            }
            Op::UnregisterOwner { owner } => {
                if let Some(owner) = self.live_owner(owner) {
                    self.unregister(owner);
                }
            }
            Op::Subscribe { owner, plugin } => {
                let Some(owner) = self.live_owner(owner) else {
                    return;
                };
                let plugin = plugin.map(|p| PLUGINS[usize::from(p) % PLUGINS.len()].to_owned());
                let subscription = match &plugin {
                    Some(p) => Subscription::Plugin(p.clone()),
                    None => Subscription::All,
                };
                let key = self.model.owners[owner].key;
                self.core.subscribe(key, subscription).unwrap();
                self.model.owners[owner].subscriptions.push(plugin);
            }
            Op::Reserve {
                owner,
                plugin,
                capability,
            } => self.reserve(owner, plugin, capability),
            Op::Create { ticket } => self.finish_ticket(ticket, TicketEnd::Created),
            Op::FailTicket { ticket } => self.finish_ticket(ticket, TicketEnd::Failed),
            Op::DropTicket { ticket } => self.finish_ticket(ticket, TicketEnd::Dropped),
            Op::Release { instance } => {
                if self.model.instances.is_empty() {
                    return;
                }
                let index = usize::from(instance) % self.model.instances.len();
                let record = self.model.instances.remove(index);
                self.core.release_instance(now, record.key).unwrap();
                self.stale.push(StaleKey::Instance(record.key));
                self.model.collect_if_free(record.generation);
            }
            Op::Pin { owner, plugin } => self.pin(owner, plugin),
            Op::Unpin { pin } => {
                if self.model.pins.is_empty() {
                    return;
                }
                let index = usize::from(pin) % self.model.pins.len();
                let record = self.model.pins.remove(index);
                self.core.unpin(now, record.key).unwrap();
                self.stale.push(StaleKey::Pin(record.key));
                self.model.collect_if_free(record.generation);
            }
            Op::Advance { millis } => {
                self.now += Duration::from_millis(u64::from(millis));
                self.model.advance(self.now);
                self.core.handle_timeout(self.now);
            }
            Op::Wake => {
                let Some(next) = self.model.next_timeout() else {
                    return;
                };
                self.now = self.now.max(next);
                self.model.advance(self.now);
                self.core.handle_timeout(self.now);
            }
            Op::Cleanup { generation } => self.cleanup(generation),
            Op::Stale { which } => self.use_stale(which),
            Op::Foreign { which } => self.use_foreign(which),
        }
    }

    fn plugin_command(&mut self, plugin: u8, command: PluginCommand) {
        let plugin_id = PLUGINS[usize::from(plugin) % PLUGINS.len()].to_owned();
        let (id, submitter) = self.request();
        self.model
            .plugin_command(id, submitter, &plugin_id, command);
        let command = match command {
            PluginCommand::Reload => Command::Reload { plugin_id },
            PluginCommand::Unload => Command::Unload { plugin_id },
            PluginCommand::Enable => Command::SetEnabled {
                plugin_id,
                enabled: true,
            },
            PluginCommand::Disable => Command::SetEnabled {
                plugin_id,
                enabled: false,
            },
        };
        self.core.submit(self.now, id, submitter, command);
    }

    fn finish_load(&mut self, which: u8, checked: bool) {
        if self.model.loads.is_empty() {
            return;
        }
        let index = usize::from(which) % self.model.loads.len();
        let load = self.model.loads[index].clone();
        let key = load.key.expect("every pending load's open was seen");
        let predicted = self.model.predict_open(&load, checked);
        let expected = load.expected.as_deref().filter(|_| checked);
        let result = self.loader.open(&model::path(load.path), expected);
        let answer = match result {
            Ok(library) => {
                assert!(
                    predicted.is_ok(),
                    "the loader opened what the model says fails"
                );
                let module = self.loader.module(&library).clone();
                self.fresh_library = Some(library);
                Ok(module)
            }
            Err(error) => {
                let failure = LoadFailure::from(&error);
                self.stats.load_failures += 1;
                assert_eq!(
                    predicted.err(),
                    Some(match failure.step.as_str() {
                        "copy" => "copy",
                        "open" => "open",
                        _ => "descriptor",
                    })
                );
                Err(failure)
            }
        };
        self.model.finish_load(index, checked);
        self.core.load_finished(self.now, key, answer).unwrap();
        self.stale.push(StaleKey::Load(key));
    }

    fn finish_close(&mut self, which: u8) {
        if self.closes.is_empty() {
            return;
        }
        let token = self.closes.remove(usize::from(which) % self.closes.len());
        let key = token.generation();
        let generation = self.model_generation(key);
        let library = self
            .libraries
            .remove(&key)
            .expect("a collected generation's library is open");
        let report = self.loader.close(library);
        if !report.outcome.is_unmapped() {
            self.stats.pinned_by_loader += 1;
        }
        self.model.finish_close(generation);
        self.core.closed(self.now, token, report.outcome).unwrap();
    }

    fn unregister(&mut self, owner: usize) {
        let key = self.model.owners[owner].key;
        let mut affected = BTreeSet::new();
        let (mine, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut self.model.instances)
            .into_iter()
            .partition(|i| i.owner == owner);
        self.model.instances = theirs;
        for i in &mine {
            affected.insert(i.generation);
            self.stale.push(StaleKey::Instance(i.key));
        }
        let (mine_t, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut self.model.tickets)
            .into_iter()
            .partition(|t| t.owner == owner);
        self.model.tickets = theirs;
        for t in &mine_t {
            affected.insert(t.generation);
            self.stale.push(StaleKey::Ticket(t.key));
        }
        let (mine_p, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut self.model.pins)
            .into_iter()
            .partition(|p| p.owner == Some(owner));
        self.model.pins = theirs;
        for p in &mine_p {
            affected.insert(p.generation);
            self.stale.push(StaleKey::Pin(p.key));
        }
        self.model.owners[owner].alive = false;
        for generation in affected {
            self.model.collect_if_free(generation);
        }
        let released = self.core.unregister_owner(self.now, key).unwrap();
        assert_eq!(
            (released.instances, released.tickets, released.pins),
            (mine.len(), mine_t.len(), mine_p.len())
        );
        self.stale.push(StaleKey::Owner(key));
    }

    fn reserve(&mut self, owner: u8, plugin: u8, capability: u8) {
        let Some(owner) = self
            .live_owner(owner)
            .or(self.model.owners.len().checked_sub(1))
        else {
            return;
        };
        let plugin_id = PLUGINS[usize::from(plugin) % PLUGINS.len()];
        let (kind, type_id, version) = model::capability(capability);
        let predicted = self.model.reserve(owner, plugin_id, capability);
        let key = self.model.owners[owner].key;
        let result = self
            .core
            .reserve_ticket(self.now, key, plugin_id, kind, type_id, version);
        match (predicted, result) {
            (Ok(generation), Ok(ticket)) => {
                assert_eq!(
                    Some(ticket.generation),
                    self.model.generations[generation].key
                );
                let info = self
                    .core
                    .capability(ticket.generation, ticket.capability)
                    .unwrap();
                assert_eq!((info.kind.as_str(), info.type_id.as_str()), (kind, type_id));
                self.model.tickets.push(MHold {
                    key: ticket.key,
                    generation,
                    owner,
                });
            }
            (Err(expected), Err(error)) => assert_eq!(expected, reserve_error_name(&error)),
            (predicted, result) => panic!("reserve: model {predicted:?}, core {result:?}"),
        }
    }

    fn finish_ticket(&mut self, ticket: u8, end: TicketEnd) {
        if self.model.tickets.is_empty() {
            return;
        }
        let index = usize::from(ticket) % self.model.tickets.len();
        let record = self.model.tickets.remove(index);
        self.stale.push(StaleKey::Ticket(record.key));
        match end {
            TicketEnd::Created => {
                let instance = self.core.ticket_created(self.now, record.key).unwrap();
                let view = self.core.instance(instance).unwrap();
                // I7 at the core's level: an instance belongs to the owner that reserved it.
                assert_eq!(view.owner, self.model.owners[record.owner].key);
                assert_eq!(
                    Some(view.generation),
                    self.model.generations[record.generation].key
                );
                self.stats.instances += 1;
                self.model.instances.push(MHold {
                    key: instance,
                    generation: record.generation,
                    owner: record.owner,
                });
            }
            TicketEnd::Failed => {
                self.core.ticket_failed(self.now, record.key).unwrap();
                self.model.collect_if_free(record.generation);
            }
            TicketEnd::Dropped => {
                self.core.ticket_dropped(self.now, record.key).unwrap();
                self.model.collect_if_free(record.generation);
            }
        }
    }

    fn pin(&mut self, owner: Option<u8>, plugin: u8) {
        let owner = match owner {
            Some(o) => match self.live_owner(o) {
                Some(o) => Some(o),
                None => return,
            },
            None => None,
        };
        let plugin_id = PLUGINS[usize::from(plugin) % PLUGINS.len()];
        let predicted = self.model.acquirable(plugin_id);
        let key = owner.map(|o| self.model.owners[o].key);
        match (predicted, self.core.pin(self.now, key, plugin_id)) {
            (Ok(generation), Ok((pin, pinned))) => {
                assert_eq!(Some(pinned), self.model.generations[generation].key);
                self.model.pins.push(MPin {
                    key: pin,
                    generation,
                    owner,
                });
            }
            (Err(expected), Err(error)) => assert_eq!(expected, pin_error_name(&error)),
            (predicted, result) => panic!("pin: model {predicted:?}, core {result:?}"),
        }
    }

    fn cleanup(&mut self, generation: u8) {
        if self.model.generations.is_empty() {
            return;
        }
        let index = usize::from(generation) % self.model.generations.len();
        let Some(key) = self.model.generations[index].key else {
            return;
        };
        let result = self.core.cleanup(key);
        match self.model.generations[index].state {
            MState::Closed | MState::Pinned => {
                result.unwrap();
                self.model.generations[index].state = MState::Removed;
                self.stale.push(StaleKey::Generation(key));
            }
            MState::Removed => assert!(result.is_err()),
            _ => assert_eq!(
                result,
                Err(plugin_runtime::generation::CleanupError::NotClosed(key))
            ),
        }
    }

    fn use_stale(&mut self, which: u8) {
        if self.stale.is_empty() {
            return;
        }
        let now = self.now;
        self.stats.stale_uses += 1;
        match self.stale[usize::from(which) % self.stale.len()] {
            StaleKey::Generation(key) => {
                assert_eq!(
                    self.core.generation(key).err(),
                    Some(NotFoundError::Generation(key))
                );
            }
            StaleKey::Load(key) => {
                let failure = LoadFailure {
                    step: "open".into(),
                    message: "stale".into(),
                };
                assert!(self.core.load_finished(now, key, Err(failure)).is_err());
            }
            StaleKey::Owner(key) => {
                assert!(self.core.unregister_owner(now, key).is_err());
                assert_eq!(self.core.owner_name(key), Err(NotFoundError::Owner(key)));
            }
            StaleKey::Ticket(key) => {
                assert_eq!(
                    self.core.ticket_created(now, key),
                    Err(TicketError::NotFound(NotFoundError::Ticket(key)))
                );
                assert!(self.core.ticket_dropped(now, key).is_err());
            }
            StaleKey::Instance(key) => {
                assert_eq!(
                    self.core.release_instance(now, key),
                    Err(ReleaseError::NotFound(NotFoundError::Instance(key)))
                );
                assert!(self.core.instance(key).is_err());
            }
            StaleKey::Pin(key) => assert!(self.core.unpin(now, key).is_err()),
        }
    }

    /// Hands a key or close token of another core to the core: each use is refused with
    /// the typed foreign-key error, whatever the core's state, and (checked by the step)
    /// changes nothing.
    fn use_foreign(&mut self, which: u8) {
        let now = self.now;
        self.stats.foreign_uses += 1;
        let other = &mut self.other;
        let foreign = NotFoundError::Foreign;
        match which % 7 {
            0 => {
                let key = other.generation;
                let error = foreign(ForeignKeyError::Generation(key));
                assert_eq!(self.core.generation(key).err(), Some(error));
                assert_eq!(self.core.capability(key, 0).err(), Some(error));
                assert_eq!(self.core.cleanup(key), Err(CleanupError::NotFound(error)));
            }
            1 => {
                let key = other.load;
                assert_eq!(
                    self.core.load_finished(now, key, Ok(model::module(0))),
                    Err(LoadFinishedError::NotFound(foreign(ForeignKeyError::Load(
                        key
                    ))))
                );
            }
            2 => {
                let key = other.owner;
                let error = foreign(ForeignKeyError::Owner(key));
                assert_eq!(self.core.owner_name(key), Err(error));
                assert_eq!(
                    self.core.subscribe(key, Subscription::All),
                    Err(OwnerError::NotFound(error))
                );
                let (kind, type_id, version) = model::capability(0);
                assert_eq!(
                    self.core
                        .reserve_ticket(now, key, PLUGINS[0], kind, type_id, version),
                    Err(ReserveError::Owner(error))
                );
                assert_eq!(
                    self.core.pin(now, Some(key), PLUGINS[0]),
                    Err(PinError::Owner(error))
                );
                assert_eq!(
                    self.core.unregister_owner(now, key),
                    Err(OwnerError::NotFound(error))
                );
            }
            3 => {
                let key = other.ticket;
                let error = TicketError::NotFound(foreign(ForeignKeyError::Ticket(key)));
                assert_eq!(self.core.ticket_created(now, key), Err(error.clone()));
                assert_eq!(self.core.ticket_failed(now, key), Err(error.clone()));
                assert_eq!(self.core.ticket_dropped(now, key), Err(error));
            }
            4 => {
                let key = other.instance;
                let error = foreign(ForeignKeyError::Instance(key));
                assert_eq!(self.core.instance(key), Err(error));
                assert_eq!(
                    self.core.release_instance(now, key),
                    Err(ReleaseError::NotFound(error))
                );
            }
            5 => {
                let key = other.pin;
                assert_eq!(
                    self.core.unpin(now, key),
                    Err(UnpinError::NotFound(foreign(ForeignKeyError::Pin(key))))
                );
            }
            _ => {
                let token = other.token();
                let key = token.generation();
                assert_eq!(
                    self.core.closed(now, token, CloseOutcome::Unmapped),
                    Err(ClosedError::Foreign(ForeignKeyError::Generation(key)))
                );
            }
        }
    }

    fn model_generation(&self, key: GenerationKey) -> usize {
        self.model
            .generations
            .iter()
            .position(|g| g.key == Some(key))
            .unwrap_or_else(|| panic!("the core named a generation the model never made: {key:?}"))
    }

    /// Learns the key of a generation made this step, drains the effects and compares
    /// everything.
    fn settle(&mut self) {
        let fresh: Vec<GenerationKey> = self
            .core
            .generations()
            .map(|(key, _)| key)
            .filter(|key| !self.known_generations.contains(key))
            .collect();
        let unkeyed: Vec<usize> = (0..self.model.generations.len())
            .filter(|&g| self.model.generations[g].key.is_none())
            .collect();
        assert_eq!(
            fresh.len(),
            unkeyed.len(),
            "generations made: core {fresh:?}, model {unkeyed:?}"
        );
        for (key, index) in fresh.into_iter().zip(unkeyed) {
            self.model.generations[index].key = Some(key);
            self.stats.generations += 1;
            self.known_generations.insert(key);
            let library = self
                .fresh_library
                .take()
                .expect("a new generation came from an open");
            self.library_ids.insert(index, library.id());
            self.libraries.insert(key, library);
        }
        assert!(
            self.fresh_library.is_none(),
            "an opened library made no generation"
        );
        self.check_effects();
        self.check_agreement();
        self.check_invariants();
    }

    fn check_effects(&mut self) {
        let expect = std::mem::take(&mut self.model.expect);
        let mut opens = 0;
        let mut closes = Vec::new();
        let mut notices: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut completes = Vec::new();
        let mut stalls = Vec::new();
        let mut closed_events = Vec::new();
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Open {
                    load,
                    path,
                    expected_plugin_id,
                } => {
                    opens += 1;
                    let pending = self
                        .model
                        .loads
                        .iter_mut()
                        .find(|l| l.key.is_none())
                        .expect("the model expects this open");
                    assert_eq!(model::path(pending.path), path);
                    assert_eq!(pending.expected, expected_plugin_id);
                    pending.key = Some(load);
                }
                Effect::Close(token) => {
                    let generation = self.model_generation(token.generation());
                    // I1: closed only with no instance, ticket or pin left.
                    assert!(
                        !self.model.is_held(generation),
                        "I1: generation {generation} closed while held"
                    );
                    let count = self.close_requests.entry(generation).or_default();
                    *count += 1;
                    assert_eq!(*count, 1, "generation {generation} collected twice");
                    closes.push(generation);
                    self.stats.collects += 1;
                    self.closes.push(token);
                }
                Effect::Notify { owner, notice } => {
                    let generation = self.model_generation(notice.old);
                    let owner = self
                        .model
                        .owners
                        .iter()
                        .position(|o| o.key == owner)
                        .expect("notices go to registered owners");
                    assert!(notices.entry(generation).or_default().insert(owner));
                    self.stats.notices += 1;
                    assert_eq!(notice.plugin_id, self.model.generations[generation].plugin);
                }
                Effect::Complete {
                    request_id,
                    owner,
                    outcome,
                } => {
                    // I6: one outcome per command, routed to its submitter.
                    let submitter = self
                        .outstanding
                        .remove(&request_id)
                        .unwrap_or_else(|| panic!("I6: {request_id:?} completed twice"));
                    assert_eq!(owner, submitter, "I6: outcome routed to another owner");
                    match &outcome {
                        Outcome::Failed(CommandError::Superseded { .. }) => {
                            self.stats.failed_commands += 1;
                            self.stats.superseded += 1;
                        }
                        Outcome::Failed(_) => self.stats.failed_commands += 1,
                        Outcome::ShutDown { stalled } if !stalled.is_empty() => {
                            self.stats.stalled_shutdowns += 1;
                        }
                        _ => {}
                    }
                    completes.push((request_id, owner, self.model_outcome(&outcome)));
                }
                Effect::Event(Event::DrainStalled {
                    stalled, report, ..
                }) => {
                    let generation = self.model_generation(stalled.generation);
                    self.stats.stalls += 1;
                    stalls.push((generation, report, self.model_holders(&stalled.holders)));
                }
                Effect::Event(Event::Draining { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    self.stats.drains += 1;
                    notices.entry(generation).or_default();
                }
                Effect::Event(Event::Closed { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    assert_eq!(self.model.generations[generation].state, MState::Closed);
                    closed_events.push(generation);
                }
                Effect::Event(Event::PinnedByLoader { generation, .. }) => {
                    let generation = self.model_generation(generation);
                    assert_eq!(self.model.generations[generation].state, MState::Pinned);
                    closed_events.push(generation);
                }
                Effect::Event(_) => {}
                other => panic!("unknown effect {other:?}"),
            }
        }
        assert_eq!(opens, expect.opens, "opens");
        assert_eq!(closed_events, expect.closed, "close results reported");
        let mut want_closes = expect.closes.clone();
        want_closes.sort_unstable();
        closes.sort_unstable();
        assert_eq!(
            closes, want_closes,
            "closes (I3: collected in the same step)"
        );
        let want_notices: BTreeMap<usize, BTreeSet<usize>> = expect.notices.into_iter().collect();
        assert_eq!(notices, want_notices, "drains and their notices");
        assert_eq!(completes, expect.completes, "completions");
        // Reports come in arena order, which follows slot reuse; compare them as a set.
        let mut want_stalls = expect.stalls;
        want_stalls.sort();
        stalls.sort();
        assert_eq!(stalls, want_stalls, "stalled-drain reports");
    }

    fn model_outcome(&self, outcome: &Outcome) -> MOutcome {
        let generation = |key: &GenerationKey| self.model_generation(*key);
        match outcome {
            Outcome::Loaded {
                generation: g,
                replaced,
                ..
            } => MOutcome::Loaded {
                generation: generation(g),
                replaced: replaced.as_ref().map(generation),
            },
            Outcome::Enabled { generation: g, .. } => MOutcome::Enabled {
                generation: generation(g),
            },
            Outcome::Unloaded { draining, .. } => MOutcome::Unloaded {
                draining: draining.as_ref().map(generation),
            },
            Outcome::Disabled { draining, .. } => MOutcome::Disabled {
                draining: draining.as_ref().map(generation),
            },
            Outcome::Snapshot(_) => MOutcome::Snapshot,
            Outcome::ShutDown { stalled } => {
                for s in stalled {
                    let g = generation(&s.generation);
                    assert_eq!(self.model_holders(&s.holders), self.model.holders(g), "I8");
                }
                MOutcome::ShutDown {
                    stalled: stalled.iter().map(|s| generation(&s.generation)).collect(),
                }
            }
            Outcome::Failed(error) => MOutcome::Failed(match error {
                CommandError::UnknownPlugin { .. } => "unknown plugin",
                CommandError::Disabled { .. } => "disabled",
                CommandError::Load(_) => "load",
                CommandError::PluginIdMismatch { .. } => "mismatch",
                CommandError::Cancelled => "cancelled",
                CommandError::Superseded { .. } => "superseded",
                CommandError::ShuttingDown => "shutting down",
                _ => "other",
            }),
            _ => panic!("unknown outcome {outcome:?}"),
        }
    }

    fn model_holders(&self, holders: &[HolderReport]) -> MHolders {
        holders
            .iter()
            .map(|h| {
                let owner = h.owner.map(|key| {
                    self.model
                        .owners
                        .iter()
                        .position(|o| o.key == key)
                        .expect("holders are registered owners")
                });
                (owner, (h.holds.instances, h.holds.tickets, h.holds.pins))
            })
            .collect()
    }

    fn check_agreement(&self) {
        for (index, generation) in self.model.generations.iter().enumerate() {
            let key = generation
                .key
                .expect("every generation's key is known after a step");
            let view = match (generation.state, self.core.generation(key)) {
                (MState::Removed, Err(NotFoundError::Generation(k))) if k == key => continue,
                (state, Ok(view)) if state != MState::Removed => view,
                (state, other) => panic!("generation {index}: model {state:?}, core {other:?}"),
            };
            let agrees = match (generation.state, &view.state) {
                (MState::Active, GenerationState::Active) => true,
                (MState::Draining { stalls, .. }, GenerationState::Draining { stalls: s, .. }) => {
                    stalls == *s
                }
                (MState::Closing, GenerationState::Closing) => true,
                (MState::Closed, GenerationState::Closed) => true,
                (MState::Pinned, GenerationState::PinnedByLoader { .. }) => true,
                _ => false,
            };
            assert!(
                agrees,
                "generation {index}: model {:?}, core {:?}",
                generation.state, view.state
            );
            let holders = self.model.holders(index);
            let totals = holders
                .values()
                .fold((0, 0, 0), |a, h| (a.0 + h.0, a.1 + h.1, a.2 + h.2));
            assert_eq!(
                (view.holds.instances, view.holds.tickets, view.holds.pins),
                totals,
                "holds of generation {index}"
            );
            assert_eq!(view.plugin_id, generation.plugin);
        }
        for plugin_id in PLUGINS {
            let model = self.model.plugins.get(plugin_id);
            let active = model
                .and_then(|p| p.active)
                .map(|g| self.model.generations[g].key.expect("known"));
            assert_eq!(
                self.core.active_generation(plugin_id),
                active,
                "active of {plugin_id}"
            );
            let resolved = self
                .core
                .resolve(plugin_id, "decoder", "wav")
                .map(|(g, _)| g);
            assert_eq!(resolved, active, "resolve reads the active generation");
        }
        let mut listed: Vec<(String, GenerationKey, String, String)> = self
            .core
            .list()
            .map(|(p, g, c)| (p.to_owned(), g, c.kind.clone(), c.type_id.clone()))
            .collect();
        listed.sort();
        let mut model_listed = Vec::new();
        for (plugin_id, plugin) in &self.model.plugins {
            let Some(active) = plugin.active else {
                continue;
            };
            let generation = &self.model.generations[active];
            let key = generation.key.expect("known");
            for c in model::module(generation.path).capabilities {
                model_listed.push((plugin_id.clone(), key, c.kind, c.type_id));
            }
        }
        model_listed.sort();
        assert_eq!(listed, model_listed, "list reads the active generations");
        let snapshot = self.core.snapshot();
        let enabled: Vec<(String, bool)> = snapshot
            .plugins
            .iter()
            .map(|p| (p.plugin_id.clone(), p.enabled))
            .collect();
        let model_enabled: Vec<(String, bool)> = self
            .model
            .plugins
            .iter()
            .map(|(id, p)| (id.clone(), p.enabled))
            .collect();
        assert_eq!(enabled, model_enabled, "known plugins");
        assert_eq!(
            (
                snapshot.instances,
                snapshot.tickets,
                snapshot.pins,
                snapshot.pending_loads
            ),
            (
                self.model.instances.len(),
                self.model.tickets.len(),
                self.model.pins.len(),
                self.model.loads.len()
            ),
            "live records"
        );
        assert_eq!(
            snapshot.owners,
            self.model.owners.iter().filter(|o| o.alive).count()
        );
        assert_eq!(
            self.core.poll_timeout(),
            self.model.next_timeout(),
            "next timeout"
        );
    }

    fn check_invariants(&self) {
        // I2: at most one active generation per plugin.
        let mut active_per_plugin: BTreeMap<String, u32> = BTreeMap::new();
        let mut draining = 0;
        for (key, state) in self.core.generations() {
            let view = self.core.generation(key).expect("listed just now");
            match state {
                GenerationState::Active => {
                    *active_per_plugin
                        .entry(view.plugin_id.to_owned())
                        .or_default() += 1;
                }
                GenerationState::Draining { .. } => {
                    draining += 1;
                    // I3: a draining generation is held, or it would have been collected.
                    assert!(!view.holds.is_empty(), "I3: {key:?} drains unheld");
                }
                _ => {}
            }
        }
        assert!(
            active_per_plugin.values().all(|&n| n <= 1),
            "I2: {active_per_plugin:?}"
        );
        // I4: no more draining generations than distinct pinned ones.
        assert!(draining <= self.model.held_generations().len(), "I4");
    }
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy)]
enum TicketEnd {
    Created,
    Failed,
    Dropped,
}

fn reserve_error_name(error: &ReserveError) -> &'static str {
    match error {
        ReserveError::Owner(_) => "owner",
        ReserveError::UnknownPlugin { .. } => "unknown plugin",
        ReserveError::Disabled { .. } => "disabled",
        ReserveError::DrainingOnly { .. } => "draining only",
        ReserveError::NoCapability { .. } => "no capability",
        ReserveError::InterfaceVersion { .. } => "interface version",
        ReserveError::ShuttingDown => "shutting down",
        _ => "other",
    }
}

fn pin_error_name(error: &PinError) -> &'static str {
    match error {
        PinError::Owner(_) => "owner",
        PinError::UnknownPlugin { .. } => "unknown plugin",
        PinError::Disabled { .. } => "disabled",
        PinError::DrainingOnly { .. } => "draining only",
        PinError::ShuttingDown => "shutting down",
        _ => "other",
    }
}
