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

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use self::child::Request;
use self::protocol::Record;
use super::library::LoaderConfig;
use super::shadow::{ShadowDir, sweep};
use super::step::Step;
use crate::module::{CloseOutcome, ModuleInfo};

/// The conventional file name of the probe executable.
pub const PROBE_NAME: &str = "plugin-runtime-probe";

/// What a probe's deadline allows on top of the loader's `init` and `deinit` deadlines:
/// copying the library, opening it (its ELF constructors), its entry symbol and closing.
pub const PROBE_OPEN_MARGIN: Duration = Duration::from_secs(10);

/// How much of each of the probe's output streams the parent keeps; the rest is read and
/// dropped.
const OUTPUT_LIMIT: usize = 1 << 20;

/// How often the parent checks whether the probe has ended.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

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
    timeout: Duration,
}

impl Probe {
    /// The probe that `config` names (with its shadow root), or `None` if it names none.
    /// Its deadline is [`timeout_of`](Self::timeout_of) `config`.
    pub fn from_config(config: &LoaderConfig) -> Option<Self> {
        Some(Self {
            program: config.probe.clone()?,
            shadow_root: config.shadow_root.clone(),
            timeout: Self::timeout_of(config),
        })
    }

    /// A probe running `program` with shadow directories under `shadow_root`, killed
    /// after `timeout`.
    pub(crate) fn new(program: PathBuf, shadow_root: PathBuf, timeout: Duration) -> Self {
        Self {
            program,
            shadow_root: Some(shadow_root),
            timeout,
        }
    }

    /// The deadline of a probe under `config`: its `init` and `deinit` deadlines plus
    /// [`PROBE_OPEN_MARGIN`].
    pub fn timeout_of(config: &LoaderConfig) -> Duration {
        config
            .init_timeout
            .saturating_add(config.deinit_timeout)
            .saturating_add(PROBE_OPEN_MARGIN)
    }

    /// The same probe with another deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a probe may run before it is killed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The probe executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Loads the library installed at `path` in a new probe process, as `mode` says, and
    /// waits for the probe to end, for at most [`timeout`](Self::timeout).
    ///
    /// A probe that leaves its shadow copy behind (because the library killed it, or it
    /// was killed at its deadline) has it removed here.
    ///
    /// # Errors
    ///
    /// [`ProbeError::Refused`] with the loader's own error when the loader refused the
    /// library; [`ProbeError::Crashed`] with the signal and the step when the library
    /// killed the probe; [`ProbeError::Ended`] when the probe exited without a report;
    /// [`ProbeError::TimedOut`] with the step when the probe did not end in time (it is
    /// killed and reaped); [`ProbeError::Spawn`] and [`ProbeError::Protocol`] when the
    /// probe cannot be started or is not a probe.
    pub fn inspect(&self, path: &Path, mode: ProbeMode) -> Result<Inspection, ProbeError> {
        let request = Request {
            path: path.to_owned(),
            mode,
            shadow_root: self.shadow_root.clone(),
        };
        let spawn_error = |source| ProbeError::Spawn {
            program: self.program.clone(),
            source,
        };
        let started = Instant::now();
        let mut child = Command::new(&self.program)
            .args(request.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (done, finished) = mpsc::channel();
        let stdout = drain(child.stdout.take(), done.clone());
        let stderr = drain(child.stderr.take(), done);
        let status = match wait_until(&mut child, started + self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                // Killed and reaped: its pipes are closed unless a process it started
                // holds them, so the readers get a moment, not more.
                await_readers(&finished, Instant::now() + Duration::from_millis(100));
                let stdout = String::from_utf8_lossy(&take(&stdout)).into_owned();
                let step = Report::read(&stdout).ok().and_then(|r| r.last_step);
                self.sweep();
                return Err(ProbeError::TimedOut {
                    step,
                    after: started.elapsed(),
                });
            }
            Err(e) => return Err(spawn_error(e)),
        };
        await_readers(&finished, (started + self.timeout).max(Instant::now()));
        let stdout = String::from_utf8_lossy(&take(&stdout)).into_owned();
        let stderr = String::from_utf8_lossy(&take(&stderr)).into_owned();
        let report = Report::read(&stdout)?;
        match report.end {
            // A report that is complete stands even if the probe died afterwards (a
            // library kept loaded can still crash at process exit): the library got
            // through every step.
            Some(End::Closed(outcome)) => {
                if !status.success() {
                    tracing::warn!(path = %path.display(), status = %status, "the probe failed after its report");
                }
                let module = report
                    .module
                    .ok_or_else(|| ProbeError::protocol("a close without a module"))?;
                Ok(Inspection { module, outcome })
            }
            Some(End::Refused { step, message }) => Err(ProbeError::Refused { step, message }),
            None => {
                self.sweep();
                Err(ProbeError::died(status, report.last_step, stderr))
            }
        }
    }

    /// Removes the shadow directories that dead probes left behind.
    fn sweep(&self) {
        let root = self
            .shadow_root
            .clone()
            .unwrap_or_else(ShadowDir::default_root);
        sweep(&root);
    }
}

/// What a reader thread has read so far from one of the probe's streams.
type Buffer = Arc<Mutex<Vec<u8>>>;

/// Reads `stream` to its end on a thread of its own, keeping its first
/// [`OUTPUT_LIMIT`] bytes; sends on `done` at the end.
fn drain(stream: Option<impl Read + Send + 'static>, done: mpsc::Sender<()>) -> Buffer {
    let buffer = Buffer::default();
    let Some(mut stream) = stream else {
        let _ = done.send(());
        return buffer;
    };
    let kept = Arc::clone(&buffer);
    let spawned = std::thread::Builder::new()
        .name("probe-output".to_owned())
        .spawn(move || {
            let mut chunk = [0; 8192];
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = done.send(());
        });
    if spawned.is_err() {
        // Without a reader the probe may block on a full pipe; its deadline ends it.
        tracing::warn!("cannot start a thread to read the probe's output");
    }
    buffer
}

/// Waits until both readers have finished, or until `deadline`; a reader still blocked
/// then (a process the probe started holds the pipe) is left running.
fn await_readers(finished: &mpsc::Receiver<()>, deadline: Instant) {
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if finished.recv_timeout(left).is_err() {
            return;
        }
    }
}

/// What `buffer` holds now.
fn take(buffer: &Buffer) -> Vec<u8> {
    std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Waits for `child` to end until `deadline`; past it, kills and reaps it and returns
/// `None`.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => {
                // `kill` fails only if the child has already ended; `wait` reaps it
                // either way, so no zombie is left.
                let _ = child.kill();
                child.wait()?;
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(POLL_INTERVAL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
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
                    digest,
                } => {
                    report.module = Some(ModuleInfo {
                        digest,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_the_lifecycle_deadlines() {
        let config = LoaderConfig::default()
            .with_probe("probe")
            .with_lifecycle_timeouts(Duration::from_secs(2), Duration::from_secs(3));
        let probe = Probe::from_config(&config).unwrap();
        assert_eq!(probe.timeout(), Duration::from_secs(5) + PROBE_OPEN_MARGIN);
        let probe = probe.with_timeout(Duration::from_millis(7));
        assert_eq!(probe.timeout(), Duration::from_millis(7));
    }
}
