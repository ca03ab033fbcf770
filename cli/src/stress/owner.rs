//! One owner thread of the stress: calls its instances block after block, and recreates
//! them at its safe point when their generation drains.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fixture_api::{ProbeCalls, ProbeInterface};
use plugin_runtime::generation::{GenerationKey, GenerationState};
use plugin_runtime::runtime::{OwnerEvent, blocking_waits};
use plugin_runtime::{Instance, Owner, RuntimeHandle};

use super::histogram::Histogram;
use super::{ECHO_ID, ECHO_TYPE, Phase, Shared};

/// Instances each owner keeps.
pub(super) const INSTANCES: usize = 2;
/// Samples per block, as an audio callback of 64 frames.
pub(super) const BLOCK: usize = 64;
/// How long an owner waits before trying again to create an instance that it could not.
pub(super) const RETRY: Duration = Duration::from_millis(2);
/// Blocks between two updates of the shared progress counter.
pub(super) const PROGRESS_EVERY: u64 = 1024;

/// What one owner saw.
#[derive(Debug)]
pub(super) struct OwnerReport {
    /// Whole blocks (calls and safe point) during the idle phase.
    pub(super) idle_blocks: Histogram,
    /// Whole blocks during the storm.
    pub(super) storm_blocks: Histogram,
    /// The calls alone of each idle block.
    pub(super) idle_calls: Histogram,
    /// The calls alone of each storm block.
    pub(super) storm_calls: Histogram,
    /// Each `Owner::create` that succeeded, during the storm (two round trips to the
    /// actor and the plugin's `create`).
    pub(super) storm_creates: Histogram,
    /// Calls into instances.
    pub(super) calls: u64,
    /// Blocks with no instance to call (every create had failed).
    pub(super) empty_blocks: u64,
    /// Calls whose answer was not that of the build the instance's generation was loaded
    /// from.
    pub(super) wrong_generation_calls: u64,
    /// `accumulate` answers that were not the instance's own running total.
    pub(super) accumulate_mismatches: u64,
    /// The first wrong answer, for the report.
    pub(super) first_wrong: Option<String>,
    /// Draining notices received.
    pub(super) notices: u64,
    /// Instances created.
    pub(super) creates: u64,
    /// Creates that failed (no active generation at that moment, most often).
    pub(super) create_failures: u64,
    /// Instances checked without knowing their build yet, dropped before it was known:
    /// (generation, the tag they answered), checked against the builds at the end.
    pub(super) unverified: Vec<(GenerationKey, u32)>,
    /// When this owner released its last instance and itself.
    pub(super) released_at: Instant,
    /// Whether the owner holds its instances in slots (else it uses `Owner::create`).
    pub(super) slots: bool,
    /// How many times its thread waited on the runtime after registering (see
    /// `plugin_runtime::runtime::blocking_waits`).
    pub(super) blocking_waits: u64,
}

impl OwnerReport {
    /// An empty report of an owner of this kind.
    pub(super) fn new(slots: bool) -> Self {
        Self {
            idle_blocks: Histogram::new(),
            storm_blocks: Histogram::new(),
            idle_calls: Histogram::new(),
            storm_calls: Histogram::new(),
            storm_creates: Histogram::new(),
            calls: 0,
            empty_blocks: 0,
            wrong_generation_calls: 0,
            accumulate_mismatches: 0,
            first_wrong: None,
            notices: 0,
            creates: 0,
            create_failures: 0,
            unverified: Vec::with_capacity(256),
            released_at: Instant::now(),
            slots,
            blocking_waits: 0,
        }
    }

    /// Records one block of `phase`: the whole block and its calls alone.
    pub(super) fn record_block(&mut self, phase: Phase, whole: Duration, calls: Duration) {
        let (blocks, call_times) = match phase {
            Phase::Idle => (&mut self.idle_blocks, &mut self.idle_calls),
            _ => (&mut self.storm_blocks, &mut self.storm_calls),
        };
        blocks.record(nanos(whole));
        call_times.record(nanos(calls));
    }
}

/// Runs one owner until the phase is [`Phase::Stop`], then drops everything.
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
        .register_owner(format!("stress.owner.{index}"))
        .map_err(|e| format!("owner {index} cannot register: {e}"))?;
    let waits = blocking_waits();
    let mut state = OwnerState {
        owner: &owner,
        shared,
        slots: [None, None],
        report: OwnerReport::new(false),
        next_retry: Instant::now(),
        unresolved: false,
    };
    state.fill();
    let mut samples = [0.0f32; BLOCK];
    let mut blocks = 0u64;
    loop {
        let phase = shared.phase();
        if phase == Phase::Stop {
            break;
        }
        let start = Instant::now();
        let called = state.call_block(&mut samples);
        let calls_done = Instant::now();
        state.safe_point();
        let end = Instant::now();
        if called {
            state
                .report
                .record_block(phase, end - start, calls_done - start);
        } else {
            state.report.empty_blocks += 1;
        }
        blocks += 1;
        if blocks.is_multiple_of(PROGRESS_EVERY) {
            shared.blocks.fetch_add(PROGRESS_EVERY, Ordering::Relaxed);
        }
        if let Some(rest) = (start + period).checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
    }
    for slot in &mut state.slots {
        state.report.release(slot.take());
    }
    let mut report = state.report;
    report.blocking_waits = blocking_waits() - waits;
    drop(owner);
    report.released_at = Instant::now();
    Ok(report)
}

/// One instance with what the canary knows of it.
#[derive(Debug)]
struct Held {
    instance: Instance<ProbeInterface>,
    /// The tag of the build its generation was loaded from, once the control thread has
    /// recorded it (it learns the generation only from the load's outcome, which may
    /// come after an owner already created from it).
    expected: Option<u32>,
    /// The tag it answered first.
    seen: u32,
    /// The running total `accumulate` must return.
    total: u64,
}

struct OwnerState<'a> {
    owner: &'a Owner,
    shared: &'a Shared,
    slots: [Option<Held>; INSTANCES],
    report: OwnerReport,
    next_retry: Instant,
    /// Whether some held instance does not know its build yet.
    unresolved: bool,
}

impl OwnerState<'_> {
    /// Calls every held instance once: `tag`, `process` on a block, `accumulate`, each
    /// checked. Returns whether any instance was called.
    fn call_block(&mut self, samples: &mut [f32; BLOCK]) -> bool {
        let mut called = false;
        for held in self.slots.iter_mut().flatten() {
            called = true;
            let tag = held.instance.tag();
            samples.fill(1.0);
            let processed = held.instance.process(samples);
            held.total += 1;
            let total = held.instance.accumulate(1);
            self.report.calls += 3;
            let want = held.expected.unwrap_or(held.seen);
            // Build TAG scales by gain TAG, so each sample must now be TAG.
            if tag != want || processed.is_err() || samples[0] != want as f32 {
                self.report.wrong_generation_calls += 1;
                if self.report.first_wrong.is_none() {
                    self.report.first_wrong = Some(format!(
                        "an instance of generation {:?} answered tag {tag} and sample {} (processed: {:?}), expected build {want}",
                        held.instance.generation(),
                        samples[0],
                        processed.err().map(|e| e.to_string()),
                    ));
                }
            }
            if total != held.total {
                self.report.accumulate_mismatches += 1;
                held.total = total;
            }
        }
        called
    }

    /// Between blocks: handles every event in the mailbox, learns the builds of new
    /// instances, and retries creating what could not be created.
    fn safe_point(&mut self) {
        while let Some(event) = self.owner.try_recv() {
            match event {
                OwnerEvent::Draining(notice) => {
                    self.report.notices += 1;
                    self.replace_where(|generation| generation == notice.old);
                }
                OwnerEvent::CommandCompleted(_) => {
                    // This owner submits no commands.
                }
                _ => {
                    // An event this stress does not know (a mailbox that lagged, for
                    // instance) may stand for notices it will never see: ask the actor
                    // which held generations still serve, and replace the others.
                    let runtime = self.owner.runtime().clone();
                    self.replace_where(|generation| {
                        !matches!(
                            runtime.generation_state(generation),
                            Ok(Ok(GenerationState::Active))
                        )
                    });
                }
            }
        }
        if self.unresolved {
            self.resolve();
        }
        if self.slots.iter().any(Option::is_none) && Instant::now() >= self.next_retry {
            self.fill();
        }
    }

    /// Drops the instances whose generation matches and creates new ones at once.
    fn replace_where(&mut self, mut stale: impl FnMut(GenerationKey) -> bool) {
        let mut dropped = false;
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|held| stale(held.instance.generation()))
            {
                self.report.release(slot.take());
                dropped = true;
            }
        }
        if dropped {
            self.fill();
        }
    }

    /// Creates an instance in every empty slot; after a failure, waits [`RETRY`].
    fn fill(&mut self) {
        for slot in &mut self.slots {
            if slot.is_some() {
                continue;
            }
            let start = Instant::now();
            match self.owner.create::<ProbeInterface>(ECHO_ID, ECHO_TYPE, b"") {
                Ok(instance) => {
                    if self.shared.phase() == Phase::Storm {
                        self.report.storm_creates.record(nanos(start.elapsed()));
                    }
                    self.report.creates += 1;
                    self.report.calls += 1;
                    let seen = instance.tag();
                    let expected = self.shared.build_of(instance.generation());
                    self.unresolved |= expected.is_none();
                    *slot = Some(Held {
                        instance,
                        expected,
                        seen,
                        total: 0,
                    });
                    if let Some(held) = slot.as_ref() {
                        check_first_answer(&mut self.report, held);
                    }
                }
                Err(_) => {
                    // No active generation right now (unloaded, disabled, or reloaded
                    // again since the ticket was reserved): try later.
                    self.report.create_failures += 1;
                    self.next_retry = Instant::now() + RETRY;
                    return;
                }
            }
        }
    }

    /// Looks up the builds of instances created before the control thread recorded them.
    fn resolve(&mut self) {
        self.unresolved = false;
        for held in self.slots.iter_mut().flatten() {
            if held.expected.is_none() {
                held.expected = self.shared.build_of(held.instance.generation());
                self.unresolved |= held.expected.is_none();
                check_first_answer(&mut self.report, held);
            }
        }
    }
}

/// Checks the first tag an instance answered, once its build is known.
fn check_first_answer(report: &mut OwnerReport, held: &Held) {
    if let Some(expected) = held.expected
        && held.seen != expected
    {
        report.wrong_generation_calls += 1;
        if report.first_wrong.is_none() {
            report.first_wrong = Some(format!(
                "a new instance of generation {:?} answered tag {}, but build {expected} was installed when that generation was loaded",
                held.instance.generation(),
                held.seen,
            ));
        }
    }
}

impl OwnerReport {
    /// Drops an instance, keeping its first answer for a check at the end if its build
    /// was never learnt.
    fn release(&mut self, held: Option<Held>) {
        if let Some(held) = held
            && held.expected.is_none()
        {
            self.unverified
                .push((held.instance.generation(), held.seen));
        }
    }
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
