//! How long a directory sync takes for a directory of N libraries: the first sync
//! (hash, describe and load each), syncs with nothing changed (hash only: the
//! descriptors are cached by digest), and a sync after every library was replaced by
//! another build (hash, describe and reload each).
//!
//! The libraries are copies of the `fixture-echo-v1` (then `-v2`) build, each with its
//! plugin id rewritten in place to one of the same length (`fixture.e000`, ...), so that
//! N distinct plugins are synced. Run (release, 50 libraries, 10 unchanged syncs):
//!
//! ```sh
//! cargo run --release --example sync_timing -- 50 10
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use plugin_runtime::generation::{Command, Outcome, SyncAction, SyncMode};
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};

const WAIT: Duration = Duration::from_secs(600);

/// Writes `count` copies of `fixture` into `dir`, plugin ids `fixture.e000` and up, each
/// replacing the file before it by rename.
fn install(dir: &Path, fixture: &str, count: usize) -> u64 {
    let build = std::fs::read(fixtures().path(fixture)).expect("the fixture is built");
    let id = b"fixture.echo";
    for n in 0..count {
        let new_id = format!("fixture.e{n:03}");
        assert_eq!(new_id.len(), id.len());
        let mut bytes = build.clone();
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(id.len()).position(|w| w == id) {
            bytes[at + found..at + found + id.len()].copy_from_slice(new_id.as_bytes());
            at += found + id.len();
        }
        let staged = dir.join(format!(".lib{n:03}.so.new"));
        std::fs::write(&staged, &bytes).unwrap();
        std::fs::rename(&staged, dir.join(format!("lib{n:03}.so"))).unwrap();
    }
    build.len() as u64
}

/// Runs one sync: its time, and how many entries were loaded.
fn sync(runtime: &RuntimeHandle, dir: &Path) -> (Duration, usize, usize) {
    let start = Instant::now();
    let outcome = runtime
        .call(
            Command::Sync {
                dir: dir.to_owned(),
                disabled: Vec::new(),
                mode: SyncMode::Reconcile,
            },
            WAIT,
        )
        .unwrap();
    let took = start.elapsed();
    let Outcome::Synced { entries, .. } = outcome else {
        panic!("the sync failed: {outcome:?}")
    };
    let loaded = entries
        .iter()
        .filter(|e| matches!(e.action, SyncAction::Loaded { .. }))
        .count();
    (took, entries.len(), loaded)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(20, |a| a.parse().expect("a count"));
    let repeats: usize = args
        .next()
        .map_or(10, |a| a.parse().expect("a repeat count"))
        .max(1);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("plugin-runtime-sync-timing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let size = install(&dir, "fixture-echo-v1", count);
    let runtime = Runtime::start(RuntimeConfig::default()).unwrap();

    let (first, entries, loaded) = sync(&runtime, &dir);
    assert_eq!((entries, loaded), (count, count));
    let mut unchanged: Vec<Duration> = (0..repeats)
        .map(|_| {
            let (took, _, loaded) = sync(&runtime, &dir);
            assert_eq!(loaded, 0);
            took
        })
        .collect();
    unchanged.sort();
    install(&dir, "fixture-echo-v2", count);
    let (replaced, _, loaded) = sync(&runtime, &dir);
    assert_eq!(loaded, count);

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "{{\"libraries\":{count},\"library_bytes\":{size},\"profile\":\"{profile}\",\"first_sync_ms\":{:.1},\"unchanged_sync_p50_ms\":{:.1},\"unchanged_sync_max_ms\":{:.1},\"replaced_sync_ms\":{:.1},\"unchanged_per_library_ms\":{:.2}}}",
        ms(first),
        ms(unchanged[unchanged.len() / 2]),
        ms(*unchanged.last().unwrap()),
        ms(replaced),
        ms(unchanged[unchanged.len() / 2]) / count as f64,
    );
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
}
