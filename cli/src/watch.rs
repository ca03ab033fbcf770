//! `plugin-runtime watch DIR`: sync a runtime with a plugin directory on every change
//! and print every runtime event.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugin_runtime::events::{EventFilter, EventRecord};
use plugin_runtime::generation::{Command, Outcome, SyncMode};
use plugin_runtime::runtime::ListenError;
use plugin_runtime::watch::{DirWatcher, WatchConfig};
use plugin_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

/// How long the final shutdown waits for holders (there are none: the command holds no
/// instance).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin directory: every `*.so` in it (not starting with a dot) is a library.
    dir: PathBuf,
    /// Print each event as one JSON line of the event schema (`docs/events.md`) instead
    /// of a readable line.
    #[arg(long)]
    json: bool,
    /// Reconcile: also unload plugins whose library left the directory, and disable the
    /// plugins named by --disable. Without it, syncs only load what is new or changed.
    #[arg(long)]
    reconcile: bool,
    /// A plugin id not to load (and, with --reconcile, to disable); repeatable.
    #[arg(long = "disable", value_name = "ID")]
    disabled: Vec<String>,
    /// How long the directory must be quiet after a change before it is synced, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    debounce_ms: u64,
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long, value_name = "N")]
    seconds: Option<f64>,
}

/// Runs `watch`: exit 0 when stopped by Ctrl-C or --seconds, 1 if the runtime or the
/// watch cannot start.
pub fn run(args: &Args) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || on_signal.store(true, Ordering::SeqCst)) {
        eprintln!("plugin-runtime: watch: cannot handle Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match Runtime::start(RuntimeConfig::default()) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("plugin-runtime: watch: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut listener = match runtime.listen(EventFilter::all()) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("plugin-runtime: watch: cannot listen to the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = WatchConfig {
        debounce: Duration::from_millis(args.debounce_ms),
        mode: if args.reconcile {
            SyncMode::Reconcile
        } else {
            SyncMode::Additive
        },
        disabled: args.disabled.clone(),
        initial_sync: true,
    };
    let watcher = match DirWatcher::start(runtime.clone(), &args.dir, config) {
        Ok(watcher) => watcher,
        Err(e) => {
            eprintln!("plugin-runtime: watch: {e}");
            return ExitCode::FAILURE;
        }
    };
    let until = args
        .seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|s| Instant::now() + s);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while !stop.load(Ordering::SeqCst) && until.is_none_or(|t| Instant::now() < t) {
        match listener.recv_timeout(Duration::from_millis(100)) {
            Ok(record) => {
                if print(&mut out, &record, args.json).is_err() {
                    break; // stdout closed: nobody reads any more
                }
            }
            Err(ListenError::Timeout) => {}
            Err(_) => break,
        }
    }
    // Stop watching, then drain and close everything, printing what that does.
    drop(watcher);
    let shutdown = runtime.call(
        Command::Shutdown {
            timeout: SHUTDOWN_WAIT,
        },
        SHUTDOWN_WAIT * 2,
    );
    if !matches!(shutdown, Ok(Outcome::ShutDown { .. })) {
        eprintln!("plugin-runtime: watch: shutdown: {shutdown:?}");
    }
    drop(runtime);
    while let Ok(record) = listener.recv_timeout(SHUTDOWN_WAIT) {
        if print(&mut out, &record, args.json).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// Writes one record: its JSON line, or a readable line (and one indented line per
/// entry of a sync's outcome).
fn print(out: &mut impl Write, record: &EventRecord, json: bool) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", record.to_json())?;
    } else {
        let value = serde_json::to_value(record).unwrap_or(Value::Null);
        let mut line = format!(
            "#{} +{:.3}s {}/{}",
            record.seq,
            record.t_micros as f64 / 1e6,
            record.event.topic().name(),
            record.event.name()
        );
        let mut entries = Vec::new();
        if let Some(fields) = value["fields"].as_object() {
            for (name, field) in fields {
                line.push(' ');
                line.push_str(name);
                line.push('=');
                line.push_str(&readable(field));
                if let Some(list) = field.get("entries").and_then(Value::as_array) {
                    entries.extend(list.iter().map(entry_line));
                }
            }
        }
        writeln!(out, "{line}")?;
        for entry in entries {
            writeln!(out, "    {entry}")?;
        }
    }
    out.flush()
}

/// A field's value in a few characters: scalars as they are, lists by their length,
/// commands and outcomes by their name (and an error's).
fn readable(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.len()),
        Value::Object(map) => {
            let name = map
                .get("outcome")
                .or_else(|| map.get("command"))
                .and_then(Value::as_str);
            match (name, map.get("error").and_then(Value::as_str)) {
                (Some(name), Some(error)) => format!("{name}:{error}"),
                (Some(name), None) => name.to_owned(),
                _ => "{..}".into(),
            }
        }
        other => other.to_string(),
    }
}

/// One entry of a sync: file, plugin, change, action (and why it failed).
fn entry_line(entry: &Value) -> String {
    let text = |key: &str| entry[key].as_str().unwrap_or("-").to_owned();
    let file = entry["path"]
        .as_str()
        .map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map_or_else(|| p.to_owned(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut line = format!(
        "{file} {} {} {}",
        text("plugin_id"),
        text("change"),
        text("action")
    );
    let error = &entry["error"];
    if let Some(kind) = error["kind"].as_str() {
        line.push_str(&format!(": {kind}"));
        if let Some(name) = error["error"].as_str() {
            line.push_str(&format!(" {name}"));
        }
        if let Some(message) = error["message"].as_str() {
            line.push_str(&format!(" ({message})"));
        }
    }
    line
}
