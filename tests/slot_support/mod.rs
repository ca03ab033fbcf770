//! What the slot and configuration tests share: commands run on another thread (so that
//! the test thread, which owns the slots, never waits on the runtime itself), and a
//! safe-point loop that polls until a condition holds.

use std::time::{Duration, Instant};

use plugin_runtime::generation::{Command, Outcome};
use plugin_runtime::runtime::{OwnerEvent, PollReport};
use plugin_runtime::{Owner, RuntimeHandle};

use crate::common::WAIT;

/// Runs `f` on another thread and returns what it returned: the calling thread waits
/// for a thread, not for the runtime.
pub fn elsewhere<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().expect("the helper thread panicked"))
}

/// Runs `command` through `runtime` on another thread.
pub fn command(runtime: &RuntimeHandle, command: Command) -> Outcome {
    elsewhere(|| runtime.call(command, WAIT).unwrap())
}

/// What the polls of [`poll_until`] did, summed.
#[derive(Debug, Default)]
pub struct Polled {
    pub swapped: u32,
    pub filled: u32,
    pub state_carried: u32,
    pub dropped: u32,
    pub applied: u32,
    pub recreated: u32,
    pub rejected: u32,
    pub failed: u32,
    pub skipped: u64,
    pub errors: u32,
    pub last_error: Option<String>,
    /// Events no slot took.
    pub others: Vec<OwnerEvent>,
}

impl Polled {
    fn add(&mut self, report: &PollReport) {
        self.swapped += report.swapped;
        self.filled += report.filled;
        self.state_carried += report.state_carried;
        self.dropped += report.dropped;
        self.applied += report.applied;
        self.recreated += report.recreated;
        self.rejected += report.rejected;
        self.failed += report.failed;
        self.skipped += report.skipped;
        self.errors += report.errors;
        if let Some(error) = &report.last_error {
            self.last_error = Some(error.to_string());
        }
    }
}

/// Polls `owner` at a safe point every millisecond until `done` holds (checked after
/// each poll with everything polled so far).
///
/// # Panics
///
/// If `done` does not hold within [`WAIT`].
pub fn poll_until(owner: &Owner, mut done: impl FnMut(&Polled) -> bool) -> Polled {
    let deadline = Instant::now() + WAIT;
    let mut polled = Polled::default();
    loop {
        let report = owner.poll(|other| polled.others.push(other));
        polled.add(&report);
        if done(&polled) {
            return polled;
        }
        assert!(
            Instant::now() < deadline,
            "the slots did not get there; polled so far: {polled:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
