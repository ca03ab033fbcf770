//! `plugin-runtime events --schema [--pretty]`.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap::error::ErrorKind;
use plugin_runtime::events::SCHEMA;

/// Arguments of `events`.
#[derive(Debug, clap::Args)]
#[command(override_usage = "plugin-runtime events --schema [--pretty]")]
pub struct Args {
    /// Print the schema of the runtime's events: one JSON object per event kind, with
    /// `topic`, `event`, `meaning` and `fields` (each `name`, `type`, `meaning`), one
    /// per line.
    #[arg(long)]
    schema: bool,
    /// With --schema: print one pretty-printed JSON array instead of JSON lines.
    #[arg(long, requires = "schema")]
    pretty: bool,
}

/// Runs `events`: exit 0 once the schema is written, 1 if it cannot be written, 2 (a
/// usage error) without an action.
pub fn run(args: &Args) -> ExitCode {
    if !args.schema {
        return usage_error();
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.pretty {
        serde_json::to_writer_pretty(&mut out, SCHEMA)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        SCHEMA.iter().try_for_each(|kind| {
            serde_json::to_writer(&mut out, kind)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        })
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`| head`) took all it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin-runtime: events: cannot write the schema: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `events` without an action: say which actions there are, the way clap reports its
/// own usage errors.
fn usage_error() -> ExitCode {
    let mut cli = crate::Cli::command();
    cli.build();
    let events = cli
        .find_subcommand_mut("events")
        .expect("`events` is a subcommand");
    let error = events.error(
        ErrorKind::MissingRequiredArgument,
        "`events` needs an action; the only one for now is --schema, which prints the \
         schema of the runtime's events as JSON",
    );
    // Printing to stderr can only fail if stderr is gone; the exit code still tells.
    let _ = error.print();
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}
