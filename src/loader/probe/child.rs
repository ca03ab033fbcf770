//! What the probe process runs: load one library, close it, report on standard output.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::ProbeMode;
use super::protocol::Record;
use crate::loader::library::{LibraryLoader, LoaderConfig};

/// The probe's arguments, as [`Probe`](super::Probe) passes them.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) path: PathBuf,
    pub(crate) mode: ProbeMode,
    pub(crate) shadow_root: Option<PathBuf>,
}

impl Request {
    /// The arguments for this request, in the order [`parse`](Self::parse) reads them.
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.mode == ProbeMode::Describe {
            args.push("--no-init".into());
        }
        if let Some(root) = &self.shadow_root {
            args.push("--shadow-root".into());
            args.push(root.into());
        }
        args.push("--".into());
        args.push(self.path.clone().into());
        args
    }

    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let mut mode = ProbeMode::Load;
        let mut shadow_root = None;
        let mut path = None;
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--no-init") => mode = ProbeMode::Describe,
                Some("--shadow-root") => {
                    shadow_root = Some(args.next().ok_or("--shadow-root needs a directory")?);
                }
                Some("--") => {
                    path = args.next();
                    break;
                }
                _ => return Err(format!("unexpected argument {arg:?}")),
            }
        }
        let path = path.ok_or("no library path")?;
        if args.next().is_some() {
            return Err("a probe reads exactly one library".into());
        }
        Ok(Self {
            path: path.into(),
            mode,
            shadow_root: shadow_root.map(PathBuf::from),
        })
    }
}

/// Runs the probe: reads its arguments (without the program name), loads and closes one
/// library, and writes the report to `out`, each record flushed as it is written so that
/// the last step taken survives a crash. This is the whole `main` of a probe executable.
///
/// The arguments are private to [`Probe`](super::Probe), which builds them. Exit status:
/// success once a complete report is written (the library may still have been refused),
/// 2 when the arguments are not understood (also reported as a refusal, step `usage`).
///
/// # Examples
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     plugin_runtime::loader::probe::serve(std::env::args_os().skip(1), &mut std::io::stdout())
/// }
/// ```
pub fn serve(args: impl IntoIterator<Item = OsString>, out: &mut impl Write) -> ExitCode {
    let request = match Request::parse(args) {
        Ok(request) => request,
        Err(message) => {
            emit(
                out,
                &Record::Refused {
                    step: "usage".into(),
                    message: format!("usage: {message}"),
                },
            );
            return ExitCode::from(2);
        }
    };
    let mut config = LoaderConfig::default();
    if let Some(root) = request.shadow_root {
        config = config.with_shadow_root(root);
    }
    let result = LibraryLoader::new(config).and_then(|loader| {
        let mut progress = |step| emit(out, &Record::Step(step));
        match request.mode {
            ProbeMode::Load => {
                let library = loader.load_observed(&request.path, None, true, &mut progress)?;
                let module = library.module().clone();
                let report = loader.close_observed(library, &mut progress);
                Ok((module, report.outcome))
            }
            ProbeMode::Describe => loader
                .describe_observed(&request.path, None, &mut progress)
                .map(|(module, report)| (module, report.outcome)),
        }
    });
    match result {
        Ok((module, outcome)) => {
            for record in Record::of_module(&module) {
                emit(out, &record);
            }
            emit(out, &Record::Closed(outcome));
        }
        Err(e) => emit(
            out,
            &Record::Refused {
                step: e.step().to_owned(),
                message: e.to_string(),
            },
        ),
    }
    ExitCode::SUCCESS
}

/// Writes and flushes one record. A parent that stopped reading gets nothing more, so a
/// failed write is ignored on purpose.
fn emit(out: &mut impl Write, record: &Record) {
    let _ = out
        .write_all(record.encode().as_bytes())
        .and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{CloseOutcome, Step};

    #[test]
    fn requests_round_trip_through_arguments() {
        for (mode, shadow_root) in [
            (ProbeMode::Load, None),
            (ProbeMode::Describe, Some(PathBuf::from("/tmp/shadow dir"))),
        ] {
            let request = Request {
                path: "--odd path.so".into(),
                mode,
                shadow_root,
            };
            let parsed = Request::parse(request.to_args()).unwrap();
            assert_eq!(parsed.path, request.path);
            assert_eq!(parsed.mode, request.mode);
            assert_eq!(parsed.shadow_root, request.shadow_root);
        }
    }

    #[test]
    fn bad_arguments_are_a_usage_refusal() {
        let mut out = Vec::new();
        let code = serve(["--bogus".into()], &mut out);
        assert_eq!(code, ExitCode::from(2));
        let text = String::from_utf8(out).unwrap();
        let record = text.lines().find_map(Record::decode).unwrap().unwrap();
        assert!(
            matches!(&record, Record::Refused { step, .. } if step == "usage"),
            "{record:?}"
        );
    }

    /// The records `serve` writes for `request`.
    fn records(request: &Request) -> Vec<Record> {
        let mut out = Vec::new();
        assert_eq!(serve(request.to_args(), &mut out), ExitCode::SUCCESS);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter_map(Record::decode)
            .map(Result::unwrap)
            .collect()
    }

    fn steps(records: &[Record]) -> Vec<Step> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Step(step) => Some(*step),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn describe_takes_neither_init_nor_deinit_and_load_takes_both() {
        let root =
            std::env::temp_dir().join(format!("plugin-runtime-probe-steps-{}", std::process::id()));
        let path = fixture_api::build::fixtures().path("fixture-threaded");
        let mut request = Request {
            path,
            mode: ProbeMode::Describe,
            shadow_root: Some(root.clone()),
        };
        let described = records(&request);
        use Step::*;
        assert_eq!(
            steps(&described),
            [Copy, Digest, ElfCheck, Open, EntrySymbol, Validate, Close]
        );
        assert_eq!(
            described.last(),
            Some(&Record::Closed(CloseOutcome::Unmapped))
        );
        request.mode = ProbeMode::Load;
        let loaded = records(&request);
        assert_eq!(
            steps(&loaded),
            [
                Copy,
                Digest,
                ElfCheck,
                Open,
                EntrySymbol,
                Validate,
                Init,
                Deinit,
                Close
            ]
        );
        assert!(
            matches!(&loaded[loaded.len() - 3], Record::Module { plugin_id, .. } if plugin_id == "fixture.threaded"),
            "{loaded:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_file_is_refused_at_copy() {
        let root =
            std::env::temp_dir().join(format!("plugin-runtime-probe-serve-{}", std::process::id()));
        let records = records(&Request {
            path: root.join("absent.so"),
            mode: ProbeMode::Load,
            shadow_root: Some(root.join("shadow")),
        });
        assert_eq!(records[0], Record::Step(Step::Copy));
        assert!(
            matches!(&records[1], Record::Refused { step, message } if step == "copy" && message.contains("no such file")),
            "{records:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
