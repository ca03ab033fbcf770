//! The loader's preflight: each shadow copy is opened in a probe process before the host
//! opens it, so a library that crashes while opened is refused instead of killing the
//! host.

use std::fs;
use std::path::PathBuf;

use fixture_api::ProbeInterface;
use fixture_api::build::fixtures;
use plugin_runtime::loader::probe::ProbeError;
use plugin_runtime::loader::{LibraryLoader, LoadError, LoaderConfig, Step};

/// A library that crashes in its entry symbol (a raw-ABI fixture).
const CRASH_ENTRY: &str = "fixture-crash-entry";

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "plugin-runtime-preflight-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn preflight_config(root: &PathBuf) -> LoaderConfig {
    LoaderConfig::default()
        .with_shadow_root(root)
        .with_probe(env!("CARGO_BIN_EXE_plugin-runtime-probe"))
        .with_preflight(true)
}

#[test]
fn a_library_that_crashes_is_refused_and_the_host_goes_on() {
    let root = scratch("crash");
    let loader = LibraryLoader::new(preflight_config(&root)).unwrap();
    let err = loader
        .load(&fixtures().path(CRASH_ENTRY), None)
        .expect_err("the preflight must refuse it");
    assert_eq!(err.step(), "preflight");
    let LoadError::Preflight { path, source } = &err else {
        panic!("not a preflight refusal: {err}");
    };
    assert_eq!(*path, fixtures().path(CRASH_ENTRY));
    assert!(
        matches!(
            **source,
            ProbeError::Crashed {
                step: Some(Step::EntrySymbol),
                ..
            }
        ),
        "{source}"
    );
    assert!(err.to_string().starts_with("preflight: "), "{err}");

    // The host is alive, and a good library still loads and runs through the preflight.
    let library = loader
        .load(&fixtures().path("fixture-echo-v2"), Some("fixture.echo"))
        .unwrap();
    let cap = library.capability::<ProbeInterface>("echo").unwrap();
    let handle = cap.__create_unrecorded(b"").unwrap();
    // SAFETY: a live handle of this capability, used on this thread only.
    assert_eq!(unsafe { ((*cap.__vtable().0).tag)(handle) }, 2);
    // SAFETY: destroyed once, on the thread that created it.
    unsafe { cap.__destroy_unrecorded(handle) }.unwrap();
    assert!(loader.close(library).outcome.is_unmapped());

    // Neither the probes' copies nor their sweep touched the loader's directory: it is
    // there, empty, and the only directory left under the root.
    let shadow = loader.shadow_dir().to_owned();
    assert_eq!(fs::read_dir(&shadow).unwrap().count(), 0);
    let dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs, [shadow], "the probes left directories behind");
    drop(loader);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_preflight_without_a_probe_is_a_typed_error() {
    let root = scratch("no-probe");
    let err = LibraryLoader::new(
        LoaderConfig::default()
            .with_shadow_root(&root)
            .with_preflight(true),
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::PreflightWithoutProbe), "{err}");
    assert_eq!(err.step(), "preflight");
    let _ = fs::remove_dir_all(&root);
}
