//! A host written in safe Rust: it loads the example plugin (itself safe Rust, under
//! `#![forbid(unsafe_code)]`), creates an instance of the `gain` interface and calls it,
//! all without one `unsafe` block.
#![forbid(unsafe_code)]

use std::time::Duration;

use fixture_api::build::fixtures;
use gain_api::{GainCalls, GainInterface};
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::runtime::CreateError;
use plugin_runtime::{Runtime, RuntimeConfig};

#[test]
fn a_safe_host_calls_a_safe_plugin() {
    let root =
        std::env::temp_dir().join(format!("plugin-runtime-safe-host-{}", std::process::id()));
    let config =
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root));
    let runtime = Runtime::start(config).unwrap();
    let load = Command::Load {
        path: fixtures().path("example-gain"),
        expected_plugin_id: Some("example.gain".into()),
    };
    let outcome = runtime.call(load, Duration::from_secs(10)).unwrap();
    assert!(matches!(outcome, Outcome::Loaded { .. }), "{outcome:?}");

    let owner = runtime.register_owner("audio.dsp").unwrap();
    // Empty configuration: the plugin's default factor, 0.5.
    let mut half = owner
        .create::<GainInterface>("example.gain", "scale", b"")
        .unwrap();
    let mut block = [1.0f32, -2.0, 4.0];
    half.process(&mut block).unwrap();
    assert_eq!(block, [0.5, -1.0, 2.0]);
    assert_eq!(half.latency(), 0);

    let mut triple = owner
        .create::<GainInterface>("example.gain", "scale", b"3")
        .unwrap();
    triple.process(&mut block).unwrap();
    assert_eq!(block, [1.5, -3.0, 6.0]);

    // The plugin's error reaches the host typed, with its message.
    match owner.create::<GainInterface>("example.gain", "scale", b"loud") {
        Err(CreateError::Plugin(e)) => assert!(e.message.contains("not a number"), "{e}"),
        Err(e) => panic!("expected the plugin's refusal, got {e}"),
        Ok(_) => panic!("expected the plugin's refusal"),
    }
    drop((half, triple, owner, runtime));
}
