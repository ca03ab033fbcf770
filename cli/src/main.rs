//! `plugin-runtime`: the command-line face of the runtime.

mod inspect;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
    }
}
