//! Follows the storm from its events alone and checks, at every snapshot the storm
//! takes, that the events say what the snapshot says.
//!
//! A snapshot's `command_completed` record comes after every record of what happened
//! before the core took it and before every record of what happened after, so the
//! follower's view at that record must equal the snapshot's view exactly.

use std::thread::JoinHandle;
use std::time::Duration;

use plugin_runtime::events::{Event, EventFilter, Follower, LifecycleView};
use plugin_runtime::generation::{Counters, Outcome};
use plugin_runtime::runtime::ListenError;
use plugin_runtime::{Listener, RuntimeHandle};

/// How many records the watcher's listener queues: a storm makes tens of thousands a
/// second, and the watcher must not lose one, or the comparisons after it are void.
pub(super) const CAPACITY: usize = 1 << 18;

/// What the watcher saw.
#[derive(Debug, Default, Clone)]
pub(super) struct ReplayReport {
    /// Records read.
    pub(super) events: u64,
    /// Records lost to the listener's full queue.
    pub(super) dropped: u64,
    /// Snapshots compared with the follower's view.
    pub(super) checks: u64,
    /// Comparisons that differed, and the first difference.
    pub(super) mismatches: u64,
    pub(super) first_mismatch: Option<String>,
    /// Snapshots not compared because records were lost before them.
    pub(super) skipped: u64,
    /// The runtime's own counters at the end of the run.
    pub(super) counters: Counters,
}

/// Subscribes now, before the storm, and follows on a thread of its own until the
/// runtime stops.
pub(super) fn watch(runtime: &RuntimeHandle) -> Result<JoinHandle<ReplayReport>, String> {
    let listener = runtime
        .listen(EventFilter::all())
        .map_err(|e| format!("cannot listen to the runtime: {e}"))?;
    std::thread::Builder::new()
        .name("stress.replay".into())
        .spawn(move || follow(listener))
        .map_err(|e| format!("cannot spawn the replay thread: {e}"))
}

fn follow(mut listener: Listener) -> ReplayReport {
    let mut follower = Follower::default();
    let mut report = ReplayReport::default();
    loop {
        let record = match listener.recv_timeout(Duration::from_millis(100)) {
            Ok(record) => record,
            Err(ListenError::Timeout) => continue,
            Err(_) => break,
        };
        report.events += 1;
        follower.apply(&record);
        if let Event::CommandCompleted {
            outcome: Outcome::Snapshot(snapshot),
            ..
        } = &record.event
        {
            if follower.gaps() > 0 {
                report.skipped += 1;
                continue;
            }
            report.checks += 1;
            let expected = LifecycleView::of_snapshot(snapshot);
            if follower.view() != &expected {
                report.mismatches += 1;
                report.first_mismatch.get_or_insert_with(|| {
                    format!(
                        "at seq {}: events say {:?}, the snapshot says {:?}",
                        record.seq,
                        follower.view(),
                        expected
                    )
                });
            }
        }
    }
    report.dropped = listener.dropped();
    report
}
