//! Routes every event of a runtime to stdout, one JSON object per line.
//!
//! This is the whole pattern of a UI bridge or a log shipper: subscribe a
//! [`Listener`] before anything happens, read it on a thread of its own, and send each
//! [`EventRecord::to_json`](plugin_runtime::events::EventRecord::to_json) line on. A
//! bridge writes the line to its socket or IPC pipe instead of stdout (usually with a
//! filter such as `EventFilter::all().topic(Topic::Lifecycle)`) and keeps a
//! `Follower` on the far side; a shipper writes it to its log sink as is. The runtime
//! never waits for the router: if it falls behind, the oldest records are dropped and
//! the next one says how many (`"dropped"`), and a jump in `seq` shows it too. The
//! router stops by itself when the runtime does: after the runtime's last records (its
//! shutdown, and the closes and cleanups it waited for) the listener reports
//! [`ListenError::Stopped`].
//!
//! As a demo it loads the libraries named on the command line, reloads each once,
//! unloads them and drops its handle, which shuts the runtime down: the lines show
//! each load, reload, drain, close, unmap and cleanup, then the shutdown.
//!
//! `cargo run --example router -- LIBRARY...`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plugin_runtime::events::EventFilter;
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::runtime::ListenError;
use plugin_runtime::{Listener, Runtime, RuntimeConfig, RuntimeHandle};

/// How long one command may take.
const WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: router LIBRARY...");
        eprintln!("loads, reloads and unloads each plugin library and prints every event as JSON");
        return ExitCode::from(2);
    }

    let runtime = Runtime::start(RuntimeConfig::default()).expect("the runtime starts");
    let listener = runtime
        .listen(EventFilter::all())
        .expect("the runtime runs");
    let router = std::thread::spawn(move || route(listener));

    let ok = demo(&runtime, paths);
    // The last handle goes: the runtime drains and closes what is left, emits its final
    // records and stops, and the router returns.
    drop(runtime);
    let routed = router.join().expect("the router thread does not panic");
    if let Err(error) = &routed {
        eprintln!("router: cannot write to stdout: {error}");
    }
    if ok && routed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes every record as one line until the runtime stops.
fn route(mut listener: Listener) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    loop {
        match listener.recv_timeout(Duration::MAX) {
            Ok(record) => {
                writeln!(out, "{}", record.to_json())?;
                out.flush()?;
            }
            Err(ListenError::Stopped) => return Ok(()),
            Err(_) => {}
        }
    }
}

/// Loads every library, reloads each plugin once and unloads them; true if every
/// command succeeded.
fn demo(runtime: &RuntimeHandle, paths: Vec<PathBuf>) -> bool {
    let mut ok = true;
    let mut plugins = Vec::new();
    for path in paths {
        let load = Command::Load {
            path,
            expected_plugin_id: None,
        };
        match call(runtime, load) {
            Some(Outcome::Loaded { plugin_id, .. }) => plugins.push(plugin_id),
            _ => ok = false,
        }
    }
    for plugin_id in &plugins {
        let reload = Command::Reload {
            plugin_id: plugin_id.clone(),
        };
        ok &= call(runtime, reload).is_some();
    }
    for plugin_id in plugins {
        ok &= call(runtime, Command::Unload { plugin_id }).is_some();
    }
    ok
}

/// Runs `command` to its outcome. A failure is also told on stderr; on stdout the
/// events tell it anyway.
fn call(runtime: &RuntimeHandle, command: Command) -> Option<Outcome> {
    match runtime.call(command, WAIT) {
        Ok(Outcome::Failed(error)) => {
            eprintln!("router: {error}");
            None
        }
        Ok(outcome) => Some(outcome),
        Err(error) => {
            eprintln!("router: {error}");
            None
        }
    }
}
