//! Interfaces across real libraries: minors in both directions, optional methods, and a
//! conflicting declaration under the same kind and major, refused when resolved.

use std::path::PathBuf;
use std::time::Duration;

use fixture_api::build::fixtures;
use fixture_api::gauge::{other, v1_0, v1_1};
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::loader::{LibraryLoader, LoaderConfig, ResolveError};
use plugin_runtime::runtime::CreateError;
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};

const WAIT: Duration = Duration::from_secs(10);

fn shadow_root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "plugin-runtime-interfaces-{tag}-{}",
        std::process::id()
    ))
}

fn runtime_with(tag: &str, fixture: &str) -> RuntimeHandle {
    let config = RuntimeConfig::default()
        .with_loader(LoaderConfig::default().with_shadow_root(shadow_root(tag)));
    let runtime = Runtime::start(config).unwrap();
    let load = Command::Load {
        path: fixtures().path(fixture),
        expected_plugin_id: Some("fixture.gauge".into()),
    };
    match runtime.call(load, WAIT).unwrap() {
        Outcome::Loaded { .. } => runtime,
        other => panic!("load failed: {other:?}"),
    }
}

#[test]
fn a_newer_host_sees_what_an_older_plugin_lacks() {
    let runtime = runtime_with("newer-host", "fixture-gauge-old");
    let owner = runtime.register_owner("host").unwrap();
    let mut gauge = owner
        .create::<v1_1::GaugeInterface>("fixture.gauge", "gauge", b"")
        .unwrap();
    assert_eq!(v1_1::GaugeCalls::level(&gauge), 7);
    // Appended by minor 1, past the end of the older plugin's vtable.
    assert!(!v1_1::GaugeCalls::has_peak(&gauge));
    assert_eq!(v1_1::GaugeCalls::peak(&gauge), None);
    // Optional, and left out by this plugin: its slot is null.
    assert!(!v1_1::GaugeCalls::has_reset(&gauge));
    assert!(v1_1::GaugeCalls::reset(&mut gauge).is_none());
}

#[test]
fn a_newer_plugin_serves_both_minors() {
    let runtime = runtime_with("newer-plugin", "fixture-gauge-new");
    let owner = runtime.register_owner("host").unwrap();

    let mut new = owner
        .create::<v1_1::GaugeInterface>("fixture.gauge", "gauge", b"")
        .unwrap();
    assert!(v1_1::GaugeCalls::has_peak(&new) && v1_1::GaugeCalls::has_reset(&new));
    assert_eq!(v1_1::GaugeCalls::peak(&new), Some(12));
    assert_eq!(v1_1::GaugeCalls::level(&new), 9);
    assert_eq!(v1_1::GaugeCalls::reset(&mut new), Some(Ok(())));
    assert_eq!(v1_1::GaugeCalls::level(&new), 0);

    // An older host reads the prefix it knows of the newer plugin's vtable.
    let mut old = owner
        .create::<v1_0::GaugeInterface>("fixture.gauge", "gauge", b"")
        .unwrap();
    assert_eq!(v1_0::GaugeCalls::level(&old), 9);
    assert!(v1_0::GaugeCalls::has_reset(&old));
    assert_eq!(v1_0::GaugeCalls::reset(&mut old), Some(Ok(())));
    assert_eq!(v1_0::GaugeCalls::level(&old), 0);
}

#[test]
fn another_layout_under_the_same_kind_and_major_is_refused_naming_both_sides() {
    for fixture in ["fixture-gauge-old", "fixture-gauge-new"] {
        let runtime = runtime_with(&format!("other-{fixture}"), fixture);
        let owner = runtime.register_owner("host").unwrap();
        let err = owner
            .create::<other::GaugeInterface>("fixture.gauge", "gauge", b"")
            .unwrap_err();
        let CreateError::Resolve(ResolveError::Layout(mismatch)) = &err else {
            panic!("{fixture}: expected a layout mismatch, got {err:?}");
        };
        assert_eq!(mismatch.kind, "gauge");
        assert_eq!(mismatch.major, 1);
        assert_eq!(mismatch.host, "0 level(&self) -> u64");
        assert!(
            mismatch.plugin.starts_with("0 level(&self) -> u32\n"),
            "{}",
            mismatch.plugin
        );
        let text = err.to_string();
        for side in ["level(&self) -> u64", "level(&self) -> u32"] {
            assert!(
                text.contains(side),
                "{fixture}: `{side}` missing from: {text}"
            );
        }
        // Nothing of the refused create stays pinned: the plugin unloads at once.
        match runtime
            .call(
                Command::Unload {
                    plugin_id: "fixture.gauge".into(),
                },
                WAIT,
            )
            .unwrap()
        {
            Outcome::Unloaded { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_loader_reports_each_capability_layout() {
    let loader =
        LibraryLoader::new(LoaderConfig::default().with_shadow_root(shadow_root("info"))).unwrap();
    let library = loader
        .load(&fixtures().path("fixture-gauge-new"), None)
        .unwrap();
    let info = &library.module().capabilities[0];
    assert_eq!((info.interface_version, info.interface_minor), (1, 1));
    assert_eq!(
        info.layout,
        <v1_1::GaugeInterface as plugin_runtime::Capability>::LAYOUT
    );
    assert_eq!(info.vtable_size, 3 * size_of::<usize>());
    assert_eq!(
        info.layout_id,
        <v1_0::GaugeInterface as plugin_runtime::Capability>::LAYOUT_ID,
        "appending a method keeps the base layout id"
    );
    assert!(library.capability::<v1_0::GaugeInterface>("gauge").is_ok());
    assert!(matches!(
        library.capability::<other::GaugeInterface>("gauge"),
        Err(ResolveError::Layout(_))
    ));
    loader.close(library);
}
