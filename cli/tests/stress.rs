//! `plugin-runtime stress` against the echo fixtures.

use std::path::Path;
use std::process::{Command, Output};

use fixture_api::build::fixtures;

fn stress(args: &[&str], fixtures_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .arg("stress")
        .args(args)
        .arg("--fixtures")
        .arg(fixtures_dir)
        .output()
        .expect("the binary runs")
}

/// Every key the JSON report promises.
const KEYS: &[&str] = &[
    "ok",
    "failures",
    "seconds",
    "reloads",
    "reloads_per_minute",
    "calls",
    "commands",
    "outcomes",
    "lost_outcomes",
    "wrong_generation_calls",
    "max_draining",
    "max_held_generations",
    "draining_at_end",
    "converge_micros",
    "shadow_files_left",
    "mapped_left",
    "reported_pinned_by_loader",
    "idle_block_p50_ns",
    "idle_block_p999_ns",
    "storm_block_p50_ns",
    "storm_block_p999_ns",
    "slot_owners",
    "create_owners",
    "slot_owner_block_p99_micros",
    "slot_owner_block_max_micros",
    "create_owner_block_p99_micros",
    "create_owner_block_max_micros",
    "create_to_slot_block_p99_ratio",
    "create_to_slot_block_max_ratio",
    "slot_owner_blocking_waits",
    "create_owner_blocking_waits",
];

#[test]
fn a_short_run_loses_nothing_and_reports_every_figure() {
    let out = stress(
        &["--seconds", "3", "--owners", "4", "--json"],
        fixtures().dir(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    for key in KEYS {
        assert!(report.get(key).is_some(), "missing {key} in {report}");
    }
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["wrong_generation_calls"], 0, "{report}");
    assert_eq!(report["lost_outcomes"], 0, "{report}");
    assert_eq!(report["draining_at_end"], 0, "{report}");
    assert!(report["reloads"].as_u64().unwrap() > 0, "{report}");
    assert!(report["calls"].as_u64().unwrap() > 0, "{report}");
    assert!(report["converge_micros"].is_u64(), "{report}");
    assert_eq!(report["commands"], report["outcomes"], "{report}");
    // Half the owners hold slots, and their threads never waited on the actor.
    assert_eq!(
        (
            report["slot_owners"].as_u64(),
            report["create_owners"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(report["slot_owner_blocking_waits"], 0, "{report}");
    assert!(
        report["create_owner_blocking_waits"].as_u64().unwrap() > 0,
        "{report}"
    );
    // Progress goes to stderr, the report alone to stdout.
    assert!(stderr.contains("stress:"), "{stderr}");
}

#[test]
fn the_text_report_names_each_check() {
    let out = stress(&["--seconds", "1", "--owners", "2"], fixtures().dir());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "stress ",
        "control ",
        "commands ",
        "canary ",
        "draining ",
        "converged ",
        "left ",
        "block ",
        "kinds ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(expected)),
            "missing {expected:?} in:\n{text}"
        );
    }
}

#[test]
fn missing_fixtures_fail_with_a_message_naming_the_option() {
    let empty =
        std::env::temp_dir().join(format!("plugin-runtime-stress-none-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = stress(&["--seconds", "1"], &empty);
    let _ = std::fs::remove_dir(&empty);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fixture-echo-v1") && stderr.contains("--fixtures"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
