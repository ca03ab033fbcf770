//! Long runs: thousands of generations of a plugin that starts a thread, and the refusal
//! of a load that could exhaust the process's thread keys. Tests here are named `long_`
//! so that slow jobs (sanitizers) can skip them with `--skip long_`.

use std::fs;
use std::path::PathBuf;
use std::process::Command as Process;

use fixture_api::build::fixtures;
use plugin_runtime::loader::{
    CloseOutcome, LibraryLoader, LoadError, LoaderConfig, thread_key_usage,
};

/// More than four times glibc's 1,024 thread keys: each generation's standard library
/// creates a key, so without deleting them the process aborts near the 1,022nd.
const RELOADS: usize = 5_000;

/// Set in a child process to the name of the test it runs.
const CHILD: &str = "PLUGIN_RUNTIME_RELOAD_STORM_CHILD";

fn scratch(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-reload-storm-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&root);
    root
}

#[test]
fn long_five_thousand_generations_of_a_threaded_plugin_leave_no_thread_keys() {
    let root = scratch("threaded");
    let loader = LibraryLoader::new(LoaderConfig::default().with_shadow_root(&root)).unwrap();
    let path = root.join("libfixture_threaded.so");
    let whole = fs::read(fixtures().path("fixture-threaded")).unwrap();
    fs::write(&path, loadable_part(&whole)).unwrap();
    let reload = |round: usize| {
        // `init` starts a worker thread and `deinit` joins it.
        let library = loader.load(&path, Some("fixture.threaded")).unwrap();
        let report = loader.close(library);
        assert_eq!(report.outcome, CloseOutcome::Unmapped, "round {round}");
        assert!(report.shadow_removed, "round {round}");
    };
    // The first generation may make this binary's own standard library create keys.
    reload(0);
    let before = thread_key_usage().expect("glibc's key table is readable");
    for round in 1..RELOADS {
        reload(round);
    }
    let after = thread_key_usage().unwrap();
    assert_eq!(
        after.in_use, before.in_use,
        "keys leaked: {before:?} -> {after:?}"
    );
    let _ = fs::remove_dir_all(&root);
}

/// The part of a 64-bit little-endian ELF shared object that the OS loader maps (up to
/// the end of its last loadable segment), without section headers, as `sstrip` makes
/// it. A debug fixture is about 13 MB, mostly debug information, and every generation
/// copies its library; this part is under 1 MB.
fn loadable_part(elf: &[u8]) -> Vec<u8> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    assert!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "a 64-bit little-endian ELF file"
    );
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, u16_at(54), u16_at(56));
    let end = (0..usize::from(phnum))
        .map(|i| phoff + i * usize::from(phentsize))
        .filter(|&at| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 1) // PT_LOAD
        .map(|at| (u64_at(at + 8) + u64_at(at + 32)) as usize)
        .max()
        .unwrap();
    let mut part = elf[..end].to_vec();
    part[40..48].fill(0); // e_shoff
    part[60..64].fill(0); // e_shnum, e_shstrndx
    part
}

#[test]
fn long_a_load_that_could_exhaust_thread_keys_is_refused() {
    // Takes nearly every key of the process, so it runs alone in a child process.
    let test = "long_a_load_that_could_exhaust_thread_keys_is_refused";
    if std::env::var(CHILD).is_ok_and(|name| name == test) {
        exhaust_then_load();
        println!("refused as expected");
        return;
    }
    fixtures();
    let output = Process::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("refused as expected"),
        "the child process failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn exhaust_then_load() {
    let root = scratch("exhaust");
    let loader = LibraryLoader::new(LoaderConfig::default().with_shadow_root(&root)).unwrap();
    let path = fixtures().path("fixture-threaded");
    let library = loader.load(&path, None).unwrap();
    loader.close(library);

    // Keys held by someone else (here: this test), as a leaking host library would.
    let mut held = Vec::new();
    let limit = thread_key_usage().unwrap().limit;
    while thread_key_usage().unwrap().in_use < limit - 4 {
        let mut key: libc_key::Key = 0;
        // SAFETY: `key` is valid for writes; no destructor.
        assert_eq!(unsafe { libc_key::pthread_key_create(&mut key, None) }, 0);
        held.push(key);
    }
    let refused = loader.load(&path, None).unwrap_err();
    assert!(
        matches!(refused, LoadError::ThreadKeys { counted: true, .. }),
        "{refused}"
    );
    assert_eq!(refused.step(), "thread keys");
    assert!(
        fs::read_dir(loader.shadow_dir()).unwrap().next().is_none(),
        "a refused load left a shadow copy"
    );
    for key in held {
        // SAFETY: created above, deleted once.
        assert_eq!(unsafe { libc_key::pthread_key_delete(key) }, 0);
    }
    let library = loader.load(&path, None).unwrap();
    assert_eq!(loader.close(library).outcome, CloseOutcome::Unmapped);
    let _ = fs::remove_dir_all(&root);
}

/// The two pthread calls this test needs, declared here rather than adding a dependency.
mod libc_key {
    /// glibc's `pthread_key_t`.
    pub type Key = std::ffi::c_uint;

    unsafe extern "C" {
        pub fn pthread_key_create(
            key: *mut Key,
            destructor: Option<unsafe extern "C" fn(*mut std::ffi::c_void)>,
        ) -> std::ffi::c_int;
        pub fn pthread_key_delete(key: Key) -> std::ffi::c_int;
    }
}
