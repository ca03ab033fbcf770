//! Builds the fixture plugins once per process, into a target directory of their own,
//! and examples of the library for the tests that run them.
//!
//! `cargo test --workspace` does not build `cdylib`-only crates, so every test binary
//! that loads a fixture calls [`fixtures`] first; cargo makes the second and later calls
//! (from other test binaries) cheap no-ops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every fixture package, by package name (and the example plugin, which tests load
/// like a fixture).
pub const FIXTURES: &[&str] = &[
    "fixture-echo-v1",
    "fixture-echo-v2",
    "fixture-tls",
    "fixture-panicky",
    "fixture-threaded",
    "fixture-init-fails",
    "fixture-bad-abi",
    "fixture-no-entry",
    "fixture-null-vtable",
    "fixture-bad-utf8",
    "fixture-duplicate",
    "fixture-gauge-old",
    "fixture-gauge-new",
    "example-gain",
    "fixture-crash-entry",
    "fixture-thread-current",
    "fixture-slow-init",
    "fixture-stuck-deinit",
    "fixture-hang-entry",
    "fixture-stuck-tls-drop",
    "fixture-tally-v1",
    "fixture-tally-v2",
];

/// The built fixtures.
#[derive(Debug)]
pub struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    /// The built library of fixture package `package` (e.g. `"fixture-echo-v1"`).
    ///
    /// # Panics
    ///
    /// If `package` is not one of [`FIXTURES`].
    pub fn path(&self, package: &str) -> PathBuf {
        assert!(FIXTURES.contains(&package), "unknown fixture {package}");
        self.dir.join(format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            package.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        ))
    }

    /// The directory the libraries are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Builds every fixture (once per process) and returns where they are.
///
/// The profile follows the caller's: release when the caller is an optimised build (a
/// benchmark), debug otherwise. The build inherits the caller's environment, so flags
/// such as `RUSTFLAGS=-Zsanitizer=address` reach the fixtures too; when
/// `PLUGIN_RUNTIME_FIXTURE_TARGET` names a target triple, the fixtures are built with
/// `--target` it (as sanitizer builds need, so that proc-macros are not instrumented),
/// into a directory of their own.
///
/// # Panics
///
/// If cargo cannot be run or the build fails: a test cannot go on without its fixtures.
pub fn fixtures() -> &'static Fixtures {
    static BUILT: OnceLock<Fixtures> = OnceLock::new();
    BUILT.get_or_init(|| build(!cfg!(debug_assertions)))
}

/// Builds example `name` of the library package (`cargo build -p plugin-runtime
/// --example NAME`) the way the fixtures are built: the same cargo, target directory,
/// profile and target triple. Returns the executable. Each call runs cargo; the second
/// build of an example is a cheap no-op.
///
/// # Panics
///
/// If cargo cannot be run or the build fails.
pub fn example(name: &str) -> PathBuf {
    let (mut command, dir) = cargo_build(!cfg!(debug_assertions));
    command.args(["-p", "plugin-runtime", "--example", name]);
    run(command, &format!("example {name}"));
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn build(release: bool) -> Fixtures {
    let (mut command, dir) = cargo_build(release);
    for package in FIXTURES {
        command.args(["-p", package]);
    }
    run(command, "the fixture plugins");
    Fixtures {
        dir: dir.canonicalize().unwrap_or(dir),
    }
}

/// A `cargo build` in the fixtures' own target directory, and the directory its
/// artifacts land in.
fn cargo_build(release: bool) -> (Command, PathBuf) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let triple = std::env::var("PLUGIN_RUNTIME_FIXTURE_TARGET").ok();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join(match &triple {
            Some(_) => "fixtures-cross",
            None => "fixtures",
        });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .arg("build")
        .arg("--quiet")
        .arg("--target-dir")
        .arg(&target);
    if release {
        command.arg("--release");
    }
    if let Some(triple) = &triple {
        command.args(["--target", triple]);
    }
    let dir = match &triple {
        Some(triple) => target.join(triple),
        None => target,
    }
    .join(if release { "release" } else { "debug" });
    (command, dir)
}

/// Runs a build of `what`.
fn run(mut command: Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {what}: {e}"));
    assert!(status.success(), "building {what} failed: {status}");
}
