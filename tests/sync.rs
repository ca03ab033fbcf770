//! Directory sync against real fixture libraries in a directory of their own: new,
//! changed (replaced by rename), touched but identical, edited with the same size and
//! time, removed, disabled, two files with one plugin id, and corrupt replacements.

// The shared helpers this file does not call (`load`, `reload`, `Toucher`) are unused here.
#[allow(dead_code)]
mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::Setup;
use fixture_api::build::fixtures;
use plugin_runtime::RuntimeConfig;
use plugin_runtime::generation::{
    Command, FileError, GenerationKey, Outcome, SyncAction, SyncChange, SyncEntry, SyncError,
    SyncMode,
};

const ECHO: &str = "fixture.echo";
const GAIN: &str = "example.gain";

fn dir(setup: &Setup) -> PathBuf {
    setup.root.join("installed")
}

fn sync(setup: &Setup, disabled: &[&str], mode: SyncMode) -> Vec<SyncEntry> {
    let command = Command::Sync {
        dir: dir(setup),
        disabled: disabled.iter().map(|d| (*d).to_owned()).collect(),
        mode,
    };
    match setup.call(command) {
        Outcome::Synced { entries, .. } => entries,
        other => panic!("the sync failed: {other:?}"),
    }
}

/// The entry of the file (or plugin gone) named `name`.
fn entry<'a>(entries: &'a [SyncEntry], name: &str) -> &'a SyncEntry {
    entries
        .iter()
        .find(|e| e.path.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no entry for {name} in {entries:#?}"))
}

/// The plugin's active generation and version, from a snapshot.
fn serving(setup: &Setup, plugin_id: &str) -> Option<(GenerationKey, String)> {
    let Outcome::Snapshot(snapshot) = setup.call(Command::Snapshot) else {
        panic!("a snapshot")
    };
    let plugin = snapshot.plugins.iter().find(|p| p.plugin_id == plugin_id)?;
    Some((plugin.active?, plugin.version.clone()?))
}

fn loaded(entry: &SyncEntry) -> (GenerationKey, Option<GenerationKey>) {
    match entry.action {
        SyncAction::Loaded {
            generation,
            replaced,
        } => (generation, replaced),
        ref other => panic!("{} was not loaded: {other:?}", entry.path.display()),
    }
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn an_additive_sync_loads_new_libraries_then_only_what_changed() {
    let setup = Setup::with_config("sync-additive", RuntimeConfig::default());
    setup.install("fixture-echo-v1", "libecho.so");
    setup.install("example-gain", "libgain.so");
    // Staging names are not libraries: never read.
    fs::write(dir(&setup).join("libhalf.so.new"), b"half").unwrap();
    fs::write(dir(&setup).join(".libhidden.so"), b"hidden").unwrap();

    let first = sync(&setup, &[], SyncMode::Additive);
    assert_eq!(first.len(), 2, "{first:#?}");
    for e in &first {
        assert_eq!(e.change, SyncChange::New, "{e:?}");
        loaded(e);
    }
    let (echo1, version) = serving(&setup, ECHO).unwrap();
    assert_eq!(version, "1.0.0");
    let gain1 = serving(&setup, GAIN).unwrap().0;

    // Replaced by rename with another build of the same plugin.
    setup.install("fixture-echo-v2", "libecho.so");
    let second = sync(&setup, &[], SyncMode::Additive);
    let echo = entry(&second, "libecho.so");
    assert_eq!(echo.change, SyncChange::Changed);
    assert_eq!(
        loaded(echo).1,
        Some(echo1),
        "the old generation is replaced"
    );
    assert_eq!(serving(&setup, ECHO).unwrap().1, "2.0.0");
    let gain = entry(&second, "libgain.so");
    assert_eq!(
        (gain.change, &gain.action),
        (SyncChange::Unchanged, &SyncAction::Nothing)
    );
    assert_eq!(
        serving(&setup, GAIN).unwrap().0,
        gain1,
        "gain was not reloaded"
    );
    setup.wait_removed(echo1);
}

#[test]
fn a_touched_file_is_unchanged_and_an_edited_one_of_the_same_size_and_time_is_changed() {
    let setup = Setup::with_config("sync-digest", RuntimeConfig::default());
    // Both echo builds, padded with zeros to one size (bytes past an ELF file's
    // segments and tables are never read by the loader).
    let v1 = fs::read(fixtures().path("fixture-echo-v1")).unwrap();
    let v2 = fs::read(fixtures().path("fixture-echo-v2")).unwrap();
    let size = v1.len().max(v2.len());
    let pad = |mut bytes: Vec<u8>| {
        bytes.resize(size, 0);
        bytes
    };
    let (v1, v2) = (pad(v1), pad(v2));
    assert_ne!(v1, v2);
    let path = dir(&setup).join("libecho.so");
    fs::write(&path, &v1).unwrap();

    let first = sync(&setup, &[], SyncMode::Reconcile);
    let (echo1, _) = loaded(entry(&first, "libecho.so"));
    let before = entry(&first, "libecho.so").fingerprint.unwrap();

    // Touched: a later modification time, the same bytes.
    set_mtime(&path, SystemTime::now() + Duration::from_secs(60));
    let touched = sync(&setup, &[], SyncMode::Reconcile);
    let e = entry(&touched, "libecho.so");
    assert_eq!(
        (e.change, &e.action),
        (SyncChange::Unchanged, &SyncAction::Nothing)
    );
    let after_touch = e.fingerprint.unwrap();
    assert_ne!(after_touch.mtime_unix_ns, before.mtime_unix_ns);
    assert_eq!(after_touch.digest, before.digest);
    assert_eq!(serving(&setup, ECHO).unwrap().0, echo1);

    // Edited in place: other bytes of the same length, and the time put back.
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, &v2).unwrap();
    set_mtime(&path, mtime);
    let edited = sync(&setup, &[], SyncMode::Reconcile);
    let e = entry(&edited, "libecho.so");
    let now = e.fingerprint.unwrap();
    assert_eq!(
        (now.size_bytes, now.mtime_unix_ns),
        (after_touch.size_bytes, after_touch.mtime_unix_ns),
        "same size and time"
    );
    assert_ne!(now.digest, after_touch.digest);
    assert_eq!(e.change, SyncChange::Changed, "the digest decides");
    assert_eq!(loaded(e).1, Some(echo1));
    assert_eq!(serving(&setup, ECHO).unwrap().1, "2.0.0");
}

#[test]
fn reconcile_unloads_what_is_gone_and_disables_what_is_listed() {
    let setup = Setup::with_config("sync-reconcile", RuntimeConfig::default());
    setup.install("fixture-echo-v1", "libecho.so");
    let gain_path = setup.install("example-gain", "libgain.so");
    sync(&setup, &[], SyncMode::Reconcile);
    let (gain1, _) = serving(&setup, GAIN).unwrap();
    let (echo1, _) = serving(&setup, ECHO).unwrap();

    fs::remove_file(&gain_path).unwrap();
    let additive = sync(&setup, &[], SyncMode::Additive);
    let gone = entry(&additive, "libgain.so");
    assert_eq!(gone.plugin_id.as_deref(), Some(GAIN));
    assert_eq!(
        (gone.change, &gone.action),
        (SyncChange::Gone, &SyncAction::Nothing)
    );
    assert_eq!(serving(&setup, GAIN).unwrap().0, gain1, "additive keeps it");

    let reconcile = sync(&setup, &[ECHO], SyncMode::Reconcile);
    let gone = entry(&reconcile, "libgain.so");
    assert_eq!(
        (gone.change, &gone.action),
        (
            SyncChange::Gone,
            &SyncAction::Unloaded {
                draining: Some(gain1)
            }
        )
    );
    let echo = entry(&reconcile, "libecho.so");
    assert_eq!(
        (echo.change, &echo.action),
        (
            SyncChange::Unchanged,
            &SyncAction::Disabled {
                draining: Some(echo1)
            }
        )
    );
    assert_eq!(serving(&setup, GAIN), None);
    assert_eq!(serving(&setup, ECHO), None, "disabled");
    setup.wait_removed(gain1);
    setup.wait_removed(echo1);

    // Listed as disabled, it stays so; no longer listed, reconcile loads it again.
    let still = sync(&setup, &[ECHO], SyncMode::Reconcile);
    assert_eq!(entry(&still, "libecho.so").action, SyncAction::Skipped);
    let again = sync(&setup, &[], SyncMode::Reconcile);
    loaded(entry(&again, "libecho.so"));
    assert_eq!(serving(&setup, ECHO).unwrap().1, "1.0.0");
}

#[test]
fn two_files_with_one_plugin_id_fail_that_plugin_only() {
    let setup = Setup::with_config("sync-duplicate", RuntimeConfig::default());
    setup.install("fixture-echo-v1", "libecho.so");
    setup.install("fixture-echo-v2", "libecho-new.so");
    setup.install("example-gain", "libgain.so");
    let entries = sync(&setup, &[], SyncMode::Reconcile);
    for name in ["libecho.so", "libecho-new.so"] {
        let e = entry(&entries, name);
        let SyncAction::Failed {
            error: SyncError::Duplicate { plugin_id, paths },
        } = &e.action
        else {
            panic!("{e:?}")
        };
        assert_eq!(plugin_id, ECHO);
        assert_eq!(paths.len(), 2);
    }
    loaded(entry(&entries, "libgain.so"));
    assert_eq!(serving(&setup, ECHO), None);
    assert!(serving(&setup, GAIN).is_some());
}

#[test]
fn a_corrupt_replacement_leaves_the_old_generation_serving_until_a_whole_one_comes() {
    let setup = Setup::with_config("sync-corrupt", RuntimeConfig::default());
    let path = setup.install("fixture-echo-v1", "libecho.so");
    sync(&setup, &[], SyncMode::Reconcile);
    let (echo1, _) = serving(&setup, ECHO).unwrap();

    // A truncated build, renamed into place: the ELF pre-check refuses it.
    let v2 = fs::read(fixtures().path("fixture-echo-v2")).unwrap();
    let staged = dir(&setup).join("libecho.so.new");
    fs::write(&staged, &v2[..v2.len() / 2]).unwrap();
    fs::rename(&staged, &path).unwrap();
    let entries = sync(&setup, &[], SyncMode::Reconcile);
    let e = entry(&entries, "libecho.so");
    assert_eq!(e.change, SyncChange::Unreadable);
    assert_eq!(
        e.plugin_id.as_deref(),
        Some(ECHO),
        "named by its recorded path"
    );
    assert!(
        matches!(
            e.action,
            SyncAction::Failed {
                error: SyncError::File(FileError::ElfCheck { .. })
            }
        ),
        "{e:?}"
    );
    assert_eq!(serving(&setup, ECHO).unwrap(), (echo1, "1.0.0".into()));

    // A whole library without an entry symbol: its descriptor cannot be read.
    setup.install("fixture-no-entry", "libecho.so");
    let entries = sync(&setup, &[], SyncMode::Reconcile);
    let e = entry(&entries, "libecho.so");
    assert!(
        matches!(
            e.action,
            SyncAction::Failed {
                error: SyncError::File(FileError::Describe { .. })
            }
        ),
        "{e:?}"
    );
    assert_eq!(serving(&setup, ECHO).unwrap().0, echo1, "still serving");

    // The next whole build is loaded.
    setup.install("fixture-echo-v2", "libecho.so");
    let entries = sync(&setup, &[], SyncMode::Reconcile);
    let e = entry(&entries, "libecho.so");
    assert_eq!(e.change, SyncChange::Changed);
    assert_eq!(loaded(e).1, Some(echo1));
    assert_eq!(serving(&setup, ECHO).unwrap().1, "2.0.0");
}

#[test]
fn a_failed_load_does_not_stop_the_others() {
    let setup = Setup::with_config("sync-failed-load", RuntimeConfig::default());
    setup.install("fixture-init-fails", "libinit-fails.so");
    setup.install("fixture-echo-v1", "libecho.so");
    let entries = sync(&setup, &[], SyncMode::Additive);
    let failed = entry(&entries, "libinit-fails.so");
    assert_eq!(failed.change, SyncChange::New);
    assert!(
        matches!(
            failed.action,
            SyncAction::Failed {
                error: SyncError::Load(_)
            }
        ),
        "{failed:?}"
    );
    loaded(entry(&entries, "libecho.so"));
    // Not recorded: the next sync tries it again.
    let again = sync(&setup, &[], SyncMode::Additive);
    assert_eq!(entry(&again, "libinit-fails.so").change, SyncChange::New);
    assert_eq!(entry(&again, "libecho.so").change, SyncChange::Unchanged);
}

#[test]
fn a_missing_directory_fails_the_sync_and_unloads_nothing() {
    let setup = Setup::with_config("sync-missing", RuntimeConfig::default());
    setup.install("fixture-echo-v1", "libecho.so");
    sync(&setup, &[], SyncMode::Reconcile);
    let serving_before = serving(&setup, ECHO);
    // The directory itself is gone (an unmounted disk, say): nothing is called gone.
    fs::rename(dir(&setup), setup.root.join("moved")).unwrap();
    let outcome = setup.call(Command::Sync {
        dir: dir(&setup),
        disabled: Vec::new(),
        mode: SyncMode::Reconcile,
    });
    assert!(
        matches!(
            outcome,
            Outcome::Failed(plugin_runtime::generation::CommandError::DirectoryUnreadable { .. })
        ),
        "{outcome:?}"
    );
    assert_eq!(serving(&setup, ECHO), serving_before);
}
