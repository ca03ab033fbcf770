//! The generation core alone: the instance cycle at 1,000 and 1,000,000 live instances,
//! a reload among 1,000 loaded plugins, and the size of one instance record.
//!
//! Run with `cargo bench --bench core`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use plugin_runtime::generation::{Command, CoreConfig, Effect, Lifecycle, RequestId};
use plugin_runtime::loader::{CapabilityInfo, CloseOutcome, ModuleInfo};
use plugin_runtime::owner::{INSTANCE_RECORD_SIZE, OwnerKey};

fn module(plugin_id: &str) -> ModuleInfo {
    ModuleInfo {
        digest: None,
        plugin_id: plugin_id.to_owned(),
        version: "1".to_owned(),
        display_name: plugin_id.to_owned(),
        abi_major: 1,
        abi_minor: 0,
        capabilities: vec![CapabilityInfo {
            kind: "decoder".to_owned(),
            type_id: "wav".to_owned(),
            interface_version: 1,
            interface_minor: 0,
            layout_id: 0,
            layout: String::new(),
            vtable_size: 0,
            display_name: "WAV".to_owned(),
            default_config: Vec::new(),
        }],
    }
}

/// Plays the actor: answers every open with `module(plugin_id)` and every close with
/// `Unmapped`, until no effect is left.
fn settle(core: &mut Lifecycle, now: Instant) {
    while let Some(effect) = core.poll_effect() {
        match effect {
            Effect::Open {
                load,
                expected_plugin_id,
                ..
            } => {
                let plugin_id = expected_plugin_id.unwrap_or_default();
                // The load was requested just now and is answered once.
                let _ = core.load_finished(now, load, Ok(module(&plugin_id)));
            }
            Effect::Close(token) => {
                let generation = token.generation();
                // The token came from this core, so the close is accepted.
                let _ = core.closed(now, token, CloseOutcome::Unmapped);
                let _ = core.cleanup(generation);
            }
            _ => {}
        }
    }
}

fn load(core: &mut Lifecycle, now: Instant, plugin_id: &str, request: u64) {
    let command = Command::Load {
        path: PathBuf::from(format!("/plugins/{plugin_id}.so")),
        expected_plugin_id: Some(plugin_id.to_owned()),
    };
    core.submit(now, RequestId(request), None, command);
    settle(core, now);
}

/// A core with plugin `p` loaded and `live` instances of it held by one owner.
fn core_with_instances(live: usize) -> (Lifecycle, OwnerKey, Instant) {
    let now = Instant::now();
    let mut core = Lifecycle::new(CoreConfig::default());
    load(&mut core, now, "p", 0);
    let owner = core.register_owner("bench");
    for _ in 0..live {
        let ticket = core
            .reserve_ticket(now, owner, "p", "decoder", "wav", 1)
            .expect("p is active and offers decoder/wav v1");
        core.ticket_created(now, ticket.key)
            .expect("the ticket was just reserved");
    }
    (core, owner, now)
}

fn instance_cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("reserve_create_release");
    for live in [1_000usize, 1_000_000] {
        let (mut core, owner, now) = core_with_instances(live);
        group.bench_function(BenchmarkId::from_parameter(live), |b| {
            b.iter(|| {
                let ticket = core
                    .reserve_ticket(now, owner, black_box("p"), "decoder", "wav", 1)
                    .expect("p is active");
                let instance = core.ticket_created(now, ticket.key).expect("just reserved");
                core.release_instance(now, black_box(instance))
                    .expect("just created");
            });
        });
    }
    group.finish();
}

fn reload_among_many(c: &mut Criterion) {
    let now = Instant::now();
    let mut core = Lifecycle::new(CoreConfig::default());
    for index in 0..1_000u64 {
        load(&mut core, now, &format!("plugin{index}"), index);
    }
    let mut request = 1_000;
    c.bench_function("reload_with_1000_plugins", |b| {
        b.iter(|| {
            request += 1;
            let command = Command::Reload {
                plugin_id: "plugin500".to_owned(),
            };
            core.submit(now, RequestId(request), None, command);
            settle(&mut core, now);
        });
    });
}

fn main() {
    println!("instance record: {INSTANCE_RECORD_SIZE} bytes");
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    instance_cycle(&mut criterion);
    reload_among_many(&mut criterion);
    criterion.final_summary();
}
