//! Measures how long the actor keeps other requests waiting while libraries load.
//!
//! Loads run on the loader thread, so a request to the actor should never wait for a
//! load. This runs a storm of reloads of a fixture plugin while another thread sends
//! requests to the actor back to back, and prints the request latencies with and
//! without the storm, next to the time one load takes.
//!
//! `cargo run --release --example actor_stall`

use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use plugin_runtime::generation::{Command, GenerationKey, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Runtime, RuntimeConfig, RuntimeHandle};

const RELOADS: usize = 40;

fn main() {
    let shadow = std::env::temp_dir().join(format!("plugin-runtime-stall-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&shadow)),
    )
    .expect("the runtime starts");
    let path = fixtures().path("fixture-echo-v1");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let Outcome::Loaded { generation, .. } = runtime
        .call(
            Command::Load {
                path,
                expected_plugin_id: None,
            },
            Duration::from_secs(30),
        )
        .expect("the actor answers")
    else {
        panic!("the fixture did not load");
    };

    let idle = latencies(&runtime, generation, Duration::from_millis(500));

    let storm_runtime = runtime.clone();
    let storm = std::thread::spawn(move || {
        let owner = storm_runtime.register_owner("storm").expect("registered");
        let started = Instant::now();
        for _ in 0..RELOADS {
            owner
                .submit(Command::Reload {
                    plugin_id: "fixture.echo".into(),
                })
                .expect("queued");
        }
        let mut done = 0;
        while done < RELOADS {
            if let Some(OwnerEvent::CommandCompleted(_)) =
                owner.recv_timeout(Duration::from_secs(60))
            {
                done += 1;
            }
        }
        started.elapsed()
    });
    let mut during = Vec::new();
    while !storm.is_finished() {
        during.extend(latencies(&runtime, generation, Duration::from_millis(20)));
    }
    let storm_time = storm.join().expect("the storm thread finishes");

    println!(
        "library: {size} bytes; {RELOADS} reloads took {storm_time:?} ({:?} per load)",
        storm_time / RELOADS as u32
    );
    report("actor request latency, idle       ", idle);
    report("actor request latency, during loads", during);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&shadow);
}

/// Request round trips to the actor, back to back, for `span`.
fn latencies(runtime: &RuntimeHandle, generation: GenerationKey, span: Duration) -> Vec<Duration> {
    let end = Instant::now() + span;
    let mut samples = Vec::new();
    while Instant::now() < end {
        let start = Instant::now();
        let _ = runtime
            .generation_state(generation)
            .expect("the actor answers");
        samples.push(start.elapsed());
    }
    samples
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{label}: {} requests, p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}
