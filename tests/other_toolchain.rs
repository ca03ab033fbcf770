//! The ABI does not depend on one rustc: the example plugin, built by another toolchain
//! (by default the workspace's `rust-version` one), loads into this host and runs.
//!
//! Ignored by default because it needs that toolchain installed; `.ci/run` installs it and
//! runs this test. Run it by hand with
//! `cargo test --test other_toolchain -- --ignored`, naming another toolchain with
//! `PLUGIN_RUNTIME_OTHER_TOOLCHAIN` (for example `nightly`) if you like.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gain_api::{GainCalls, GainInterface};
use plugin_runtime::generation::{Command as RuntimeCommand, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::{Runtime, RuntimeConfig};

/// The toolchain to build the plugin with: the variable's value, else the stated
/// `rust-version` (as `1.88.0` for `1.88`).
fn toolchain() -> String {
    if let Ok(named) = std::env::var("PLUGIN_RUNTIME_OTHER_TOOLCHAIN") {
        return named;
    }
    let stated = env!("CARGO_PKG_RUST_VERSION");
    if stated.matches('.').count() == 1 {
        format!("{stated}.0")
    } else {
        stated.to_owned()
    }
}

/// Builds `example-gain` with `toolchain` into a target directory of its own.
fn build_with(toolchain: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = workspace
        .join("target")
        .join(format!("toolchain-{toolchain}"));
    let status = Command::new("rustup")
        .args([
            "run",
            toolchain,
            "cargo",
            "build",
            "--quiet",
            "-p",
            "example-gain",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(workspace)
        // The variables this test runs under name this build's toolchain.
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO")
        .status()
        .expect("rustup runs");
    assert!(
        status.success(),
        "building example-gain with toolchain {toolchain} failed ({status}); \
         install it with `rustup toolchain install {toolchain} --profile minimal`"
    );
    target.join("debug").join(format!(
        "{}example_gain{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

#[test]
#[ignore = "needs the rust-version toolchain; .ci/run installs it and runs this test"]
fn a_plugin_built_by_another_toolchain_loads_and_runs() {
    let toolchain = toolchain();
    let library = build_with(&toolchain);

    // The library says which rustc built it; make sure it is not this test's.
    let rustc = Command::new("rustup")
        .args(["run", &toolchain, "rustc", "--version"])
        .output()
        .expect("rustup runs");
    let version = String::from_utf8(rustc.stdout).unwrap();
    let version = version
        .split_whitespace()
        .nth(1)
        .expect("rustc prints its version");
    let bytes = std::fs::read(&library).unwrap();
    let stamp = format!("rustc version {version}");
    // And the host was not: otherwise this would test one compiler against itself.
    let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(
        !host.windows(stamp.len()).any(|w| w == stamp.as_bytes()),
        "this test binary was built by {stamp} too; name another toolchain"
    );
    assert!(
        bytes.windows(stamp.len()).any(|w| w == stamp.as_bytes()),
        "{} does not say it was built by {stamp}",
        library.display()
    );

    let root =
        std::env::temp_dir().join(format!("plugin-runtime-toolchain-{}", std::process::id()));
    let config =
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root));
    let runtime = Runtime::start(config).unwrap();
    let load = RuntimeCommand::Load {
        path: library,
        expected_plugin_id: Some("example.gain".into()),
    };
    let outcome = runtime.call(load, Duration::from_secs(10)).unwrap();
    assert!(matches!(outcome, Outcome::Loaded { .. }), "{outcome:?}");
    let owner = runtime.register_owner("host").unwrap();
    let mut gain = owner
        .create::<GainInterface>("example.gain", "scale", b"4")
        .unwrap();
    let mut block = [0.25f32, -1.0];
    gain.process(&mut block).unwrap();
    assert_eq!(block, [1.0, -4.0]);
    assert_eq!(gain.latency(), 0);
}
