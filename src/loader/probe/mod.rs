//! Loading a library in a child process, so that a library that crashes takes down the
//! child instead of the host.
//!
//! A library's ELF constructors run when it is opened, and its entry symbol, `init` and
//! `deinit` are its own code: any of them can fault, and a fault kills the process that
//! loaded it. A *probe* is a small executable that loads one library with a
//! [`LibraryLoader`](super::LibraryLoader), closes it and reports on its standard output.
//! Before each step it reports the step's name, so when it dies by a signal the parent
//! knows which step the library crashed in.
//!
//! Two halves live here. [`serve`] is what the probe process runs (its whole `main`).
//! [`Probe`] is the parent's side: it starts the probe named by
//! [`LoaderConfig::probe`](super::LoaderConfig::probe) on one library and turns what
//! happened into an [`Inspection`] or a [`ProbeError`].
//!
//! A probe isolates crashes, not effects: the library's code still runs, with the user's
//! rights, in a process of its own.
//!
//! # Examples
//!
//! ```no_run
//! use plugin_runtime::loader::LoaderConfig;
//! use plugin_runtime::loader::probe::{Probe, ProbeMode};
//!
//! let config = LoaderConfig::default().with_probe("/usr/libexec/plugin-runtime-probe");
//! let probe = Probe::from_config(&config).expect("a probe is configured");
//! match probe.inspect("plugins/libgain.so".as_ref(), ProbeMode::Load) {
//!     Ok(inspection) => println!("{} is fine", inspection.module.plugin_id),
//!     Err(e) => eprintln!("refusing it: {e}"),
//! }
//! ```

mod child;
mod error;
mod protocol;

pub use child::serve;
pub use error::{ProbeError, signal_name};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use self::child::Request;
use self::protocol::Record;
use super::info::{CloseOutcome, ModuleInfo};
use super::library::LoaderConfig;
use super::shadow::{ShadowDir, sweep};
use super::step::Step;

/// The conventional file name of the probe executable.
pub const PROBE_NAME: &str = "plugin-runtime-probe";

/// What a probe does with the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeMode {
    /// Load it as a host would (`init` included), then close it (`deinit` included):
    /// [`LibraryLoader::load`](super::LibraryLoader::load) and
    /// [`close`](super::LibraryLoader::close).
    Load,
    /// Read its descriptor without `init` or `deinit`:
    /// [`LibraryLoader::describe`](super::LibraryLoader::describe). Its ELF constructors
    /// and entry symbol still run.
    Describe,
}

/// The parent's side of a probe: runs the probe executable on one library at a time.
#[derive(Debug, Clone)]
pub struct Probe {
    program: PathBuf,
    shadow_root: Option<PathBuf>,
}

impl Probe {
    /// The probe that `config` names (with its shadow root), or `None` if it names none.
    pub fn from_config(config: &LoaderConfig) -> Option<Self> {
        Some(Self {
            program: config.probe.clone()?,
            shadow_root: config.shadow_root.clone(),
        })
    }

    /// A probe running `program` with shadow directories under `shadow_root`.
    pub(crate) fn new(program: PathBuf, shadow_root: PathBuf) -> Self {
        Self {
            program,
            shadow_root: Some(shadow_root),
        }
    }

    /// The probe executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Loads the library installed at `path` in a new probe process, as `mode` says, and
    /// waits for the probe to end.
    ///
    /// A probe that leaves its shadow copy behind (because the library killed it) has
    /// it removed here.
    ///
    /// # Errors
    ///
    /// [`ProbeError::Refused`] with the loader's own error when the loader refused the
    /// library; [`ProbeError::Crashed`] with the signal and the step when the library
    /// killed the probe; [`ProbeError::Ended`] when the probe exited without a report;
    /// [`ProbeError::Spawn`] and [`ProbeError::Protocol`] when the probe cannot be
    /// started or is not a probe.
    pub fn inspect(&self, path: &Path, mode: ProbeMode) -> Result<Inspection, ProbeError> {
        let request = Request {
            path: path.to_owned(),
            mode,
            shadow_root: self.shadow_root.clone(),
        };
        let output = Command::new(&self.program)
            .args(request.to_args())
            .stdin(Stdio::null())
            .output()
            .map_err(|source| ProbeError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let report = Report::read(&stdout)?;
        match report.end {
            // A report that is complete stands even if the probe died afterwards (a
            // library kept loaded can still crash at process exit): the library got
            // through every step.
            Some(End::Closed(outcome)) => {
                if !output.status.success() {
                    tracing::warn!(path = %path.display(), status = %output.status, "the probe failed after its report");
                }
                let module = report
                    .module
                    .ok_or_else(|| ProbeError::protocol("a close without a module"))?;
                Ok(Inspection { module, outcome })
            }
            Some(End::Refused { step, message }) => Err(ProbeError::Refused { step, message }),
            None => {
                let root = self
                    .shadow_root
                    .clone()
                    .unwrap_or_else(ShadowDir::default_root);
                sweep(&root);
                Err(ProbeError::died(output.status, report.last_step, stderr))
            }
        }
    }
}

/// What a probe learnt about a library it loaded and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The validated module descriptor.
    pub module: ModuleInfo,
    /// What closing it did in the probe process.
    pub outcome: CloseOutcome,
}

/// A probe's output, read.
#[derive(Debug, Default)]
struct Report {
    last_step: Option<Step>,
    module: Option<ModuleInfo>,
    end: Option<End>,
}

#[derive(Debug)]
enum End {
    Closed(CloseOutcome),
    Refused { step: String, message: String },
}

impl Report {
    fn read(stdout: &str) -> Result<Self, ProbeError> {
        let mut report = Report::default();
        for record in stdout.lines().filter_map(Record::decode) {
            let record = record.map_err(ProbeError::protocol)?;
            if report.end.is_some() {
                return Err(ProbeError::protocol("a record after the last one"));
            }
            match record {
                Record::Step(step) => report.last_step = Some(step),
                Record::Module {
                    plugin_id,
                    version,
                    display_name,
                    abi_major,
                    abi_minor,
                } => {
                    report.module = Some(ModuleInfo {
                        plugin_id,
                        version,
                        display_name,
                        abi_major,
                        abi_minor,
                        capabilities: Vec::new(),
                    });
                }
                Record::Capability(capability) => report
                    .module
                    .as_mut()
                    .ok_or_else(|| ProbeError::protocol("a capability before its module"))?
                    .capabilities
                    .push(capability),
                Record::Closed(outcome) => report.end = Some(End::Closed(outcome)),
                Record::Refused { step, message } => {
                    report.end = Some(End::Refused { step, message });
                }
            }
        }
        Ok(report)
    }
}
