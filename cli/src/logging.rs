//! The command's tracing subscriber: the library emits `tracing` events and never
//! installs a subscriber, so the binary does, writing to stderr (stdout carries the
//! commands' own output).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, with `timestamp`, `level`, `target` and the event's
    /// `fields` (its message under `message`).
    Json,
}

/// Installs the subscriber: `RUST_LOG`, when set, is the filter; otherwise `verbosity`
/// (the count of `-v`) sets the level of the runtime's targets and of plugins' own log
/// records, and everything else logs warnings and errors. A subscriber that is already
/// installed stays.
pub fn init(verbosity: u8, format: LogFormat) {
    let (filter, rejected) = match env_filter() {
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (verbosity_filter(verbosity), Some(error)),
        None => (verbosity_filter(verbosity), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).json().try_init(),
    };
    // An error means a global subscriber is already installed; that one keeps the
    // events.
    let _ = installed;
    if let Some(error) = rejected {
        tracing::warn!(target: "plugin_runtime::cli", %error, "RUST_LOG ignored; the filter follows -v");
    }
}

/// The filter `RUST_LOG` names, if it is set and not empty.
fn env_filter() -> Option<Result<EnvFilter, String>> {
    match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(spec) if spec.trim().is_empty() => None,
        Ok(spec) => Some(EnvFilter::try_new(spec).map_err(|e| e.to_string())),
        Err(std::env::VarError::NotPresent) => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Warnings for everything; `-v` info, `-vv` debug, `-vvv` trace for the runtime's
/// targets (`plugin_runtime::*`) and for the target `plugin`, under which the loader
/// forwards plugins' own log records.
fn verbosity_filter(verbosity: u8) -> EnvFilter {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("warn,plugin_runtime={level},plugin={level}"))
}
