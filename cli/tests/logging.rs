//! The command's logging: `-v`, `--log-format` and `RUST_LOG`, with log lines on stderr
//! only. `inspect` of a path that does not exist is the cheap invocation that logs: it
//! logs `inspecting` at info for the path, then fails at the probe's copy step.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// A path that does not exist: its directory is never created.
fn absent() -> PathBuf {
    std::env::temp_dir()
        .join(format!("plugin-runtime-cli-logging-{}", std::process::id()))
        .join("absent.so")
}

/// Runs the command with `args` and `RUST_LOG` set to `rust_log`, or removed.
fn run(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugin-runtime"));
    command.args(args);
    match rust_log {
        Some(spec) => command.env("RUST_LOG", spec),
        None => command.env_remove("RUST_LOG"),
    };
    command.output().expect("the binary runs")
}

/// The JSON log lines on stderr; a line that starts as a JSON object must parse as one.
/// Other lines are the command's own messages.
fn json_logs(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8(stderr.to_vec())
        .expect("stderr is UTF-8")
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The `inspecting` records among `logs` that name `path`.
fn inspecting<'a>(logs: &'a [Value], path: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| l["fields"]["message"] == "inspecting" && l["fields"]["path"] == path)
        .collect()
}

#[test]
fn json_logs_go_to_stderr_and_stdout_keeps_the_report() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(
        &["-v", "--log-format", "json", "inspect", "--json", path],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "the path does not exist");

    let logs = json_logs(&out.stderr);
    assert!(!logs.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    for log in &logs {
        assert!(log["level"].is_string(), "{log}");
        let target = log["target"].as_str().unwrap_or_default();
        assert!(target.starts_with("plugin_runtime"), "{log}");
    }
    let lines = inspecting(&logs, path);
    assert_eq!(lines.len(), 1, "{logs:?}");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["target"], "plugin_runtime::cli");

    // Every stdout line is the inspect report, none a log record.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{stdout}");
    assert_eq!(records[0]["path"], path);
    assert_eq!(records[0]["ok"], false);
    assert!(records[0].get("level").is_none(), "{stdout}");
}

#[test]
fn the_options_are_global_and_text_is_the_default_format() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(&["inspect", path, "-v"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains("inspecting"))
        .unwrap_or_else(|| panic!("no info line: {stderr}"));
    assert!(line.contains(" INFO plugin_runtime::cli: "), "{line}");
    assert!(line.contains(path), "{line}");
    assert!(!line.starts_with('{'), "{line}");
}

#[test]
fn without_v_info_is_filtered_out() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(&["--log-format", "json", "inspect", path], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no such file"),
        "the failure is still reported: {stderr}"
    );
    assert!(json_logs(&out.stderr).is_empty(), "{stderr}");
}

#[test]
fn rust_log_enables_what_v_would_not() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(
        &["--log-format", "json", "inspect", path],
        Some("plugin_runtime=debug"),
    );
    assert_eq!(out.status.code(), Some(1));
    let logs = json_logs(&out.stderr);
    assert_eq!(inspecting(&logs, path).len(), 1, "{logs:?}");
}

#[test]
fn rust_log_overrides_v() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(
        &["-vvv", "--log-format", "json", "inspect", path],
        Some("warn"),
    );
    assert_eq!(out.status.code(), Some(1));
    let logs = json_logs(&out.stderr);
    assert!(logs.is_empty(), "{logs:?}");
}

#[test]
fn a_malformed_rust_log_is_reported_and_v_applies() {
    let path = absent();
    let path = path.to_str().unwrap();
    let out = run(
        &["-v", "--log-format", "json", "inspect", path],
        Some("plugin_runtime=loudest"),
    );
    assert_eq!(out.status.code(), Some(1));
    let logs = json_logs(&out.stderr);
    let warning = logs
        .iter()
        .find(|l| l["level"] == "WARN")
        .unwrap_or_else(|| panic!("no warning: {logs:?}"));
    let message = warning["fields"]["message"].as_str().unwrap();
    assert!(message.contains("RUST_LOG ignored"), "{warning}");
    assert_eq!(inspecting(&logs, path).len(), 1, "{logs:?}");
}
