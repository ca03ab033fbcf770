//! The directory sync: [`Command::Sync`](super::Command::Sync) plans from a scan of the
//! directory, then acts through the ordinary load, disable and unload paths.
//!
//! # Flow
//!
//! 1. `submit` records a pending sync and asks the caller to scan the directory
//!    ([`Effect::Scan`]). The core never touches the file system: listing, hashing and
//!    reading descriptors happen off the actor (the runtime's loader threads), and the
//!    caller answers with [`Lifecycle::scan_finished`] and a [`DirectoryScan`].
//! 2. The core plans: each library is [`New`](SyncChange::New) (no plugin of its id is
//!    known), [`Changed`](SyncChange::Changed) (the plugin's recorded library is another
//!    file, or its recorded SHA-256 differs or is unknown), [`Unchanged`](SyncChange::Unchanged)
//!    (same file, same digest) or, for a known plugin whose recorded library lies in the
//!    directory and that no file claims any more, [`Gone`](SyncChange::Gone). A file that
//!    could not be read, changed while it was read, failed the ELF pre-check or whose
//!    descriptor could not be read is [`Unreadable`](SyncChange::Unreadable): it is not
//!    loaded, nothing is recorded for it (so the next sync tries it again), and a plugin
//!    whose recorded library it is keeps serving.
//! 3. It acts, in the order of the entries: new and changed libraries are loaded with
//!    their plugin id expected, through the same pending loads as
//!    [`Command::Load`](super::Command::Load) (so drains, notices, load order and events
//!    are the same); a plugin listed as disabled is not loaded and, in
//!    [`SyncMode::Reconcile`], disabled if it serves; in reconcile mode a gone plugin is
//!    unloaded, and a plugin the runtime has disabled but the list does not name is
//!    loaded again. Two readable files claiming one plugin id fail with
//!    [`SyncError::Duplicate`] for that id; the others go on.
//! 4. The sync completes with [`Outcome::Synced`] once every load
//!    it started is answered (a failed load leaves the plugin's previous generation
//!    serving), after one `directory_synced` event with the counts.
//!
//! A plugin's digest is recorded when one of its loads succeeds: the loader's digest of
//! the file it opened ([`ModuleInfo::digest`](crate::module::ModuleInfo::digest)) when it
//! gives one, else, for a load a sync started, the digest the scan computed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::effect::{CommandError, Effect, Outcome, RequestId};
use super::error::{NotFoundError, ScanFinishedError};
use super::keys::{GenerationKey, core_keys};
use super::lifecycle::{Lifecycle, LoadPurpose};
use crate::events::Event;
use crate::module::Digest;
use crate::owner::OwnerKey;

core_keys! {
    /// A generational key to one pending directory sync: a scan the caller was asked for,
    /// or the loads the sync started.
    ///
    /// Stale or foreign, it is refused like a [`GenerationKey`].
    pub struct SyncKey(SyncSlot) => Sync;
}

/// What a sync does beyond loading new and changed libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SyncMode {
    /// Load what is new or changed; leave everything else as it is.
    #[default]
    Additive,
    /// Also unload what is gone from the directory, disable the serving plugins listed
    /// as disabled, and load again the plugins the runtime has disabled that the list
    /// does not name.
    Reconcile,
}

/// What identifies one state of a library file: its size, its modification time, and
/// the SHA-256 of its bytes, which decides whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Fingerprint {
    /// The file's size.
    pub size_bytes: u64,
    /// The file's modification time in nanoseconds since the Unix epoch (0 for a time
    /// before it).
    pub mtime_unix_ns: u64,
    /// The SHA-256 of the bytes read.
    pub digest: Digest,
}

/// A library file whose bytes held still while they were read, and its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedLibrary {
    /// The file's fingerprint.
    pub fingerprint: Fingerprint,
    /// The plugin id its descriptor names.
    pub plugin_id: String,
    /// The plugin version its descriptor names.
    pub version: String,
}

/// Why a library file of a scan is not loaded. It is tried again by the next sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "error", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {message}")]
    Read {
        /// What went wrong, for people.
        message: String,
    },
    /// The file changed while it was read (a half-written file, or one replaced
    /// meanwhile): what was read may be torn.
    #[error("the file changed while it was read: {message}")]
    Unstable {
        /// What changed, for people.
        message: String,
    },
    /// The loader's ELF pre-check refused the bytes (not a shared object for this
    /// machine, or truncated).
    #[error("elf check: {message}")]
    ElfCheck {
        /// What is wrong with the headers.
        message: String,
    },
    /// The descriptor could not be read (the library was opened without its `init` and
    /// closed again).
    #[error("describe failed at {step}: {message}")]
    Describe {
        /// The loader's step that failed.
        step: String,
        /// What went wrong, for people.
        message: String,
    },
}

/// One file of a scanned directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// The file: the directory joined with the file's name.
    pub path: PathBuf,
    /// What the scan learned, or why the file is not loaded.
    pub result: Result<ScannedLibrary, FileError>,
}

/// The answer to [`Effect::Scan`]: the directory's library files, in the order of their
/// names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryScan {
    /// Every library file.
    pub files: Vec<ScannedFile>,
}

/// How one library (or one plugin gone) compares with what the runtime recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SyncChange {
    /// No plugin of its id is known.
    New,
    /// The plugin's recorded library is another file, or has another (or no recorded)
    /// digest.
    Changed,
    /// The plugin's recorded library is this file, with the same digest.
    Unchanged,
    /// The plugin's recorded library is in the directory, and no file claims the plugin
    /// any more.
    Gone,
    /// The file could not be fingerprinted or described; nothing is known of it.
    Unreadable,
}

/// Why an entry of a sync failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SyncError {
    /// The file is unreadable; a plugin whose library it is keeps serving.
    #[error(transparent)]
    File(FileError),
    /// Several files of the directory claim this plugin id: none of them is loaded, and
    /// the plugin stays as it is.
    #[error("{} files claim plugin `{plugin_id}`", paths.len())]
    Duplicate {
        /// The plugin id.
        plugin_id: String,
        /// Every file claiming it, in name order.
        #[cfg_attr(feature = "serde", serde(with = "paths"))]
        paths: Vec<PathBuf>,
    },
    /// The load failed (the previous generation keeps serving), or was refused
    /// (cancelled, superseded, another plugin than expected).
    #[error(transparent)]
    Load(CommandError),
}

/// What a sync did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "action", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SyncAction {
    /// The library was loaded: `generation` is active.
    Loaded {
        /// The new active generation.
        generation: GenerationKey,
        /// The generation it replaced, now draining.
        replaced: Option<GenerationKey>,
    },
    /// Nothing to do: unchanged, or gone in additive mode.
    Nothing,
    /// Not loaded: the plugin is listed as disabled, or (additive mode) the runtime has
    /// it disabled.
    Skipped,
    /// Reconcile mode: the plugin is listed as disabled and was disabled.
    Disabled {
        /// The generation that served and now drains.
        draining: Option<GenerationKey>,
    },
    /// Reconcile mode: the plugin is gone and was unloaded.
    Unloaded {
        /// The generation that served and now drains.
        draining: Option<GenerationKey>,
    },
    /// The entry failed; the plugin stays as it was.
    Failed {
        /// Why.
        error: SyncError,
    },
}

/// One library file (or one plugin gone) of a finished sync.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SyncEntry {
    /// The file; for a plugin gone, its recorded library.
    #[cfg_attr(feature = "serde", serde(with = "crate::events::serde_util::path"))]
    pub path: PathBuf,
    /// The plugin, if known: from the file's descriptor, or for an unreadable file or
    /// a plugin gone, the plugin recorded at that path.
    pub plugin_id: Option<String>,
    /// How it compares with what the runtime recorded.
    pub change: SyncChange,
    /// The file's fingerprint, if it was read.
    pub fingerprint: Option<Fingerprint>,
    /// What was done.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub action: SyncAction,
}

/// A sync waiting for its scan or its loads.
#[derive(Debug)]
pub(crate) struct PendingSync {
    request_id: RequestId,
    owner: Option<OwnerKey>,
    dir: PathBuf,
    disabled: BTreeSet<String>,
    mode: SyncMode,
    /// Set once the scan is answered; the entries follow.
    scanned: bool,
    entries: Vec<Planned>,
    /// Loads started and not answered yet.
    outstanding: usize,
}

/// An entry whose action is `None` while its load is pending.
#[derive(Debug)]
struct Planned {
    path: PathBuf,
    plugin_id: Option<String>,
    change: SyncChange,
    fingerprint: Option<Fingerprint>,
    action: Option<SyncAction>,
}

impl Lifecycle {
    /// [`Command::Sync`](super::Command::Sync): records the sync and asks for the scan.
    pub(super) fn begin_sync(
        &mut self,
        request_id: RequestId,
        owner: Option<OwnerKey>,
        dir: PathBuf,
        disabled: Vec<String>,
        mode: SyncMode,
    ) {
        let sync = self.syncs.insert(PendingSync {
            request_id,
            owner,
            dir: dir.clone(),
            disabled: disabled.into_iter().collect(),
            mode,
            scanned: false,
            entries: Vec::new(),
            outstanding: 0,
        });
        self.effects.push_back(Effect::Scan {
            request_id,
            sync,
            dir,
        });
    }

    /// The caller's answer to [`Effect::Scan`] for `sync`: the directory's library files,
    /// or why the directory could not be listed (the sync then fails with
    /// [`CommandError::DirectoryUnreadable`] and changes nothing).
    ///
    /// The core plans and acts at once (see [the module](self)); the sync completes now
    /// if it started no load, else once its loads are answered. A scan answered after
    /// shutdown began fails the sync with [`CommandError::ShuttingDown`].
    ///
    /// # Errors
    ///
    /// [`ScanFinishedError::NotFound`] if the scan was already answered or the key
    /// belongs to another core.
    pub fn scan_finished(
        &mut self,
        now: Instant,
        sync: SyncKey,
        scan: Result<DirectoryScan, String>,
    ) -> Result<(), ScanFinishedError> {
        let pending = self
            .syncs
            .find_mut(sync)
            .map_err(ScanFinishedError::NotFound)?;
        if pending.scanned {
            return Err(ScanFinishedError::NotFound(NotFoundError::Sync(sync)));
        }
        pending.scanned = true;
        let refusal = match scan {
            _ if !self.shutdown.accepts_commands() => Some(CommandError::ShuttingDown),
            Err(message) => Some(CommandError::DirectoryUnreadable {
                dir: pending.dir.clone(),
                message,
            }),
            Ok(scan) => {
                self.plan(now, sync, scan);
                None
            }
        };
        match refusal {
            Some(error) => {
                let pending = self.syncs.remove(sync).expect("found above");
                self.fail(pending.request_id, pending.owner, error);
            }
            None => self.finish_sync_if_done(sync),
        }
        Ok(())
    }

    /// Plans the sync from its scan and starts what it decided.
    fn plan(&mut self, now: Instant, sync: SyncKey, scan: DirectoryScan) {
        let pending = &self.syncs[sync];
        let (request_id, owner, mode) = (pending.request_id, pending.owner, pending.mode);
        let disabled = pending.disabled.clone();
        let dir = pending.dir.clone();
        let mut claims: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for file in &scan.files {
            if let Ok(library) = &file.result {
                claims
                    .entry(library.plugin_id.as_str())
                    .or_default()
                    .push(&file.path);
            }
        }
        // Known plugins recorded in the directory that no readable file claims: gone,
        // unless their recorded library is a file the scan could not read.
        let mut unclaimed: Vec<(String, PathBuf)> = self
            .plugins
            .iter()
            .filter(|(id, p)| p.path.parent() == Some(&dir) && !claims.contains_key(id.as_str()))
            .map(|(id, p)| (id.clone(), p.path.clone()))
            .collect();
        unclaimed.sort();
        let mut entries = Vec::new();
        for file in &scan.files {
            let library = match &file.result {
                Err(error) => {
                    let recorded: Vec<&String> = unclaimed
                        .iter()
                        .filter(|(_, path)| *path == file.path)
                        .map(|(id, _)| id)
                        .collect();
                    let ids = if recorded.is_empty() {
                        vec![None]
                    } else {
                        recorded.into_iter().map(|id| Some(id.clone())).collect()
                    };
                    for plugin_id in ids {
                        entries.push(Planned {
                            path: file.path.clone(),
                            plugin_id,
                            change: SyncChange::Unreadable,
                            fingerprint: None,
                            action: Some(SyncAction::Failed {
                                error: SyncError::File(error.clone()),
                            }),
                        });
                    }
                    continue;
                }
                Ok(library) => library,
            };
            let id = library.plugin_id.as_str();
            let known = self.plugins.get(id);
            let change = match known {
                None => SyncChange::New,
                Some(p) if p.path == file.path && p.digest == Some(library.fingerprint.digest) => {
                    SyncChange::Unchanged
                }
                Some(_) => SyncChange::Changed,
            };
            let enabled = known.map(|p| p.enabled);
            let claimants = &claims[id];
            let action = if claimants.len() > 1 {
                Some(SyncAction::Failed {
                    error: SyncError::Duplicate {
                        plugin_id: id.to_owned(),
                        paths: claimants.iter().map(|p| p.to_path_buf()).collect(),
                    },
                })
            } else if disabled.contains(id) {
                if mode == SyncMode::Reconcile && enabled == Some(true) {
                    let draining = self.disable_plugin(now, id).flatten();
                    Some(SyncAction::Disabled { draining })
                } else {
                    Some(SyncAction::Skipped)
                }
            } else if enabled == Some(false) && mode == SyncMode::Additive {
                Some(SyncAction::Skipped)
            } else if change == SyncChange::Unchanged && enabled == Some(true) {
                Some(SyncAction::Nothing)
            } else {
                let purpose = LoadPurpose::Sync {
                    sync,
                    entry: entries.len(),
                };
                let (path, id) = (file.path.clone(), Some(id.to_owned()));
                self.open(request_id, owner, path, id, purpose);
                if let Some(pending) = self.syncs.get_mut(sync) {
                    pending.outstanding += 1;
                }
                None
            };
            entries.push(Planned {
                path: file.path.clone(),
                plugin_id: Some(library.plugin_id.clone()),
                change,
                fingerprint: Some(library.fingerprint),
                action,
            });
        }
        for (id, path) in unclaimed {
            if scan
                .files
                .iter()
                .any(|f| f.path == path && f.result.is_err())
            {
                continue; // an unreadable file: listed above, and it keeps serving
            }
            let action = match mode {
                SyncMode::Reconcile => SyncAction::Unloaded {
                    draining: self.unload_plugin(now, &id).flatten(),
                },
                SyncMode::Additive => SyncAction::Nothing,
            };
            entries.push(Planned {
                path,
                plugin_id: Some(id),
                change: SyncChange::Gone,
                fingerprint: None,
                action: Some(action),
            });
        }
        if let Some(pending) = self.syncs.get_mut(sync) {
            pending.entries = entries;
        }
    }

    /// Hands a finished load that sync `sync` started for its entry `entry` to it.
    pub(super) fn answer_sync_load(&mut self, sync: SyncKey, entry: usize, outcome: Outcome) {
        let action = match super::loads::load_result(outcome) {
            Some(Ok((generation, replaced))) => SyncAction::Loaded {
                generation,
                replaced,
            },
            Some(Err(error)) => SyncAction::Failed {
                error: SyncError::Load(error),
            },
            None => unreachable!("a load answers with a load's outcome"),
        };
        let Some(pending) = self.syncs.get_mut(sync) else {
            return;
        };
        pending.entries[entry].action = Some(action);
        pending.outstanding -= 1;
        self.finish_sync_if_done(sync);
    }

    /// The digest to record for a plugin whose load (for `purpose`) made `generation`:
    /// the loader's, else the scan's for a load a sync started.
    pub(super) fn loaded_digest(
        &self,
        generation: GenerationKey,
        purpose: LoadPurpose,
    ) -> Option<Digest> {
        let module = &self.generations.get(generation)?.module;
        module.digest.or_else(|| match purpose {
            LoadPurpose::Sync { sync, entry } => self
                .syncs
                .get(sync)
                .and_then(|s| s.entries.get(entry))
                .and_then(|e| e.fingerprint)
                .map(|f| f.digest),
            _ => None,
        })
    }

    /// Completes the sync if its scan is answered and none of its loads is pending.
    fn finish_sync_if_done(&mut self, sync: SyncKey) {
        if !self
            .syncs
            .get(sync)
            .is_some_and(|s| s.scanned && s.outstanding == 0)
        {
            return;
        }
        let pending = self.syncs.remove(sync).expect("checked above");
        let entries: Vec<SyncEntry> = pending
            .entries
            .into_iter()
            .map(|e| SyncEntry {
                path: e.path,
                plugin_id: e.plugin_id,
                change: e.change,
                fingerprint: e.fingerprint,
                action: e
                    .action
                    .expect("every load of a finished sync was answered"),
            })
            .collect();
        let count_change = |c: SyncChange| count(entries.iter().filter(|e| e.change == c));
        let count_action =
            |f: fn(&SyncAction) -> bool| count(entries.iter().filter(|e| f(&e.action)));
        self.effects
            .push_back(Effect::Event(Event::DirectorySynced {
                request_id: pending.request_id,
                dir: pending.dir.clone(),
                mode: pending.mode,
                new: count_change(SyncChange::New),
                changed: count_change(SyncChange::Changed),
                unchanged: count_change(SyncChange::Unchanged),
                gone: count_change(SyncChange::Gone),
                unreadable: count_change(SyncChange::Unreadable),
                loaded: count_action(|a| matches!(a, SyncAction::Loaded { .. })),
                unloaded: count_action(|a| matches!(a, SyncAction::Unloaded { .. })),
                disabled: count_action(|a| matches!(a, SyncAction::Disabled { .. })),
                failed: count_action(|a| matches!(a, SyncAction::Failed { .. })),
            }));
        let outcome = Outcome::Synced {
            dir: pending.dir,
            mode: pending.mode,
            entries,
        };
        self.complete(pending.request_id, pending.owner, outcome);
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

#[cfg(feature = "serde")]
mod paths {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        Vec::<String>::deserialize(d).map(|v| v.into_iter().map(PathBuf::from).collect())
    }
}
