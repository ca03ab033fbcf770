//! Measures a hot restart: how long `Command::Restart` takes to complete (every plugin
//! reloaded, every old generation drained, collected, closed and unmapped) with live
//! instances held by owner threads that recreate at their safe point, as a hot slot
//! would, against the same restart with no instance alive.
//!
//! Three plugins are loaded (`fixture.echo`, `fixture.threaded`, `example.gain`); the
//! instances are spread over the owner threads, half of them echo, half threaded. Each
//! owner runs a block every `BLOCK` (its instances process 64 samples) and at its safe
//! point after each block drains its mailbox: a drain notice makes it create an
//! instance from the new generation and drop the old one.
//!
//! `cargo run --release --example restart_timing -- [instances] [owners] [rounds]`
//! (defaults 64, 4, 20).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixture_api::build::fixtures;
use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, Outcome, RestartResult};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::runtime::OwnerEvent;
use plugin_runtime::{Instance, Runtime, RuntimeConfig, RuntimeHandle};

const PLUGINS: [(&str, &str); 3] = [
    ("fixture-echo-v1", "fixture.echo"),
    ("fixture-threaded", "fixture.threaded"),
    ("example-gain", "example.gain"),
];

/// How often an owner runs a block and reaches its safe point.
const BLOCK: Duration = Duration::from_micros(500);

const WAIT: Duration = Duration::from_secs(60);

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let instances = args.next().unwrap_or(64);
    let owners = args.next().unwrap_or(4).max(1);
    let rounds = args.next().unwrap_or(20).max(1);

    let root = std::env::temp_dir().join(format!("plugin-runtime-restart-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&root)),
    )
    .expect("the runtime starts");
    for (fixture, plugin_id) in PLUGINS {
        let outcome = runtime
            .call(
                Command::Load {
                    path: fixtures().path(fixture),
                    expected_plugin_id: Some(plugin_id.into()),
                },
                WAIT,
            )
            .expect("the actor answers");
        assert!(matches!(outcome, Outcome::Loaded { .. }), "{outcome:?}");
    }

    let idle = restarts(&runtime, rounds);

    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..owners)
        .map(|i| {
            let count = instances / owners + usize::from(i < instances % owners);
            let (runtime, stop, ready) = (runtime.clone(), Arc::clone(&stop), ready_tx.clone());
            std::thread::spawn(move || hold(&runtime, i, count, &stop, &ready))
        })
        .collect();
    for _ in 0..owners {
        ready.recv().expect("an owner thread started");
    }
    let live = restarts(&runtime, rounds);
    stop.store(true, Ordering::SeqCst);
    let recreated: usize = threads
        .into_iter()
        .map(|t| t.join().expect("an owner thread finished"))
        .sum();

    println!(
        "{} plugins, {rounds} restarts each; owners run a block every {BLOCK:?}",
        PLUGINS.len()
    );
    report("no live instance", idle);
    report(
        &format!("{instances} live instances on {owners} owner threads"),
        live,
    );
    println!("instances recreated on drain notices: {recreated}");
    drop(runtime);
    let _ = std::fs::remove_dir_all(&root);
}

/// Runs `rounds` restarts back to back; each one's time from submission to outcome.
fn restarts(runtime: &RuntimeHandle, rounds: usize) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let outcome = runtime
                .call(Command::Restart { timeout: WAIT }, WAIT * 2)
                .expect("the actor answers");
            let took = start.elapsed();
            let Outcome::Restarted { plugins, stalled } = outcome else {
                panic!("{outcome:?}");
            };
            assert!(stalled.is_empty(), "{stalled:?}");
            assert!(
                plugins
                    .iter()
                    .all(|p| matches!(p.result, RestartResult::Reloaded { .. })),
                "{plugins:?}"
            );
            took
        })
        .collect()
}

/// An owner thread holding `count` instances; returns how many it recreated.
fn hold(
    runtime: &RuntimeHandle,
    index: usize,
    count: usize,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<()>,
) -> usize {
    let owner = runtime
        .register_owner(format!("audio.{index}"))
        .expect("registered");
    let create = |plugin_id: &str| {
        let type_id = if plugin_id == "fixture.echo" {
            "echo"
        } else {
            "worker"
        };
        owner
            .create::<ProbeInterface>(plugin_id, type_id, b"")
            .expect("created")
    };
    let mut held: Vec<(&str, Instance<ProbeInterface>)> = (0..count)
        .map(|i| {
            let plugin_id = PLUGINS[i % 2].1;
            (plugin_id, create(plugin_id))
        })
        .collect();
    ready.send(()).expect("the main thread waits");
    let mut recreated = 0;
    let mut samples = [0.5f32; 64];
    while !stop.load(Ordering::SeqCst) {
        for (_, instance) in &mut held {
            instance.process(&mut samples).expect("processed");
        }
        while let Some(event) = owner.try_recv() {
            let OwnerEvent::Draining(notice) = event else {
                continue;
            };
            for (plugin_id, instance) in &mut held {
                if instance.generation() == notice.old {
                    *instance = create(plugin_id);
                    recreated += 1;
                }
            }
        }
        std::thread::sleep(BLOCK);
    }
    recreated
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "restart, {label}: p50 {:?}, p90 {:?}, max {:?}",
        at(0.5),
        at(0.9),
        samples[samples.len() - 1]
    );
}
