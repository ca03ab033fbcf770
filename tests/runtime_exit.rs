//! The runtime ends by itself once nothing refers to it: its own test binary, so that no
//! other runtime's threads share the process.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::{Runtime, RuntimeConfig};

fn runtime_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| matches!(name.trim(), "plugrt-actor" | "plugrt-loader"))
        .count()
}

#[test]
fn dropping_everything_closes_what_is_loaded_and_ends_the_threads() {
    let root = std::env::temp_dir().join(format!("plugin-runtime-exit-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .unwrap();
    let loaded = runtime
        .call(
            Command::Load {
                path: fixtures().path("fixture-echo-v1"),
                expected_plugin_id: None,
            },
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(matches!(loaded, Outcome::Loaded { .. }), "{loaded:?}");
    let shadow = runtime
        .pin("fixture.echo")
        .unwrap()
        .library()
        .shadow_path()
        .to_owned();
    let shadow_dir = shadow.parent().unwrap().to_owned();
    let owner = runtime.register_owner("last").unwrap();
    let mut instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    assert_eq!(instance.accumulate(1), 1);
    // The actor and the loader threads.
    assert_eq!(
        runtime_threads(),
        1 + RuntimeConfig::default().loader_threads
    );

    // The library is still active (never unloaded): only the runtime's own final
    // shutdown can close it.
    drop(runtime);
    drop(instance);
    drop(owner);

    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "the runtime's threads did not end"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!plugin_runtime::loader::code_mapped(&shadow).unwrap());
    assert!(
        !Path::new(&shadow_dir).exists(),
        "the shadow directory was left"
    );
    let _ = fs::remove_dir_all(&root);
}
