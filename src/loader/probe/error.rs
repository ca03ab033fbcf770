//! Why a probe produced no inspection, and the names of the signals that kill one.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::loader::step::Step;

/// How long a line of the probe's standard error a [`ProbeError`] quotes, at most.
const QUOTE_LIMIT: usize = 200;

/// Why [`Probe::inspect`](super::Probe::inspect) has no inspection. The message starts
/// with the step, like a [`LoadError`](crate::loader::LoadError)'s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The probe executable could not be started (it does not exist or is not
    /// executable).
    #[error("probe: cannot run {program}: {source}")]
    Spawn {
        /// The probe executable.
        program: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The loader in the probe refused the library: `message` is the
    /// [`LoadError`](crate::loader::LoadError)'s, which starts with its step.
    #[error("{message}")]
    Refused {
        /// The step, as [`LoadError::step`](crate::loader::LoadError::step) names it.
        step: String,
        /// The loader's message.
        message: String,
    },
    /// The library killed the probe with a signal (a fault in its ELF constructors,
    /// entry symbol, `init`, `deinit` or destructors, or an abort).
    #[error(
        "{}: the library crashed the probe with {} (signal {signal}){}",
        step_name(*step),
        signal_name(*signal).unwrap_or("a signal"),
        last_words(stderr)
    )]
    Crashed {
        /// The signal number.
        signal: i32,
        /// The step the probe had reached; `None` if it died before its first step.
        step: Option<Step>,
        /// What the probe wrote on its standard error (a plugin's panic message, say).
        stderr: String,
    },
    /// The probe exited without a report, for example because the library called
    /// `exit` in a constructor.
    #[error(
        "{}: the probe exited with status {code} before reporting{}",
        step_name(*step),
        last_words(stderr)
    )]
    Ended {
        /// The exit status.
        code: i32,
        /// The step the probe had reached; `None` if it exited before its first step.
        step: Option<Step>,
        /// What the probe wrote on its standard error.
        stderr: String,
    },
    /// The probe did not end by its deadline ([`Probe::timeout`](super::Probe::timeout)),
    /// for example because the library loops forever in its constructors or entry
    /// symbol; it was killed and reaped.
    #[error(
        "{}: the probe did not finish within {after:?} and was killed",
        step_name(*step)
    )]
    TimedOut {
        /// The step the probe had reached; `None` if it had not reported its first step.
        step: Option<Step>,
        /// How long the parent waited.
        after: std::time::Duration,
    },
    /// The probe's report cannot be read: the executable is not a probe, or not one of
    /// this version.
    #[error("probe: unreadable report: {message}")]
    Protocol {
        /// What is wrong.
        message: String,
    },
}

impl ProbeError {
    /// The name of the step that failed or was under way: one of [`Step`]'s names, one
    /// of [`LoadError::step`](crate::loader::LoadError::step)'s, `start` when the probe
    /// died before its first step, or `probe` when the probe itself failed.
    pub fn step(&self) -> &str {
        match self {
            Self::Spawn { .. } | Self::Protocol { .. } => "probe",
            Self::Refused { step, .. } => step,
            Self::Crashed { step, .. } | Self::Ended { step, .. } | Self::TimedOut { step, .. } => {
                step_name(*step)
            }
        }
    }

    /// The signal that killed the probe, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            Self::Crashed { signal, .. } => Some(*signal),
            _ => None,
        }
    }

    pub(super) fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol {
            message: message.into(),
        }
    }

    /// The error for a probe that ended with `status` before its last record.
    pub(super) fn died(status: ExitStatus, step: Option<Step>, stderr: String) -> Self {
        match (status.signal(), status.code()) {
            (Some(signal), _) => Self::Crashed {
                signal,
                step,
                stderr,
            },
            (None, Some(code)) if code != 0 => Self::Ended { code, step, stderr },
            _ => Self::protocol("the probe ended successfully without a report"),
        }
    }
}

/// The name of a Linux signal, such as `"SIGSEGV"` for 11; `None` for numbers without
/// a fixed name (real-time signals) and on architectures with other numbering.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    // The numbering shared by x86, Arm, RISC-V, PowerPC, LoongArch and s390 (see
    // signal(7)); MIPS, SPARC, Alpha and PA-RISC number several differently.
    if cfg!(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    )) {
        return None;
    }
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        16 => "SIGSTKFLT",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        26 => "SIGVTALRM",
        27 => "SIGPROF",
        29 => "SIGIO",
        30 => "SIGPWR",
        31 => "SIGSYS",
        _ => return None,
    })
}

fn step_name(step: Option<Step>) -> &'static str {
    step.map_or("start", Step::name)
}

/// The last line the probe wrote on its standard error, quoted, or nothing.
fn last_words(stderr: &str) -> String {
    let Some(line) = stderr.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return String::new();
    };
    let mut quoted: String = line.chars().take(QUOTE_LIMIT).collect();
    if quoted.len() < line.len() {
        quoted.push('…');
    }
    format!("; it said: {quoted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_names_the_signal_the_step_and_the_last_words() {
        let e = ProbeError::Crashed {
            signal: 11,
            step: Some(Step::EntrySymbol),
            stderr: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "entry symbol: the library crashed the probe with SIGSEGV (signal 11)"
        );
        assert_eq!(e.step(), "entry symbol");
        let e = ProbeError::Crashed {
            signal: 6,
            step: Some(Step::Init),
            stderr: "noise\nfatal runtime error: failed to initiate panic\n\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "init: the library crashed the probe with SIGABRT (signal 6); it said: fatal runtime error: failed to initiate panic"
        );
    }

    #[test]
    fn unknown_signals_have_no_name() {
        assert_eq!(signal_name(7), Some("SIGBUS"));
        assert_eq!(signal_name(40), None);
        assert_eq!(signal_name(0), None);
    }
}
