//! A plugin's standard library leaves pthread keys with destructors in its code on host
//! threads; closing it must delete them (or keep it loaded), and a host thread that
//! outlives the close must exit without calling into unmapped code.
//!
//! The scenarios that crash when this regresses run in a child process (this binary
//! again, running one test), so that a crash fails the test instead of killing the test
//! binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, GenerationState, Outcome};
use plugin_runtime::loader::{CloseOutcome, LibraryLoader, LoaderConfig, thread_key_usage};
use plugin_runtime::{Instance, Runtime, RuntimeConfig};

/// Set in a child process to the name of the test it runs.
const CHILD: &str = "PLUGIN_RUNTIME_THREAD_KEYS_CHILD";
/// What a child prints once its scenario ended, host threads included.
const SURVIVED: &str = "scenario survived";

/// Runs `scenario` in a child process and fails unless it ends normally.
fn in_child(test: &str, scenario: fn()) {
    if std::env::var(CHILD).is_ok_and(|name| name == test) {
        scenario();
        println!("{SURVIVED}");
        return;
    }
    fixtures(); // built here, so that the child does not build them under a timeout
    let output = Process::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(SURVIVED),
        "the scenario in the child process failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn scratch(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-thread-keys-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&root);
    root
}

/// Whether `/proc/self/maps` has an executable mapping of `path`, read here
/// independently of the loader.
fn mapped(path: &Path) -> bool {
    let wanted = path.to_str().unwrap();
    fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|p| p.contains('x')))
        .any(|l| l.ends_with(wanted) || l.ends_with(&format!("{wanted} (deleted)")))
}

#[test]
fn a_host_thread_that_ran_thread_current_exits_safely_after_the_close() {
    in_child(
        "a_host_thread_that_ran_thread_current_exits_safely_after_the_close",
        || {
            let root = scratch("loader");
            let loader =
                LibraryLoader::new(LoaderConfig::default().with_shadow_root(&root)).unwrap();
            let library = loader
                .load(&fixtures().path("fixture-thread-current"), None)
                .unwrap();
            let shadow = library.shadow_path().to_owned();
            // SAFETY: the fixture exports `fixture_thread_current_touch` with this type.
            let touch: extern "C" fn() -> u64 =
                *unsafe { library.raw_symbol("fixture_thread_current_touch") }.unwrap();
            let (touched_tx, touched_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let host = std::thread::Builder::new()
                .name("host".into())
                .spawn(move || {
                    touched_tx.send(touch()).unwrap();
                    let _ = release_rx.recv();
                })
                .unwrap();
            // The plugin's standard library does not know the host's name for the thread.
            assert_eq!(touched_rx.recv().unwrap(), 1);

            let report = loader.close(library);
            assert_eq!(report.outcome, CloseOutcome::Unmapped);
            assert!(!mapped(&shadow), "reported unmapped, but still mapped");
            // The host thread now ends; before the fix, glibc called the plugin's key
            // destructor here, in unmapped code.
            release_tx.send(()).unwrap();
            host.join().unwrap();
            let _ = fs::remove_dir_all(&root);
        },
    );
}

#[test]
fn an_owner_thread_outlives_the_plugin_it_called_thread_current_in() {
    in_child(
        "an_owner_thread_outlives_the_plugin_it_called_thread_current_in",
        || {
            // `process` runs only `thread::current()`: glibc sees nothing that keeps the
            // library, so it is unmapped while the owner thread lives.
            let pinned = owner_outlives_the_plugin("current", |instance| {
                instance.process(&mut [0.0]).unwrap();
            });
            assert!(!pinned, "kept mapped, though only a thread key was left");
        },
    );
}

#[test]
fn an_owner_thread_the_plugin_spawned_from_outlives_it() {
    in_child(
        "an_owner_thread_the_plugin_spawned_from_outlives_it",
        || {
            // `accumulate` spawns a thread, which also registers the plugin's
            // thread-local destructors with glibc (`__cxa_thread_atexit_impl`): glibc
            // keeps the library mapped until the owner thread ends, and the report says
            // so. Its key is deleted all the same.
            let pinned = owner_outlives_the_plugin("spawn", |instance| {
                assert!(instance.accumulate(0) > 0, "the plugin's spawn failed");
            });
            assert!(pinned, "a thread-local destructor did not keep the library");
        },
    );
}

/// An owner thread creates an instance of `fixture.thread-current`, calls it with
/// `call`, drops it and stays alive while the plugin is unloaded; then it ends. Returns
/// whether the generation was pinned by the OS loader (reported `StillMapped`) while
/// the owner lived; a generation whose record went is checked to be unmapped.
fn owner_outlives_the_plugin(tag: &str, call: fn(&mut Instance<ProbeInterface>)) -> bool {
    let root = scratch(tag);
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let wait = Duration::from_secs(10);
    let generation = match runtime
        .call(
            Command::Load {
                path: fixtures().path("fixture-thread-current"),
                expected_plugin_id: None,
            },
            wait,
        )
        .unwrap()
    {
        Outcome::Loaded { generation, .. } => generation,
        other => panic!("load failed: {other:?}"),
    };
    let shadow = runtime
        .pin("fixture.thread-current")
        .unwrap()
        .library()
        .shadow_path()
        .to_owned();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let handle = runtime.clone();
    let owner_thread = std::thread::spawn(move || {
        let owner = handle.register_owner("audio.decode").unwrap();
        let mut instance = owner
            .create::<ProbeInterface>("fixture.thread-current", "current", b"")
            .unwrap();
        call(&mut instance);
        drop(instance);
        drop(owner);
        done_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    done_rx.recv().unwrap();
    runtime
        .call(
            Command::Unload {
                plugin_id: "fixture.thread-current".into(),
            },
            wait,
        )
        .unwrap();
    // The generation's record goes once /proc/self/maps confirms its code left; a
    // generation the OS loader kept stays pinned by the loader.
    let deadline = Instant::now() + wait;
    let pinned = loop {
        match runtime.generation_state(generation).unwrap() {
            Err(_) => break false,
            Ok(GenerationState::PinnedByLoader { .. }) => break true,
            Ok(state) => assert!(Instant::now() < deadline, "never collected: {state:?}"),
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(
        mapped(&shadow),
        pinned,
        "the report disagrees with /proc/self/maps"
    );
    // The owner thread now ends; before thread keys were deleted at close, glibc called
    // the plugin's key destructor here, in unmapped code.
    release_tx.send(()).unwrap();
    owner_thread.join().unwrap();
    drop(runtime);
    let _ = fs::remove_dir_all(&root);
    pinned
}

#[test]
fn closing_deletes_the_keys_the_library_created() {
    let root = scratch("count");
    let loader = LibraryLoader::new(LoaderConfig::default().with_shadow_root(&root)).unwrap();
    let path = fixtures().path("fixture-thread-current");
    let cycle = || {
        let library = loader.load(&path, None).unwrap();
        // SAFETY: the fixture exports `fixture_thread_current_touch` with this type.
        let touch: extern "C" fn() -> u64 =
            *unsafe { library.raw_symbol("fixture_thread_current_touch") }.unwrap();
        let with_key = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    assert!(touch() > 0);
                    thread_key_usage().unwrap().in_use
                })
                .join()
                .unwrap()
        });
        assert_eq!(loader.close(library).outcome, CloseOutcome::Unmapped);
        with_key
    };
    // The first cycle may create keys of this binary's own standard library too.
    cycle();
    let before = thread_key_usage().unwrap().in_use;
    for _ in 0..3 {
        let with_key = cycle();
        assert!(with_key > before, "the plugin created no key to delete");
    }
    // Other tests of this binary run in child processes, so nothing else creates keys
    // here meanwhile.
    assert_eq!(thread_key_usage().unwrap().in_use, before);
    let _ = fs::remove_dir_all(&root);
}
