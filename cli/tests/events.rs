//! `plugin-runtime events`: the schema it prints is the library's, kind by kind and
//! field by field.

use std::process::{Command, Output};

use plugin_runtime::events::{EventKind, SCHEMA};
use serde::Deserialize;

/// One line of `events --schema`. Unknown members are refused, so the test also pins
/// the set of members.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Kind {
    topic: String,
    event: String,
    meaning: String,
    fields: Vec<Field>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Field {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    meaning: String,
}

fn events(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .arg("events")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn schema_lines() -> Vec<Kind> {
    let out = events(&["--schema"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("stdout is UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn schema_lines_are_the_librarys_schema_in_order() {
    let printed = schema_lines();
    assert_eq!(printed.len(), SCHEMA.len(), "one line per event kind");
    for (line, kind) in printed.iter().zip(SCHEMA) {
        assert_eq!(line.topic, kind.topic);
        assert_eq!(line.event, kind.event);
        assert_eq!(line.meaning, kind.meaning, "{}", kind.event);
        let fields: Vec<(&str, &str, &str)> = line
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.ty.as_str(), f.meaning.as_str()))
            .collect();
        let expected: Vec<(&str, &str, &str)> = kind
            .fields
            .iter()
            .map(|f| (f.name, f.ty, f.meaning))
            .collect();
        assert_eq!(fields, expected, "fields of {}", kind.event);
    }
}

#[test]
fn schema_lists_every_event_kind_once() {
    let printed = schema_lines();
    for kind in EventKind::ALL {
        let matching: Vec<&Kind> = printed
            .iter()
            .filter(|line| line.event == kind.name())
            .collect();
        assert_eq!(matching.len(), 1, "{} appears once", kind.name());
        assert_eq!(
            matching[0].topic,
            kind.topic().name(),
            "topic of {}",
            kind.name()
        );
    }
    assert_eq!(
        printed.len(),
        EventKind::ALL.len(),
        "no kind outside EventKind::ALL"
    );
}

#[test]
fn pretty_schema_is_one_array_of_the_same_objects() {
    let out = events(&["--schema", "--pretty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert!(
        text.lines().count() > SCHEMA.len(),
        "pretty-printed over many lines"
    );
    let array: Vec<Kind> = serde_json::from_str(&text).expect("one JSON array");
    assert_eq!(array, schema_lines());
}

#[test]
fn without_an_action_it_is_a_usage_error_naming_schema() {
    let out = events(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--schema"), "{stderr}");
    assert!(stderr.contains("Usage: plugin-runtime events"), "{stderr}");
}
