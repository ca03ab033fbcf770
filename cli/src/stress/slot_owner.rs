//! One slot owner of the stress: holds its instances in slots, calls them block after
//! block, and at its safe point only polls: the slots recreate what drains without the
//! owner thread ever waiting on the actor.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::GenerationKey;
use plugin_runtime::owner::TicketKey;
use plugin_runtime::runtime::{OwnerEvent, blocking_waits};
use plugin_runtime::{RuntimeHandle, Slot};

use super::owner::{BLOCK, INSTANCES, OwnerReport, PROGRESS_EVERY, RETRY};
use super::{ECHO_ID, ECHO_TYPE, Phase, Shared};

/// What the canary knows of the instance a slot holds now.
#[derive(Debug)]
struct Watched {
    /// The instance's ticket: a new one means the slot swapped.
    ticket: TicketKey,
    generation: GenerationKey,
    expected: Option<u32>,
    seen: u32,
    total: u64,
}

/// Runs one slot owner until the phase is [`Phase::Stop`], then drops everything.
///
/// # Errors
///
/// If the owner cannot be registered.
pub(super) fn run(
    index: usize,
    runtime: &RuntimeHandle,
    shared: &Shared,
    period: Duration,
) -> Result<OwnerReport, String> {
    let owner = runtime
        .register_owner(format!("stress.slots.{index}"))
        .map_err(|e| format!("owner {index} cannot register: {e}"))?;
    let waits = blocking_waits();
    let mut report = OwnerReport::new(true);
    let mut slots: Vec<Slot<ProbeInterface>> = (0..INSTANCES)
        .map(|_| owner.slot::<ProbeInterface>(ECHO_ID, ECHO_TYPE, b""))
        .collect();
    let mut watched: Vec<Option<Watched>> = (0..INSTANCES).map(|_| None).collect();
    let mut samples = [0.0f32; BLOCK];
    let mut blocks = 0u64;
    let mut next_refill = Instant::now();
    loop {
        let phase = shared.phase();
        if phase == Phase::Stop {
            break;
        }
        let start = Instant::now();
        let mut called = false;
        for (slot, watch) in slots.iter_mut().zip(&mut watched) {
            let Some(mut instance) = slot.get_mut() else {
                continue;
            };
            called = true;
            if watch.as_ref().is_none_or(|w| w.ticket != instance.ticket()) {
                // A new instance (the first, or a swap): learn it as `fill` does.
                let seen = instance.tag();
                report.calls += 1;
                let generation = instance.generation();
                let expected = shared.build_of(generation);
                if let Some(old) = watch.take() {
                    unverified(&mut report, old);
                }
                let fresh = Watched {
                    ticket: instance.ticket(),
                    generation,
                    expected,
                    seen,
                    total: 0,
                };
                check_first(&mut report, &fresh);
                *watch = Some(fresh);
            }
            let Some(watch) = watch.as_mut() else {
                continue;
            };
            let tag = instance.tag();
            samples.fill(1.0);
            let processed = instance.process(&mut samples);
            watch.total += 1;
            let total = instance.accumulate(1);
            report.calls += 3;
            let want = watch.expected.unwrap_or(watch.seen);
            if tag != want || processed.is_err() || samples[0] != want as f32 {
                report.wrong_generation_calls += 1;
                if report.first_wrong.is_none() {
                    report.first_wrong = Some(format!(
                        "a slot's instance of generation {:?} answered tag {tag} and sample {}, expected build {want}",
                        watch.generation, samples[0]
                    ));
                }
            }
            if total != watch.total {
                report.accumulate_mismatches += 1;
                watch.total = total;
            }
        }
        let calls_done = Instant::now();

        // The safe point: one poll, never a wait. Events no slot took (drain stalls,
        // mostly) need nothing from this owner.
        let polled = owner.poll(|_: OwnerEvent| {});
        if slots.iter().any(|s| s.get().is_none() && !s.is_pending())
            && Instant::now() >= next_refill
        {
            // Emptied by a disable or unload: ask again once the plugin serves.
            owner.refill_slots(ECHO_ID);
            next_refill = Instant::now() + RETRY;
        }
        let end = Instant::now();
        report.notices += u64::from(polled.events);
        report.creates += u64::from(polled.swapped + polled.filled);
        report.create_failures += u64::from(polled.errors);
        for (watch, slot) in watched.iter_mut().zip(&slots) {
            if slot.get().is_none()
                && let Some(old) = watch.take()
            {
                unverified(&mut report, old);
            }
            if let Some(w) = watch.as_mut()
                && w.expected.is_none()
            {
                w.expected = shared.build_of(w.generation);
                if w.expected.is_some() {
                    check_first(&mut report, w);
                }
            }
        }
        if called {
            report.record_block(phase, end - start, calls_done - start);
        } else {
            report.empty_blocks += 1;
        }
        blocks += 1;
        if blocks.is_multiple_of(PROGRESS_EVERY) {
            shared.blocks.fetch_add(PROGRESS_EVERY, Ordering::Relaxed);
        }
        if let Some(rest) = (start + period).checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
    }
    report.blocking_waits = blocking_waits() - waits;
    for watch in &mut watched {
        if let Some(old) = watch.take() {
            unverified(&mut report, old);
        }
    }
    drop(slots);
    drop(owner);
    report.released_at = Instant::now();
    Ok(report)
}

/// Checks the first tag an instance answered, once its build is known.
fn check_first(report: &mut OwnerReport, watch: &Watched) {
    if let Some(expected) = watch.expected
        && watch.seen != expected
    {
        report.wrong_generation_calls += 1;
        if report.first_wrong.is_none() {
            report.first_wrong = Some(format!(
                "a slot's new instance of generation {:?} answered tag {}, but build {expected} was installed when that generation was loaded",
                watch.generation, watch.seen,
            ));
        }
    }
}

/// An instance left before its build was learnt: checked at the end.
fn unverified(report: &mut OwnerReport, watch: Watched) {
    if watch.expected.is_none() {
        report.unverified.push((watch.generation, watch.seen));
    }
}
