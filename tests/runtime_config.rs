//! Absurd settings and timeouts: each is a typed error at start or works as "forever",
//! never a panic in the caller or a poisoned runtime.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use fixture_api::ProbeInterface;
use fixture_api::build::fixtures;
use plugin_runtime::generation::{Command, CoreConfig, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::runtime::{MAX_LOADER_THREADS, MAX_QUEUE_CAPACITY, StartError};
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};

const WAIT: Duration = Duration::from_secs(10);

fn root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "plugin-runtime-config-test-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&root);
    root
}

fn config(root: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(root))
}

#[test]
fn loader_thread_counts_out_of_bounds_are_typed_errors() {
    let root = root("loader-threads");
    for threads in [0, MAX_LOADER_THREADS + 1, usize::MAX] {
        let err = Runtime::start(config(&root).with_loader_threads(threads))
            .expect_err("the thread count must be refused");
        assert!(
            matches!(&err, StartError::Config { field: "loader_threads", value, .. } if *value == threads.to_string()),
            "{err}"
        );
    }
    for threads in [1, MAX_LOADER_THREADS] {
        let runtime = Runtime::start(config(&root).with_loader_threads(threads)).unwrap();
        assert!(matches!(
            runtime.call(Command::Snapshot, WAIT),
            Ok(Outcome::Snapshot(_))
        ));
    }
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn queue_capacities_out_of_bounds_are_typed_errors() {
    let root = root("queue");
    for capacity in [0, MAX_QUEUE_CAPACITY + 1, 1 << 40, usize::MAX] {
        let err = Runtime::start(config(&root).with_queue_capacity(capacity))
            .expect_err("the capacity must be refused");
        assert!(
            matches!(&err, StartError::Config { field: "queue_capacity", value, .. } if *value == capacity.to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("queue_capacity"), "{err}");
    }
    for capacity in [1, MAX_QUEUE_CAPACITY] {
        let runtime = Runtime::start(config(&root).with_queue_capacity(capacity)).unwrap();
        assert!(matches!(
            runtime.call(Command::Snapshot, WAIT),
            Ok(Outcome::Snapshot(_))
        ));
    }
    let _ = fs::remove_dir_all(&root);
}

/// Loads the echo fixture, holds an instance, unloads the plugin (so its generation
/// drains with a deadline from the core's configuration), lets the drain timer be
/// computed, then lets go: the generation must be collected and the runtime healthy.
fn drain_with(tag: &str, core: CoreConfig) {
    let root = root(tag);
    let runtime = Runtime::start(config(&root.join("shadow")).with_core(core.clone())).unwrap();
    let load = Command::Load {
        path: fixtures().path("fixture-echo-v1"),
        expected_plugin_id: None,
    };
    assert!(matches!(
        runtime.call(load, WAIT),
        Ok(Outcome::Loaded { .. })
    ));
    let owner = runtime.register_owner("test.config").unwrap();
    let instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    let unload = Command::Unload {
        plugin_id: "fixture.echo".into(),
    };
    assert!(
        matches!(owner.call(unload, WAIT), Ok(Outcome::Unloaded { .. })),
        "{core:?}"
    );
    // A few turns of the actor's loop with the drain deadline set.
    std::thread::sleep(Duration::from_millis(20));
    assert!(healthy(&runtime), "{core:?}: the runtime is poisoned");
    drop(instance);
    drop(owner);
    assert!(healthy(&runtime), "{core:?}: the runtime is poisoned");
    let _ = fs::remove_dir_all(&root);
}

fn healthy(runtime: &RuntimeHandle) -> bool {
    !runtime.is_poisoned()
        && matches!(
            runtime.call(Command::Snapshot, WAIT),
            Ok(Outcome::Snapshot(_))
        )
}

#[test]
fn every_core_duration_from_zero_to_max_works() {
    for (i, (drain_timeout, max_stall_interval)) in [
        (Duration::MAX, Duration::MAX),
        (Duration::MAX, Duration::ZERO),
        (Duration::ZERO, Duration::MAX),
        (Duration::ZERO, Duration::ZERO),
        (Duration::from_millis(1), Duration::MAX),
    ]
    .into_iter()
    .enumerate()
    {
        drain_with(
            &format!("core{i}"),
            CoreConfig {
                drain_timeout,
                max_stall_interval,
            },
        );
    }
}

#[test]
fn timeouts_from_zero_to_max_never_panic() {
    let root = root("timeouts");
    for send_timeout in [Duration::ZERO, Duration::MAX] {
        let runtime = Runtime::start(config(&root).with_send_timeout(send_timeout)).unwrap();
        for timeout in [Duration::MAX, Duration::ZERO] {
            // Zero may time out before the actor answers; it must not panic.
            let answer = runtime.call(Command::Snapshot, timeout);
            assert!(
                timeout.is_zero() || matches!(answer, Ok(Outcome::Snapshot(_))),
                "{answer:?}"
            );
            let owner = runtime.register_owner("test.timeouts").unwrap();
            let answer = owner.call(Command::Snapshot, timeout);
            assert!(
                timeout.is_zero() || matches!(answer, Ok(Outcome::Snapshot(_))),
                "{answer:?}"
            );
            let _ = owner.recv_timeout(Duration::ZERO);
        }
        let owner = runtime.register_owner("test.recv").unwrap();
        assert!(owner.recv_timeout(Duration::from_millis(1)).is_none());
        assert!(healthy(&runtime));
    }
    let _ = fs::remove_dir_all(&root);
}
