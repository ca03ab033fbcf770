//! `plugin-runtime inspect` against the fixture plugins and bad inputs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fixture_api::build::fixtures;

fn inspect(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugin-runtime-cli-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn json_report_of_a_good_plugin() {
    let path = fixtures().path("fixture-echo-v2");
    let out = inspect(&[&path, Path::new("--json")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugin_id"], "fixture.echo");
    assert_eq!(report["version"], "2.0.0");
    assert_eq!(report["abi_version"], "2.0");
    assert_eq!(report["unmapped"], true);
    let caps = report["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["kind"], "dsp");
    assert_eq!(caps[0]["type_id"], "echo");
    assert_eq!(caps[0]["interface_version"], 1);
    assert_eq!(caps[1]["type_id"], "echo-next");
    assert_eq!(caps[1]["interface_version"], 2);
}

#[test]
fn text_report_names_everything() {
    let out = inspect(&[&fixtures().path("fixture-echo-v1")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "fixture.echo",
        "1.0.0",
        "dsp/echo",
        "interface 1",
        "unmapped",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_step() {
    let dir = scratch("bad");
    let text = dir.join("readme.so");
    fs::write(&text, "just words\n").unwrap();
    let truncated = dir.join("truncated.so");
    let whole = fs::read(fixtures().path("fixture-echo-v1")).unwrap();
    fs::write(&truncated, &whole[..whole.len() / 3]).unwrap();
    let cases: [(PathBuf, &str); 6] = [
        (dir.join("absent.so"), "copy:"),
        (dir.clone(), "copy:"),
        (text, "open:"),
        (truncated, "open:"),
        (fixtures().path("fixture-no-entry"), "entry symbol:"),
        (fixtures().path("fixture-bad-abi"), "version:"),
    ];
    for (path, step) in cases {
        let out = inspect(&[&path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
        assert_eq!(stderr.lines().count(), 1, "{}: {stderr}", path.display());
        assert!(stderr.contains(step), "{}: {stderr}", path.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    fs::remove_dir_all(&dir).unwrap();
}
