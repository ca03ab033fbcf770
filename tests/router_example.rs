//! The `router` example, run as users run it, on a real plugin: every record of a load,
//! a reload, an unload and the shutdown reaches stdout as one JSON line, none is
//! missing, and the example ends by itself once the runtime has stopped.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixture_api::build::{example, fixtures};
use plugin_runtime::events::{Event, EventKind, EventRecord};

/// How long the example may take to load, reload, unload and stop.
const WAIT: Duration = Duration::from_secs(60);

/// Runs the example on `args` and returns its exit code, stdout and stderr; kills it
/// and fails if it has not ended within [`WAIT`].
fn run_router(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let mut child = Command::new(example("router"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the router did not end within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out.join().unwrap().expect("stdout is UTF-8");
    let err = err.join().unwrap().expect("stderr is UTF-8");
    (status.code(), out, err)
}

#[test]
fn router_prints_every_record_from_the_first_load_to_the_shutdown() {
    let library = fixtures().path("fixture-echo-v1");
    let (code, stdout, stderr) = run_router(&[library.as_os_str()]);
    assert_eq!(code, Some(0), "{stderr}");

    let records: Vec<EventRecord> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    let expected: Vec<u64> = (1..=records.len() as u64).collect();
    assert_eq!(seqs, expected, "every record, in order, without a gap");
    assert!(records.iter().all(|r| r.dropped == 0), "{stdout}");

    let kinds: Vec<EventKind> = records.iter().map(|r| r.event.kind()).collect();
    for kind in [
        EventKind::Loaded,
        EventKind::Reloaded,
        EventKind::Unloaded,
        EventKind::ShutdownFinished,
    ] {
        assert!(kinds.contains(&kind), "no {} in\n{stdout}", kind.name());
    }
    // Both generations, the loaded one and its replacement, end unmapped and cleaned up.
    let generations: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Loaded { generation, .. } => Some(*generation),
            Event::Reloaded { new, .. } => Some(*new),
            _ => None,
        })
        .collect();
    assert_eq!(generations.len(), 2, "{stdout}");
    for generation in generations {
        let plugin_id = String::from("fixture.echo");
        for event in [
            Event::Unmapped {
                plugin_id: plugin_id.clone(),
                generation,
            },
            Event::CleanedUp {
                plugin_id,
                generation,
            },
        ] {
            assert!(
                records.iter().any(|r| r.event == event),
                "no {event:?} in\n{stdout}"
            );
        }
    }
}

#[test]
fn router_without_a_library_prints_usage_and_exits_2() {
    let (code, stdout, stderr) = run_router(&[]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("usage: router LIBRARY..."), "{stderr}");
}
