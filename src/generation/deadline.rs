//! Time arithmetic that cannot overflow: a wait too long for the clock is "forever".

use std::time::{Duration, Instant};

/// The longest wait a deadline is set for; anything longer means "never" in practice
/// and is cut to this, which every platform's `Instant` can represent.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The instant `wait` after `now`, or a far-future instant (about a century away) if
/// that does not fit in an `Instant`.
///
/// Configured durations and caller timeouts may be anything up to [`Duration::MAX`];
/// `now + wait` would panic on overflow. Never panics.
pub(crate) fn deadline_after(now: Instant, wait: Duration) -> Instant {
    if let Some(deadline) = now.checked_add(wait) {
        return deadline;
    }
    let mut step = FOREVER;
    loop {
        if let Some(deadline) = now.checked_add(step) {
            return deadline;
        }
        if step.is_zero() {
            return now;
        }
        step /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_that_overflow_are_far_future() {
        let now = Instant::now();
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert_eq!(deadline_after(now, Duration::ZERO), now);
        let forever = deadline_after(now, Duration::MAX);
        assert!(forever >= now + Duration::from_secs(365 * 24 * 60 * 60));
        assert!(deadline_after(forever, Duration::MAX) >= forever);
    }
}
