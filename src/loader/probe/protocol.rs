//! The lines a probe writes on its standard output, and how the parent reads them back.
//!
//! Every record is one line: [`PREFIX`], a space, a tag, and tab-separated fields in
//! which backslash, tab, carriage return and newline are escaped (`\\`, `\t`, `\r`,
//! `\n`). The probe writes a newline before each record too, so that text a plugin left
//! on the same stream without a line end cannot swallow the record; the parent ignores
//! every line that does not start with the prefix (a plugin's own prints).
//!
//! A probe writes `step` before each step it takes, then either the module (`module`,
//! one `capability` each, then `closed`) or `refused`.

use std::fmt::Write as _;

use crate::loader::step::Step;
use crate::module::{CapabilityInfo, CloseOutcome, Digest, ModuleInfo};

/// What starts every record; the version changes when the records do.
pub(crate) const PREFIX: &str = "plugin-runtime-probe/2";

/// One line of a probe's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// The probe is about to take this step.
    Step(Step),
    /// The validated module, without its capabilities. The digest is written as its 64
    /// hex digits, or empty when there is none.
    Module {
        plugin_id: String,
        version: String,
        display_name: String,
        abi_major: u32,
        abi_minor: u32,
        digest: Option<Digest>,
    },
    /// One capability of the module last reported.
    Capability(CapabilityInfo),
    /// The library was closed: the last record of a success.
    Closed(CloseOutcome),
    /// The loader refused the library (or the probe its arguments): the last record of a
    /// failure. `step` is the name the loader's error gives.
    Refused { step: String, message: String },
}

impl Record {
    /// The records that describe `module`.
    pub(crate) fn of_module(module: &ModuleInfo) -> Vec<Record> {
        let mut records = vec![Record::Module {
            plugin_id: module.plugin_id.clone(),
            version: module.version.clone(),
            display_name: module.display_name.clone(),
            abi_major: module.abi_major,
            abi_minor: module.abi_minor,
            digest: module.digest,
        }];
        records.extend(module.capabilities.iter().cloned().map(Record::Capability));
        records
    }

    /// The record as written, with a newline before and after.
    pub(crate) fn encode(&self) -> String {
        let (tag, fields): (&str, Vec<String>) = match self {
            Record::Step(step) => ("step", vec![step.name().to_owned()]),
            Record::Module {
                plugin_id,
                version,
                display_name,
                abi_major,
                abi_minor,
                digest,
            } => (
                "module",
                vec![
                    plugin_id.clone(),
                    version.clone(),
                    display_name.clone(),
                    abi_major.to_string(),
                    abi_minor.to_string(),
                    digest.map_or_else(String::new, |d| d.to_string()),
                ],
            ),
            Record::Capability(c) => (
                "capability",
                vec![
                    c.kind.clone(),
                    c.type_id.clone(),
                    c.interface_version.to_string(),
                    c.interface_minor.to_string(),
                    format!("{:016x}", c.layout_id),
                    c.layout.clone(),
                    c.vtable_size.to_string(),
                    c.display_name.clone(),
                    hex(&c.default_config),
                ],
            ),
            Record::Closed(outcome) => match outcome {
                CloseOutcome::Unmapped => ("closed", vec!["unmapped".to_owned()]),
                CloseOutcome::StillMapped => ("closed", vec!["still mapped".to_owned()]),
                CloseOutcome::KeptLoaded { reason } => {
                    ("closed", vec!["kept loaded".to_owned(), reason.clone()])
                }
            },
            Record::Refused { step, message } => ("refused", vec![step.clone(), message.clone()]),
        };
        let mut line = format!("\n{PREFIX} {tag}");
        for (i, field) in fields.iter().enumerate() {
            line.push(if i == 0 { ' ' } else { '\t' });
            escape_into(field, &mut line);
        }
        line.push('\n');
        line
    }

    /// Reads one line: `None` if it is no record (not starting with the prefix), `Some`
    /// of an error saying what is wrong with a malformed one.
    pub(crate) fn decode(line: &str) -> Option<Result<Record, String>> {
        let rest = line.strip_prefix(PREFIX)?.strip_prefix(' ')?;
        Some(decode_body(rest).map_err(|e| format!("{e} in {line:?}")))
    }
}

fn decode_body(body: &str) -> Result<Record, String> {
    let (tag, fields) = body.split_once(' ').unwrap_or((body, ""));
    let fields = fields
        .split('\t')
        .map(unescape)
        .collect::<Result<Vec<_>, _>>()?;
    let number = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} is not a number"))
    };
    match (tag, fields.as_slice()) {
        ("step", [name]) => Step::from_name(name)
            .map(Record::Step)
            .ok_or_else(|| format!("unknown step {name:?}")),
        ("module", [plugin_id, version, display_name, major, minor, digest]) => {
            Ok(Record::Module {
                plugin_id: plugin_id.clone(),
                version: version.clone(),
                display_name: display_name.clone(),
                abi_major: number(major)?,
                abi_minor: number(minor)?,
                digest: if digest.is_empty() {
                    None
                } else {
                    Some(digest.parse().map_err(|e| format!("{e}"))?)
                },
            })
        }
        (
            "capability",
            [
                kind,
                type_id,
                interface_version,
                interface_minor,
                layout_id,
                layout,
                vtable_size,
                display_name,
                config,
            ],
        ) => Ok(Record::Capability(CapabilityInfo {
            kind: kind.clone(),
            type_id: type_id.clone(),
            interface_version: number(interface_version)?,
            interface_minor: number(interface_minor)?,
            layout_id: u64::from_str_radix(layout_id, 16)
                .map_err(|_| format!("{layout_id:?} is not a layout id"))?,
            layout: layout.clone(),
            vtable_size: vtable_size
                .parse()
                .map_err(|_| format!("{vtable_size:?} is not a size"))?,
            display_name: display_name.clone(),
            default_config: unhex(config)?,
        })),
        ("closed", [outcome]) if outcome == "unmapped" => {
            Ok(Record::Closed(CloseOutcome::Unmapped))
        }
        ("closed", [outcome]) if outcome == "still mapped" => {
            Ok(Record::Closed(CloseOutcome::StillMapped))
        }
        ("closed", [outcome, reason]) if outcome == "kept loaded" => {
            Ok(Record::Closed(CloseOutcome::KeptLoaded {
                reason: reason.clone(),
            }))
        }
        ("refused", [step, message]) => Ok(Record::Refused {
            step: step.clone(),
            message: message.clone(),
        }),
        _ => Err(format!(
            "unknown record {tag:?} with {} fields",
            fields.len()
        )),
    }
}

fn escape_into(field: &str, line: &mut String) {
    for c in field.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\t' => line.push_str("\\t"),
            '\r' => line.push_str("\\r"),
            '\n' => line.push_str("\\n"),
            c => line.push(c),
        }
    }
}

fn unescape(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('n') => '\n',
            other => return Err(format!("bad escape {other:?}")),
        });
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing into a `String` cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(format!("{s:?} is not hexadecimal bytes"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("{s:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: Record) {
        let encoded = record.encode();
        let lines: Vec<&str> = encoded.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{encoded:?}");
        assert_eq!(Record::decode(lines[0]), Some(Ok(record)));
    }

    #[test]
    fn every_record_round_trips_with_awkward_text() {
        let awkward = "tab\there, line\nend\r, back\\slash \\t, ünïcode, trailing\\";
        for step in Step::ALL {
            round_trip(Record::Step(step));
        }
        round_trip(Record::Module {
            plugin_id: awkward.into(),
            version: String::new(),
            display_name: awkward.into(),
            abi_major: 1,
            abi_minor: u32::MAX,
            digest: None,
        });
        round_trip(Record::Module {
            plugin_id: "p".into(),
            version: "1".into(),
            display_name: String::new(),
            abi_major: 2,
            abi_minor: 0,
            digest: Some(Digest::of_bytes(b"abc")),
        });
        round_trip(Record::Capability(CapabilityInfo {
            kind: "dsp".into(),
            type_id: awkward.into(),
            interface_version: 7,
            interface_minor: 3,
            layout_id: u64::MAX - 5,
            layout: "0 a(&self) -> u32\n3? b(&mut self, &[u8]) -> Result<(), PluginError>".into(),
            vtable_size: 16,
            display_name: String::new(),
            default_config: vec![0, 1, 0xfe, b'\n'],
        }));
        round_trip(Record::Closed(CloseOutcome::Unmapped));
        round_trip(Record::Closed(CloseOutcome::StillMapped));
        round_trip(Record::Closed(CloseOutcome::KeptLoaded {
            reason: awkward.into(),
        }));
        round_trip(Record::Refused {
            step: "elf check".into(),
            message: awkward.into(),
        });
    }

    #[test]
    fn other_lines_are_not_records_and_bad_records_are_errors() {
        assert_eq!(Record::decode("hello from a plugin"), None);
        assert_eq!(Record::decode(""), None);
        assert_eq!(Record::decode(&format!("x{PREFIX} step copy")), None);
        for bad in [
            "step nowhere",
            "step copy\textra",
            "module a\tb\tc\t1",
            "module a\tb\tc\tone\t0",
            "module a\tb\tc\t1\t0",
            "module a\tb\tc\t1\t0\tnot-a-digest",
            "capability a\tb\t1\td\tabc",
            "closed maybe",
            "refused copy\tbad \\q escape",
            "shrug",
        ] {
            let line = format!("{PREFIX} {bad}");
            assert!(
                matches!(Record::decode(&line), Some(Err(_))),
                "{line:?} was read"
            );
        }
    }
}
