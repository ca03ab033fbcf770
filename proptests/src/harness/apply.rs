//! Applying operations: each performs one operation on the core and the model, and
//! `Run::settle` ends the step by draining the effects and checking everything.

use std::collections::BTreeSet;
use std::time::Duration;

use plugin_runtime::generation::{
    CleanupError, ClosedError, Command, ConfigReport, ConfigResult, DirectoryScan, FileError,
    Fingerprint, ForeignKeyError, GenerationKey, LoadFailure, LoadFinishedError, NotFoundError,
    PinError, RequestId, ScanFinishedError, ScannedFile, ScannedLibrary, SyncMode, UnpinError,
};
use plugin_runtime::loader::{CloseOutcome, ModuleLoader};
use plugin_runtime::owner::{
    OwnerError, OwnerKey, ReleaseError, ReserveError, Subscription, TicketError,
};

use crate::model::{self, MClose, MFile, MHold, MOwner, MPin, MState, PluginCommand};
use crate::op::{Expect, INSTALLED_PATHS, Op, PLUGINS, Route, TYPE_IDS};

use super::check::{pin_error_name, reserve_error_name};
use super::{Outstanding, Run, StaleKey};

/// The plugin id with this index.
fn plugin_id(index: u8) -> String {
    PLUGINS[usize::from(index) % PLUGINS.len()].to_owned()
}

/// The name of the owner with this index.
pub(super) fn owner_name(index: usize) -> String {
    format!("owner{index}")
}

/// The thread the owner with this index registers from.
pub(super) fn thread_name(index: usize) -> String {
    format!("thread{index}")
}

impl Run {
    /// A new request routed as `route`: its id and submitter.
    fn request(&mut self, route: Route) -> (RequestId, Option<OwnerKey>) {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let submitter = if route.owner {
            self.model
                .owners
                .iter()
                .rev()
                .find(|o| o.alive)
                .map(|o| o.key)
        } else {
            None
        };
        let outstanding = Outstanding {
            owner: submitter,
            waiter: route.waiter,
        };
        self.outstanding.insert(id, outstanding);
        (id, submitter)
    }

    /// Submits `command` through the router, as the runtime's handle does.
    fn submit(
        &mut self,
        id: RequestId,
        route: Route,
        submitter: Option<OwnerKey>,
        command: Command,
    ) {
        self.submitted.push_back((id, submitter, command.clone()));
        self.router
            .submit(self.now, id, submitter, command, route.waiter);
    }

    fn live_owner(&self, index: u8) -> Option<usize> {
        let live: Vec<usize> = (0..self.model.owners.len())
            .filter(|&o| self.model.owners[o].alive)
            .collect();
        (!live.is_empty()).then(|| live[usize::from(index) % live.len()])
    }

    pub(super) fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Load {
                path,
                expect,
                route,
            } => {
                let path = usize::from(path) % (INSTALLED_PATHS + 1);
                let expected_plugin_id = match expect {
                    Expect::Nothing => None,
                    Expect::Right => Some(model::plugin_at(path).to_owned()),
                    Expect::Wrong => Some(model::plugin_at(path + 1).to_owned()),
                };
                let path = model::path(path);
                let command = Command::Load {
                    path,
                    expected_plugin_id,
                };
                self.command(command, route);
            }
            Op::Reload { plugin, route } => {
                let plugin_id = plugin_id(plugin);
                self.command(Command::Reload { plugin_id }, route);
            }
            Op::Unload { plugin, route } => {
                let plugin_id = plugin_id(plugin);
                self.command(Command::Unload { plugin_id }, route);
            }
            Op::SetEnabled {
                plugin,
                enabled,
                route,
            } => {
                let plugin_id = plugin_id(plugin);
                self.command(Command::SetEnabled { plugin_id, enabled }, route);
            }
            Op::Snapshot { route } => self.command(Command::Snapshot, route),
            Op::Shutdown { after_secs, route } => {
                let timeout = Duration::from_secs(u64::from(after_secs));
                self.command(Command::Shutdown { timeout }, route);
            }
            Op::Sync {
                files,
                unreadable_dir,
                disabled,
                reconcile,
                route,
            } => {
                let files = files.map(|f| match f {
                    0 => None,
                    1 => Some(MFile::Unreadable),
                    n => Some(MFile::Readable(n - 2)),
                });
                let disabled: BTreeSet<String> = (0..PLUGINS.len())
                    .filter(|i| disabled & (1 << i) != 0)
                    .map(|i| PLUGINS[i].to_owned())
                    .collect();
                let (id, submitter) = self.request(route);
                self.model.sync(
                    id,
                    submitter,
                    files,
                    unreadable_dir,
                    disabled.clone(),
                    reconcile,
                );
                let mode = if reconcile {
                    SyncMode::Reconcile
                } else {
                    SyncMode::Additive
                };
                let command = Command::Sync {
                    dir: model::sync_dir(),
                    disabled: disabled.into_iter().collect(),
                    mode,
                };
                self.submit(id, route, submitter, command);
            }
            Op::FinishScan { which } => self.finish_scan(which),
            Op::Restart { after_secs, route } => {
                let (id, submitter) = self.request(route);
                let timeout = Duration::from_secs(u64::from(after_secs));
                self.model.restart(id, submitter, timeout);
                self.submit(id, route, submitter, Command::Restart { timeout });
            }
            Op::Json { ref text, route } => self.json(text, route),
            Op::LeaveWaiter { which } => {
                let waiting: Vec<RequestId> = self
                    .outstanding
                    .iter()
                    .filter(|(_, o)| o.waiter)
                    .map(|(id, _)| *id)
                    .collect();
                if waiting.is_empty() {
                    return;
                }
                let id = waiting[usize::from(which) % waiting.len()];
                if let Some(outstanding) = self.outstanding.get_mut(&id) {
                    outstanding.waiter = false;
                }
                self.stats.waiters_gone += 1;
                self.router.waiter_gone(id);
            }
            Op::FinishLoad { which } => self.finish_load(which, true),
            Op::FinishLoadUnchecked { which } => self.finish_load(which, false),
            Op::FinishClose { which } => self.finish_close(which),
            Op::SetFailure { path, fail } => {
                let path = usize::from(path) % (INSTALLED_PATHS + 1);
                self.model.failing[path] = fail;
                let message = fail.then(|| model::SCRIPTED_FAILURE.to_owned());
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
                            reason: model::KEPT_LOADED_REASON.to_owned(),
                        },
                    ),
                };
                if path < INSTALLED_PATHS {
                    self.model.close_outcome[path] = m;
                }
                self.loader.set_close_outcome(&model::path(path), real);
            }
            Op::RegisterOwner => {
                let index = self.model.owners.len();
                let key = self
                    .router
                    .core_mut()
                    .register_owner_on(owner_name(index), thread_name(index));
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
                self.router.core_mut().subscribe(key, subscription).unwrap();
                self.model.owners[owner].subscriptions.push(plugin);
            }
            Op::Reserve {
                owner,
                plugin,
                capability,
            } => self.reserve(owner, plugin, capability),
            Op::Create { ticket } => self.finish_ticket(ticket, TicketEnd::Created),
            Op::Record { ticket } => self.finish_ticket(ticket, TicketEnd::Recorded),
            Op::FailTicket { ticket } => self.finish_ticket(ticket, TicketEnd::Failed),
            Op::DropTicket { ticket } => self.finish_ticket(ticket, TicketEnd::Dropped),
            Op::Release { instance } => {
                if self.model.instances.is_empty() {
                    return;
                }
                let index = usize::from(instance) % self.model.instances.len();
                let record = self.model.instances.remove(index);
                self.router
                    .core_mut()
                    .release_instance(now, record.key)
                    .unwrap();
                self.stale.push(StaleKey::Instance(record.key));
                if let Some(alias) = record.alias {
                    self.stale.push(StaleKey::Alias(alias));
                }
                self.model.collect_if_free(record.generation);
            }
            Op::ReleaseRecorded { instance } => {
                if self.model.instances.is_empty() {
                    return;
                }
                let index = usize::from(instance) % self.model.instances.len();
                let record = self.model.instances.remove(index);
                let core = self.router.core_mut();
                match record.alias {
                    Some(alias) => {
                        assert_eq!(core.instance_of(alias), Ok(record.key));
                        core.release_created(now, alias).unwrap();
                        self.stale.push(StaleKey::Alias(alias));
                    }
                    None => core.release_instance(now, record.key).unwrap(),
                }
                self.stats.released_by_alias += u64::from(record.alias.is_some());
                self.stale.push(StaleKey::Instance(record.key));
                self.model.collect_if_free(record.generation);
            }
            Op::Configure {
                plugin,
                type_id,
                route,
            } => {
                let plugin_id = PLUGINS[usize::from(plugin) % PLUGINS.len()].to_owned();
                let type_id = TYPE_IDS[usize::from(type_id) % TYPE_IDS.len()];
                let (id, submitter) = self.request(route);
                let config = format!("config of request {}", id.0).into_bytes();
                self.model
                    .configure(id, submitter, &plugin_id, type_id, config.clone());
                let command = Command::Configure {
                    plugin_id,
                    type_id: type_id.to_owned(),
                    config,
                };
                self.submit(id, route, submitter, command);
            }
            Op::ReportConfig {
                instance,
                result,
                skipped,
            } => {
                if self.model.instances.is_empty() {
                    return;
                }
                let index = usize::from(instance) % self.model.instances.len();
                let record = self.model.instances[index];
                let plugin = self.model.generations[record.generation].plugin.clone();
                let revision = self
                    .model
                    .configs
                    .get(&(plugin, record.type_id))
                    .map_or(0, |(revision, _)| *revision);
                let result = match result % 4 {
                    0 => ConfigResult::Applied,
                    1 => ConfigResult::Recreated,
                    2 => ConfigResult::Rejected,
                    _ => ConfigResult::Failed,
                };
                let skipped = u64::from(skipped);
                self.model
                    .config_reported(&record, revision, result.name(), skipped);
                let report = ConfigReport {
                    revision,
                    result,
                    skipped,
                    message: result.name().to_owned(),
                };
                let core = self.router.core_mut();
                // An owner that recorded without an answer knows it by its ticket key.
                let key = match record.alias {
                    Some(alias) => core.instance_of(alias).unwrap(),
                    None => record.key,
                };
                core.instance_configured(now, key, report).unwrap();
                self.stats.config_reports += 1;
            }
            Op::Pin { owner, plugin } => self.pin(owner, plugin),
            Op::Unpin { pin } => {
                if self.model.pins.is_empty() {
                    return;
                }
                let index = usize::from(pin) % self.model.pins.len();
                let record = self.model.pins.remove(index);
                self.router.core_mut().unpin(now, record.key).unwrap();
                self.stale.push(StaleKey::Pin(record.key));
                self.model.collect_if_free(record.generation);
            }
            Op::Advance { millis } => {
                self.now += Duration::from_millis(u64::from(millis));
                self.model.advance(self.now);
                self.router.core_mut().handle_timeout(self.now);
            }
            Op::Wake => {
                let Some(next) = self.model.next_timeout() else {
                    return;
                };
                self.now = self.now.max(next);
                self.model.advance(self.now);
                self.router.core_mut().handle_timeout(self.now);
            }
            Op::Cleanup { generation } => self.cleanup(generation),
            Op::Stale { which } => self.use_stale(which),
            Op::Foreign { which } => self.use_foreign(which),
        }
    }

    /// Submits `command` as the runtime's handle does, and tells the model.
    fn command(&mut self, command: Command, route: Route) {
        let (id, submitter) = self.request(route);
        match &command {
            Command::Load {
                path,
                expected_plugin_id,
            } => {
                let path = self.model.path_index(path);
                self.model
                    .load(id, submitter, path, expected_plugin_id.clone());
            }
            Command::Reload { plugin_id } => {
                self.model
                    .plugin_command(id, submitter, plugin_id, PluginCommand::Reload);
            }
            Command::Unload { plugin_id } => {
                self.model
                    .plugin_command(id, submitter, plugin_id, PluginCommand::Unload);
            }
            Command::SetEnabled { plugin_id, enabled } => {
                let command = if *enabled {
                    PluginCommand::Enable
                } else {
                    PluginCommand::Disable
                };
                self.model.plugin_command(id, submitter, plugin_id, command);
            }
            Command::Snapshot => self.model.snapshot(id, submitter),
            Command::Shutdown { timeout } => self.model.shutdown(id, submitter, *timeout),
            other => panic!("a command the model does not know: {other:?}"),
        }
        self.submit(id, route, submitter, command);
    }

    /// Reads `text` as a UI's command does: what parses is submitted, after checking
    /// that its JSON form reads back as the same command; what does not parse never
    /// reaches the core (the step's checks see nothing happen).
    fn json(&mut self, text: &str, route: Route) {
        let Ok(command) = serde_json::from_str::<Command>(text) else {
            self.stats.json_refused += 1;
            return;
        };
        let again = serde_json::to_string(&command).expect("a command always encodes");
        assert_eq!(
            serde_json::from_str::<Command>(&again).ok().as_ref(),
            Some(&command),
            "{text} read back from {again}"
        );
        self.stats.json_commands += 1;
        self.command(command, route);
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
        let result = self.loader.open(self.model.path_of(load.path), expected);
        let mut message = String::new();
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
                if failure.step == "open" {
                    assert!(failure.message.contains(model::SCRIPTED_FAILURE));
                }
                message.clone_from(&failure.message);
                Err(failure)
            }
        };
        self.model.finish_load(index, checked, &message);
        self.router
            .core_mut()
            .load_finished(self.now, key, answer)
            .unwrap();
        self.stale.push(StaleKey::Load(key));
    }

    fn finish_scan(&mut self, which: u8) {
        let pending: Vec<usize> = (0..self.model.syncs.len())
            .filter(|&s| self.model.syncs[s].key.is_some() && !self.model.syncs[s].scanned)
            .collect();
        if pending.is_empty() {
            return;
        }
        let index = pending[usize::from(which) % pending.len()];
        let sync = self.model.syncs[index].clone();
        let key = sync.key.expect("filtered above");
        let scan = if sync.unreadable_dir {
            Err(model::SCRIPTED_FAILURE.to_owned())
        } else {
            let files = (0..sync.files.len())
                .filter_map(|path| {
                    let result = match sync.files[path]? {
                        MFile::Unreadable => Err(FileError::Unstable {
                            message: model::SCRIPTED_FAILURE.to_owned(),
                        }),
                        MFile::Readable(variant) => Ok(ScannedLibrary {
                            fingerprint: Fingerprint {
                                size_bytes: 1_000 + path as u64,
                                mtime_unix_ns: u64::from(variant),
                                digest: model::file_digest(path, variant),
                            },
                            plugin_id: model::plugin_at(path).to_owned(),
                            version: path.to_string(),
                        }),
                    };
                    Some(ScannedFile {
                        path: model::path(path),
                        result,
                    })
                })
                .collect();
            Ok(DirectoryScan { files })
        };
        self.model.finish_scan(index);
        self.router
            .core_mut()
            .scan_finished(self.now, key, scan)
            .unwrap();
        self.stale.push(StaleKey::Sync(key));
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
        self.router
            .core_mut()
            .closed(self.now, token, report.outcome)
            .unwrap();
    }

    pub(super) fn unregister(&mut self, owner: usize) {
        let key = self.model.owners[owner].key;
        let mut affected = BTreeSet::new();
        let (mine, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut self.model.instances)
            .into_iter()
            .partition(|i| i.owner == owner);
        self.model.instances = theirs;
        for i in &mine {
            affected.insert(i.generation);
            self.stale.push(StaleKey::Instance(i.key));
            if let Some(alias) = i.alias {
                self.stale.push(StaleKey::Alias(alias));
            }
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
        let released = self
            .router
            .core_mut()
            .unregister_owner(self.now, key)
            .unwrap();
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
            .router
            .core_mut()
            .reserve_ticket(self.now, key, plugin_id, kind, type_id, version);
        match (predicted, result) {
            (Ok(generation), Ok(ticket)) => {
                assert_eq!(
                    Some(ticket.generation),
                    self.model.generations[generation].key
                );
                let info = self
                    .router
                    .core()
                    .capability(ticket.generation, ticket.capability)
                    .unwrap();
                assert_eq!((info.kind.as_str(), info.type_id.as_str()), (kind, type_id));
                self.model.tickets.push(MHold {
                    key: ticket.key,
                    generation,
                    owner,
                    type_id,
                    alias: None,
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
            TicketEnd::Created | TicketEnd::Recorded => {
                let recorded = matches!(end, TicketEnd::Recorded);
                let core = self.router.core_mut();
                let instance = if recorded {
                    core.record_created(self.now, record.key).unwrap()
                } else {
                    core.ticket_created(self.now, record.key).unwrap()
                };
                let alias = recorded.then_some(record.key);
                let view = self.router.core().instance(instance).unwrap();
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
                    type_id: record.type_id,
                    alias,
                });
            }
            TicketEnd::Failed => {
                self.router
                    .core_mut()
                    .ticket_failed(self.now, record.key)
                    .unwrap();
                self.model.collect_if_free(record.generation);
            }
            TicketEnd::Dropped => {
                self.router
                    .core_mut()
                    .ticket_dropped(self.now, record.key)
                    .unwrap();
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
        match (
            predicted,
            self.router.core_mut().pin(self.now, key, plugin_id),
        ) {
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
        let core = self.router.core_mut();
        match self.model.generations[index].state {
            MState::Closed => {
                assert_eq!(
                    core.unmapped_later(key),
                    Err(CleanupError::NotClosed(key)),
                    "an unmapped generation is not unmapped again"
                );
                core.cleanup(key).unwrap();
                self.model.cleanup(index);
                self.stale.push(StaleKey::Generation(key));
            }
            MState::StillMapped => {
                core.unmapped_later(key).unwrap();
                self.model.unmapped_later(index);
                self.stale.push(StaleKey::Generation(key));
            }
            MState::Removed => {
                assert_eq!(
                    core.cleanup(key),
                    Err(CleanupError::NotFound(NotFoundError::Generation(key)))
                );
                assert_eq!(
                    core.unmapped_later(key),
                    Err(CleanupError::NotFound(NotFoundError::Generation(key)))
                );
            }
            MState::KeptLoaded => {
                // Left loaded for the life of the process: never unmapped, and the actor
                // never removes its record.
                assert_eq!(core.unmapped_later(key), Err(CleanupError::NotClosed(key)));
            }
            MState::Active | MState::Draining { .. } | MState::Closing => {
                assert_eq!(core.cleanup(key), Err(CleanupError::NotClosed(key)));
                assert_eq!(core.unmapped_later(key), Err(CleanupError::NotClosed(key)));
            }
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
                    self.router.core().generation(key).err(),
                    Some(NotFoundError::Generation(key))
                );
            }
            StaleKey::Load(key) => {
                let failure = LoadFailure {
                    step: "open".into(),
                    message: "stale".into(),
                };
                assert!(
                    self.router
                        .core_mut()
                        .load_finished(now, key, Err(failure))
                        .is_err()
                );
            }
            StaleKey::Owner(key) => {
                assert!(self.router.core_mut().unregister_owner(now, key).is_err());
                assert_eq!(
                    self.router.core().owner_name(key),
                    Err(NotFoundError::Owner(key))
                );
            }
            StaleKey::Ticket(key) => {
                assert_eq!(
                    self.router.core_mut().ticket_created(now, key),
                    Err(TicketError::NotFound(NotFoundError::Ticket(key)))
                );
                assert!(self.router.core_mut().ticket_dropped(now, key).is_err());
            }
            StaleKey::Instance(key) => {
                assert_eq!(
                    self.router.core_mut().release_instance(now, key),
                    Err(ReleaseError::NotFound(NotFoundError::Instance(key)))
                );
                assert!(self.router.core().instance(key).is_err());
            }
            StaleKey::Pin(key) => assert!(self.router.core_mut().unpin(now, key).is_err()),
            StaleKey::Sync(key) => assert_eq!(
                self.router
                    .core_mut()
                    .scan_finished(now, key, Ok(DirectoryScan::default())),
                Err(ScanFinishedError::NotFound(NotFoundError::Sync(key)))
            ),
            StaleKey::Alias(key) => {
                assert_eq!(
                    self.router.core().instance_of(key),
                    Err(NotFoundError::Ticket(key))
                );
                assert_eq!(
                    self.router.core_mut().release_created(now, key),
                    Err(ReleaseError::NotFound(NotFoundError::Ticket(key)))
                );
                assert_eq!(
                    self.router.core_mut().record_created(now, key),
                    Err(TicketError::NotFound(NotFoundError::Ticket(key)))
                );
            }
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
                assert_eq!(self.router.core().generation(key).err(), Some(error));
                assert_eq!(self.router.core().capability(key, 0).err(), Some(error));
                assert_eq!(
                    self.router.core_mut().cleanup(key),
                    Err(CleanupError::NotFound(error))
                );
            }
            1 => {
                let key = other.load;
                assert_eq!(
                    self.router
                        .core_mut()
                        .load_finished(now, key, Ok(model::module(0))),
                    Err(LoadFinishedError::NotFound(foreign(ForeignKeyError::Load(
                        key
                    ))))
                );
            }
            2 => {
                let key = other.owner;
                let error = foreign(ForeignKeyError::Owner(key));
                assert_eq!(self.router.core().owner_name(key), Err(error));
                assert_eq!(
                    self.router.core_mut().subscribe(key, Subscription::All),
                    Err(OwnerError::NotFound(error))
                );
                let (kind, type_id, version) = model::capability(0);
                assert_eq!(
                    self.router
                        .core_mut()
                        .reserve_ticket(now, key, PLUGINS[0], kind, type_id, version),
                    Err(ReserveError::Owner(error))
                );
                assert_eq!(
                    self.router.core_mut().pin(now, Some(key), PLUGINS[0]),
                    Err(PinError::Owner(error))
                );
                assert_eq!(
                    self.router.core_mut().unregister_owner(now, key),
                    Err(OwnerError::NotFound(error))
                );
            }
            3 => {
                let key = other.ticket;
                let error = TicketError::NotFound(foreign(ForeignKeyError::Ticket(key)));
                assert_eq!(
                    self.router.core_mut().ticket_created(now, key),
                    Err(error.clone())
                );
                assert_eq!(
                    self.router.core_mut().ticket_failed(now, key),
                    Err(error.clone())
                );
                assert_eq!(
                    self.router.core_mut().record_created(now, key),
                    Err(error.clone())
                );
                assert_eq!(self.router.core_mut().ticket_dropped(now, key), Err(error));
                let foreign = foreign(ForeignKeyError::Ticket(key));
                assert_eq!(self.router.core().instance_of(key), Err(foreign));
                assert_eq!(
                    self.router.core_mut().release_created(now, key),
                    Err(ReleaseError::NotFound(foreign))
                );
            }
            4 => {
                let key = other.instance;
                let error = foreign(ForeignKeyError::Instance(key));
                assert_eq!(self.router.core().instance(key), Err(error));
                assert_eq!(
                    self.router.core_mut().release_instance(now, key),
                    Err(ReleaseError::NotFound(error))
                );
            }
            5 => {
                let key = other.pin;
                assert_eq!(
                    self.router.core_mut().unpin(now, key),
                    Err(UnpinError::NotFound(foreign(ForeignKeyError::Pin(key))))
                );
            }
            _ => {
                let token = other.token();
                let key = token.generation();
                assert_eq!(
                    self.router
                        .core_mut()
                        .closed(now, token, CloseOutcome::Unmapped),
                    Err(ClosedError::Foreign(ForeignKeyError::Generation(key)))
                );
            }
        }
    }

    /// Learns the key of a generation made this step, drains the effects and compares
    /// everything.
    pub(super) fn settle(&mut self) {
        let fresh: Vec<GenerationKey> = self
            .router
            .core()
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
        self.check_actions();
        self.check_agreement();
        self.check_invariants();
    }
}

#[derive(Debug, Clone, Copy)]
enum TicketEnd {
    Created,
    Recorded,
    Failed,
    Dropped,
}
