//! `plugin-runtime inspect PATH... [--json]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use plugin_runtime::loader::{CloseOutcome, LibraryLoader, LoaderConfig, ModuleInfo};
use serde::Serialize;

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin libraries to inspect.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON object per library (one per line) instead of text.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints for one library.
#[derive(Debug, Serialize)]
struct Report {
    plugin_id: String,
    version: String,
    abi_version: String,
    capabilities: Vec<CapabilityReport>,
    unmapped: bool,
    close_outcome: &'static str,
}

#[derive(Debug, Serialize)]
struct CapabilityReport {
    kind: String,
    type_id: String,
    interface_version: u32,
    display_name: String,
}

impl Report {
    fn new(module: &ModuleInfo, outcome: &CloseOutcome) -> Self {
        Self {
            plugin_id: module.plugin_id.clone(),
            version: module.version.clone(),
            abi_version: format!("{}.{}", module.abi_major, module.abi_minor),
            capabilities: module
                .capabilities
                .iter()
                .map(|c| CapabilityReport {
                    kind: c.kind.clone(),
                    type_id: c.type_id.clone(),
                    interface_version: c.interface_version,
                    display_name: c.display_name.clone(),
                })
                .collect(),
            unmapped: outcome.is_unmapped(),
            close_outcome: match outcome {
                CloseOutcome::Unmapped => "unmapped",
                CloseOutcome::StillMapped => "still mapped by the OS loader",
                CloseOutcome::KeptLoaded { .. } => "kept loaded: deinit failed",
                _ => "unknown",
            },
        }
    }

    fn print_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "plugin       {}", self.plugin_id)?;
        writeln!(out, "version      {}", self.version)?;
        writeln!(out, "abi          {}", self.abi_version)?;
        writeln!(out, "capabilities {}", self.capabilities.len())?;
        for c in &self.capabilities {
            writeln!(
                out,
                "  {}/{}  interface {}  \"{}\"",
                c.kind, c.type_id, c.interface_version, c.display_name
            )?;
        }
        writeln!(out, "closed       {}", self.close_outcome)
    }
}

/// Runs `inspect`: exit 0 when every library loaded, 1 otherwise (one stderr line per
/// failure, naming the path and the step that failed).
pub fn run(args: &Args) -> ExitCode {
    let mut loader = match LibraryLoader::new(LoaderConfig::default()) {
        Ok(loader) => loader,
        Err(e) => {
            eprintln!("plugin-runtime: inspect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, path) in args.paths.iter().enumerate() {
        let library = match loader.load(path, None) {
            Ok(library) => library,
            Err(e) => {
                eprintln!("plugin-runtime: inspect {}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let module = library.module().clone();
        let report = loader.close(library);
        let report = Report::new(&module, &report.outcome);
        let written = if args.json {
            serde_json::to_writer(&mut out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        } else {
            let separator = if i > 0 { writeln!(out) } else { Ok(()) };
            separator.and_then(|()| report.print_text(&mut out))
        };
        if let Err(e) = written {
            eprintln!("plugin-runtime: inspect: cannot write the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
