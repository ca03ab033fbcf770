//! The [`Lifecycle`] core: its arenas, commands, loads, closes and queries.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::arena::Arena;
use super::collect::CloseToken;
use super::effect::{
    Command, CommandError, Effect, Event, GenerationSnapshot, HolderReport, LoadFailure, Outcome,
    PluginSnapshot, RequestId, Snapshot,
};
use super::error::{CleanupError, ClosedError, ForeignKeyError, LoadFinishedError, NotFoundError};
use super::holders::{HoldCounts, Holders};
use super::keys::{CoreId, GenerationKey, LoadKey, PinKey};
use super::pins::PinRecord;
use super::shutdown::ShutdownState;
use super::state::{Active, DrainReason, GenerationRecord, GenerationState, Stage};
use crate::loader::{CapabilityInfo, CloseOutcome, ModuleInfo};
use crate::owner::{InstanceKey, InstanceRecord, OwnerKey, OwnerRecord, TicketKey, TicketRecord};

/// The shortest drain timeout used, whatever the configuration says.
const MIN_DRAIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The core's tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// How long a generation may drain before the first stalled-drain report. At least
    /// one millisecond is used, so stalled reports can never spin; a timeout too long
    /// for the clock (up to [`Duration::MAX`]) means no report, in practice.
    pub drain_timeout: Duration,
    /// The longest wait between two stalled-drain reports of one generation; the wait
    /// doubles after each report up to this. Never less than the drain timeout; any
    /// value up to [`Duration::MAX`] is accepted.
    pub max_stall_interval: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(5),
            max_stall_interval: Duration::from_secs(300),
        }
    }
}

/// The lifecycle state machine: every plugin, generation, owner, ticket, instance record
/// and in-flight pin, with the rules that move them.
///
/// It performs no I/O and reads no clock (sans-IO): every input takes `now`, and what
/// must happen outside is queued as an [`Effect`].
///
/// # How to drive it
///
/// * **Inputs.** Control-plane commands go through [`submit`](Self::submit); each one
///   yields exactly one [`Effect::Complete`]. The caller answers the effects it performed
///   with [`load_finished`](Self::load_finished) (after an [`Effect::Open`]) and
///   [`closed`](Self::closed) (after an [`Effect::Close`]). Owners and their holds are
///   synchronous: [`register_owner`](Self::register_owner),
///   [`unregister_owner`](Self::unregister_owner), [`subscribe`](Self::subscribe),
///   [`reserve_ticket`](Self::reserve_ticket) then exactly one of
///   [`ticket_created`](Self::ticket_created), [`ticket_failed`](Self::ticket_failed) or
///   [`ticket_dropped`](Self::ticket_dropped), then
///   [`release_instance`](Self::release_instance); [`pin`](Self::pin) then
///   [`unpin`](Self::unpin). Time passes through [`handle_timeout`](Self::handle_timeout).
/// * **Outputs.** After any input, drain [`poll_effect`](Self::poll_effect) until it
///   returns `None` and perform each effect, then ask
///   [`poll_timeout`](Self::poll_timeout) when to call
///   [`handle_timeout`](Self::handle_timeout) next (it changes after any input).
/// * **Queries** ([`resolve`](Self::resolve), [`list`](Self::list),
///   [`generation`](Self::generation), [`instance`](Self::instance),
///   [`capability`](Self::capability), [`snapshot`](Self::snapshot)) never change state.
///
/// # Invariants
///
/// * At most one active generation per plugin; a failed load leaves it serving.
/// * A generation is collected (its [`CloseToken`] emitted) only while draining with no
///   instance, ticket or pin, and in the same input that released its last hold.
/// * A key to a removed record yields a [`NotFoundError`], never another record.
/// * A key (or [`CloseToken`]) of another core yields [`NotFoundError::Foreign`] (or
///   the operation's own `Foreign` variant) before any lookup, never a record of this
///   core: every core has its own [`CoreId`], carried by every key it hands out.
///
/// # Examples
///
/// One load, one instance, a reload that drains the old generation, and the release that
/// collects it:
///
/// ```
/// use std::time::Instant;
/// use plugin_runtime::generation::{Command, CoreConfig, Effect, Lifecycle, RequestId};
/// use plugin_runtime::loader::{CapabilityInfo, CloseOutcome, ModuleInfo};
///
/// let module = ModuleInfo {
///     plugin_id: "wav".into(),
///     version: "1".into(),
///     display_name: "WAV".into(),
///     abi_major: 2,
///     abi_minor: 0,
///     capabilities: vec![CapabilityInfo {
///         kind: "decoder".into(),
///         type_id: "wav".into(),
///         interface_version: 1,
///         interface_minor: 0,
///         layout_id: 0,
///         layout: String::new(),
///         vtable_size: 0,
///         display_name: "WAV decoder".into(),
///         default_config: Vec::new(),
///     }],
/// };
/// let now = Instant::now();
/// let mut core = Lifecycle::new(CoreConfig::default());
/// let owner = core.register_owner("audio.decode");
///
/// // The actor's loop: perform each effect, answer the ones that need an answer.
/// let mut run = |core: &mut Lifecycle, closes: &mut usize| {
///     while let Some(effect) = core.poll_effect() {
///         match effect {
///             Effect::Open { load, .. } => {
///                 core.load_finished(now, load, Ok(module.clone())).unwrap();
///             }
///             Effect::Close(token) => {
///                 *closes += 1;
///                 core.closed(now, token, CloseOutcome::Unmapped).unwrap();
///             }
///             _ => {}
///         }
///     }
/// };
/// let mut closes = 0;
/// let load = Command::Load { path: "/plugins/wav.so".into(), expected_plugin_id: None };
/// core.submit(now, RequestId(1), Some(owner), load);
/// run(&mut core, &mut closes);
///
/// let ticket = core.reserve_ticket(now, owner, "wav", "decoder", "wav", 1).unwrap();
/// // ... the owner calls the capability's create on its own thread ...
/// let instance = core.ticket_created(now, ticket.key).unwrap();
///
/// core.submit(now, RequestId(2), Some(owner), Command::Reload { plugin_id: "wav".into() });
/// run(&mut core, &mut closes);
/// assert_eq!(closes, 0, "the old generation drains while the instance lives");
///
/// core.release_instance(now, instance).unwrap();
/// run(&mut core, &mut closes);
/// assert_eq!(closes, 1, "collected by the release itself");
/// ```
#[derive(Debug)]
pub struct Lifecycle {
    pub(crate) id: CoreId,
    pub(crate) config: CoreConfig,
    pub(crate) plugins: HashMap<String, PluginRecord>,
    pub(crate) generations: Arena<GenerationKey, GenerationRecord>,
    pub(crate) loads: Arena<LoadKey, PendingLoad>,
    pub(crate) owners: Arena<OwnerKey, OwnerRecord>,
    pub(crate) tickets: Arena<TicketKey, TicketRecord>,
    pub(crate) instances: Arena<InstanceKey, InstanceRecord>,
    pub(crate) pins: Arena<PinKey, PinRecord>,
    pub(crate) effects: VecDeque<Effect>,
    pub(crate) shutdown: ShutdownState,
    /// The submission number the next load gets (see [`PendingLoad::order`]).
    pub(crate) next_load: u64,
    /// Per plugin id, the submission number of the newest load that made a generation
    /// of it active; a load submitted before it is superseded when it finishes. Cleared
    /// whenever no load is pending, since every later load is newer than all of them.
    pub(crate) newest_active: HashMap<String, u64>,
}

/// A read-only view of one generation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GenerationView<'a> {
    /// The plugin id.
    pub plugin_id: &'a str,
    /// The installed path it was loaded from.
    pub path: &'a std::path::Path,
    /// The validated module, with its capabilities.
    pub module: &'a ModuleInfo,
    /// Its state.
    pub state: GenerationState,
    /// When it entered that state.
    pub since: Instant,
    /// What holds it, summed over owners.
    pub holds: HoldCounts,
}

/// One known plugin.
#[derive(Debug)]
pub(crate) struct PluginRecord {
    pub(crate) path: PathBuf,
    pub(crate) enabled: bool,
    /// `None` while disabled, during shutdown, or never (a record is made by a load).
    pub(crate) active: Option<GenerationKey>,
}

/// A library the caller was asked to open.
#[derive(Debug)]
pub(crate) struct PendingLoad {
    pub(crate) request_id: RequestId,
    pub(crate) owner: Option<OwnerKey>,
    pub(crate) path: PathBuf,
    pub(crate) expected_plugin_id: Option<String>,
    pub(crate) purpose: LoadPurpose,
    /// Set when an unload, disable or shutdown overtook the load.
    pub(crate) cancelled: bool,
    /// Its place among all loads, in the order they were submitted.
    pub(crate) order: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadPurpose {
    Load,
    Enable,
}

impl Lifecycle {
    /// A core with nothing loaded, with an id no other core of this process has.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` cores were already made in this process (see [`CoreId`]).
    pub fn new(mut config: CoreConfig) -> Self {
        config.drain_timeout = config.drain_timeout.max(MIN_DRAIN_TIMEOUT);
        config.max_stall_interval = config.max_stall_interval.max(config.drain_timeout);
        let id = CoreId::next();
        Self {
            id,
            config,
            plugins: HashMap::new(),
            generations: Arena::new(id),
            loads: Arena::new(id),
            owners: Arena::new(id),
            tickets: Arena::new(id),
            instances: Arena::new(id),
            pins: Arena::new(id),
            effects: VecDeque::new(),
            shutdown: ShutdownState::Running,
            next_load: 0,
            newest_active: HashMap::new(),
        }
    }

    /// The configuration the core was made with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// This core's id, carried by every key it hands out.
    pub fn id(&self) -> CoreId {
        self.id
    }

    /// The next effect to perform, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Accepts a control-plane command from `owner` (if an owner sent it).
    ///
    /// Exactly one [`Effect::Complete`] with `request_id` and `owner` follows, now or
    /// after the loads it started are answered. If `owner` is a key of another core, the
    /// command fails with [`CommandError::ForeignOwner`] and does nothing.
    pub fn submit(
        &mut self,
        now: Instant,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        command: Command,
    ) {
        if let Some(foreign) = owner.filter(|owner| owner.core() != self.id) {
            let error = CommandError::ForeignOwner(ForeignKeyError::Owner(foreign));
            self.fail(request_id, owner, error);
            return;
        }
        if !self.shutdown.accepts_commands() {
            if let Command::Snapshot = command {
                let snapshot = self.snapshot();
                self.complete(request_id, owner, Outcome::Snapshot(snapshot));
            } else {
                self.fail(request_id, owner, CommandError::ShuttingDown);
            }
            return;
        }
        match command {
            Command::Load {
                path,
                expected_plugin_id,
            } => self.open(
                request_id,
                owner,
                path,
                expected_plugin_id,
                LoadPurpose::Load,
            ),
            Command::Reload { plugin_id } => match self.plugins.get(&plugin_id) {
                None => self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id }),
                Some(plugin) if !plugin.enabled => {
                    self.fail(request_id, owner, CommandError::Disabled { plugin_id });
                }
                Some(plugin) => {
                    let path = plugin.path.clone();
                    self.open(request_id, owner, path, Some(plugin_id), LoadPurpose::Load);
                }
            },
            Command::Unload { plugin_id } => {
                let Some(plugin) = self.plugins.remove(&plugin_id) else {
                    self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id });
                    return;
                };
                self.cancel_loads_of(&plugin_id);
                self.effects.push_back(Effect::Event(Event::Unloaded {
                    plugin_id: plugin_id.clone(),
                }));
                if let Some(active) = plugin.active {
                    self.begin_drain(now, active, DrainReason::Unloaded, None);
                }
                let outcome = Outcome::Unloaded {
                    plugin_id,
                    draining: plugin.active,
                };
                self.complete(request_id, owner, outcome);
            }
            Command::SetEnabled {
                plugin_id,
                enabled: false,
            } => {
                let Some(plugin) = self.plugins.get_mut(&plugin_id) else {
                    self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id });
                    return;
                };
                let was_enabled = plugin.enabled;
                plugin.enabled = false;
                let active = plugin.active.take();
                self.cancel_loads_of(&plugin_id);
                if was_enabled {
                    self.effects.push_back(Effect::Event(Event::Disabled {
                        plugin_id: plugin_id.clone(),
                    }));
                }
                if let Some(active) = active {
                    self.begin_drain(now, active, DrainReason::Disabled, None);
                }
                let outcome = Outcome::Disabled {
                    plugin_id,
                    draining: active,
                };
                self.complete(request_id, owner, outcome);
            }
            Command::SetEnabled {
                plugin_id,
                enabled: true,
            } => match self.plugins.get(&plugin_id) {
                None => self.fail(request_id, owner, CommandError::UnknownPlugin { plugin_id }),
                Some(PluginRecord {
                    active: Some(generation),
                    ..
                }) => {
                    let outcome = Outcome::Enabled {
                        generation: *generation,
                        plugin_id,
                    };
                    self.complete(request_id, owner, outcome);
                }
                Some(plugin) => {
                    let path = plugin.path.clone();
                    self.open(
                        request_id,
                        owner,
                        path,
                        Some(plugin_id),
                        LoadPurpose::Enable,
                    );
                }
            },
            Command::Snapshot => {
                let snapshot = self.snapshot();
                self.complete(request_id, owner, Outcome::Snapshot(snapshot));
            }
            Command::Shutdown { deadline } => self.begin_shutdown(now, request_id, owner, deadline),
        }
    }

    /// The caller's answer to [`Effect::Open`] for `load`: the validated module, or why
    /// loading failed.
    ///
    /// On success the new generation becomes the plugin's active one and the one it
    /// replaces starts draining; on failure the previous generation keeps serving. If an
    /// unload, disable or shutdown overtook the load, or the module is not the plugin
    /// asked for, the new generation never serves and is collected at once.
    ///
    /// Loads may be answered in any order (the runtime runs them in parallel), and the
    /// result is as if they had finished in the order they were submitted: a load of a
    /// plugin that finishes after a load of the same plugin submitted later has made its
    /// generation active is superseded ([`CommandError::Superseded`]); its generation
    /// never serves and is collected at once. So an older build that finishes last never
    /// replaces a newer one. A later load that failed supersedes nothing.
    ///
    /// Returns the generation made for a loaded module (`None` when the load failed);
    /// the caller stores the library under that key before draining the effects, which
    /// may already ask to close it.
    ///
    /// # Errors
    ///
    /// [`LoadFinishedError::NotFound`] if `load` was already answered or belongs to another
    /// core.
    pub fn load_finished(
        &mut self,
        now: Instant,
        load: LoadKey,
        result: Result<ModuleInfo, LoadFailure>,
    ) -> Result<Option<GenerationKey>, LoadFinishedError> {
        let pending = self.loads.take(load).map_err(LoadFinishedError::NotFound)?;
        let module = match result {
            Ok(module) => module,
            Err(failure) => {
                self.effects.push_back(Effect::Event(Event::LoadFailed {
                    plugin_id: pending.expected_plugin_id.clone(),
                    path: pending.path,
                    failure: failure.clone(),
                }));
                self.fail(
                    pending.request_id,
                    pending.owner,
                    CommandError::Load(failure),
                );
                if self.loads.is_empty() {
                    self.newest_active.clear();
                }
                self.check_shutdown(now);
                return Ok(None);
            }
        };
        let plugin_id = module.plugin_id.clone();
        let refusal = match &pending.expected_plugin_id {
            Some(expected) if *expected != plugin_id => Some((
                DrainReason::Rejected,
                CommandError::PluginIdMismatch {
                    expected: expected.clone(),
                    found: plugin_id.clone(),
                },
            )),
            _ if pending.cancelled || !self.shutdown.accepts_commands() => {
                Some((DrainReason::Cancelled, CommandError::Cancelled))
            }
            _ if self
                .newest_active
                .get(&plugin_id)
                .is_some_and(|newest| *newest > pending.order) =>
            {
                Some((
                    DrainReason::Superseded,
                    CommandError::Superseded {
                        plugin_id: plugin_id.clone(),
                    },
                ))
            }
            _ => None,
        };
        if self.loads.is_empty() {
            // Every load submitted from now on is newer than all those recorded.
            self.newest_active.clear();
        } else if refusal.is_none() {
            self.newest_active.insert(plugin_id.clone(), pending.order);
        }
        let generation = self.generations.insert(GenerationRecord {
            plugin_id: plugin_id.clone(),
            path: pending.path.clone(),
            module,
            holders: Holders::default(),
            stage: Stage::Active(Active { since: now }),
        });
        if let Some((reason, error)) = refusal {
            self.begin_drain(now, generation, reason, None);
            self.fail(pending.request_id, pending.owner, error);
            return Ok(Some(generation));
        }
        let plugin = self
            .plugins
            .entry(plugin_id.clone())
            .or_insert_with(|| PluginRecord {
                path: pending.path.clone(),
                enabled: true,
                active: None,
            });
        plugin.path = pending.path;
        plugin.enabled = true;
        let replaced = plugin.active.replace(generation);
        match replaced {
            Some(old) => {
                self.effects.push_back(Effect::Event(Event::Reloaded {
                    plugin_id: plugin_id.clone(),
                    old,
                    new: generation,
                }));
                self.begin_drain(now, old, DrainReason::Replaced, Some(generation));
            }
            None => self.effects.push_back(Effect::Event(Event::Loaded {
                plugin_id: plugin_id.clone(),
                generation,
            })),
        }
        let outcome = match pending.purpose {
            LoadPurpose::Enable if replaced.is_none() => Outcome::Enabled {
                plugin_id,
                generation,
            },
            _ => Outcome::Loaded {
                plugin_id,
                generation,
                replaced,
            },
        };
        self.complete(pending.request_id, pending.owner, outcome);
        Ok(Some(generation))
    }

    /// The caller's answer to [`Effect::Close`]: it closed the token's library and the
    /// OS did `outcome`.
    ///
    /// # Errors
    ///
    /// [`ClosedError::Foreign`] if the token came from another core,
    /// [`ClosedError::NotClosing`] if its generation is not waiting for a close.
    pub fn closed(
        &mut self,
        now: Instant,
        token: CloseToken,
        outcome: CloseOutcome,
    ) -> Result<(), ClosedError> {
        let key = token.generation();
        if key.core() != self.id {
            return Err(ClosedError::Foreign(ForeignKeyError::Generation(key)));
        }
        let record = self
            .generations
            .get_mut(key)
            .ok_or(ClosedError::NotClosing(key))?;
        // Moved out to be consumed by the transition; the placeholder never stays.
        let closing = match std::mem::replace(&mut record.stage, Stage::placeholder(now)) {
            Stage::Closing(closing) => closing,
            other => {
                record.stage = other;
                return Err(ClosedError::NotClosing(key));
            }
        };
        record.stage = closing.closed(now, outcome);
        let plugin_id = record.plugin_id.clone();
        let event = match &record.stage {
            Stage::PinnedByLoader(pinned) => Event::PinnedByLoader {
                plugin_id,
                generation: key,
                reason: pinned.reason.clone(),
            },
            _ => Event::Closed {
                plugin_id,
                generation: key,
            },
        };
        self.effects.push_back(Effect::Event(event));
        self.check_shutdown(now);
        Ok(())
    }

    /// Removes the record of a closed (or pinned-by-loader) generation; its key resolves
    /// to [`NotFoundError`] afterwards.
    ///
    /// # Errors
    ///
    /// [`CleanupError::NotFound`] if the record is already gone or the key belongs to
    /// another core, [`CleanupError::NotClosed`] if the generation is not closed yet.
    pub fn cleanup(&mut self, generation: GenerationKey) -> Result<(), CleanupError> {
        let record = self
            .generations
            .find(generation)
            .map_err(CleanupError::NotFound)?;
        match record.stage {
            Stage::Closed(_) | Stage::PinnedByLoader(_) => {
                self.generations.remove(generation);
                Ok(())
            }
            _ => Err(CleanupError::NotClosed(generation)),
        }
    }

    /// The plugin's active generation and its capability of this kind and type id.
    ///
    /// Returns `None` if the plugin is unknown, has no active generation, or its active
    /// generation lacks the capability.
    pub fn resolve(
        &self,
        plugin_id: &str,
        kind: &str,
        type_id: &str,
    ) -> Option<(GenerationKey, &CapabilityInfo)> {
        let active = self.plugins.get(plugin_id)?.active?;
        let record = self.generations.get(active)?;
        Some((active, record.module.capability(kind, type_id)?))
    }

    /// Every capability of every active generation, with its plugin id and generation.
    pub fn list(&self) -> impl Iterator<Item = (&str, GenerationKey, &CapabilityInfo)> + '_ {
        self.plugins
            .iter()
            .filter_map(|(id, plugin)| plugin.active.map(|g| (id, g)))
            .flat_map(move |(id, generation)| {
                self.generations
                    .get(generation)
                    .into_iter()
                    .flat_map(move |record| {
                        record
                            .module
                            .capabilities
                            .iter()
                            .map(move |c| (id.as_str(), generation, c))
                    })
            })
    }

    /// The plugin's active generation, if it has one.
    pub fn active_generation(&self, plugin_id: &str) -> Option<GenerationKey> {
        self.plugins.get(plugin_id)?.active
    }

    /// A view of one generation.
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Generation`] if its record was removed,
    /// [`NotFoundError::Foreign`] if the key belongs to another core.
    pub fn generation(&self, key: GenerationKey) -> Result<GenerationView<'_>, NotFoundError> {
        let record = self.generations.find(key)?;
        Ok(GenerationView {
            plugin_id: &record.plugin_id,
            path: &record.path,
            module: &record.module,
            state: record.stage.state(),
            since: record.stage.since(),
            holds: record.holders.total(),
        })
    }

    /// The capability at `index` in the generation's module (as in a
    /// [`Ticket`](crate::owner::Ticket)).
    ///
    /// # Errors
    ///
    /// [`NotFoundError::Generation`] if the generation's record was removed (an index
    /// past the module's capabilities is reported the same way),
    /// [`NotFoundError::Foreign`] if the key belongs to another core.
    pub fn capability(
        &self,
        generation: GenerationKey,
        index: usize,
    ) -> Result<&CapabilityInfo, NotFoundError> {
        self.generations
            .find(generation)?
            .module
            .capabilities
            .get(index)
            .ok_or(NotFoundError::Generation(generation))
    }

    /// Every generation whose record exists, with its state.
    pub fn generations(&self) -> impl Iterator<Item = (GenerationKey, GenerationState)> + '_ {
        self.generations
            .iter()
            .map(|(key, record)| (key, record.stage.state()))
    }

    /// Everything the core knows, as plain data.
    pub fn snapshot(&self) -> Snapshot {
        let mut plugins: Vec<PluginSnapshot> = self
            .plugins
            .iter()
            .map(|(id, plugin)| PluginSnapshot {
                plugin_id: id.clone(),
                path: plugin.path.clone(),
                enabled: plugin.enabled,
                active: plugin.active,
            })
            .collect();
        plugins.sort_by(|a, b| a.plugin_id.cmp(&b.plugin_id));
        let generations = self
            .generations
            .iter()
            .map(|(key, record)| GenerationSnapshot {
                generation: key,
                plugin_id: record.plugin_id.clone(),
                state: record.stage.state(),
                holders: self.holder_reports(&record.holders),
            })
            .collect();
        Snapshot {
            plugins,
            generations,
            owners: self.owners.len(),
            instances: self.instances.len(),
            tickets: self.tickets.len(),
            pins: self.pins.len(),
            pending_loads: self.loads.len(),
        }
    }

    /// The holders of a generation with their owners' names.
    pub(crate) fn holder_reports(&self, holders: &Holders) -> Vec<HolderReport> {
        holders
            .iter()
            .map(|(owner, holds)| HolderReport {
                owner,
                owner_name: owner
                    .and_then(|o| self.owners.get(o))
                    .map(|o| o.name.clone()),
                holds,
            })
            .collect()
    }

    pub(crate) fn complete(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        outcome: Outcome,
    ) {
        self.effects.push_back(Effect::Complete {
            request_id,
            owner,
            outcome,
        });
    }

    fn fail(&mut self, request_id: RequestId, owner: Option<OwnerKey>, error: CommandError) {
        self.complete(request_id, owner, Outcome::Failed(error));
    }

    fn open(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        path: PathBuf,
        expected_plugin_id: Option<String>,
        purpose: LoadPurpose,
    ) {
        let order = self.next_load;
        self.next_load += 1;
        let load = self.loads.insert(PendingLoad {
            request_id,
            owner,
            path: path.clone(),
            expected_plugin_id: expected_plugin_id.clone(),
            purpose,
            cancelled: false,
            order,
        });
        self.effects.push_back(Effect::Open {
            load,
            path,
            expected_plugin_id,
        });
    }

    /// Whether some generation of `plugin_id` drains. Scans every generation: only the
    /// error paths of reserving and pinning an unknown plugin ask.
    pub(crate) fn drains(&self, plugin_id: &str) -> bool {
        self.generations
            .values()
            .any(|g| g.plugin_id == plugin_id && matches!(g.stage, Stage::Draining(_)))
    }

    /// Marks the pending loads aimed at `plugin_id` as overtaken: when they finish, their
    /// generation is collected without serving.
    pub(crate) fn cancel_loads_of(&mut self, plugin_id: &str) {
        for load in self.loads.values_mut() {
            if load.expected_plugin_id.as_deref() == Some(plugin_id) {
                load.cancelled = true;
            }
        }
    }
}
