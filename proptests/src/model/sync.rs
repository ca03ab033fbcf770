//! The directory sync in the model: a scripted listing of the run's paths (all in
//! `/plugins`), planned as the rules of `Command::Sync` say.

use std::collections::{BTreeMap, BTreeSet};

use plugin_runtime::generation::RequestId;
use plugin_runtime::module::Digest;
use plugin_runtime::owner::OwnerKey;

use super::{MEvent, MLoad, MOutcome, Model, plugin_at};
use crate::op::INSTALLED_PATHS;

/// One file of a scripted listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MFile {
    /// Listed, but not readable (the scan reports it unstable or refused).
    Unreadable,
    /// A library of its path's plugin, with this content variant.
    Readable(u8),
}

/// What a sync did with one entry, in model terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MSyncAction {
    /// Its load has not been answered yet (never in an outcome).
    Pending,
    /// Loaded.
    Loaded {
        /// The new generation.
        generation: usize,
        /// The one it replaced.
        replaced: Option<usize>,
    },
    /// Nothing to do.
    Nothing,
    /// Not loaded.
    Skipped,
    /// Disabled (reconcile).
    Disabled {
        /// The generation that drains.
        draining: Option<usize>,
    },
    /// Unloaded as gone (reconcile).
    Unloaded {
        /// The generation that drains.
        draining: Option<usize>,
    },
    /// Failed: `file`, `duplicate`, or the failed load's error name.
    Failed(&'static str),
}

/// One entry of a sync's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MEntry {
    /// The path index.
    pub path: usize,
    /// The plugin.
    pub plugin: Option<String>,
    /// `new`, `changed`, `unchanged`, `gone` or `unreadable`.
    pub change: &'static str,
    /// The file's fingerprint: (path index, variant), if read.
    pub fingerprint: Option<(usize, u8)>,
    /// What was done.
    pub action: MSyncAction,
}

/// One sync submitted.
#[derive(Debug, Clone)]
pub struct MSync {
    /// The core's key, once its scan was asked for.
    pub key: Option<plugin_runtime::generation::SyncKey>,
    /// The command.
    pub request: RequestId,
    /// Its submitter.
    pub submitter: Option<OwnerKey>,
    /// What the scan will find at each path index.
    pub files: [Option<MFile>; INSTALLED_PATHS + 1],
    /// The directory cannot be listed.
    pub unreadable_dir: bool,
    /// Plugin ids listed as disabled.
    pub disabled: BTreeSet<String>,
    /// Reconcile mode.
    pub reconcile: bool,
    /// The scan was answered.
    pub scanned: bool,
    /// The plan.
    pub entries: Vec<MEntry>,
    /// Loads not answered yet.
    pub outstanding: usize,
}

/// The digest the scripted scan gives the file at `path` with content `variant`.
pub fn file_digest(path: usize, variant: u8) -> Digest {
    let mut bytes = [0u8; 32];
    bytes[0] = u8::try_from(path).expect("few paths");
    bytes[1] = variant;
    Digest(bytes)
}

impl Model {
    /// A command: sync `/plugins`, whose scan will find `files`.
    pub fn sync(
        &mut self,
        request: RequestId,
        submitter: Option<OwnerKey>,
        files: [Option<MFile>; INSTALLED_PATHS + 1],
        unreadable_dir: bool,
        disabled: BTreeSet<String>,
        reconcile: bool,
    ) {
        self.submitted(request);
        if !self.running() {
            return self.complete(request, submitter, MOutcome::Failed("shutting down"));
        }
        self.syncs.push(MSync {
            key: None,
            request,
            submitter,
            files,
            unreadable_dir,
            disabled,
            reconcile,
            scanned: false,
            entries: Vec::new(),
            outstanding: 0,
        });
        self.expect.scans += 1;
    }

    /// The actor answered sync `index`'s scan.
    pub fn finish_scan(&mut self, index: usize) {
        self.syncs[index].scanned = true;
        let sync = self.syncs[index].clone();
        if !self.running() {
            return self.complete(
                sync.request,
                sync.submitter,
                MOutcome::Failed("shutting down"),
            );
        }
        if sync.unreadable_dir {
            let outcome = MOutcome::Failed("directory unreadable");
            return self.complete(sync.request, sync.submitter, outcome);
        }
        let listed: Vec<(usize, MFile)> = (0..sync.files.len())
            .filter_map(|p| sync.files[p].map(|f| (p, f)))
            .collect();
        let mut claims: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (path, file) in &listed {
            if let MFile::Readable(_) = file {
                claims.entry(plugin_at(*path)).or_default().push(*path);
            }
        }
        let unclaimed: Vec<(String, usize)> = self
            .plugins
            .iter()
            .filter(|(id, _)| !claims.contains_key(id.as_str()))
            .map(|(id, p)| (id.clone(), p.path))
            .collect();
        let mut entries = Vec::new();
        for (path, file) in &listed {
            let (path, variant) = match file {
                MFile::Unreadable => {
                    let recorded: Vec<Option<String>> = unclaimed
                        .iter()
                        .filter(|(_, p)| p == path)
                        .map(|(id, _)| Some(id.clone()))
                        .collect();
                    let ids = if recorded.is_empty() {
                        vec![None]
                    } else {
                        recorded
                    };
                    for plugin in ids {
                        entries.push(MEntry {
                            path: *path,
                            plugin,
                            change: "unreadable",
                            fingerprint: None,
                            action: MSyncAction::Failed("file"),
                        });
                    }
                    continue;
                }
                MFile::Readable(variant) => (*path, *variant),
            };
            let id = plugin_at(path);
            let known = self.plugins.get(id).cloned();
            let change = match &known {
                None => "new",
                Some(p) if p.path == path && p.digest == Some((path, variant)) => "unchanged",
                Some(_) => "changed",
            };
            let enabled = known.as_ref().map(|p| p.enabled);
            let action = if claims[id].len() > 1 {
                MSyncAction::Failed("duplicate")
            } else if sync.disabled.contains(id) {
                if sync.reconcile && enabled == Some(true) {
                    let draining = self.disable_plugin(id);
                    MSyncAction::Disabled { draining }
                } else {
                    MSyncAction::Skipped
                }
            } else if enabled == Some(false) && !sync.reconcile {
                MSyncAction::Skipped
            } else if change == "unchanged" && enabled == Some(true) {
                MSyncAction::Nothing
            } else {
                self.open(
                    sync.request,
                    sync.submitter,
                    path,
                    Some(id.to_owned()),
                    false,
                );
                let load = self.loads.last_mut().expect("just opened");
                load.sync = Some((index, entries.len()));
                self.syncs[index].outstanding += 1;
                MSyncAction::Pending
            };
            entries.push(MEntry {
                path,
                plugin: Some(id.to_owned()),
                change,
                fingerprint: Some((path, variant)),
                action,
            });
        }
        for (id, path) in unclaimed {
            if sync.files[path].is_some() {
                continue; // an unreadable file: listed above
            }
            let action = if sync.reconcile {
                MSyncAction::Unloaded {
                    draining: self.unload_plugin(&id),
                }
            } else {
                MSyncAction::Nothing
            };
            entries.push(MEntry {
                path,
                plugin: Some(id),
                change: "gone",
                fingerprint: None,
                action,
            });
        }
        self.syncs[index].entries = entries;
        self.finish_sync_if_done(index);
    }

    /// Routes a finished load's outcome: to its sync, or as its command's completion.
    pub(super) fn answer_load(&mut self, load: &MLoad, outcome: MOutcome) {
        let Some((index, entry)) = load.sync else {
            return self.complete(load.request, load.submitter, outcome);
        };
        let action = match outcome {
            MOutcome::Loaded {
                generation,
                replaced,
            } => MSyncAction::Loaded {
                generation,
                replaced,
            },
            MOutcome::Failed(name) => MSyncAction::Failed(name),
            other => panic!("a sync's load answered {other:?}"),
        };
        self.syncs[index].entries[entry].action = action;
        self.syncs[index].outstanding -= 1;
        self.finish_sync_if_done(index);
    }

    /// The digest recorded for a plugin a load made active.
    pub(super) fn sync_digest(&self, load: &MLoad) -> Option<(usize, u8)> {
        let (index, entry) = load.sync?;
        self.syncs[index].entries[entry].fingerprint
    }

    fn finish_sync_if_done(&mut self, index: usize) {
        let sync = &self.syncs[index];
        if !sync.scanned || sync.outstanding > 0 {
            return;
        }
        let entries = sync.entries.clone();
        let (request, submitter, reconcile) = (sync.request, sync.submitter, sync.reconcile);
        let change = |c: &str| count(entries.iter().filter(|e| e.change == c));
        let action = |f: fn(&MSyncAction) -> bool| count(entries.iter().filter(|e| f(&e.action)));
        let counts = [
            change("new"),
            change("changed"),
            change("unchanged"),
            change("gone"),
            change("unreadable"),
            action(|a| matches!(a, MSyncAction::Loaded { .. })),
            action(|a| matches!(a, MSyncAction::Unloaded { .. })),
            action(|a| matches!(a, MSyncAction::Disabled { .. })),
            action(|a| matches!(a, MSyncAction::Failed(_))),
        ];
        self.emit(MEvent::DirectorySynced {
            request,
            reconcile,
            counts,
        });
        self.complete(request, submitter, MOutcome::Synced(entries));
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).expect("few entries")
}
