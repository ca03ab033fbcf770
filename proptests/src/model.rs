//! The reference model: the lifecycle rules written as plainly as possible, with vectors
//! and linear scans instead of arenas and counters.
//!
//! The model never reads the core; it predicts, for every input, the outcome of the
//! synchronous calls and the effects of the step (opens, closes, notices, completions,
//! and every event record with its fields, in the order the documented guarantees
//! fix), and the harness compares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugin_runtime::generation::{GenerationKey, LoadKey, PinKey, RequestId};
use plugin_runtime::loader::{CapabilityInfo, ModuleInfo};
use plugin_runtime::owner::{InstanceKey, OwnerKey, TicketKey};

use crate::op::{INSTALLED_PATHS, PLUGINS};

/// The drain timeout of the core under test.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest wait between two stalled-drain reports.
pub const MAX_STALL_INTERVAL: Duration = Duration::from_secs(8);
/// Why a close that keeps a library loaded does so, in the simulated loader's script.
pub const KEPT_LOADED_REASON: &str = "deinit failed";
/// The message of a scripted load failure.
pub const SCRIPTED_FAILURE: &str = "scripted failure";

/// The installed path with this index.
pub fn path(index: usize) -> PathBuf {
    PathBuf::from(format!("/plugins/{index}.so"))
}

/// The plugin installed at a path.
pub fn plugin_at(path: usize) -> &'static str {
    PLUGINS[path % 2]
}

/// The module installed at an installed path: paths 0 and 1 offer `decoder/wav` v1 and
/// `dsp/gain` v1, paths 2 and 3 only `decoder/wav` v2.
pub fn module(path: usize) -> ModuleInfo {
    let capability = |kind: &str, type_id: &str, interface_version| CapabilityInfo {
        kind: kind.to_owned(),
        type_id: type_id.to_owned(),
        interface_version,
        interface_minor: 0,
        layout_id: 0,
        layout: String::new(),
        vtable_size: 0,
        display_name: format!("{kind}/{type_id}"),
        default_config: Vec::new(),
    };
    let capabilities = if path < 2 {
        vec![
            capability("decoder", "wav", 1),
            capability("dsp", "gain", 1),
        ]
    } else {
        vec![capability("decoder", "wav", 2)]
    };
    ModuleInfo {
        digest: None,
        plugin_id: plugin_at(path).to_owned(),
        version: path.to_string(),
        display_name: plugin_at(path).to_owned(),
        abi_major: 1,
        abi_minor: 0,
        capabilities,
    }
}

/// The capability an [`Op::Reserve`](crate::op::Op::Reserve) asks for.
pub fn capability(index: u8) -> (&'static str, &'static str, u32) {
    match index % 4 {
        0 => ("decoder", "wav", 1),
        1 => ("decoder", "wav", 2),
        2 => ("dsp", "gain", 1),
        _ => ("dsp", "wav", 1),
    }
}

/// Why a generation drains, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MReason {
    /// A newer generation of its plugin became active.
    Replaced,
    /// Its plugin was unloaded.
    Unloaded,
    /// Its plugin was disabled.
    Disabled,
    /// Shutdown.
    Shutdown,
    /// Its load was overtaken by an unload, disable or shutdown.
    Cancelled,
    /// Its library is another plugin than the load asked for.
    Rejected,
    /// A later load of its plugin finished first.
    Superseded,
}

/// A generation's state in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MState {
    /// Serving.
    Active,
    /// Draining since `since`, next stalled report at `deadline`, `stalls` reports made.
    Draining {
        /// When it started draining.
        since: Instant,
        /// Why.
        reason: MReason,
        /// The generation that replaced it.
        successor: Option<usize>,
        /// The next stalled-drain report.
        deadline: Instant,
        /// Reports made.
        stalls: u32,
    },
    /// Collected, close pending.
    Closing,
    /// Closed and unmapped.
    Closed,
    /// Closed, the OS loader still maps it.
    StillMapped,
    /// Closed, deliberately kept loaded.
    KeptLoaded,
    /// Record removed by cleanup.
    Removed,
}

/// What closing a path's libraries reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MClose {
    /// Unmapped.
    Unmapped,
    /// Still mapped.
    StillMapped,
    /// Kept loaded.
    KeptLoaded,
}

/// One generation.
#[derive(Debug, Clone)]
pub struct MGen {
    /// Its plugin.
    pub plugin: String,
    /// The path index it was loaded from.
    pub path: usize,
    /// Its state.
    pub state: MState,
    /// The core's key, once seen.
    pub key: Option<GenerationKey>,
}

/// One known plugin.
#[derive(Debug, Clone)]
pub struct MPlugin {
    /// The path index it loads from.
    pub path: usize,
    /// Enabled.
    pub enabled: bool,
    /// The active generation (model index).
    pub active: Option<usize>,
}

/// One pending load.
#[derive(Debug, Clone)]
pub struct MLoad {
    /// The core's key, once its open was seen.
    pub key: Option<LoadKey>,
    /// The command's request id.
    pub request: RequestId,
    /// The command's submitter.
    pub submitter: Option<OwnerKey>,
    /// The path index.
    pub path: usize,
    /// The plugin id expected.
    pub expected: Option<String>,
    /// Whether it came from an enable.
    pub enable: bool,
    /// Overtaken by an unload, disable or shutdown.
    pub cancelled: bool,
    /// Its place in the order loads were submitted.
    pub order: u64,
}

/// One owner.
#[derive(Debug, Clone)]
pub struct MOwner {
    /// The core's key.
    pub key: OwnerKey,
    /// Still registered.
    pub alive: bool,
    /// Subscriptions: a plugin id, or `None` for all.
    pub subscriptions: Vec<Option<String>>,
}

/// One ticket or instance: its key, generation and owner (model indices).
#[derive(Debug, Clone, Copy)]
pub struct MHold<K> {
    /// The core's key.
    pub key: K,
    /// The generation.
    pub generation: usize,
    /// The owner.
    pub owner: usize,
}

/// One pin.
#[derive(Debug, Clone, Copy)]
pub struct MPin {
    /// The core's key.
    pub key: PinKey,
    /// The generation.
    pub generation: usize,
    /// The owner, if any.
    pub owner: Option<usize>,
}

/// A command outcome in model terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MOutcome {
    /// Loaded `generation`, replacing another.
    Loaded {
        /// The new generation.
        generation: usize,
        /// The replaced one.
        replaced: Option<usize>,
    },
    /// Enabled, serving from `generation`.
    Enabled {
        /// The active generation.
        generation: usize,
    },
    /// Unloaded.
    Unloaded {
        /// The generation that drains.
        draining: Option<usize>,
    },
    /// Disabled.
    Disabled {
        /// The generation that drains.
        draining: Option<usize>,
    },
    /// A snapshot.
    Snapshot,
    /// Shut down, with the generations still held.
    ShutDown {
        /// The stalled generations.
        stalled: BTreeSet<usize>,
    },
    /// Failed, with the error's name.
    Failed(&'static str),
}

/// Who holds a generation: owner index (or `None`) to (instances, tickets, pins).
pub type MHolders = BTreeMap<Option<usize>, (u32, u32, u32)>;

/// One event record in model terms: generations and paths by index, holders by owner
/// index. Plugin ids of generation events are checked against the generation's plugin
/// when the harness translates a record, so they are left out here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MEvent {
    /// `command_submitted`.
    CommandSubmitted {
        /// The request.
        request: RequestId,
    },
    /// `command_completed` (its outcome is compared through [`StepExpect::completes`]).
    CommandCompleted {
        /// The request.
        request: RequestId,
    },
    /// `load_requested`.
    LoadRequested {
        /// The request.
        request: RequestId,
        /// The expected plugin id.
        plugin: Option<String>,
        /// The path index.
        path: usize,
    },
    /// `plugin_loaded`.
    Loaded {
        /// The plugin.
        plugin: String,
        /// The new generation.
        generation: usize,
        /// Its module's version.
        version: String,
        /// The path index.
        path: usize,
    },
    /// `plugin_reloaded`.
    Reloaded {
        /// The plugin.
        plugin: String,
        /// The replaced generation.
        old: usize,
        /// The new generation.
        new: usize,
        /// The new module's version.
        version: String,
        /// The path index.
        path: usize,
    },
    /// `load_failed`.
    LoadFailed {
        /// The request.
        request: RequestId,
        /// The expected plugin id.
        plugin: Option<String>,
        /// The path index.
        path: usize,
        /// The failed step.
        step: String,
        /// The loader's message.
        message: String,
    },
    /// `plugin_enabled`.
    Enabled {
        /// The plugin.
        plugin: String,
    },
    /// `plugin_disabled`.
    Disabled {
        /// The plugin.
        plugin: String,
    },
    /// `plugin_unloaded`.
    Unloaded {
        /// The plugin.
        plugin: String,
    },
    /// `generation_draining`.
    Draining {
        /// The generation.
        generation: usize,
        /// Why.
        reason: MReason,
        /// What replaced it.
        successor: Option<usize>,
    },
    /// `drain_stalled`.
    DrainStalled {
        /// The generation.
        generation: usize,
        /// Why it drains.
        reason: MReason,
        /// Which report.
        report: u32,
        /// How long it has drained.
        draining_for: Duration,
        /// Who holds it.
        holders: MHolders,
    },
    /// `generation_collected`.
    Collected {
        /// The generation.
        generation: usize,
    },
    /// `generation_closed`.
    Closed {
        /// The generation.
        generation: usize,
    },
    /// `generation_unmapped`.
    Unmapped {
        /// The generation.
        generation: usize,
    },
    /// `generation_still_mapped`.
    StillMapped {
        /// The generation.
        generation: usize,
    },
    /// `generation_kept_loaded`.
    KeptLoaded {
        /// The generation.
        generation: usize,
        /// Why.
        reason: String,
    },
    /// `generation_cleaned_up`.
    CleanedUp {
        /// The generation.
        generation: usize,
    },
    /// `shutdown_started`.
    ShutdownStarted {
        /// The command's timeout.
        timeout: Duration,
    },
    /// `shutdown_finished`.
    ShutdownFinished {
        /// The generations still held, with their holders.
        stalled: BTreeMap<usize, MHolders>,
    },
}

impl MEvent {
    /// The generations the event names.
    pub fn generations(&self) -> Vec<usize> {
        match self {
            MEvent::Loaded { generation, .. }
            | MEvent::Draining { generation, .. }
            | MEvent::DrainStalled { generation, .. }
            | MEvent::Collected { generation }
            | MEvent::Closed { generation }
            | MEvent::Unmapped { generation }
            | MEvent::StillMapped { generation }
            | MEvent::KeptLoaded { generation, .. }
            | MEvent::CleanedUp { generation } => vec![*generation],
            MEvent::Reloaded { old, new, .. } => vec![*old, *new],
            MEvent::ShutdownFinished { stalled } => stalled.keys().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the event's place among the step's other such events is fixed by what
    /// caused it. Only the events the core makes for several generations in one input,
    /// in the order of its arena or of their keys, are not: stalled-drain reports, the
    /// drains of a shutdown, and the collects of an owner's release.
    pub fn ordered(&self) -> bool {
        !matches!(
            self,
            MEvent::DrainStalled { .. }
                | MEvent::Collected { .. }
                | MEvent::Draining {
                    reason: MReason::Shutdown,
                    ..
                }
        )
    }
}

/// What the runtime counted, as the model predicts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MCounters {
    /// Generations that became active.
    pub loads: u64,
    /// Of those, the ones that replaced an active generation.
    pub reloads: u64,
    /// Loads that failed.
    pub failed_loads: u64,
    /// Generations collected.
    pub collected: u64,
    /// Generations whose code left the process.
    pub unmapped: u64,
    /// Closes that left code mapped.
    pub kept_mapped: u64,
    /// Drains that stalled, once each.
    pub stalled_drains: u64,
}

/// The effects a step must produce.
#[derive(Debug, Clone, Default)]
pub struct StepExpect {
    /// Opens requested.
    pub opens: usize,
    /// Generations collected (close tokens).
    pub closes: Vec<usize>,
    /// Generations that started draining, with the owners to tell.
    pub notices: Vec<(usize, BTreeSet<usize>)>,
    /// Completions.
    pub completes: Vec<(RequestId, Option<OwnerKey>, MOutcome)>,
    /// Every event record, in the order the model makes them.
    pub events: Vec<MEvent>,
}

/// Shutdown progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MShutdown {
    /// Not shutting down.
    Running,
    /// Draining until `deadline`.
    Draining {
        /// The request.
        request: RequestId,
        /// Its submitter.
        submitter: Option<OwnerKey>,
        /// The deadline.
        deadline: Instant,
    },
    /// Completed.
    Done,
}

/// The reference model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Virtual time.
    pub now: Instant,
    /// Known plugins.
    pub plugins: BTreeMap<String, MPlugin>,
    /// Every generation ever made.
    pub generations: Vec<MGen>,
    /// Pending loads, oldest first.
    pub loads: Vec<MLoad>,
    /// Every owner ever registered.
    pub owners: Vec<MOwner>,
    /// Live tickets.
    pub tickets: Vec<MHold<TicketKey>>,
    /// Live instances.
    pub instances: Vec<MHold<InstanceKey>>,
    /// Live pins.
    pub pins: Vec<MPin>,
    /// Which paths fail to load (the last one is never installed).
    pub failing: [bool; INSTALLED_PATHS + 1],
    /// What closing each path's libraries reports.
    pub close_outcome: [MClose; INSTALLED_PATHS + 1],
    /// Shutdown progress.
    pub shutdown: MShutdown,
    /// What the current step must produce.
    pub expect: StepExpect,
    /// The order number the next load gets.
    pub next_order: u64,
    /// Per plugin, the order of the newest load that made it active: loads finish as if
    /// in submission order, so an older one finishing later never serves.
    pub newest_active: BTreeMap<String, u64>,
    /// What the runtime counted so far.
    pub counters: MCounters,
    /// Every path a load named, by path index: the installed ones, the one uninstalled
    /// path of [`path`], then any other path a JSON command named (never installed).
    pub paths: Vec<PathBuf>,
}

impl Model {
    /// An empty model at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            now,
            plugins: BTreeMap::new(),
            generations: Vec::new(),
            loads: Vec::new(),
            owners: Vec::new(),
            tickets: Vec::new(),
            instances: Vec::new(),
            pins: Vec::new(),
            failing: [false; INSTALLED_PATHS + 1],
            close_outcome: [MClose::Unmapped; INSTALLED_PATHS + 1],
            shutdown: MShutdown::Running,
            expect: StepExpect::default(),
            next_order: 0,
            newest_active: BTreeMap::new(),
            counters: MCounters::default(),
            paths: (0..=INSTALLED_PATHS).map(path).collect(),
        }
    }

    /// The path with this index.
    pub fn path_of(&self, index: usize) -> &Path {
        &self.paths[index]
    }

    /// The index of a path a load names (equal as `Path`s compare), learning it if it
    /// is new: a new path is never installed.
    pub fn path_index(&mut self, path: &Path) -> usize {
        match self.find_path(path) {
            Some(index) => index,
            None => {
                self.paths.push(path.to_owned());
                self.paths.len() - 1
            }
        }
    }

    /// The index of a path a load named before.
    pub fn find_path(&self, path: &Path) -> Option<usize> {
        self.paths.iter().position(|p| p == path)
    }

    /// What a generation's holders hold, by scanning every ticket, instance and pin.
    pub fn holders(&self, generation: usize) -> MHolders {
        let mut holders = MHolders::new();
        for t in self.tickets.iter().filter(|t| t.generation == generation) {
            holders.entry(Some(t.owner)).or_default().1 += 1;
        }
        for i in self.instances.iter().filter(|i| i.generation == generation) {
            holders.entry(Some(i.owner)).or_default().0 += 1;
        }
        for p in self.pins.iter().filter(|p| p.generation == generation) {
            holders.entry(p.owner).or_default().2 += 1;
        }
        holders
    }

    /// Whether anything holds the generation.
    pub fn is_held(&self, generation: usize) -> bool {
        !self.holders(generation).is_empty()
    }

    /// The distinct generations something holds.
    pub fn held_generations(&self) -> BTreeSet<usize> {
        let tickets = self.tickets.iter().map(|t| t.generation);
        let instances = self.instances.iter().map(|i| i.generation);
        let pins = self.pins.iter().map(|p| p.generation);
        tickets.chain(instances).chain(pins).collect()
    }

    /// Whether new work is accepted.
    pub fn running(&self) -> bool {
        self.shutdown == MShutdown::Running
    }

    fn emit(&mut self, event: MEvent) {
        self.expect.events.push(event);
    }

    fn submitted(&mut self, request: RequestId) {
        self.emit(MEvent::CommandSubmitted { request });
    }

    fn complete(&mut self, request: RequestId, submitter: Option<OwnerKey>, outcome: MOutcome) {
        self.emit(MEvent::CommandCompleted { request });
        self.expect.completes.push((request, submitter, outcome));
    }

    /// A command: load `path` expecting `expected`.
    pub fn load(
        &mut self,
        request: RequestId,
        submitter: Option<OwnerKey>,
        path: usize,
        expected: Option<String>,
    ) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        self.open(request, submitter, path, expected, false);
    }

    fn open(
        &mut self,
        request: RequestId,
        submitter: Option<OwnerKey>,
        path: usize,
        expected: Option<String>,
        enable: bool,
    ) {
        self.emit(MEvent::LoadRequested {
            request,
            plugin: expected.clone(),
            path,
        });
        self.loads.push(MLoad {
            key: None,
            request,
            submitter,
            path,
            expected,
            enable,
            cancelled: false,
            order: self.next_order,
        });
        self.next_order += 1;
        self.expect.opens += 1;
    }

    /// A command on a known plugin: reload, unload or set enabled.
    pub fn plugin_command(
        &mut self,
        request: RequestId,
        submitter: Option<OwnerKey>,
        plugin: &str,
        command: PluginCommand,
    ) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        let Some(record) = self.plugins.get(plugin).cloned() else {
            return self.complete(request, submitter, MOutcome::Failed("unknown plugin"));
        };
        match command {
            PluginCommand::Reload if !record.enabled => {
                self.complete(request, submitter, MOutcome::Failed("disabled"));
            }
            PluginCommand::Reload => {
                self.open(
                    request,
                    submitter,
                    record.path,
                    Some(plugin.to_owned()),
                    false,
                );
            }
            PluginCommand::Unload => {
                self.plugins.remove(plugin);
                self.cancel_loads_of(plugin);
                self.emit(MEvent::Unloaded {
                    plugin: plugin.to_owned(),
                });
                if let Some(active) = record.active {
                    self.drain(active, MReason::Unloaded, None);
                }
                let outcome = MOutcome::Unloaded {
                    draining: record.active,
                };
                self.complete(request, submitter, outcome);
            }
            PluginCommand::Disable => {
                let entry = self.plugins.get_mut(plugin).expect("known, checked above");
                entry.enabled = false;
                entry.active = None;
                self.cancel_loads_of(plugin);
                if record.enabled {
                    self.emit(MEvent::Disabled {
                        plugin: plugin.to_owned(),
                    });
                }
                if let Some(active) = record.active {
                    self.drain(active, MReason::Disabled, None);
                }
                let outcome = MOutcome::Disabled {
                    draining: record.active,
                };
                self.complete(request, submitter, outcome);
            }
            PluginCommand::Enable => match record.active {
                Some(generation) => {
                    self.complete(request, submitter, MOutcome::Enabled { generation });
                }
                None => self.open(
                    request,
                    submitter,
                    record.path,
                    Some(plugin.to_owned()),
                    true,
                ),
            },
        }
    }

    fn cancel_loads_of(&mut self, plugin: &str) {
        for load in &mut self.loads {
            if load.expected.as_deref() == Some(plugin) {
                load.cancelled = true;
            }
        }
    }

    /// A command: snapshot.
    pub fn snapshot(&mut self, request: RequestId, submitter: Option<OwnerKey>) {
        self.submitted(request);
        self.complete(request, submitter, MOutcome::Snapshot);
    }

    /// A command: shut down, waiting `timeout` for holders.
    pub fn shutdown(&mut self, request: RequestId, submitter: Option<OwnerKey>, timeout: Duration) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        self.shutdown = MShutdown::Draining {
            request,
            submitter,
            deadline: self.now + timeout,
        };
        self.emit(MEvent::ShutdownStarted { timeout });
        for load in &mut self.loads {
            load.cancelled = true;
        }
        let mut actives: Vec<usize> = self
            .plugins
            .values_mut()
            .filter_map(|p| p.active.take())
            .collect();
        actives.sort_unstable();
        for active in actives {
            self.drain(active, MReason::Shutdown, None);
        }
        self.check_shutdown();
    }

    /// What the loader will do with the pending load: the module's path on success, the
    /// failing step otherwise.
    pub fn predict_open(&self, load: &MLoad, checked: bool) -> Result<usize, &'static str> {
        if load.path >= INSTALLED_PATHS {
            return Err("copy");
        }
        if self.failing[load.path] {
            return Err("open");
        }
        if let Some(expected) = &load.expected
            && checked
            && expected != plugin_at(load.path)
        {
            return Err("descriptor");
        }
        Ok(load.path)
    }

    /// The actor answered pending load `index`, after the loader checked the expected
    /// plugin id or (`checked` false) not; a failed load is answered with the loader's
    /// `message`. Returns the new generation, if one was made.
    pub fn finish_load(&mut self, index: usize, checked: bool, message: &str) -> Option<usize> {
        let load = self.loads.remove(index);
        let path = match self.predict_open(&load, checked) {
            Err(step) => {
                self.counters.failed_loads += 1;
                self.emit(MEvent::LoadFailed {
                    request: load.request,
                    plugin: load.expected.clone(),
                    path: load.path,
                    step: step.to_owned(),
                    message: message.to_owned(),
                });
                self.complete(load.request, load.submitter, MOutcome::Failed("load"));
                self.check_shutdown();
                return None;
            }
            Ok(path) => path,
        };
        let plugin = plugin_at(path).to_owned();
        let generation = self.generations.len();
        self.generations.push(MGen {
            plugin: plugin.clone(),
            path,
            state: MState::Active,
            key: None,
        });
        if load.expected.as_ref().is_some_and(|e| e != &plugin) {
            self.drain(generation, MReason::Rejected, None);
            self.complete(load.request, load.submitter, MOutcome::Failed("mismatch"));
            return Some(generation);
        }
        if load.cancelled || !self.running() {
            self.drain(generation, MReason::Cancelled, None);
            self.complete(load.request, load.submitter, MOutcome::Failed("cancelled"));
            return Some(generation);
        }
        if self
            .newest_active
            .get(&plugin)
            .is_some_and(|newest| *newest > load.order)
        {
            self.drain(generation, MReason::Superseded, None);
            self.complete(load.request, load.submitter, MOutcome::Failed("superseded"));
            return Some(generation);
        }
        self.newest_active.insert(plugin.clone(), load.order);
        let record = self.plugins.entry(plugin.clone()).or_insert(MPlugin {
            path,
            enabled: true,
            active: None,
        });
        record.path = path;
        let was_disabled = !record.enabled;
        record.enabled = true;
        let replaced = record.active.replace(generation);
        if was_disabled {
            self.emit(MEvent::Enabled {
                plugin: plugin.clone(),
            });
        }
        let version = module(path).version;
        self.counters.loads += 1;
        match replaced {
            Some(old) => {
                self.counters.reloads += 1;
                self.emit(MEvent::Reloaded {
                    plugin,
                    old,
                    new: generation,
                    version,
                    path,
                });
                self.drain(old, MReason::Replaced, Some(generation));
            }
            None => self.emit(MEvent::Loaded {
                plugin,
                generation,
                version,
                path,
            }),
        }
        let outcome = if load.enable && replaced.is_none() {
            MOutcome::Enabled { generation }
        } else {
            MOutcome::Loaded {
                generation,
                replaced,
            }
        };
        self.complete(load.request, load.submitter, outcome);
        Some(generation)
    }

    fn drain(&mut self, generation: usize, reason: MReason, successor: Option<usize>) {
        let deadline = self.now + DRAIN_TIMEOUT;
        self.generations[generation].state = MState::Draining {
            since: self.now,
            reason,
            successor,
            deadline,
            stalls: 0,
        };
        self.emit(MEvent::Draining {
            generation,
            reason,
            successor,
        });
        let plugin = self.generations[generation].plugin.clone();
        let mut told: BTreeSet<usize> =
            self.holders(generation).keys().flatten().copied().collect();
        for (index, owner) in self.owners.iter().enumerate() {
            let subscribed = owner
                .subscriptions
                .iter()
                .any(|s| s.as_deref().is_none_or(|p| p == plugin));
            if owner.alive && subscribed {
                told.insert(index);
            }
        }
        self.expect.notices.push((generation, told));
        self.collect_if_free(generation);
    }

    /// Collects the generation if it drains and nothing holds it.
    pub fn collect_if_free(&mut self, generation: usize) {
        let draining = matches!(self.generations[generation].state, MState::Draining { .. });
        if draining && !self.is_held(generation) {
            self.generations[generation].state = MState::Closing;
            self.counters.collected += 1;
            self.emit(MEvent::Collected { generation });
            self.expect.closes.push(generation);
            self.check_shutdown();
        }
    }

    /// The actor closed a generation's library.
    pub fn finish_close(&mut self, generation: usize) {
        let path = self.generations[generation].path;
        self.emit(MEvent::Closed { generation });
        let (state, event) = match self.close_outcome[path] {
            MClose::Unmapped => {
                self.counters.unmapped += 1;
                (MState::Closed, MEvent::Unmapped { generation })
            }
            MClose::StillMapped => {
                self.counters.kept_mapped += 1;
                (MState::StillMapped, MEvent::StillMapped { generation })
            }
            MClose::KeptLoaded => {
                self.counters.kept_mapped += 1;
                let reason = KEPT_LOADED_REASON.to_owned();
                (
                    MState::KeptLoaded,
                    MEvent::KeptLoaded { generation, reason },
                )
            }
        };
        self.generations[generation].state = state;
        self.emit(event);
        self.check_shutdown();
    }

    /// The actor removes the record of a closed, unmapped generation.
    pub fn cleanup(&mut self, generation: usize) {
        assert_eq!(self.generations[generation].state, MState::Closed);
        self.generations[generation].state = MState::Removed;
        self.emit(MEvent::CleanedUp { generation });
    }

    /// The actor found the code of a generation that stayed mapped at its close gone.
    pub fn unmapped_later(&mut self, generation: usize) {
        assert_eq!(self.generations[generation].state, MState::StillMapped);
        self.generations[generation].state = MState::Removed;
        self.counters.unmapped += 1;
        self.emit(MEvent::Unmapped { generation });
        self.emit(MEvent::CleanedUp { generation });
    }

    fn check_shutdown(&mut self) {
        let MShutdown::Draining {
            request, submitter, ..
        } = self.shutdown
        else {
            return;
        };
        let busy = !self.loads.is_empty()
            || self
                .generations
                .iter()
                .any(|g| matches!(g.state, MState::Draining { .. } | MState::Closing));
        if !busy {
            self.shutdown = MShutdown::Done;
            self.emit(MEvent::ShutdownFinished {
                stalled: BTreeMap::new(),
            });
            let outcome = MOutcome::ShutDown {
                stalled: BTreeSet::new(),
            };
            self.complete(request, submitter, outcome);
        }
    }

    /// The generation a reservation or pin of `plugin` would hold, or why it fails.
    pub fn acquirable(&self, plugin: &str) -> Result<usize, &'static str> {
        if !self.running() {
            return Err("shutting down");
        }
        let Some(record) = self.plugins.get(plugin) else {
            let draining = self
                .generations
                .iter()
                .any(|g| g.plugin == plugin && matches!(g.state, MState::Draining { .. }));
            return Err(if draining {
                "draining only"
            } else {
                "unknown plugin"
            });
        };
        if !record.enabled {
            return Err("disabled");
        }
        record.active.ok_or("draining only")
    }

    /// What reserving `capability` of `plugin` for live owner `owner` gives.
    pub fn reserve(
        &self,
        owner: usize,
        plugin: &str,
        capability: u8,
    ) -> Result<usize, &'static str> {
        if !self.running() {
            return Err("shutting down");
        }
        if !self.owners[owner].alive {
            return Err("owner");
        }
        let generation = self.acquirable(plugin)?;
        let (kind, type_id, version) = self::capability(capability);
        let module = module(self.generations[generation].path);
        let found = module.capability(kind, type_id).ok_or("no capability")?;
        if found.interface_version != version {
            return Err("interface version");
        }
        Ok(generation)
    }

    /// Advances time: stalled drains are reported and rescheduled, an overdue shutdown
    /// completes.
    pub fn advance(&mut self, now: Instant) {
        self.now = now;
        for index in 0..self.generations.len() {
            let MState::Draining {
                since,
                reason,
                successor,
                deadline,
                stalls,
            } = self.generations[index].state
            else {
                continue;
            };
            if deadline > now {
                continue;
            }
            let stalls = stalls + 1;
            let mut wait = DRAIN_TIMEOUT;
            for _ in 0..stalls {
                wait = (wait * 2).min(MAX_STALL_INTERVAL);
            }
            self.generations[index].state = MState::Draining {
                since,
                reason,
                successor,
                deadline: now + wait,
                stalls,
            };
            if stalls == 1 {
                self.counters.stalled_drains += 1;
            }
            let holders = self.holders(index);
            self.emit(MEvent::DrainStalled {
                generation: index,
                reason,
                report: stalls,
                draining_for: now - since,
                holders,
            });
        }
        if let MShutdown::Draining {
            request,
            submitter,
            deadline,
        } = self.shutdown
            && deadline <= now
        {
            let stalled: BTreeMap<usize, MHolders> = (0..self.generations.len())
                .filter(|&g| matches!(self.generations[g].state, MState::Draining { .. }))
                .map(|g| (g, self.holders(g)))
                .collect();
            self.shutdown = MShutdown::Done;
            let outcome = MOutcome::ShutDown {
                stalled: stalled.keys().copied().collect(),
            };
            self.emit(MEvent::ShutdownFinished { stalled });
            self.complete(request, submitter, outcome);
        }
    }

    /// When the core must next handle a timeout.
    pub fn next_timeout(&self) -> Option<Instant> {
        let drains = self.generations.iter().filter_map(|g| match g.state {
            MState::Draining { deadline, .. } => Some(deadline),
            _ => None,
        });
        let shutdown = match self.shutdown {
            MShutdown::Draining { deadline, .. } => Some(deadline),
            _ => None,
        };
        drains.chain(shutdown).min()
    }
}

/// A command on a known plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginCommand {
    /// Reload.
    Reload,
    /// Unload.
    Unload,
    /// Enable.
    Enable,
    /// Disable.
    Disable,
}
