//! A fixed-size log-linear histogram of durations in nanoseconds.
//!
//! Recording a value is an index computation and an increment into an array allocated
//! once, so an owner can record every block without allocating. Values below 32 have a
//! bucket each; above, every power of two is split into 32 buckets, so a quantile is
//! reported with at most 1/32 (about 3 %) relative error, and always as the upper bound of
//! its bucket (capped by the largest value seen): a tail is never reported smaller than
//! it was.

/// Bits of each value kept below its leading one bit.
const SUB_BITS: u32 = 5;
/// Buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for every `u64`: 32 exact ones, then 32 for each of the 59 powers of
/// two from 2^5 to 2^63.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of durations in nanoseconds; see the [module documentation](self).
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Histogram {
    /// An empty histogram; its buckets are allocated here, once.
    pub(crate) fn new() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }

    /// Counts one value. Never allocates.
    #[inline]
    pub(crate) fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// Adds every count of `other`.
    pub(crate) fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (0 when empty).
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.5 for the median, 0.999 for p99.9): the upper bound of
    /// the bucket holding the value of rank `ceil(q * count)`, capped by the largest
    /// value. 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // Ranks count from 1; the float product is exact enough for any count a run
        // reaches, and clamping keeps q = 0 and q = 1 meaningful.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_bound(bucket).min(self.max);
            }
        }
        self.max
    }
}

/// The bucket of a value.
#[inline]
fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    // In [SUB, 2 * SUB): the leading one bit and the SUB_BITS bits below it.
    let mantissa = value >> shift;
    ((shift as u64 + 1) * SUB + (mantissa - SUB)) as usize
}

/// The largest value that falls in `bucket`.
fn upper_bound(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB {
        return bucket;
    }
    let shift = bucket / SUB - 1;
    let mantissa = bucket % SUB + SUB;
    // The last bucket ends at u64::MAX, which the shift would overflow past.
    ((mantissa + 1) << shift)
        .wrapping_sub(1)
        .max(mantissa << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..SUB {
            h.record(v);
        }
        assert_eq!(h.count(), SUB);
        assert_eq!(h.quantile(0.0), 0);
        assert_eq!(h.quantile(0.5), SUB / 2 - 1);
        assert_eq!(h.quantile(1.0), SUB - 1);
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_bounds_it_within_three_percent() {
        let mut values: Vec<u64> = (0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1]).collect();
        values.extend([u64::MAX, 12_345, 999_999_999, 1_000_000_007]);
        for v in values {
            let bucket = index(v);
            assert!(bucket < BUCKETS, "{v} -> {bucket}");
            let upper = upper_bound(bucket);
            assert!(upper >= v, "{v}: upper bound {upper}");
            assert!(
                (upper - v) as f64 <= v as f64 / SUB as f64,
                "{v}: upper bound {upper} too far"
            );
            if bucket > 0 {
                assert!(
                    upper_bound(bucket - 1) < v,
                    "{v} belongs to an earlier bucket"
                );
            }
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread_are_within_the_bucket_error() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for (q, exact) in [(0.5, 500_000u64), (0.99, 990_000), (0.999, 999_000)] {
            let got = h.quantile(q);
            assert!(got >= exact, "q{q}: {got} < {exact}");
            assert!(
                got as f64 <= exact as f64 * (1.0 + 1.0 / SUB as f64),
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.max(), 1_000_000);
    }

    #[test]
    fn a_tail_is_found_and_merging_adds_counts() {
        let mut fast = Histogram::new();
        let mut slow = Histogram::new();
        for _ in 0..9_990 {
            fast.record(199);
        }
        for _ in 0..10 {
            slow.record(5_000_000);
        }
        fast.merge(&slow);
        assert_eq!(fast.count(), 10_000);
        // 199 is the upper bound of its bucket, so it is reported exactly.
        assert_eq!(fast.quantile(0.5), 199);
        // Rank 9,990 is the last fast value; rank 9,991 (p99.91) is the first slow one.
        assert_eq!(fast.quantile(0.999), 199);
        assert_eq!(fast.quantile(0.9991), 5_000_000);
        assert_eq!(fast.max(), 5_000_000);
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(
            (h.count(), h.quantile(0.5), h.quantile(0.999), h.max()),
            (0, 0, 0, 0)
        );
    }
}
