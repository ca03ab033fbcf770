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

mod sync;

pub use sync::{MEntry, MFile, MSync, MSyncAction, file_digest};

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

/// The directory every path of the run is in: what a sync scans.
pub fn sync_dir() -> PathBuf {
    PathBuf::from("/plugins")
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
    /// The digest recorded when it last loaded: a sync's file (path index, variant), or
    /// `None` for a plain load (the simulated loader gives no digest).
    pub digest: Option<(usize, u8)>,
    /// Why it serves, since it last went from no active generation to one.
    pub cause: MCause,
}

/// Why a plugin serves again from no generation: a serving notice's cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MCause {
    /// A load of a plugin the model did not know.
    FirstLoad,
    /// A disabled plugin loaded again.
    Enabled,
}

/// What a hot restart did with one plugin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MRestartResult {
    /// A new generation serves, replacing one (or none).
    Reloaded {
        /// The new generation.
        generation: usize,
        /// The one it replaced.
        replaced: Option<usize>,
    },
    /// The load failed or never served, with the error's name.
    Failed(&'static str),
    /// The load was still pending at the deadline.
    Loading,
}

/// The hot restart in progress.
#[derive(Debug, Clone)]
pub struct MRestart {
    /// The request.
    pub request: RequestId,
    /// Its submitter.
    pub submitter: Option<OwnerKey>,
    /// The deadline.
    pub deadline: Instant,
    /// Per plugin, in id order: the order number of its load and, once answered, what
    /// it did.
    pub entries: Vec<(String, u64, Option<MRestartResult>)>,
}

impl MRestart {
    /// The generations the restart's loads replaced.
    pub fn replaced(&self) -> Vec<usize> {
        self.entries
            .iter()
            .filter_map(|(_, _, result)| match result {
                Some(MRestartResult::Reloaded {
                    replaced: Some(old),
                    ..
                }) => Some(*old),
                _ => None,
            })
            .collect()
    }
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
    /// Whether it is one plugin's load of a hot restart.
    pub restart: bool,
    /// Overtaken by an unload, disable or shutdown.
    pub cancelled: bool,
    /// Its place in the order loads were submitted.
    pub order: u64,
    /// The sync (index) and entry it answers, for a load a sync started.
    pub sync: Option<(usize, usize)>,
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
    /// The capability's type id.
    pub type_id: &'static str,
    /// For an instance recorded without an answer (`record_created`), the ticket key its
    /// owner knows it by.
    pub alias: Option<TicketKey>,
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
    /// A directory sync's entries.
    Synced(Vec<MEntry>),
    /// Restarted: what each plugin's load did, and the replaced generations still held.
    Restarted {
        /// Per plugin, in id order.
        plugins: Vec<(String, MRestartResult)>,
        /// The stalled generations.
        stalled: BTreeSet<usize>,
    },
    /// A configuration stored under `revision`, sent to the owners of `instances`.
    Configured {
        /// The new revision.
        revision: u64,
        /// Live instances of the capability.
        instances: u64,
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
    /// `instance_configured`.
    InstanceConfigured {
        /// The plugin.
        plugin: String,
        /// The type id.
        type_id: String,
        /// The owner (model index).
        owner: usize,
        /// The instance.
        instance: InstanceKey,
        /// The revision reported.
        revision: u64,
        /// The result's name.
        result: &'static str,
        /// Revisions skipped.
        skipped: u64,
        /// The message.
        message: String,
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
    /// `directory_synced`.
    DirectorySynced {
        /// The request.
        request: RequestId,
        /// Reconcile mode.
        reconcile: bool,
        /// new, changed, unchanged, gone, unreadable, loaded, unloaded, disabled, failed.
        counts: [u32; 9],
    },
    /// `restart_started`.
    RestartStarted {
        /// The plugins it reloads, in id order.
        plugins: Vec<String>,
        /// The command's timeout.
        timeout: Duration,
    },
    /// `restart_finished`.
    RestartFinished {
        /// What each plugin's load did.
        plugins: Vec<(String, MRestartResult)>,
        /// The replaced generations still held, with their holders.
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
            MEvent::ShutdownFinished { stalled } | MEvent::RestartFinished { stalled, .. } => {
                stalled.keys().copied().collect()
            }
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

/// A configuration stored: plugin, type id, revision.
pub type MConfigured = (String, &'static str, u64);

/// The effects a step must produce.
#[derive(Debug, Clone, Default)]
pub struct StepExpect {
    /// Opens requested.
    pub opens: usize,
    /// Directory scans requested.
    pub scans: usize,
    /// Generations collected (close tokens).
    pub closes: Vec<usize>,
    /// Generations that started draining, with the owners to tell.
    pub notices: Vec<(usize, BTreeSet<usize>)>,
    /// Serving notices: each owner told, the plugin's new generation and the cause.
    pub serving: BTreeSet<(usize, usize, MCause)>,
    /// Completions.
    pub completes: Vec<(RequestId, Option<OwnerKey>, MOutcome)>,
    /// Every event record, in the order the model makes them.
    pub events: Vec<MEvent>,
    /// Configuration notices, with the owners to tell.
    pub configures: Vec<(MConfigured, BTreeSet<usize>)>,
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
    /// Every directory sync submitted.
    pub syncs: Vec<MSync>,
    /// The hot restart in progress.
    pub restart: Option<MRestart>,
    /// The live configuration of each (plugin, type id) ever configured: its revision
    /// and bytes. Kept across unloads, so revisions only grow.
    pub configs: BTreeMap<(String, &'static str), (u64, Vec<u8>)>,
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
            syncs: Vec::new(),
            restart: None,
            configs: BTreeMap::new(),
            paths: (0..=INSTALLED_PATHS).map(path).collect(),
        }
    }

    /// A command: configure `type_id` of `plugin` with `config`.
    pub fn configure(
        &mut self,
        request: RequestId,
        submitter: Option<OwnerKey>,
        plugin: &str,
        type_id: &'static str,
        config: Vec<u8>,
    ) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        let Some(record) = self.plugins.get(plugin).cloned() else {
            return self.complete(request, submitter, MOutcome::Failed("unknown plugin"));
        };
        if !record.enabled {
            return self.complete(request, submitter, MOutcome::Failed("disabled"));
        }
        let offered = record.active.is_some_and(|active| {
            module(self.generations[active].path)
                .capabilities
                .iter()
                .any(|c| c.type_id == type_id)
        });
        if !offered {
            return self.complete(request, submitter, MOutcome::Failed("no capability"));
        }
        let entry = self
            .configs
            .entry((plugin.to_owned(), type_id))
            .or_insert((0, Vec::new()));
        entry.0 += 1;
        entry.1 = config;
        let revision = entry.0;
        let of_type = |generation: usize, t: &str| {
            self.generations[generation].plugin == plugin && t == type_id
        };
        let instances = self
            .instances
            .iter()
            .filter(|i| of_type(i.generation, i.type_id))
            .count() as u64;
        let told: BTreeSet<usize> = self
            .instances
            .iter()
            .filter(|i| of_type(i.generation, i.type_id))
            .map(|i| i.owner)
            .chain(
                self.tickets
                    .iter()
                    .filter(|t| of_type(t.generation, t.type_id))
                    .map(|t| t.owner),
            )
            .collect();
        if !told.is_empty() {
            self.expect
                .configures
                .push(((plugin.to_owned(), type_id, revision), told));
        }
        self.complete(
            request,
            submitter,
            MOutcome::Configured {
                revision,
                instances,
            },
        );
    }

    /// What a lagging `owner` is told of configurations: the newest revision of every
    /// (plugin, type id) it holds an instance or ticket of, sorted.
    pub fn config_notices(&self, owner: usize) -> Vec<(String, &'static str, u64, Vec<u8>)> {
        let held: BTreeSet<(String, &'static str)> = self
            .instances
            .iter()
            .filter(|i| i.owner == owner)
            .map(|i| (self.generations[i.generation].plugin.clone(), i.type_id))
            .chain(
                self.tickets
                    .iter()
                    .filter(|t| t.owner == owner)
                    .map(|t| (self.generations[t.generation].plugin.clone(), t.type_id)),
            )
            .collect();
        held.into_iter()
            .filter_map(|key| {
                let (revision, config) = self.configs.get(&key)?.clone();
                Some((key.0, key.1, revision, config))
            })
            .collect()
    }

    /// An owner's report on an instance: the record it makes.
    pub fn config_reported(
        &mut self,
        instance: &MHold<InstanceKey>,
        revision: u64,
        result: &'static str,
        skipped: u64,
    ) {
        let plugin = self.generations[instance.generation].plugin.clone();
        self.emit(MEvent::InstanceConfigured {
            plugin,
            type_id: instance.type_id.to_owned(),
            owner: instance.owner,
            instance: instance.key,
            revision,
            result,
            skipped,
            message: result.to_owned(),
        });
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

    /// The live owners subscribed to `plugin` (by id or to all).
    pub fn subscribers(&self, plugin: &str) -> BTreeSet<usize> {
        (0..self.owners.len())
            .filter(|&o| {
                self.owners[o].alive
                    && self.owners[o]
                        .subscriptions
                        .iter()
                        .any(|s| s.as_deref().is_none_or(|p| p == plugin))
            })
            .collect()
    }

    /// What `serving_notices` must answer for live owner `owner`: each subscribed plugin
    /// that serves, in id order, with its active generation and why it serves.
    pub fn serving_notices(&self, owner: usize) -> Vec<(String, usize, MCause)> {
        self.plugins
            .iter()
            .filter(|(id, _)| self.subscribers(id).contains(&owner))
            .filter_map(|(id, p)| Some((id.clone(), p.active?, p.cause)))
            .collect()
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
            restart: false,
            cancelled: false,
            order: self.next_order,
            sync: None,
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
                let draining = self.unload_plugin(plugin);
                self.complete(request, submitter, MOutcome::Unloaded { draining });
            }
            PluginCommand::Disable => {
                let draining = self.disable_plugin(plugin);
                self.complete(request, submitter, MOutcome::Disabled { draining });
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

    /// Forgets a known plugin and drains its active generation, which it returns.
    fn unload_plugin(&mut self, plugin: &str) -> Option<usize> {
        let record = self.plugins.remove(plugin).expect("a known plugin");
        self.cancel_loads_of(plugin);
        self.emit(MEvent::Unloaded {
            plugin: plugin.to_owned(),
        });
        if let Some(active) = record.active {
            self.drain(active, MReason::Unloaded, None);
        }
        record.active
    }

    /// Disables a known plugin and drains its active generation, which it returns.
    fn disable_plugin(&mut self, plugin: &str) -> Option<usize> {
        let entry = self.plugins.get_mut(plugin).expect("a known plugin");
        let record = entry.clone();
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
        record.active
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
        self.check_quiesce();
    }

    /// A command: hot restart, waiting `timeout` for the holders of what it replaces.
    pub fn restart(&mut self, request: RequestId, submitter: Option<OwnerKey>, timeout: Duration) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        if self.restart.is_some() {
            return self.complete(request, submitter, MOutcome::Failed("restart in progress"));
        }
        let plugins: Vec<(String, usize)> = self
            .plugins
            .iter()
            .filter(|(_, p)| p.enabled)
            .map(|(id, p)| (id.clone(), p.path))
            .collect();
        self.emit(MEvent::RestartStarted {
            plugins: plugins.iter().map(|(id, _)| id.clone()).collect(),
            timeout,
        });
        let mut entries = Vec::new();
        for (plugin, path) in plugins {
            let order = self.next_order;
            self.open(request, submitter, path, Some(plugin.clone()), false);
            self.loads.last_mut().expect("just opened").restart = true;
            entries.push((plugin, order, None));
        }
        self.restart = Some(MRestart {
            request,
            submitter,
            deadline: self.now + timeout,
            entries,
        });
        self.check_restart();
    }

    /// Hands a finished load's outcome to its command, or to the restart that made it.
    fn answer(&mut self, load: &MLoad, outcome: MOutcome) {
        if !load.restart {
            // A sync's load answers its sync; any other its command.
            return self.answer_load(load, outcome);
        }
        let Some(entry) = self.restart.as_mut().and_then(|r| {
            r.entries
                .iter_mut()
                .find(|(_, order, result)| *order == load.order && result.is_none())
        }) else {
            return;
        };
        entry.2 = Some(match outcome {
            MOutcome::Loaded {
                generation,
                replaced,
            } => MRestartResult::Reloaded {
                generation,
                replaced,
            },
            MOutcome::Failed(error) => MRestartResult::Failed(error),
            other => panic!("a restart's load completed with {other:?}"),
        });
        self.check_restart();
    }

    /// Whether a generation is out of the drain: neither draining nor closing.
    fn settled(&self, generation: usize) -> bool {
        !matches!(
            self.generations[generation].state,
            MState::Draining { .. } | MState::Closing
        )
    }

    fn check_quiesce(&mut self) {
        self.check_shutdown();
        self.check_restart();
    }

    fn check_restart(&mut self) {
        let Some(restart) = &self.restart else {
            return;
        };
        let answered = restart.entries.iter().all(|(_, _, r)| r.is_some());
        if answered && restart.replaced().into_iter().all(|g| self.settled(g)) {
            self.finish_restart(BTreeMap::new());
        }
    }

    fn finish_restart(&mut self, stalled: BTreeMap<usize, MHolders>) {
        let restart = self.restart.take().expect("a restart in progress");
        let plugins: Vec<(String, MRestartResult)> = restart
            .entries
            .into_iter()
            .map(|(plugin, _, result)| (plugin, result.unwrap_or(MRestartResult::Loading)))
            .collect();
        self.emit(MEvent::RestartFinished {
            plugins: plugins.clone(),
            stalled: stalled.clone(),
        });
        let outcome = MOutcome::Restarted {
            plugins,
            stalled: stalled.into_keys().collect(),
        };
        self.complete(restart.request, restart.submitter, outcome);
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
                self.answer(&load, MOutcome::Failed("load"));
                self.check_quiesce();
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
            self.answer(&load, MOutcome::Failed("mismatch"));
            return Some(generation);
        }
        if load.cancelled || !self.running() {
            self.drain(generation, MReason::Cancelled, None);
            self.answer(&load, MOutcome::Failed("cancelled"));
            return Some(generation);
        }
        if self
            .newest_active
            .get(&plugin)
            .is_some_and(|newest| *newest > load.order)
        {
            self.drain(generation, MReason::Superseded, None);
            self.answer(&load, MOutcome::Failed("superseded"));
            return Some(generation);
        }
        self.newest_active.insert(plugin.clone(), load.order);
        let digest = self.sync_digest(&load);
        let record = self.plugins.entry(plugin.clone()).or_insert(MPlugin {
            path,
            enabled: true,
            active: None,
            digest: None,
            cause: MCause::FirstLoad,
        });
        record.path = path;
        record.digest = digest;
        let was_disabled = !record.enabled;
        record.enabled = true;
        let replaced = record.active.replace(generation);
        let cause = if was_disabled {
            MCause::Enabled
        } else {
            MCause::FirstLoad
        };
        if replaced.is_none() {
            record.cause = cause;
        }
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
            None => {
                // Serving again from no generation: every subscriber is told.
                for owner in self.subscribers(&plugin) {
                    self.expect.serving.insert((owner, generation, cause));
                }
                self.emit(MEvent::Loaded {
                    plugin,
                    generation,
                    version,
                    path,
                });
            }
        }
        let outcome = if load.enable && replaced.is_none() {
            MOutcome::Enabled { generation }
        } else {
            MOutcome::Loaded {
                generation,
                replaced,
            }
        };
        self.answer(&load, outcome);
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
        told.extend(self.subscribers(&plugin));
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
            self.check_quiesce();
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
        self.check_quiesce();
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
        // At a restart's deadline, what it replaced and still drains is reported now.
        let restart_due = self.restart.as_ref().filter(|r| r.deadline <= now);
        let replaced = restart_due.map(MRestart::replaced).unwrap_or_default();
        for &g in &replaced {
            if let MState::Draining { deadline, .. } = &mut self.generations[g].state {
                *deadline = (*deadline).min(now);
            }
        }
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
        if self.restart.as_ref().is_some_and(|r| r.deadline <= now) {
            let stalled: BTreeMap<usize, MHolders> = replaced
                .into_iter()
                .filter(|&g| matches!(self.generations[g].state, MState::Draining { .. }))
                .map(|g| (g, self.holders(g)))
                .collect();
            self.finish_restart(stalled);
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
        let restart = self.restart.as_ref().map(|r| r.deadline);
        drains.chain(shutdown).chain(restart).min()
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
