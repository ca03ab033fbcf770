//! `plugin-runtime inspect` against the fixture plugins and bad inputs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use plugin_runtime::loader::probe::{Probe, ProbeError, ProbeMode};
use plugin_runtime::loader::{Allowlist, LoaderConfig, Step};

/// A library that crashes the probe in its entry symbol (a raw-ABI fixture).
const CRASH_ENTRY: &str = "fixture-crash-entry";

/// A library whose entry symbol never returns (a raw-ABI fixture).
const HANG_ENTRY: &str = "fixture-hang-entry";

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
    assert_eq!(report["path"], path.to_str().unwrap());
    assert_eq!(report["ok"], true);
    assert_eq!(report["init_skipped"], false);
    assert_eq!(report["plugin_id"], "fixture.echo");
    assert_eq!(report["version"], "2.0.0");
    assert_eq!(report["abi_version"], "2.0");
    assert_eq!(report["digest"], sha256sum(&path));
    assert_eq!(report["unmapped"], true);
    let caps = report["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["kind"], "dsp");
    assert_eq!(caps[0]["type_id"], "echo");
    assert_eq!(caps[0]["interface_version"], 1);
    assert_eq!(caps[1]["type_id"], "echo-next");
    assert_eq!(caps[1]["interface_version"], 2);
    assert_eq!(caps[0]["interface_minor"], 0);
    assert_eq!(caps[0]["layout"][0], "0 tag(&self) -> u32");
    assert_eq!(
        caps[0]["layout"][1],
        "0 process(&mut self, &mut [f32]) -> Result<(), PluginError>"
    );
    assert_eq!(caps[0]["layout_id"].as_str().unwrap().len(), 16);
}

/// The digest `sha256sum` prints for `path`.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn the_allowlist_lines_read_back_as_an_allowlist_of_each_library() {
    let v1 = fixtures().path("fixture-echo-v1");
    let gain = fixtures().path("example-gain");
    let out = inspect(&[&v1, &gain, Path::new("--allowlist")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        format!(
            "{} fixture.echo\n{} example.gain\n",
            sha256sum(&v1),
            sha256sum(&gain)
        )
    );
    let allowlist = Allowlist::parse(&text).unwrap();
    assert!(allowlist.allows(&sha256sum(&v1).parse().unwrap(), "fixture.echo"));
    assert_eq!(allowlist.len(), 2);
    // Not together with --json.
    let out = inspect(&[&v1, Path::new("--allowlist"), Path::new("--json")]);
    assert!(!out.status.success());
}

#[test]
fn text_report_names_everything() {
    let path = fixtures().path("fixture-echo-v1");
    let out = inspect(&[&path]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        path.to_str().unwrap(),
        "fixture.echo",
        "1.0.0",
        "dsp/echo",
        &format!("digest       {}", sha256sum(&path)),
        "interface 1.0",
        "0 accumulate(&mut self, u64) -> u64",
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
        (dir.join("absent.so"), "copy: no such file"),
        (dir.clone(), "copy:"),
        (text, "elf check:"),
        (truncated, "elf check:"),
        (fixtures().path("fixture-no-entry"), "entry symbol:"),
        (fixtures().path("fixture-bad-abi"), "version:"),
    ];
    for (path, step) in cases {
        let out = inspect(&[&path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
        assert_eq!(stderr.lines().count(), 1, "{}: {stderr}", path.display());
        assert!(stderr.contains(step), "{}: {stderr}", path.display());
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crash_in_the_entry_symbol_is_reported_and_the_next_library_inspected() {
    let crash = fixtures().path(CRASH_ENTRY);
    let good = fixtures().path("fixture-echo-v1");
    let out = inspect(&[&crash, &good]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for expected in [
        crash.to_str().unwrap(),
        "entry symbol: the library crashed the probe with SIGSEGV (signal 11)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(good.to_str().unwrap()), "{text}");
    assert!(text.contains("fixture.echo"), "{text}");
    assert!(!text.contains(crash.to_str().unwrap()), "{text}");
}

#[test]
fn a_probe_that_hangs_in_the_entry_symbol_is_killed_at_its_deadline() {
    let root = scratch("hang");
    let deadline = Duration::from_millis(300);
    let config = LoaderConfig::default()
        .with_shadow_root(&root)
        .with_probe(env!("CARGO_BIN_EXE_plugin-runtime-probe"));
    let probe = Probe::from_config(&config).unwrap().with_timeout(deadline);
    let started = Instant::now();
    let err = probe
        .inspect(&fixtures().path(HANG_ENTRY), ProbeMode::Describe)
        .expect_err("the entry symbol never returns");
    let waited = started.elapsed();
    let ProbeError::TimedOut { step, after } = &err else {
        panic!("not a timeout: {err}");
    };
    assert_eq!(*step, Some(Step::EntrySymbol), "{err}");
    assert!(*after >= deadline, "{err}");
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    assert_eq!(err.step(), "entry symbol");
    assert_eq!(err.signal(), None);
    assert!(
        err.to_string()
            .starts_with("entry symbol: the probe did not finish within"),
        "{err}"
    );
    // The probe was killed and reaped: this process has no child probe left, not even
    // a zombie. (The other tests here start `plugin-runtime`, whose probes are its
    // children, not this process's.)
    assert_eq!(child_probes(), Vec::<String>::new());
    // Its shadow copy was swept with it.
    let left: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left,
        Vec::<PathBuf>::new(),
        "the probe left its copy behind"
    );
    fs::remove_dir_all(&root).unwrap();
}

/// The `stat` lines of this process's children that run the probe (whose command name,
/// cut to 15 bytes, is `plugin-runtime-`).
fn child_probes() -> Vec<String> {
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // `PID (COMM) STATE PPID ...`; COMM may hold spaces, so split after its `)`.
            let Some((head, tail)) = stat.rsplit_once(") ") else {
                return false;
            };
            let ppid = tail.split(' ').nth(1);
            head.ends_with("(plugin-runtime-") && ppid == Some(me.as_str())
        })
        .collect()
}

#[test]
fn a_library_with_its_rodata_zeroed_is_reported_not_fatal() {
    let dir = scratch("rodata");
    let mut bytes = fs::read(fixtures().path("fixture-echo-v1")).unwrap();
    let rodata = section(&bytes, ".rodata").expect("the fixture has a .rodata section");
    bytes[rodata].fill(0);
    let broken = dir.join("libzeroed.so");
    fs::write(&broken, &bytes).unwrap();
    let good = fixtures().path("fixture-echo-v2");
    let out = inspect(&[&broken, &good, Path::new("--json")]);
    assert_eq!(out.status.code(), Some(1));
    let records = json_lines(&out.stdout);
    assert_eq!(records.len(), 2, "{records:?}");
    // The zeroed strings now fail the descriptor's layout checks before any of the
    // library's functions run (before those checks existed, they faulted in `init`).
    // Either way the library is reported, with its path, and the next one inspected: a
    // typed refusal at `descriptor`, or a crash with the signal and the step it hit.
    let failure = &records[0];
    assert_eq!(failure["path"], broken.to_str().unwrap());
    assert_eq!(failure["ok"], false);
    let step = failure["step"].as_str().unwrap();
    let error = failure["error"].as_str().unwrap();
    if step == "descriptor" {
        assert!(failure["signal"].is_null(), "{failure}");
        assert!(error.contains("layout"), "{failure}");
    } else {
        assert!(
            [
                "open",
                "entry symbol",
                "validate",
                "init",
                "deinit",
                "close"
            ]
            .contains(&step),
            "{failure}"
        );
        assert!(
            failure["signal"].as_str().unwrap().starts_with("SIG"),
            "{failure}"
        );
        assert!(error.contains("the library crashed the probe"), "{failure}");
    }
    assert_eq!(records[1]["ok"], true);
    assert_eq!(records[1]["version"], "2.0.0");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_failures_are_records_on_stdout() {
    let dir = scratch("json");
    let absent = dir.join("absent.so");
    let crash = fixtures().path(CRASH_ENTRY);
    let refused = fixtures().path("fixture-bad-abi");
    let good = fixtures().path("fixture-echo-v1");
    let out = inspect(&[&crash, &absent, &refused, &good, Path::new("--json")]);
    assert_eq!(out.status.code(), Some(1));
    let records = json_lines(&out.stdout);
    assert_eq!(records.len(), 4, "{records:?}");
    for (record, path) in records.iter().zip([&crash, &absent, &refused, &good]) {
        assert_eq!(record["path"], path.to_str().unwrap());
    }
    let expected = [
        (
            "entry symbol",
            "entry symbol: the library crashed",
            "SIGSEGV",
        ),
        ("copy", "copy: no such file", ""),
        ("version", "version: plugin is built for ABI major", ""),
    ];
    for (record, (step, error, signal)) in records.iter().zip(expected) {
        assert_eq!(record["ok"], false, "{record}");
        assert_eq!(record["step"], step, "{record}");
        assert!(
            record["error"].as_str().unwrap().starts_with(error),
            "{record}"
        );
        if signal.is_empty() {
            assert!(record["signal"].is_null(), "{record}");
        } else {
            assert_eq!(record["signal"], signal, "{record}");
        }
    }
    assert_eq!(records[3]["ok"], true);
    assert_eq!(records[3]["plugin_id"], "fixture.echo");
    // Each failure is also one line on stderr for whoever watches.
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 3);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_init_reads_the_descriptor_of_a_library_whose_init_fails() {
    let path = fixtures().path("fixture-init-fails");
    let out = inspect(&[&path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init: "));

    let out = inspect(&[&path, Path::new("--no-init"), Path::new("--json")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = json_lines(&out.stdout);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["plugin_id"], "fixture.init-fails");
    assert_eq!(records[0]["init_skipped"], true);
    assert_eq!(records[0]["unmapped"], true);
    assert_eq!(records[0]["capabilities"][0]["type_id"], "echo");
}

#[test]
fn no_init_help_says_what_still_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-runtime"))
        .args(["inspect", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let no_init = help
        .split("--no-init")
        .nth(1)
        .expect("--no-init is documented");
    for expected in ["ELF constructors", "entry symbol"] {
        assert!(
            no_init.contains(expected),
            "missing {expected:?} in:\n{help}"
        );
    }
}

#[test]
fn a_missing_probe_is_one_clear_error() {
    let dir = scratch("probe");
    let out = inspect(&[
        Path::new("--probe"),
        &dir.join("no-probe"),
        &fixtures().path("fixture-echo-v1"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no probe executable"), "{stderr}");
    fs::remove_dir_all(&dir).unwrap();
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The byte range of section `name` in a 64-bit little-endian ELF file, read from its
/// section header table.
fn section(elf: &[u8], name: &str) -> Option<std::ops::Range<usize>> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "a 64-bit little-endian ELF file"
    );
    let (shoff, shentsize) = (u64_at(0x28), usize::from(u16_at(0x3a)));
    let (shnum, shstrndx) = (usize::from(u16_at(0x3c)), usize::from(u16_at(0x3e)));
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 0x18);
    (0..shnum).find_map(|i| {
        let start = names + u32_at(header(i)) as usize;
        let end = start + elf[start..].iter().position(|&b| b == 0)?;
        (&elf[start..end] == name.as_bytes()).then(|| {
            let offset = u64_at(header(i) + 0x18);
            offset..offset + u64_at(header(i) + 0x20)
        })
    })
}
