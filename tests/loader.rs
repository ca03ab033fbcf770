//! The real loader against real shared libraries built from the fixture crates.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use fixture_api::build::fixtures;
use fixture_api::{AccumulateFn, ProbeInterface, ProbeNextInterface};
use plugin_runtime::abi::{InstanceHandle, Status};
use plugin_runtime::interface::__private::RawSliceMut;
use plugin_runtime::loader::{
    CloseOutcome, DescriptorError, LibraryLoader, LoadError, LoaderConfig, ResolveError,
};

/// A loader with a shadow root of its own, removed at the end of the test.
struct Scratch {
    root: PathBuf,
    loader: LibraryLoader,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        Self::with_config(tag, LoaderConfig::default())
    }

    fn with_config(tag: &str, config: LoaderConfig) -> Self {
        let root = std::env::temp_dir().join(format!(
            "plugin-runtime-loader-test-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        let loader = LibraryLoader::new(config.with_shadow_root(&root)).unwrap();
        Self { root, loader }
    }

    fn shadow_files(&self) -> Vec<PathBuf> {
        fs::read_dir(self.loader.shadow_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
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

fn thread_names() -> Vec<String> {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

fn load_error(fixture: &str) -> LoadError {
    let scratch = Scratch::new(fixture);
    let err = scratch
        .loader
        .load(&fixtures().path(fixture), None)
        .expect_err("the fixture must be refused");
    assert!(
        scratch.shadow_files().is_empty(),
        "a refused load left a shadow copy"
    );
    err
}

#[test]
fn each_good_fixture_loads_and_is_unmapped_after_close() {
    for (fixture, id, version) in [
        ("fixture-echo-v1", "fixture.echo", "1.0.0"),
        ("fixture-echo-v2", "fixture.echo", "2.0.0"),
        ("fixture-panicky", "fixture.panicky", "0.1.0"),
        ("fixture-tls", "fixture.tls", "0.1.0"),
    ] {
        let scratch = Scratch::new("good");
        let library = scratch
            .loader
            .load(&fixtures().path(fixture), Some(id))
            .unwrap();
        assert_eq!(library.module().plugin_id, id);
        assert_eq!(library.module().version, version);
        let shadow = library.shadow_path().to_owned();
        assert!(shadow.starts_with(scratch.loader.shadow_dir()));
        assert!(mapped(&shadow), "{fixture} is not mapped after load");
        let report = scratch.loader.close(library);
        assert_eq!(report.outcome, CloseOutcome::Unmapped, "{fixture}");
        assert!(!mapped(&shadow), "{fixture} still mapped after close");
        assert!(report.shadow_removed && !shadow.exists());
    }
}

#[test]
fn wrong_abi_version_is_refused_by_version() {
    assert!(matches!(
        load_error("fixture-bad-abi"),
        LoadError::AbiVersion {
            found: 3,
            expected: 2
        }
    ));
}

#[test]
fn missing_entry_symbol_is_refused() {
    let err = load_error("fixture-no-entry");
    assert!(matches!(err, LoadError::EntrySymbol { .. }), "{err}");
    assert_eq!(err.step(), "entry symbol");
}

#[test]
fn malformed_descriptors_are_refused_with_their_own_variant() {
    assert!(matches!(
        load_error("fixture-null-vtable"),
        LoadError::Descriptor(DescriptorError::NullVtable { ref type_id, .. }) if type_id == "hollow"
    ));
    assert!(matches!(
        load_error("fixture-bad-utf8"),
        LoadError::Descriptor(DescriptorError::InvalidUtf8 { ref field }) if field == "capabilities[0].type_id"
    ));
    assert!(matches!(
        load_error("fixture-duplicate"),
        LoadError::Descriptor(DescriptorError::DuplicateCapability { ref type_id, .. }) if type_id == "twice"
    ));
}

#[test]
fn unexpected_plugin_id_is_refused() {
    let scratch = Scratch::new("id");
    let err = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v1"), Some("fixture.other"))
        .unwrap_err();
    assert!(
        matches!(err, LoadError::PluginIdMismatch { ref found, .. } if found == "fixture.echo")
    );
    assert!(scratch.shadow_files().is_empty());
}

#[test]
fn bad_files_are_refused_at_copy_or_elf_check() {
    let scratch = Scratch::new("files");
    let dir = scratch.root.join("inputs");
    fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.so");
    fs::write(&text, "not a library\n").unwrap();
    let truncated = dir.join("truncated.so");
    let whole = fs::read(fixtures().path("fixture-echo-v1")).unwrap();
    fs::write(&truncated, &whole[..whole.len().min(4096)]).unwrap();

    let missing = scratch
        .loader
        .load(&dir.join("absent.so"), None)
        .unwrap_err();
    assert!(matches!(missing, LoadError::Copy { .. }), "{missing}");
    let directory = scratch.loader.load(&dir, None).unwrap_err();
    assert!(matches!(directory, LoadError::Copy { .. }), "{directory}");
    let text = scratch.loader.load(&text, None).unwrap_err();
    assert!(matches!(text, LoadError::ElfCheck { .. }), "{text}");
    let truncated = scratch.loader.load(&truncated, None).unwrap_err();
    assert!(
        matches!(truncated, LoadError::ElfCheck { .. }),
        "{truncated}"
    );
    assert!(scratch.shadow_files().is_empty());
}

#[test]
fn two_loads_of_one_path_are_two_libraries() {
    let scratch = Scratch::new("twice");
    let path = fixtures().path("fixture-echo-v1");
    let a = scratch.loader.load(&path, None).unwrap();
    let b = scratch.loader.load(&path, None).unwrap();
    assert_ne!(a.shadow_path(), b.shadow_path());
    assert_eq!(scratch.shadow_files().len(), 2);
    let va = a.capability::<ProbeInterface>("echo").unwrap().__vtable().0;
    let vb = b.capability::<ProbeInterface>("echo").unwrap().__vtable().0;
    assert_ne!(va, vb, "both loads resolved to the same mapped code");
    let (sa, sb) = (a.shadow_path().to_owned(), b.shadow_path().to_owned());
    assert_eq!(scratch.loader.close(a).outcome, CloseOutcome::Unmapped);
    assert!(
        !mapped(&sa) && mapped(&sb),
        "closing one copy touched the other"
    );
    assert_eq!(scratch.loader.close(b).outcome, CloseOutcome::Unmapped);
    assert!(scratch.shadow_files().is_empty());
}

#[test]
fn replacing_the_installed_file_by_rename_leaves_the_loaded_copy_alone() {
    let scratch = Scratch::new("rename");
    let install = scratch.root.join("installed");
    fs::create_dir_all(&install).unwrap();
    let installed = install.join("libecho.so");
    fs::copy(fixtures().path("fixture-echo-v1"), &installed).unwrap();
    let old = scratch.loader.load(&installed, None).unwrap();

    let staged = install.join("libecho.so.new");
    fs::copy(fixtures().path("fixture-echo-v2"), &staged).unwrap();
    fs::rename(&staged, &installed).unwrap();

    let new = scratch.loader.load(&installed, None).unwrap();
    assert_eq!(old.module().version, "1.0.0");
    assert_eq!(new.module().version, "2.0.0");
    for (library, tag) in [(&old, 1), (&new, 2)] {
        let cap = library.capability::<ProbeInterface>("echo").unwrap();
        let handle = cap.__create_unrecorded(b"").unwrap();
        // SAFETY: a live handle of this capability, used on this thread only.
        assert_eq!(unsafe { ((*cap.__vtable().0).tag)(handle) }, tag);
        // SAFETY: destroyed once, on the thread that created it.
        unsafe { cap.__destroy_unrecorded(handle) }.unwrap();
    }
    scratch.loader.close(old);
    scratch.loader.close(new);
}

#[test]
fn capabilities_resolve_by_kind_type_and_interface_version() {
    let scratch = Scratch::new("resolve");
    let library = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v2"), None)
        .unwrap();
    assert!(matches!(
        library.capability::<ProbeInterface>("echo-next"),
        Err(ResolveError::InterfaceVersion {
            expected: 1,
            found: 2,
            ..
        })
    ));
    assert!(matches!(
        library.capability::<ProbeInterface>("absent"),
        Err(ResolveError::NotFound { .. })
    ));
    let next = library
        .capability::<ProbeNextInterface>("echo-next")
        .unwrap();
    let handle = next.__create_unrecorded(b"gain=3").unwrap();
    let mut samples = [1.0f32, 2.0];
    // SAFETY: a live handle; the samples outlive the call.
    let status = unsafe {
        ((*next.__vtable().0).process)(
            handle,
            RawSliceMut {
                ptr: samples.as_mut_ptr(),
                len: 2,
            },
            &mut (),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, Status::OK);
    assert_eq!(samples, [3.0, 6.0]);
    // SAFETY: destroyed once, on this thread.
    unsafe { next.__destroy_unrecorded(handle) }.unwrap();
    let bad = next.__create_unrecorded(b"volume=11").unwrap_err();
    assert_eq!(bad.status, Status::INVALID_ARGUMENT);
    assert!(bad.message.contains("gain="), "{bad}");
    scratch.loader.close(library);
}

#[test]
fn every_panic_comes_back_as_an_error_status() {
    let scratch = Scratch::new("panic");
    let library = scratch
        .loader
        .load(&fixtures().path("fixture-panicky"), None)
        .unwrap();
    // A panic makes the plugin's standard library register thread-local destructors on
    // the panicking thread, so the panics happen on a thread that ends before the close.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let cap = library.capability::<ProbeInterface>("panicky").unwrap();
            let err = cap.__create_unrecorded(b"panic").unwrap_err();
            assert!(err.is_panic(), "{err}");
            assert!(err.message.contains("create panics"), "{err}");
            let refused = cap.__create_unrecorded(b"fail").unwrap_err();
            assert_eq!(refused.status, Status::ERROR);

            let handle = cap.__create_unrecorded(b"").unwrap();
            let mut storage = [0u8; 256];
            let mut error = plugin_runtime::abi::ErrorBuf::new(&mut storage);
            let empty = RawSliceMut {
                ptr: std::ptr::NonNull::<f32>::dangling().as_ptr(),
                len: 0,
            };
            // SAFETY: a live handle, an empty sample slice, an output slot and a valid
            // error buffer.
            let status =
                unsafe { ((*cap.__vtable().0).process)(handle, empty, &mut (), &mut error) };
            assert_eq!(status, Status::PANIC);
            assert!(error.message(&storage).contains("process panics"));
            // A function with no status returns its fallback instead of unwinding.
            // SAFETY: a live handle.
            assert_eq!(unsafe { ((*cap.__vtable().0).tag)(handle) }, 0);
            // SAFETY: destroyed once, on the thread that created it.
            let err = unsafe { cap.__destroy_unrecorded(handle) }.unwrap_err();
            assert!(
                err.is_panic() && err.message.contains("destroy panics"),
                "{err}"
            );
        });
    });

    let shadow = library.shadow_path().to_owned();
    assert_eq!(
        scratch.loader.close(library).outcome,
        CloseOutcome::Unmapped
    );
    assert!(!mapped(&shadow));
}

#[test]
fn init_thread_is_joined_before_close() {
    let scratch = Scratch::new("threaded");
    let library = scratch
        .loader
        .load(&fixtures().path("fixture-threaded"), None)
        .unwrap();
    // A new thread names itself once it runs, so give it a moment to appear. This is
    // the only test in this binary that loads the threaded fixture.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !thread_names().iter().any(|n| n == "fixture-worker") {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let report = scratch.loader.close(library);
    assert!(!thread_names().iter().any(|n| n == "fixture-worker"));
    assert_eq!(report.outcome, CloseOutcome::Unmapped);
}

#[test]
fn thread_local_destructor_keeps_the_library_mapped_and_the_report_says_so() {
    let scratch = Scratch::new("tls");
    let library = scratch
        .loader
        .load(&fixtures().path("fixture-tls"), None)
        .unwrap();
    let shadow = library.shadow_path().to_owned();
    // SAFETY: the fixture exports `fixture_tls_touch` with exactly this type.
    let touch: extern "C" fn() -> u64 =
        *unsafe { library.raw_symbol("fixture_tls_touch") }.unwrap();

    let (touched_tx, touched_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let toucher = std::thread::spawn(move || {
        touched_tx.send(touch()).unwrap();
        // Stay alive, holding the thread-local, until told to end.
        let _ = release_rx.recv();
    });
    assert_eq!(touched_rx.recv().unwrap(), 1);

    let report = scratch.loader.close(library);
    assert_eq!(report.outcome, CloseOutcome::StillMapped);
    assert!(
        mapped(&shadow),
        "reported still mapped, but /proc/self/maps disagrees"
    );

    release_tx.send(()).unwrap();
    toucher.join().unwrap();
    // glibc does not unmap it when the destructor runs at thread exit, but the next
    // `dlclose` in the process collects it (other tests' closes may already have), and
    // `code_mapped` lets the runtime see that.
    let other = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v1"), None)
        .unwrap();
    scratch.loader.close(other);
    assert!(!mapped(&shadow));
    assert!(!plugin_runtime::loader::code_mapped(&shadow).unwrap());
}

#[test]
fn the_benchmark_symbol_is_the_vtable_function() {
    let scratch = Scratch::new("symbol");
    let library = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v1"), None)
        .unwrap();
    // SAFETY: the fixture exports a static of exactly this type.
    let raw: *const AccumulateFn =
        *unsafe { library.raw_symbol("fixture_echo_accumulate") }.unwrap();
    let cap = library.capability::<ProbeInterface>("echo").unwrap();
    // SAFETY: the symbol is a static holding a function pointer, valid while loaded.
    let raw = unsafe { *raw };
    // SAFETY: the vtable is the library's static, and the library is loaded.
    let slot = unsafe { (*cap.__vtable().0).accumulate };
    assert_eq!(raw as usize, slot as usize);
    let handle: InstanceHandle = cap.__create_unrecorded(b"").unwrap();
    // SAFETY: a live handle used on this thread.
    unsafe {
        assert_eq!(raw(handle, 2), 2);
        assert_eq!(((*cap.__vtable().0).accumulate)(handle, 3), 5);
        cap.__destroy_unrecorded(handle).unwrap();
    }
    scratch.loader.close(library);
}

#[test]
fn a_failed_init_is_an_init_error_and_its_code_stays_mapped() {
    let scratch = Scratch::new("init-fails");
    let err = scratch
        .loader
        .load(&fixtures().path("fixture-init-fails"), None)
        .unwrap_err();
    assert!(matches!(err, LoadError::Init { .. }), "{err}");
    assert!(err.to_string().contains("starting a thread"), "{err}");
    assert!(scratch.shadow_files().is_empty(), "the shadow copy stays");
    // The orphan thread keeps running the library's code, so the code must still be
    // mapped (the copy is unlinked, so the mapping shows as deleted). This cannot tell a
    // skipped `dlclose` from one that the thread's own thread-local destructors defeat;
    // the loader's code skips it either way.
    let dir = scratch.loader.shadow_dir().to_str().unwrap().to_owned();
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        maps.lines()
            .any(|l| l.contains(&dir)
                && l.split_whitespace().nth(1).is_some_and(|p| p.contains('x'))),
        "a library whose init failed was unmapped"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(thread_names().iter().any(|n| n == "fixture-orphan"));
}

/// Deadlines short enough to keep the tests fast, far below `fixture-slow-init`'s second.
const SHORT: Duration = Duration::from_millis(100);

#[test]
fn an_init_past_its_deadline_is_refused_and_its_library_stays_loaded() {
    let scratch = Scratch::with_config(
        "init-timeout",
        LoaderConfig::default().with_lifecycle_timeouts(SHORT, SHORT),
    );
    let err = scratch
        .loader
        .load(&fixtures().path("fixture-slow-init"), None)
        .unwrap_err();
    let LoadError::InitTimedOut {
        shadow_path,
        timeout,
        ..
    } = &err
    else {
        panic!("expected a timed-out init, got {err}");
    };
    assert_eq!(*timeout, SHORT);
    assert_eq!(err.step(), "init");
    assert!(err.to_string().contains("stays loaded"), "{err}");
    // Its init thread may still run its code: it must stay mapped, though its copy is
    // removed (the mapping shows as deleted).
    assert!(
        mapped(shadow_path),
        "a library whose init timed out was unmapped"
    );
    assert!(scratch.shadow_files().is_empty(), "the shadow copy stays");
    assert!(
        plugin_runtime::loader::code_mapped(shadow_path).unwrap(),
        "code_mapped disagrees with /proc/self/maps"
    );

    // The loader goes on: another load and close work.
    let echo = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v1"), None)
        .unwrap();
    assert_eq!(scratch.loader.close(echo).outcome, CloseOutcome::Unmapped);
}

#[test]
fn a_deinit_past_its_deadline_is_given_up_and_its_library_stays_loaded() {
    let scratch = Scratch::with_config(
        "deinit-timeout",
        LoaderConfig::default().with_lifecycle_timeouts(SHORT, SHORT),
    );
    let stuck = scratch
        .loader
        .load(&fixtures().path("fixture-stuck-deinit"), None)
        .unwrap();
    let shadow = stuck.shadow_path().to_owned();
    let report = scratch.loader.close(stuck);
    let CloseOutcome::KeptLoaded { reason } = &report.outcome else {
        panic!("expected kept loaded, got {:?}", report.outcome);
    };
    assert!(reason.contains("deinit did not return within"), "{reason}");
    assert!(
        mapped(&shadow),
        "a library whose deinit never returned was unmapped"
    );

    let echo = scratch
        .loader
        .load(&fixtures().path("fixture-echo-v1"), None)
        .unwrap();
    assert_eq!(scratch.loader.close(echo).outcome, CloseOutcome::Unmapped);
}

#[test]
fn a_deinit_whose_thread_does_not_end_is_given_up_at_its_deadline() {
    let deadline = Duration::from_millis(300);
    let scratch = Scratch::with_config(
        "deinit-thread-stuck",
        LoaderConfig::default().with_lifecycle_timeouts(deadline, deadline),
    );
    let stuck = scratch
        .loader
        .load(&fixtures().path("fixture-stuck-tls-drop"), None)
        .unwrap();
    let shadow = stuck.shadow_path().to_owned();
    let started = std::time::Instant::now();
    let report = scratch.loader.close(stuck);
    let waited = started.elapsed();
    let CloseOutcome::KeptLoaded { reason } = &report.outcome else {
        panic!("expected kept loaded, got {:?}", report.outcome);
    };
    assert!(reason.contains("deinit did not return within"), "{reason}");
    assert!(
        waited < Duration::from_secs(5),
        "the close waited {waited:?}"
    );
    assert!(
        mapped(&shadow),
        "a library whose deinit thread is still running was unmapped"
    );
}

#[test]
fn deadlines_out_of_bounds_are_refused() {
    for (init, deinit, setting) in [
        (Duration::ZERO, SHORT, "init_timeout"),
        (SHORT, Duration::from_secs(7200), "deinit_timeout"),
    ] {
        let config = LoaderConfig::default().with_lifecycle_timeouts(init, deinit);
        let err = LibraryLoader::new(config).unwrap_err();
        assert!(
            matches!(err, LoadError::InvalidTimeout { setting: s, .. } if s == setting),
            "{err}"
        );
        assert_eq!(err.step(), "config");
    }
}

#[test]
fn a_slow_init_does_not_hold_up_a_load_on_another_thread() {
    let scratch = Scratch::new("parallel");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let slow_done = done_tx.clone();
        let loader = &scratch.loader;
        scope.spawn(move || {
            let slow = loader.load(&fixtures().path("fixture-slow-init"), None);
            slow_done.send("slow").unwrap();
            loader.close(slow.unwrap());
        });
        // Start the fast load once the slow one is inside its init.
        while !thread_names().iter().any(|n| n == "plugin-init") {
            std::thread::yield_now();
        }
        let echo = loader
            .load(&fixtures().path("fixture-echo-v1"), None)
            .unwrap();
        done_tx.send("echo").unwrap();
        loader.close(echo);
    });
    let order: Vec<&str> = done_rx.try_iter().collect();
    assert_eq!(order, ["echo", "slow"]);
}
