//! The directory watcher (feature `watch`) on real fixture libraries: replacing one
//! library by rename reloads that plugin, and only it.

// The shared helpers this file does not call are unused here.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::{Setup, WAIT};
use plugin_runtime::events::{Event, EventFilter, EventKind};
use plugin_runtime::generation::{GenerationKey, SyncMode};
use plugin_runtime::watch::{DirWatcher, WatchConfig};
use plugin_runtime::{Listener, RuntimeConfig};

/// The next `directory_synced` record's counts: (changed, unchanged, loaded).
fn next_sync(listener: &mut Listener) -> (u32, u32, u32) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let record = listener
            .recv_timeout(left)
            .expect("a directory sync within the wait");
        if let Event::DirectorySynced {
            changed,
            unchanged,
            loaded,
            new,
            ..
        } = record.event
        {
            return (changed + new, unchanged, loaded);
        }
    }
}

fn active(setup: &Setup, plugin_id: &str) -> Option<(GenerationKey, String)> {
    let snapshot = setup.runtime.snapshot(WAIT).unwrap();
    let plugin = snapshot
        .plugins
        .into_iter()
        .find(|p| p.plugin_id == plugin_id)?;
    Some((plugin.active?, plugin.version?))
}

#[test]
fn replacing_one_library_by_rename_reloads_that_plugin_alone() {
    let setup = Setup::with_config("watch", RuntimeConfig::default());
    setup.install("fixture-echo-v1", "libecho.so");
    setup.install("example-gain", "libgain.so");
    let mut listener = setup
        .runtime
        .listen(EventFilter::all().kind(EventKind::DirectorySynced))
        .unwrap();
    let config = WatchConfig {
        debounce: Duration::from_millis(100),
        mode: SyncMode::Reconcile,
        ..WatchConfig::default()
    };
    let watcher =
        DirWatcher::start(setup.runtime.clone(), setup.root.join("installed"), config).unwrap();
    assert_eq!(watcher.dir(), setup.root.join("installed"));

    // The initial sync loads both.
    assert_eq!(next_sync(&mut listener), (2, 0, 2));
    let (echo1, version) = active(&setup, "fixture.echo").unwrap();
    assert_eq!(version, "1.0.0");
    let gain = active(&setup, "example.gain").unwrap();

    // A package manager's replace: a staged copy renamed over the library.
    setup.install("fixture-echo-v2", "libecho.so");
    let mut counts = next_sync(&mut listener);
    // Events of the staging may come in two bursts; wait for the sync that saw the
    // new build (each sync sees the directory as it is when it runs).
    while counts.2 == 0 {
        assert_eq!(
            counts,
            (0, 2, 0),
            "a sync before the rename changes nothing"
        );
        counts = next_sync(&mut listener);
    }
    assert_eq!(
        counts,
        (1, 1, 1),
        "echo changed and reloaded, gain unchanged"
    );
    let (echo2, version) = active(&setup, "fixture.echo").unwrap();
    assert_ne!(echo2, echo1);
    assert_eq!(version, "2.0.0");
    assert_eq!(
        active(&setup, "example.gain").unwrap(),
        gain,
        "the other plugin keeps its generation"
    );
    setup.wait_removed(echo1);
    drop(watcher);
}
