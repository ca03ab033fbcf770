//! `plugin-runtime watch DIR --json`: a replaced library is reloaded, and every line is
//! one record of the event schema.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fixture_api::build::fixtures;
use plugin_runtime::events::{Event, EventRecord};
use plugin_runtime::generation::Outcome;

/// How long the test waits for one line; the command stops by itself after `SECONDS`.
const WAIT: Duration = Duration::from_secs(60);
const SECONDS: &str = "90";

/// A directory of its own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("plugin-runtime-cli-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Installs a fixture as `name` in `dir` by copy-then-rename.
fn install(dir: &Path, fixture: &str, name: &str) {
    let staged = dir.join(format!("{name}.new"));
    fs::copy(fixtures().path(fixture), &staged).unwrap();
    fs::rename(&staged, dir.join(name)).unwrap();
}

#[test]
fn watch_prints_every_event_as_json_and_reloads_a_replaced_library() {
    let dir = TempDir::new("watch");
    install(&dir.0, "fixture-echo-v1", "libecho.so");
    install(&dir.0, "example-gain", "libgain.so");
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .args(["watch", "--json", "--reconcile", "--debounce-ms", "100"])
        .args(["--seconds", SECONDS])
        .arg(&dir.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut records: Vec<EventRecord> = Vec::new();
    let next = |records: &mut Vec<EventRecord>| {
        let line = lines.recv_timeout(WAIT).expect("a line within the wait");
        let record: EventRecord = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a record of the schema: {e}: {line}"));
        assert_eq!(
            record.to_json(),
            line,
            "the line is the record's one JSON form"
        );
        records.push(record.clone());
        record
    };
    let synced = |record: &EventRecord| match record.event {
        Event::DirectorySynced {
            changed, loaded, ..
        } => Some((changed, loaded)),
        _ => None,
    };
    // The initial sync loads both libraries.
    while synced(&next(&mut records)).is_none() {}
    assert!(matches!(
        records.last().unwrap().event,
        Event::DirectorySynced {
            new: 2,
            loaded: 2,
            ..
        }
    ));

    install(&dir.0, "fixture-echo-v2", "libecho.so");
    loop {
        if let Some((changed, loaded)) = synced(&next(&mut records))
            && loaded > 0
        {
            assert_eq!((changed, loaded), (1, 1));
            break;
        }
    }
    // Ctrl-C ends it: it shuts the runtime down, printing that too, and exits 0.
    let stopped = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    while let Ok(line) = lines.recv_timeout(WAIT) {
        records.push(serde_json::from_str(&line).unwrap());
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");

    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=records.len() as u64).collect::<Vec<_>>(),
        "every record, none lost"
    );
    let reloaded = records.iter().find_map(|r| match &r.event {
        Event::Reloaded {
            plugin_id, version, ..
        } => Some((plugin_id.as_str(), version.as_str())),
        _ => None,
    });
    assert_eq!(reloaded, Some(("fixture.echo", "2.0.0")));
    let entries = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::CommandCompleted {
                outcome: Outcome::Synced { entries, .. },
                ..
            } => Some(entries.len()),
            _ => None,
        })
        .count();
    assert!(
        entries >= 2,
        "each sync's outcome is printed with its entries"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, Event::ShutdownFinished { .. })),
        "the shutdown after Ctrl-C is printed"
    );
}

#[test]
fn watch_without_json_prints_readable_lines_and_stops_after_its_seconds() {
    let dir = TempDir::new("watch-text");
    install(&dir.0, "fixture-echo-v1", "libecho.so");
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .args(["watch", "--seconds", "2"])
        .arg(&dir.0)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().next().unwrap().starts_with("#1 +"),
        "{stdout}"
    );
    assert!(
        stdout.contains("command/command_submitted command=sync"),
        "{stdout}"
    );
    assert!(stdout.contains("runtime/shutdown_finished"), "{stdout}");
    for line in stdout.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_err(),
            "a readable line, not JSON: {line}"
        );
    }
}
