//! Hot slots on real libraries: state carried from build 1 to build 2 across a reload,
//! drops on disable and unload, a reservation overtaken by a second reload, a slot
//! dropped with its reservation on the way, and a reload storm during which the slots'
//! owner thread never waits on the actor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[allow(dead_code)]
mod common;
mod slot_support;

use common::{Setup, WAIT};
use fixture_api::tally::{TallyCalls, TallyInterface};
use plugin_runtime::generation::{Command, GenerationKey, Outcome};
use plugin_runtime::runtime::blocking_waits;
use plugin_runtime::{RuntimeConfig, Slot};
use slot_support::{command, elsewhere, poll_until};

/// The system allocator, counting the allocations of each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the thread-local counter
// has a const initialiser and no destructor, so counting never allocates or reenters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const TALLY: &str = "fixture.tally";
const COUNTER: &str = "counter";

/// A runtime with build 1 of `fixture.tally` installed as `libtally.so` and loaded.
fn tally_setup(tag: &str, config: RuntimeConfig) -> (Setup, GenerationKey) {
    let setup = Setup::with_config(tag, config);
    let path = setup.install("fixture-tally-v1", "libtally.so");
    let generation = setup.load(&path);
    (setup, generation)
}

/// Installs `build` over the installed library and reloads, on another thread; the new
/// generation.
fn reload_to(setup: &Setup, build: u32) -> GenerationKey {
    elsewhere(|| {
        setup.install(&format!("fixture-tally-v{build}"), "libtally.so");
        setup.reload(TALLY)
    })
}

fn filled(slot: &Slot<TallyInterface>) -> bool {
    slot.get().is_some()
}

#[test]
fn state_is_carried_from_build_1_to_build_2_through_a_slot_across_reloads() {
    let (setup, first) = tally_setup("slot-state", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let waits = blocking_waits();

    let mut slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    assert!(
        slot.get().is_none(),
        "a slot never waits for its first instance"
    );
    let polled = poll_until(&owner, |_| filled(&slot));
    assert_eq!(polled.filled, 1);
    assert_eq!(slot.generation(), Some(first));
    for _ in 0..5 {
        slot.get_mut().unwrap().tick();
    }
    assert_eq!(slot.get().unwrap().build(), 1);

    let second = reload_to(&setup, 2);
    let polled = poll_until(&owner, |_| slot.generation() == Some(second));
    assert_eq!((polled.swapped, polled.state_carried), (1, 1), "{polled:?}");
    assert_eq!(polled.errors, 0, "{polled:?}");
    let instance = slot.get().unwrap();
    assert_eq!(instance.build(), 2, "the new build serves");
    assert_eq!(instance.count(), 5, "build 2 read build 1's state");
    drop(instance);
    assert_eq!(slot.get_mut().unwrap().tick(), 6);
    elsewhere(|| setup.wait_removed(first));

    // Build 2's state is larger than the slot's first buffer: `save_state` is asked
    // again with a buffer of the length it reported.
    let third = reload_to(&setup, 2);
    let polled = poll_until(&owner, |_| slot.generation() == Some(third));
    assert_eq!((polled.state_carried, polled.errors), (1, 0), "{polled:?}");
    assert_eq!(slot.get().unwrap().count(), 6);
    elsewhere(|| setup.wait_removed(second));

    // Back to build 1, which cannot read build 2's state: the swap happens all the same
    // (the old generation must go) and the failure is reported.
    let fourth = reload_to(&setup, 1);
    let polled = poll_until(&owner, |_| slot.generation() == Some(fourth));
    assert_eq!((polled.swapped, polled.state_carried), (1, 0));
    assert_eq!(polled.errors, 1);
    assert!(
        polled
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("loading the state failed")),
        "{polled:?}"
    );
    assert_eq!(slot.get().unwrap().count(), 0, "build 1 starts fresh");
    elsewhere(|| setup.wait_removed(third));

    assert_eq!(
        blocking_waits(),
        waits,
        "the slot's owner thread waited on the actor"
    );
}

#[test]
fn a_slot_drops_its_instance_on_disable_and_unload_and_refills_when_asked() {
    let (setup, first) = tally_setup("slot-drop", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let waits = blocking_waits();
    let mut slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    poll_until(&owner, |_| filled(&slot));
    // Cleared by its holder, a slot stays empty until asked again.
    slot.clear();
    assert!(slot.is_empty() && !slot.is_pending());
    assert!(owner.poll(|other| panic!("{other:?}")).is_quiet());
    assert!(slot.refill());
    poll_until(&owner, |_| filled(&slot));

    let disable = Command::SetEnabled {
        plugin_id: TALLY.into(),
        enabled: false,
    };
    assert!(matches!(
        command(&setup.runtime, disable),
        Outcome::Disabled { .. }
    ));
    let polled = poll_until(&owner, |p| p.dropped == 1);
    assert!(slot.is_empty() && !slot.is_pending());
    assert!(polled.others.is_empty(), "the slot took the notice");
    elsewhere(|| setup.wait_removed(first));

    let enable = Command::SetEnabled {
        plugin_id: TALLY.into(),
        enabled: true,
    };
    let Outcome::Enabled { generation, .. } = command(&setup.runtime, enable) else {
        panic!("the enable failed");
    };
    // A plugin serving again refills empty slots when asked (subscribed owners will be
    // told of it by a notice).
    assert_eq!(owner.refill_slots(TALLY), 1);
    assert_eq!(owner.refill_slots(TALLY), 0, "it already asks");
    poll_until(&owner, |_| filled(&slot));
    assert_eq!(slot.generation(), Some(generation));

    let unload = Command::Unload {
        plugin_id: TALLY.into(),
    };
    assert!(matches!(
        command(&setup.runtime, unload),
        Outcome::Unloaded { .. }
    ));
    poll_until(&owner, |p| p.dropped == 1);
    assert!(slot.is_empty());
    elsewhere(|| setup.wait_removed(generation));
    assert_eq!(blocking_waits(), waits);
}

#[test]
fn a_reservation_overtaken_by_a_second_reload_ends_on_the_newest_generation() {
    let (setup, first) = tally_setup("slot-overtaken", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let waits = blocking_waits();
    let mut slot = owner.slot::<TallyInterface>(TALLY, COUNTER, b"");
    poll_until(&owner, |_| filled(&slot));
    slot.get_mut().unwrap().tick();

    let second = reload_to(&setup, 2);
    // The instance stays borrowed across the polls: they route the drain notice and send
    // the reservation, but leave its answer alone (the old instance is busy).
    let busy = slot.get();
    let polled = poll_until(&owner, |_| slot.is_pending());
    assert_eq!(polled.swapped, 0);
    // Wait (on another thread) until the actor has reserved the ticket on `second`.
    elsewhere(|| {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let snapshot = setup.runtime.snapshot(WAIT).unwrap();
            let generation = snapshot.generations.iter().find(|g| g.generation == second);
            if generation.is_some_and(|g| g.holders.iter().any(|h| h.holds.tickets == 1)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no ticket on {second}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert_eq!(
        slot.generation(),
        Some(first),
        "the old instance serves meanwhile"
    );
    assert_eq!(busy.unwrap().count(), 1);

    // The second reload drains the generation the answered reservation is for.
    let third = reload_to(&setup, 2);
    let polled = poll_until(&owner, |_| slot.generation() == Some(third));
    assert_eq!(
        polled.swapped, 1,
        "one swap, straight to the newest: {polled:?}"
    );
    assert_eq!(slot.get().unwrap().count(), 1);
    // The ticket on `second` was released unused: that generation is collected.
    elsewhere(|| {
        setup.wait_removed(first);
        setup.wait_removed(second);
    });
    assert_eq!(blocking_waits(), waits);
}

#[test]
fn a_slot_dropped_with_its_reservation_on_the_way_leaves_no_ticket() {
    let (setup, first) = tally_setup("slot-dropped", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    for _ in 0..20 {
        drop(owner.slot::<TallyInterface>(TALLY, COUNTER, b""));
    }
    elsewhere(|| {
        let deadline = std::time::Instant::now() + WAIT;
        while setup.runtime.snapshot(WAIT).unwrap().tickets > 0 {
            assert!(std::time::Instant::now() < deadline, "tickets left behind");
            std::thread::sleep(Duration::from_millis(1));
        }
        setup.install("fixture-tally-v2", "libtally.so");
        setup.reload(TALLY);
        setup.wait_removed(first);
    });
}

#[test]
fn a_quiet_poll_and_the_hot_path_allocate_nothing() {
    let (setup, _) = tally_setup("slot-quiet", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let mut slots: Vec<Slot<TallyInterface>> = (0..3)
        .map(|_| owner.slot::<TallyInterface>(TALLY, COUNTER, b""))
        .collect();
    poll_until(&owner, |_| slots.iter().all(filled));
    let before = allocations();
    let waits = blocking_waits();
    for _ in 0..1_000 {
        for slot in &mut slots {
            slot.get_mut().unwrap().tick();
        }
        let report = owner.poll(|other| panic!("{other:?}"));
        assert!(report.is_quiet());
    }
    assert_eq!(allocations(), before, "a quiet safe point allocated");
    assert_eq!(blocking_waits(), waits);
    drop(std::hint::black_box(vec![0u8; 8]));
    assert!(allocations() > before, "the counter counts");
}

#[test]
fn owner_create_makes_one_round_trip() {
    let (setup, _) = tally_setup("slot-create", RuntimeConfig::default());
    let owner = setup.runtime.register_owner("audio.tally").unwrap();
    let waits = blocking_waits();
    let instance = owner
        .create::<TallyInterface>(TALLY, COUNTER, b"inplace:3")
        .unwrap();
    assert_eq!(
        blocking_waits() - waits,
        1,
        "one wait: the reservation's answer"
    );
    assert_eq!(instance.setting(), 3);
    let snapshot = elsewhere(|| setup.runtime.snapshot(WAIT).unwrap());
    assert_eq!((snapshot.instances, snapshot.tickets), (1, 0));
    drop(instance);
    let snapshot = elsewhere(|| setup.runtime.snapshot(WAIT).unwrap());
    assert_eq!(snapshot.instances, 0);
}

/// An owner with three slots polls every 200 µs while another thread reloads (between
/// builds 1 and 2), configures, and disables and enables the plugin; its mailbox is
/// small, so it lags now and then. Its thread never waits on the actor, every slot ends
/// on the last generation, and nothing old is left.
#[test]
fn a_slot_owner_never_waits_on_the_actor_during_a_reload_storm() {
    let config = RuntimeConfig::default().with_mailbox_capacity(4);
    let (setup, _) = tally_setup("slot-storm", config);
    let stop = AtomicBool::new(false);
    let (last, generations, waited) = std::thread::scope(|scope| {
        let owner_thread = scope.spawn(|| {
            let owner = setup.runtime.register_owner("audio.storm").unwrap();
            let waits = blocking_waits();
            let mut slots: Vec<Slot<TallyInterface>> = (0..3)
                .map(|_| owner.slot::<TallyInterface>(TALLY, COUNTER, b""))
                .collect();
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for slot in &mut slots {
                    if let Some(mut instance) = slot.get_mut() {
                        instance.tick();
                    }
                }
                let _ = owner.poll(|_| {});
                round += 1;
                // After a disable, the slots stay empty until asked again.
                if round.is_multiple_of(16) {
                    owner.refill_slots(TALLY);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            poll_until(&owner, |_| {
                owner.refill_slots(TALLY);
                slots.iter().all(|s| s.get().is_some() && !s.is_pending())
            });
            let generations: Vec<_> = slots.iter().map(Slot::generation).collect();
            (generations, blocking_waits() - waits)
        });
        let mut last = None;
        for round in 0..30u32 {
            let build = 1 + round % 2;
            last = Some(reload_to(&setup, build));
            if round % 7 == 3 {
                let configure = Command::Configure {
                    plugin_id: TALLY.into(),
                    type_id: COUNTER.into(),
                    config: format!("recreate:{round}").into_bytes(),
                };
                setup.call(configure);
            }
            if round % 11 == 5 {
                setup.call(Command::SetEnabled {
                    plugin_id: TALLY.into(),
                    enabled: false,
                });
                let Outcome::Enabled { generation, .. } = setup.call(Command::SetEnabled {
                    plugin_id: TALLY.into(),
                    enabled: true,
                }) else {
                    panic!("the enable failed");
                };
                last = Some(generation);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let (generations, waited) = owner_thread.join().unwrap();
        (last.unwrap(), generations, waited)
    });
    assert_eq!(waited, 0, "the slots' owner thread waited on the actor");
    assert_eq!(
        generations,
        [Some(last); 3],
        "every slot on the last generation"
    );
    // The owner is gone: everything but the last generation converges to nothing.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let snapshot = setup.runtime.snapshot(WAIT).unwrap();
        let old: Vec<_> = snapshot
            .generations
            .iter()
            .filter(|g| g.generation != last)
            .collect();
        if old.is_empty() && snapshot.instances == 0 && snapshot.tickets == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left: {old:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
