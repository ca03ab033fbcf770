//! Unit scenarios of the directory sync's rules: one core, a scripted scan and scripted
//! loads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::module::{Digest, ModuleInfo};

fn module(plugin_id: &str, version: &str) -> ModuleInfo {
    ModuleInfo {
        digest: None,
        plugin_id: plugin_id.into(),
        version: version.into(),
        display_name: plugin_id.into(),
        abi_major: 2,
        abi_minor: 0,
        capabilities: Vec::new(),
    }
}

fn library(plugin_id: &str, byte: u8) -> ScannedLibrary {
    ScannedLibrary {
        fingerprint: Fingerprint {
            size_bytes: 100,
            mtime_unix_ns: 7,
            digest: Digest([byte; 32]),
        },
        plugin_id: plugin_id.into(),
        version: byte.to_string(),
    }
}

fn file(name: &str, result: Result<ScannedLibrary, FileError>) -> ScannedFile {
    ScannedFile {
        path: dir().join(name),
        result,
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/plugins")
}

/// A core, and what opening each path gives.
struct Bench {
    core: Lifecycle,
    now: Instant,
    next: u64,
    /// What an open of each path answers: the module, or a failure.
    installed: HashMap<PathBuf, Result<ModuleInfo, LoadFailure>>,
    /// The answer to the next scan.
    scan: Option<Result<DirectoryScan, String>>,
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
}

impl Bench {
    fn new() -> Self {
        Self {
            core: Lifecycle::new(CoreConfig::default()),
            now: Instant::now(),
            next: 0,
            installed: HashMap::new(),
            scan: None,
            outcomes: Vec::new(),
            events: Vec::new(),
        }
    }

    fn install(&mut self, name: &str, plugin_id: &str, version: &str) {
        let module = module(plugin_id, version);
        self.installed.insert(dir().join(name), Ok(module));
    }

    fn command(&mut self, command: Command) -> Outcome {
        self.next += 1;
        self.core
            .submit(self.now, RequestId(self.next), None, command);
        self.run();
        self.outcomes.pop().expect("the command completed")
    }

    fn load(&mut self, name: &str) -> GenerationKey {
        let path = dir().join(name);
        match self.command(Command::Load {
            path,
            expected_plugin_id: None,
        }) {
            Outcome::Loaded { generation, .. } => generation,
            other => panic!("{other:?}"),
        }
    }

    fn sync(
        &mut self,
        files: Vec<ScannedFile>,
        disabled: &[&str],
        mode: SyncMode,
    ) -> Vec<SyncEntry> {
        self.scan = Some(Ok(DirectoryScan { files }));
        let command = Command::Sync {
            dir: dir(),
            disabled: disabled.iter().map(|d| (*d).to_owned()).collect(),
            mode,
        };
        match self.command(command) {
            Outcome::Synced { entries, .. } => entries,
            other => panic!("{other:?}"),
        }
    }

    fn run(&mut self) {
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Open { load, path, .. } => {
                    let answer = self.installed.get(&path).cloned().unwrap_or_else(|| {
                        Err(LoadFailure {
                            step: "copy".into(),
                            message: "no such file".into(),
                        })
                    });
                    self.core.load_finished(self.now, load, answer).unwrap();
                }
                Effect::Close(token) => {
                    let generation = token.generation();
                    self.core
                        .closed(self.now, token, crate::module::CloseOutcome::Unmapped)
                        .unwrap();
                    self.core.cleanup(generation).unwrap();
                }
                Effect::Scan { sync, .. } => {
                    let scan = self.scan.take().expect("a scan was scripted");
                    self.core.scan_finished(self.now, sync, scan).unwrap();
                }
                Effect::Complete { outcome, .. } => self.outcomes.push(outcome),
                Effect::Event(event) => self.events.push(event),
                Effect::Notify { .. } | Effect::Serving { .. } | Effect::Configure { .. } => {}
            }
        }
    }

    fn active(&self, plugin_id: &str) -> Option<GenerationKey> {
        self.core.active_generation(plugin_id)
    }
}

fn summary(entries: &[SyncEntry]) -> Vec<(String, Option<&str>, SyncChange, &'static str)> {
    entries
        .iter()
        .map(|e| {
            let name = e.path.file_name().unwrap().to_string_lossy().into_owned();
            let action = match &e.action {
                SyncAction::Loaded { .. } => "loaded",
                SyncAction::Nothing => "nothing",
                SyncAction::Skipped => "skipped",
                SyncAction::Disabled { .. } => "disabled",
                SyncAction::Unloaded { .. } => "unloaded",
                SyncAction::Failed {
                    error: SyncError::File(_),
                } => "failed: file",
                SyncAction::Failed {
                    error: SyncError::Duplicate { .. },
                } => "failed: duplicate",
                SyncAction::Failed {
                    error: SyncError::Load(_),
                } => "failed: load",
            };
            (name, e.plugin_id.as_deref(), e.change, action)
        })
        .collect()
}

#[test]
fn a_sync_plans_new_changed_unchanged_and_gone_and_loads_what_is_new_or_changed() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.install("b.so", "b", "1");
    b.install("gone.so", "gone", "1");
    let first = b.sync(
        vec![
            file("a.so", Ok(library("a", 1))),
            file("b.so", Ok(library("b", 1))),
            file("gone.so", Ok(library("gone", 1))),
        ],
        &[],
        SyncMode::Additive,
    );
    use SyncChange::*;
    assert_eq!(
        summary(&first),
        [
            ("a.so".into(), Some("a"), New, "loaded"),
            ("b.so".into(), Some("b"), New, "loaded"),
            ("gone.so".into(), Some("gone"), New, "loaded"),
        ]
    );
    let (a1, b1) = (b.active("a").unwrap(), b.active("b").unwrap());
    // b changes, a is touched only (same digest), gone.so leaves.
    b.install("b.so", "b", "2");
    let files = || {
        vec![
            file("a.so", Ok(library("a", 1))),
            file("b.so", Ok(library("b", 2))),
        ]
    };
    let second = b.sync(files(), &[], SyncMode::Additive);
    assert_eq!(
        summary(&second),
        [
            ("a.so".into(), Some("a"), Unchanged, "nothing"),
            ("b.so".into(), Some("b"), Changed, "loaded"),
            ("gone.so".into(), Some("gone"), Gone, "nothing"),
        ]
    );
    assert_eq!(
        b.active("a"),
        Some(a1),
        "an unchanged library is not reloaded"
    );
    let b2 = b.active("b").unwrap();
    assert_ne!(b2, b1);
    assert_eq!(
        second[1].action,
        SyncAction::Loaded {
            generation: b2,
            replaced: Some(b1)
        }
    );
    assert!(b.active("gone").is_some(), "additive keeps what is gone");
    // Reconcile unloads it, and now b is unchanged.
    let third = b.sync(files(), &[], SyncMode::Reconcile);
    assert_eq!(
        summary(&third),
        [
            ("a.so".into(), Some("a"), Unchanged, "nothing"),
            ("b.so".into(), Some("b"), Unchanged, "nothing"),
            ("gone.so".into(), Some("gone"), Gone, "unloaded"),
        ]
    );
    assert!(b.core.active_generation("gone").is_none());
    let synced = b
        .events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::DirectorySynced { .. }))
        .unwrap();
    assert!(matches!(
        synced,
        Event::DirectorySynced {
            unchanged: 2,
            gone: 1,
            unloaded: 1,
            loaded: 0,
            mode: SyncMode::Reconcile,
            ..
        }
    ));
}

#[test]
fn an_edited_library_with_the_same_size_and_time_is_changed_by_its_digest() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.sync(
        vec![file("a.so", Ok(library("a", 1)))],
        &[],
        SyncMode::Additive,
    );
    let mut edited = library("a", 1);
    edited.fingerprint.digest = Digest([9; 32]);
    let entries = b.sync(vec![file("a.so", Ok(edited))], &[], SyncMode::Additive);
    assert_eq!(entries[0].change, SyncChange::Changed);
    // A plugin loaded by a plain load has no recorded digest (this loader gives none):
    // a sync cannot call it unchanged.
    b.install("c.so", "c", "1");
    b.load("c.so");
    let entries = b.sync(
        vec![file("c.so", Ok(library("c", 3)))],
        &[],
        SyncMode::Additive,
    );
    assert_eq!(summary(&entries)[0].2, SyncChange::Changed);
    let entries = b.sync(
        vec![file("c.so", Ok(library("c", 3)))],
        &[],
        SyncMode::Additive,
    );
    assert_eq!(summary(&entries)[0].2, SyncChange::Unchanged);
}

#[test]
fn disabled_ids_are_not_loaded_and_reconcile_disables_them() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.install("b.so", "b", "1");
    let files = || {
        vec![
            file("a.so", Ok(library("a", 1))),
            file("b.so", Ok(library("b", 1))),
        ]
    };
    let entries = b.sync(files(), &["b"], SyncMode::Additive);
    assert_eq!(summary(&entries)[1].3, "skipped");
    assert!(b.active("b").is_none());
    let entries = b.sync(files(), &[], SyncMode::Additive);
    assert_eq!(
        summary(&entries)[1],
        ("b.so".into(), Some("b"), SyncChange::New, "loaded")
    );
    // Additive leaves a serving plugin listed as disabled alone; reconcile drains it.
    let entries = b.sync(files(), &["b"], SyncMode::Additive);
    assert_eq!(summary(&entries)[1].3, "skipped");
    assert!(b.active("b").is_some());
    let serving = b.active("b");
    let entries = b.sync(files(), &["b"], SyncMode::Reconcile);
    assert_eq!(
        entries[1].action,
        SyncAction::Disabled { draining: serving }
    );
    assert!(b.active("b").is_none());
    // Disabled in the runtime: additive leaves it so, reconcile loads it again.
    let entries = b.sync(files(), &[], SyncMode::Additive);
    assert_eq!(summary(&entries)[1].3, "skipped");
    let entries = b.sync(files(), &[], SyncMode::Reconcile);
    assert_eq!(
        summary(&entries)[1],
        ("b.so".into(), Some("b"), SyncChange::Unchanged, "loaded")
    );
    assert!(b.active("b").is_some());
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, Event::Enabled { plugin_id } if plugin_id == "b"))
    );
}

#[test]
fn two_files_with_one_plugin_id_fail_that_id_and_the_others_go_on() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.install("a-copy.so", "a", "1");
    b.install("b.so", "b", "1");
    let entries = b.sync(
        vec![
            file("a-copy.so", Ok(library("a", 2))),
            file("a.so", Ok(library("a", 1))),
            file("b.so", Ok(library("b", 1))),
        ],
        &[],
        SyncMode::Reconcile,
    );
    let s = summary(&entries);
    assert_eq!(s[0].3, "failed: duplicate");
    assert_eq!(s[1].3, "failed: duplicate");
    assert_eq!(s[2].3, "loaded");
    let SyncAction::Failed {
        error: SyncError::Duplicate { plugin_id, paths },
    } = &entries[0].action
    else {
        unreachable!()
    };
    assert_eq!(plugin_id, "a");
    assert_eq!(paths, &[dir().join("a-copy.so"), dir().join("a.so")]);
    assert!(b.active("a").is_none());
}

#[test]
fn a_failed_load_or_an_unreadable_file_leaves_the_old_generation_serving() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.install("b.so", "b", "1");
    b.install("c.so", "c", "1");
    let all = || {
        vec![
            file("a.so", Ok(library("a", 1))),
            file("b.so", Ok(library("b", 1))),
            file("c.so", Ok(library("c", 1))),
        ]
    };
    b.sync(all(), &[], SyncMode::Reconcile);
    let (a1, b1) = (b.active("a"), b.active("b"));
    // a's new build fails to load; b's file is half-written; c changes and loads.
    b.installed.insert(
        dir().join("a.so"),
        Err(LoadFailure {
            step: "open".into(),
            message: "broken".into(),
        }),
    );
    b.install("c.so", "c", "2");
    let unstable = FileError::Unstable {
        message: "its size changed".into(),
    };
    let entries = b.sync(
        vec![
            file("a.so", Ok(library("a", 2))),
            file("b.so", Err(unstable)),
            file("c.so", Ok(library("c", 2))),
        ],
        &[],
        SyncMode::Reconcile,
    );
    assert_eq!(
        summary(&entries),
        [
            (
                "a.so".into(),
                Some("a"),
                SyncChange::Changed,
                "failed: load"
            ),
            (
                "b.so".into(),
                Some("b"),
                SyncChange::Unreadable,
                "failed: file"
            ),
            ("c.so".into(), Some("c"), SyncChange::Changed, "loaded"),
        ]
    );
    assert_eq!((b.active("a"), b.active("b")), (a1, b1), "still serving");
    // Neither was recorded: the next sync tries both again.
    b.install("a.so", "a", "2");
    let entries = b.sync(
        all_with(&[("a", 2), ("b", 1), ("c", 2)]),
        &[],
        SyncMode::Reconcile,
    );
    assert_eq!(summary(&entries)[0].2, SyncChange::Changed);
    assert_eq!(summary(&entries)[0].3, "loaded");
    assert_eq!(summary(&entries)[1].2, SyncChange::Unchanged);
}

fn all_with(libraries: &[(&str, u8)]) -> Vec<ScannedFile> {
    libraries
        .iter()
        .map(|(id, byte)| file(&format!("{id}.so"), Ok(library(id, *byte))))
        .collect()
}

#[test]
fn an_unreadable_directory_fails_the_sync_and_changes_nothing() {
    let mut b = Bench::new();
    b.install("a.so", "a", "1");
    b.sync(all_with(&[("a", 1)]), &[], SyncMode::Reconcile);
    let serving = b.active("a");
    b.scan = Some(Err("no such directory".into()));
    let outcome = b.command(Command::Sync {
        dir: dir(),
        disabled: Vec::new(),
        mode: SyncMode::Reconcile,
    });
    assert_eq!(
        outcome,
        Outcome::Failed(CommandError::DirectoryUnreadable {
            dir: dir(),
            message: "no such directory".into()
        })
    );
    assert_eq!(
        b.active("a"),
        serving,
        "nothing is gone when nothing could be listed"
    );
}

#[test]
fn a_scan_is_answered_once_and_a_sync_scanned_after_shutdown_fails() {
    let mut core = Lifecycle::new(CoreConfig::default());
    let now = Instant::now();
    let sync = Command::Sync {
        dir: dir(),
        disabled: Vec::new(),
        mode: SyncMode::Additive,
    };
    core.submit(now, RequestId(1), None, sync);
    let Some(Effect::Scan { sync, .. }) = core.poll_effect() else {
        panic!("a sync scans first")
    };
    core.submit(
        now,
        RequestId(2),
        None,
        Command::Shutdown {
            timeout: std::time::Duration::ZERO,
        },
    );
    core.scan_finished(now, sync, Ok(DirectoryScan::default()))
        .unwrap();
    assert_eq!(
        core.scan_finished(now, sync, Ok(DirectoryScan::default())),
        Err(ScanFinishedError::NotFound(NotFoundError::Sync(sync)))
    );
    let outcomes: Vec<(RequestId, Outcome)> = std::iter::from_fn(|| core.poll_effect())
        .filter_map(|e| match e {
            Effect::Complete {
                request_id,
                outcome,
                ..
            } => Some((request_id, outcome)),
            _ => None,
        })
        .collect();
    assert!(outcomes.contains(&(RequestId(1), Outcome::Failed(CommandError::ShuttingDown))));
}

#[test]
fn a_plugin_whose_file_now_holds_another_plugin_is_gone() {
    let mut b = Bench::new();
    b.install("x.so", "a", "1");
    b.sync(
        vec![file("x.so", Ok(library("a", 1)))],
        &[],
        SyncMode::Reconcile,
    );
    b.install("x.so", "b", "1");
    let entries = b.sync(
        vec![file("x.so", Ok(library("b", 2)))],
        &[],
        SyncMode::Reconcile,
    );
    assert_eq!(
        summary(&entries),
        [
            ("x.so".into(), Some("b"), SyncChange::New, "loaded"),
            ("x.so".into(), Some("a"), SyncChange::Gone, "unloaded"),
        ]
    );
    assert!(b.active("a").is_none());
}
