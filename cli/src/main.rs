//! `plugin-runtime`: the command-line face of the runtime.

mod inspect;
mod stress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load, inspect and exercise plugin-runtime plugins.
#[derive(Debug, Parser)]
#[command(name = "plugin-runtime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Stress(args) => stress::run(&args),
    }
}
