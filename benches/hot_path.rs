//! The data plane against its baselines, side by side in one run: the same fixture
//! function called through a raw `libloading` function pointer, through an `Instance`,
//! and through the guards other hot-reload designs put on every call; then one request
//! round trip through the actor against a bare crossbeam-channel ping-pong (and one whose
//! echo thread waits in a `select!` like the actor's).
//!
//! `cargo bench --bench hot_path`

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fixture_api::build::fixtures;
use fixture_api::{AccumulateFn, ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::loader::LoaderConfig;
use plugin_runtime::{Runtime, RuntimeConfig};

fn calls(c: &mut Criterion) {
    let shadow = std::env::temp_dir().join(format!("plugin-runtime-bench-{}", std::process::id()));
    let runtime = Runtime::start(
        RuntimeConfig::default().with_loader(LoaderConfig::default().with_shadow_root(&shadow)),
    )
    .unwrap();
    let path = fixtures().path("fixture-echo-v1");
    let generation = match runtime
        .call(
            Command::Load {
                path,
                expected_plugin_id: None,
            },
            Duration::from_secs(10),
        )
        .unwrap()
    {
        Outcome::Loaded { generation, .. } => generation,
        other => panic!("{other:?}"),
    };
    let owner = runtime.register_owner("bench").unwrap();
    let mut instance = owner
        .create::<ProbeInterface>("fixture.echo", "echo", b"")
        .unwrap();
    let pin = runtime.pin("fixture.echo").unwrap();
    assert_eq!(pin.generation(), generation);
    // SAFETY: the fixture exports a static of exactly this type; the pin keeps the library
    // loaded for the whole benchmark.
    let raw: AccumulateFn = unsafe {
        **pin
            .library()
            .raw_symbol::<*const AccumulateFn>("fixture_echo_accumulate")
            .unwrap()
    };
    let slot = pin
        .library()
        .capability::<ProbeInterface>("echo")
        .unwrap()
        .__vtable()
        .0;
    // SAFETY: the vtable is the library's static, kept loaded by the pin.
    assert_eq!(raw as usize, unsafe { (*slot).accumulate } as usize);
    let handle = instance.handle();

    let mut group = c.benchmark_group("call");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("raw_fn_pointer", |b| {
        // SAFETY: a live instance of the fixture, called on its owner's thread.
        b.iter(|| unsafe { raw(handle, black_box(1)) })
    });
    group.bench_function("instance", |b| b.iter(|| instance.accumulate(black_box(1))));
    let in_flight = AtomicUsize::new(0);
    group.bench_function("atomic_in_flight_guard", |b| {
        b.iter(|| {
            in_flight.fetch_add(1, Ordering::AcqRel);
            // SAFETY: as above.
            let r = unsafe { raw(handle, black_box(1)) };
            in_flight.fetch_sub(1, Ordering::AcqRel);
            r
        })
    });
    let rwlock = RwLock::new(raw);
    group.bench_function("rwlock_read", |b| {
        b.iter(|| {
            let f = rwlock.read().unwrap();
            // SAFETY: as above.
            unsafe { (*f)(handle, black_box(1)) }
        })
    });
    let mutex = Mutex::new(raw);
    group.bench_function("mutex", |b| {
        b.iter(|| {
            let f = mutex.lock().unwrap();
            // SAFETY: as above.
            unsafe { (*f)(handle, black_box(1)) }
        })
    });
    group.bench_function("dlsym_per_call", |b| {
        b.iter(|| {
            // SAFETY: as above; the symbol is looked up again on every call.
            unsafe {
                let f = **pin
                    .library()
                    .raw_symbol::<*const AccumulateFn>("fixture_echo_accumulate")
                    .unwrap();
                f(handle, black_box(1))
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("round_trip");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("actor_request", |b| {
        b.iter(|| runtime.generation_state(black_box(generation)).unwrap())
    });
    let (to_echo, echo_in) =
        crossbeam_channel::bounded::<(u64, crossbeam_channel::Sender<u64>)>(1024);
    let echo = std::thread::spawn(move || {
        for (x, reply) in echo_in {
            let _ = reply.send(x);
        }
    });
    group.bench_function("crossbeam_ping_pong", |b| {
        b.iter(|| {
            let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
            to_echo.send((black_box(1), reply_tx)).unwrap();
            reply_rx.recv().unwrap()
        })
    });
    // The same ping-pong, but the echo thread waits in a `select!` over as many channels
    // as the actor does (requests, releases, loader results, a timer), to tell the cost
    // of the protocol from the cost of waiting on several channels.
    let (to_select, select_in) =
        crossbeam_channel::bounded::<(u64, crossbeam_channel::Sender<u64>)>(1024);
    let select_echo = std::thread::spawn(move || {
        let (_keep_a, a) = crossbeam_channel::unbounded::<u64>();
        let (_keep_b, b) = crossbeam_channel::unbounded::<u64>();
        loop {
            let timer = crossbeam_channel::never::<std::time::Instant>();
            crossbeam_channel::select! {
                recv(select_in) -> message => match message {
                    Ok((x, reply)) => { let _ = reply.send(x); }
                    Err(_) => break,
                },
                recv(a) -> _ => {},
                recv(b) -> _ => {},
                recv(timer) -> _ => {},
            }
        }
    });
    group.bench_function("crossbeam_select_ping_pong", |b| {
        b.iter(|| {
            let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
            to_select.send((black_box(1), reply_tx)).unwrap();
            reply_rx.recv().unwrap()
        })
    });
    group.finish();
    drop(to_echo);
    echo.join().unwrap();
    drop(to_select);
    select_echo.join().unwrap();

    drop(pin);
    drop(instance);
    drop(owner);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&shadow);
}

criterion_group!(benches, calls);
criterion_main!(benches);
