//! `plugin-runtime inspect PATH... [--json | --allowlist] [--no-init] [--probe PATH]`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plugin_runtime::loader::probe::{
    Inspection, PROBE_NAME, Probe, ProbeError, ProbeMode, signal_name,
};
use plugin_runtime::loader::{CloseOutcome, LoaderConfig};
use serde::Serialize;

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin libraries to inspect.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON object per library (one per line), failures included, instead of
    /// text.
    #[arg(long)]
    json: bool,
    /// Print only one `<digest> <plugin id>` line per library: the form a locked-down
    /// loader's allowlist takes (`Allowlist::parse`).
    #[arg(long, conflicts_with = "json")]
    allowlist: bool,
    /// Read each library's descriptor without calling its `init` (and so without its
    /// `deinit`). The library's ELF constructors and its entry symbol still run.
    #[arg(long)]
    no_init: bool,
    /// The probe executable that loads each library in a process of its own [default:
    /// `plugin-runtime-probe` next to this executable].
    #[arg(long, value_name = "PATH")]
    probe: Option<PathBuf>,
}

/// What `--json` prints for a library that was inspected.
#[derive(Debug, Serialize)]
struct Report {
    path: String,
    ok: bool,
    plugin_id: String,
    version: String,
    abi_version: String,
    /// The SHA-256 digest of the file as the probe copied it, as 64 hex digits (the form
    /// an allowlist takes).
    digest: Option<String>,
    capabilities: Vec<CapabilityReport>,
    init_skipped: bool,
    unmapped: bool,
    close_outcome: &'static str,
    /// Why the library was kept loaded, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_loaded_reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct CapabilityReport {
    kind: String,
    type_id: String,
    interface_version: u32,
    interface_minor: u32,
    /// The base layout id, as 16 hex digits.
    layout_id: String,
    /// One line per vtable slot.
    layout: Vec<String>,
    display_name: String,
}

/// What `--json` prints for a library that could not be inspected.
#[derive(Debug, Serialize)]
struct Failure {
    path: String,
    ok: bool,
    /// The step that failed, or that was under way when the library crashed the probe.
    step: String,
    error: String,
    /// The signal's name when the library crashed the probe.
    signal: Option<String>,
}

impl Report {
    fn new(path: &Path, inspection: &Inspection, mode: ProbeMode) -> Self {
        let module = &inspection.module;
        Self {
            path: path.display().to_string(),
            ok: true,
            plugin_id: module.plugin_id.clone(),
            version: module.version.clone(),
            abi_version: format!("{}.{}", module.abi_major, module.abi_minor),
            digest: module.digest.map(|d| d.to_string()),
            capabilities: module
                .capabilities
                .iter()
                .map(|c| CapabilityReport {
                    kind: c.kind.clone(),
                    type_id: c.type_id.clone(),
                    interface_version: c.interface_version,
                    interface_minor: c.interface_minor,
                    layout_id: format!("{:016x}", c.layout_id),
                    layout: c.layout.lines().map(str::to_owned).collect(),
                    display_name: c.display_name.clone(),
                })
                .collect(),
            init_skipped: mode == ProbeMode::Describe,
            unmapped: inspection.outcome.is_unmapped(),
            close_outcome: match inspection.outcome {
                CloseOutcome::Unmapped => "unmapped",
                CloseOutcome::StillMapped => "still mapped by the OS loader",
                CloseOutcome::KeptLoaded { .. } => "kept loaded",
                _ => "unknown",
            },
            kept_loaded_reason: match &inspection.outcome {
                CloseOutcome::KeptLoaded { reason } => Some(reason.clone()),
                _ => None,
            },
        }
    }

    fn print_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "library      {}", self.path)?;
        writeln!(out, "plugin       {}", self.plugin_id)?;
        writeln!(out, "version      {}", self.version)?;
        writeln!(out, "abi          {}", self.abi_version)?;
        if let Some(digest) = &self.digest {
            writeln!(out, "digest       {digest}")?;
        }
        writeln!(out, "capabilities {}", self.capabilities.len())?;
        for c in &self.capabilities {
            writeln!(
                out,
                "  {}/{}  interface {}.{}  layout {}  \"{}\"",
                c.kind,
                c.type_id,
                c.interface_version,
                c.interface_minor,
                c.layout_id,
                c.display_name
            )?;
            for line in &c.layout {
                writeln!(out, "      {line}")?;
            }
        }
        if self.init_skipped {
            writeln!(out, "init         skipped (--no-init)")?;
        }
        match &self.kept_loaded_reason {
            Some(reason) => writeln!(out, "closed       {}: {reason}", self.close_outcome),
            None => writeln!(out, "closed       {}", self.close_outcome),
        }
    }
}

impl Failure {
    fn new(path: &Path, error: &ProbeError) -> Self {
        Self {
            path: path.display().to_string(),
            ok: false,
            step: error.step().to_owned(),
            error: error.to_string(),
            signal: error
                .signal()
                .map(|s| signal_name(s).map_or_else(|| format!("signal {s}"), str::to_owned)),
        }
    }
}

/// Runs `inspect`: each library is loaded and closed by a probe process of its own, so
/// one that crashes is reported and the next is still inspected. Exit 0 when every
/// library was inspected, 1 otherwise (one stderr line per failure, naming the path and
/// the step that failed; with `--json` also a record on stdout).
pub fn run(args: &Args) -> ExitCode {
    let program = match args.probe.clone().map_or_else(default_probe, Ok) {
        Ok(program) if program.is_file() => program,
        Ok(program) => {
            eprintln!(
                "plugin-runtime: inspect: no probe executable at {} (`cargo build` builds {PROBE_NAME} next to plugin-runtime; --probe names another)",
                program.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("plugin-runtime: inspect: cannot find the probe executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = LoaderConfig::default().with_probe(program);
    let probe =
        Probe::from_config(&config).expect("the configuration names a probe one line above");
    let mode = if args.no_init {
        ProbeMode::Describe
    } else {
        ProbeMode::Load
    };
    let mut failed = false;
    let mut printed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.paths {
        tracing::info!(target: "plugin_runtime::cli", path = %path.display(), "inspecting");
        let written = match probe.inspect(path, mode) {
            Ok(inspection) => {
                let report = Report::new(path, &inspection, mode);
                if args.json {
                    json_line(&mut out, &report)
                } else if args.allowlist {
                    match &report.digest {
                        Some(digest) => writeln!(out, "{digest} {}", report.plugin_id),
                        None => {
                            failed = true;
                            eprintln!(
                                "plugin-runtime: inspect {}: the probe reported no digest",
                                path.display()
                            );
                            Ok(())
                        }
                    }
                } else {
                    let separator = if printed { writeln!(out) } else { Ok(()) };
                    printed = true;
                    separator.and_then(|()| report.print_text(&mut out))
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("plugin-runtime: inspect {}: {e}", path.display());
                if args.json {
                    json_line(&mut out, &Failure::new(path, &e))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
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

/// The probe next to this executable.
fn default_probe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(format!("{PROBE_NAME}{}", std::env::consts::EXE_SUFFIX)))
}

fn json_line(out: &mut impl Write, record: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
}
