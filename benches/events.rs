//! What events cost the actor: one reload cycle (open, answer, drain, collect, close,
//! cleanup) through the bare core and through the routing driver with 0, 1 and 8
//! listeners, side by side, and the JSON encoding of one record.
//!
//! Run with `cargo bench --bench events`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use plugin_runtime::events::{EventFilter, EventRecord};
use plugin_runtime::generation::{Command, CoreConfig, Effect, Lifecycle, RequestId};
use plugin_runtime::module::{CapabilityInfo, CloseOutcome, ModuleInfo};
use plugin_runtime::routing::{Action, Router};

fn module(plugin_id: &str) -> ModuleInfo {
    ModuleInfo {
        digest: None,
        plugin_id: plugin_id.to_owned(),
        version: "1.0.0".to_owned(),
        display_name: plugin_id.to_owned(),
        abi_major: 2,
        abi_minor: 0,
        capabilities: vec![CapabilityInfo {
            kind: "dsp".to_owned(),
            type_id: "gain".to_owned(),
            interface_version: 1,
            interface_minor: 0,
            layout_id: 1,
            layout: "0 process(&mut self, &mut [f32]) -> Result<(), PluginError>".to_owned(),
            vtable_size: 8,
            display_name: "Gain".to_owned(),
            default_config: b"0.5".to_vec(),
        }],
    }
}

/// Plays the actor on the bare core.
fn settle_core(core: &mut Lifecycle, now: Instant) {
    while let Some(effect) = core.poll_effect() {
        match effect {
            Effect::Open { load, .. } => {
                let _ = core.load_finished(now, load, Ok(module("p")));
            }
            Effect::Close(token) => {
                let generation = token.generation();
                let _ = core.closed(now, token, CloseOutcome::Unmapped);
                let _ = core.cleanup(generation);
            }
            other => drop(black_box(other)),
        }
    }
}

/// Plays the actor on the router; every record is handed to its listeners' count.
fn settle_router(router: &mut Router, now: Instant) -> usize {
    let mut deliveries = 0;
    while let Some(action) = router.poll_action(now) {
        match action {
            Action::Open { load, .. } => {
                let _ = router.core_mut().load_finished(now, load, Ok(module("p")));
            }
            Action::Close(token) => {
                let generation = token.generation();
                let core = router.core_mut();
                let _ = core.closed(now, token, CloseOutcome::Unmapped);
                let _ = core.cleanup(generation);
            }
            Action::Publish { record, listeners } => {
                deliveries += listeners.len();
                drop(black_box(record));
            }
            other => drop(black_box(other)),
        }
    }
    deliveries
}

fn reload() -> Command {
    Command::Reload {
        plugin_id: "p".to_owned(),
    }
}

fn load() -> Command {
    Command::Load {
        path: PathBuf::from("/plugins/p.so"),
        expected_plugin_id: Some("p".to_owned()),
    }
}

fn reload_cycle(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("reload_cycle");
    let mut core = Lifecycle::new(CoreConfig::default());
    core.submit(now, RequestId(0), None, load());
    settle_core(&mut core, now);
    let mut request = 0;
    group.bench_function("bare_core", |b| {
        b.iter(|| {
            request += 1;
            core.submit(now, RequestId(request), None, reload());
            settle_core(&mut core, now);
        });
    });
    for listeners in [0usize, 1, 8] {
        let mut router = Router::new(CoreConfig::default(), now);
        for index in 0..listeners {
            // Half listen to everything, half to one plugin's lifecycle.
            let filter = if index % 2 == 0 {
                EventFilter::all()
            } else {
                EventFilter::all().plugin("p")
            };
            router.listen(filter);
        }
        router.submit(now, RequestId(0), None, load(), true);
        settle_router(&mut router, now);
        let mut request = 0;
        group.bench_function(BenchmarkId::new("router_listeners", listeners), |b| {
            b.iter(|| {
                request += 1;
                router.submit(now, RequestId(request), None, reload(), true);
                settle_router(&mut router, now)
            });
        });
    }
    group.finish();
}

fn to_json(c: &mut Criterion) {
    let now = Instant::now();
    let mut router = Router::new(CoreConfig::default(), now);
    router.submit(now, RequestId(0), None, load(), true);
    settle_router(&mut router, now);
    router.submit(now, RequestId(1), None, reload(), true);
    let mut records: Vec<EventRecord> = Vec::new();
    while let Some(action) = router.poll_action(now) {
        match action {
            Action::Open { load, .. } => {
                let _ = router.core_mut().load_finished(now, load, Ok(module("p")));
            }
            Action::Publish { record, .. } => records.push((*record).clone()),
            _ => {}
        }
    }
    let reloaded = records
        .iter()
        .find(|r| r.event.name() == "plugin_reloaded")
        .expect("a reload publishes plugin_reloaded")
        .clone();
    let draining = records
        .iter()
        .find(|r| r.event.name() == "generation_draining")
        .expect("a reload drains the old generation")
        .clone();
    c.bench_function("to_json/plugin_reloaded", |b| {
        b.iter(|| black_box(&reloaded).to_json())
    });
    c.bench_function("to_json/generation_draining", |b| {
        b.iter(|| black_box(&draining).to_json())
    });
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    reload_cycle(&mut criterion);
    to_json(&mut criterion);
    criterion.final_summary();
}
