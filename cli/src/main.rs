//! `plugin-runtime`: the command-line face of the runtime.

mod events;
mod inspect;
mod logging;
mod stress;
mod watch;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::logging::LogFormat;

/// Load, inspect and exercise plugin-runtime plugins.
#[derive(Debug, Parser)]
#[command(name = "plugin-runtime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more on stderr: -v info, -vv debug, -vvv trace for the runtime's events and
    /// plugins' log records [default: warnings and errors]. RUST_LOG, when set, replaces
    /// this filter (e.g. RUST_LOG=plugin_runtime=debug,
    /// RUST_LOG=plugin_runtime::lifecycle=info).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// How log lines are written on stderr: text, or json (one object per line with
    /// timestamp, level, target and fields).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load libraries through the real loader, print what they offer, close them and
    /// report whether the OS unmapped them.
    Inspect(inspect::Args),
    /// Call instances of the echo fixtures on owner threads while a control thread
    /// reloads, unloads, disables and enables them as fast as it can; check every answer,
    /// every outcome and the drain invariant, then that everything converges and is
    /// unloaded. Exit 1 if anything was lost.
    Stress(stress::Args),
    /// Describe the runtime's events: `--schema` prints every event kind with its
    /// topic, meaning and fields as JSON.
    Events(events::Args),
    /// Sync a runtime with a plugin directory now and after every change to it (new and
    /// changed libraries load, a library replaced by rename reloads its plugin alone),
    /// and print every runtime event: one JSON line per event with --json. Runs until
    /// Ctrl-C (or --seconds), then shuts the runtime down.
    Watch(watch::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.log_format);
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Stress(args) => stress::run(&args),
        Command::Events(args) => events::run(&args),
        Command::Watch(args) => watch::run(&args),
    }
}
