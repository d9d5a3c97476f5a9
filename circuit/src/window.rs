//! The sliding failure window: a ring of time buckets updated with atomics only.
//!
//! Time is cut into buckets of `window / buckets`; an event lands in the bucket of its
//! timestamp, and a bucket counts while it is one of the `buckets` most recent ones. The
//! window therefore slides one bucket at a time, instead of being reset at boundaries as
//! redis-py's and Jedis' detectors are.
//!
//! Each bucket holds 64-bit words (successes, failures), each packing the bucket's epoch
//! (low 28 bits of `time / width`) with a 36-bit count. Successes, counted on every call,
//! are spread over [`ROWS`] rows on separate cache lines, one per thread (round robin), so
//! threads recording at once do not fight over one word; failures, rare, have one row. Recycling a slot for a newer epoch
//! and counting into it are then one compare-and-swap: no event is lost or misfiled when
//! threads race at a bucket boundary, and nothing is locked or allocated. Limits: a bucket
//! counts at most 2^36 - 1 events (about 69 billion), and a slot left untouched for exactly
//! a multiple of 2^28 bucket widths (at least 74 hours) could be read as current.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::clock::duration_to_nanos;
use crate::config::CircuitConfig;

const COUNT_BITS: u32 = 36;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;
const TAG_HALF: u64 = 1 << (64 - COUNT_BITS - 1);

/// Successes and failures inside the window at the time of the query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WindowCounts {
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed.
    pub failures: u64,
}

impl WindowCounts {
    /// All calls: `successes + failures`.
    pub fn total(&self) -> u64 {
        self.successes + self.failures
    }
}

/// Division by a constant through a multiply, exact after a correction step: the hot path
/// runs two of them per recorded event, and a hardware 64-bit divide costs more than both.
#[derive(Debug)]
struct Divisor {
    d: u64,
    magic: u64,
}

impl Divisor {
    /// `d` must be non-zero (callers pass a validated width or bucket count).
    fn new(d: u64) -> Self {
        let d = d.max(1);
        Self {
            d,
            magic: u64::MAX / d,
        }
    }

    /// `(x / d, x % d)`.
    #[inline]
    fn div_rem(&self, x: u64) -> (u64, u64) {
        // magic underestimates 2^64 / d, so q undershoots x / d by at most 2.
        let mut q = ((u128::from(x) * u128::from(self.magic)) >> 64) as u64;
        let mut r = x - q * self.d;
        while r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }
}

/// Rows of success counters.
const ROWS: usize = 4;
/// Words between the end of one row and the start of the next: two cache lines, so no two
/// rows share a line (or an adjacent-line prefetch pair) whatever the allocation's alignment.
const ROW_GAP: usize = 16;

/// This thread's row of success counters.
fn row() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ROW: usize = NEXT.fetch_add(1, Ordering::Relaxed) % ROWS;
    }
    ROW.with(|r| *r)
}

/// A sliding window of success and failure counts.
#[derive(Debug)]
pub(crate) struct SlidingWindow {
    /// `ROWS` rows of `len` words, `len + ROW_GAP` apart.
    successes: Box<[AtomicU64]>,
    failures: Box<[AtomicU64]>,
    width: Divisor,
    len: Divisor,
}

impl SlidingWindow {
    pub(crate) fn new(config: &CircuitConfig) -> Self {
        let len = config.buckets().max(1);
        let words = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            successes: words(ROWS * (len as usize + ROW_GAP)),
            failures: words(len as usize),
            width: Divisor::new(duration_to_nanos(config.bucket_width())),
            len: Divisor::new(u64::from(len)),
        }
    }

    fn success_word(&self, row: usize, index: usize) -> &AtomicU64 {
        &self.successes[row * (self.len.d as usize + ROW_GAP) + index]
    }

    /// Counts one event that happened `now` nanoseconds after the breaker's origin.
    #[inline]
    pub(crate) fn record(&self, now: u64, failure: bool) {
        let (epoch, _) = self.width.div_rem(now);
        let (_, index) = self.len.div_rem(epoch);
        // index < len by construction of `len`.
        let word = if failure {
            &self.failures[index as usize]
        } else {
            self.success_word(row(), index as usize)
        };
        let tag = epoch & TAG_MASK;
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let current_tag = current >> COUNT_BITS;
            let next = if current_tag == tag {
                current + 1
            } else if tag.wrapping_sub(current_tag) & TAG_MASK < TAG_HALF {
                // The slot holds an older epoch: recycle it, counting this event.
                (tag << COUNT_BITS) | 1
            } else {
                // The slot already moved on: this event is older than the window.
                return;
            };
            match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The counts of the buckets still inside the window at `now`.
    pub(crate) fn counts(&self, now: u64) -> WindowCounts {
        let (epoch, _) = self.width.div_rem(now);
        let tag = epoch & TAG_MASK;
        let live = |word: &AtomicU64| {
            let w = word.load(Ordering::Relaxed);
            let age = tag.wrapping_sub(w >> COUNT_BITS) & TAG_MASK;
            if age < self.len.d { w & COUNT_MASK } else { 0 }
        };
        let len = self.len.d as usize;
        let successes = (0..ROWS)
            .flat_map(|row| (0..len).map(move |i| (row, i)))
            .map(|(row, i)| live(self.success_word(row, i)))
            .sum();
        WindowCounts {
            successes,
            failures: self.failures.iter().map(live).sum(),
        }
    }

    /// Forgets every event. A zero count is right whatever epoch it is read as.
    pub(crate) fn clear(&self) {
        for word in self.successes.iter().chain(&*self.failures) {
            word.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn window(ms: u64, buckets: u32) -> SlidingWindow {
        let config = CircuitConfig::builder()
            .window(Duration::from_millis(ms))
            .buckets(buckets)
            .build()
            .unwrap();
        SlidingWindow::new(&config)
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn divisor_matches_hardware_division() {
        for d in [
            1,
            2,
            3,
            7,
            1_000,
            1_000_000,
            333_333_333,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let div = Divisor::new(d);
            for x in [
                0,
                1,
                d - 1,
                d,
                d.saturating_add(1),
                12_345_678_901,
                u64::MAX - 1,
                u64::MAX,
            ] {
                assert_eq!(div.div_rem(x), (x / d, x % d), "{x} / {d}");
            }
        }
    }

    #[test]
    fn events_age_out_one_bucket_at_a_time() {
        let w = window(100, 4); // 25 ms buckets
        w.record(0, true);
        w.record(30 * MS, true);
        w.record(60 * MS, false);
        assert_eq!(
            w.counts(99 * MS),
            WindowCounts {
                successes: 1,
                failures: 2
            }
        );
        // Bucket [0, 25) leaves at 100 ms; the others stay.
        assert_eq!(
            w.counts(100 * MS),
            WindowCounts {
                successes: 1,
                failures: 1
            }
        );
        assert_eq!(
            w.counts(124 * MS),
            WindowCounts {
                successes: 1,
                failures: 1
            }
        );
        assert_eq!(
            w.counts(125 * MS),
            WindowCounts {
                successes: 1,
                failures: 0
            }
        );
        assert_eq!(w.counts(175 * MS), WindowCounts::default());
    }

    #[test]
    fn recycled_slot_starts_from_one() {
        let w = window(100, 4);
        w.record(0, true);
        w.record(0, true);
        w.record(100 * MS, true); // same slot, next lap
        assert_eq!(w.counts(100 * MS).failures, 1);
    }

    #[test]
    fn stale_event_after_recycle_is_dropped() {
        let w = window(100, 4);
        w.record(100 * MS, true);
        w.record(0, true);
        assert_eq!(w.counts(100 * MS).failures, 1);
    }

    #[test]
    fn successes_from_many_threads_all_count_and_age_out_together() {
        let w = window(100, 4);
        std::thread::scope(|scope| {
            for _ in 0..=2 * ROWS {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        w.record(10 * MS, false);
                    }
                    w.record(10 * MS, true);
                });
            }
        });
        let threads = 2 * ROWS as u64 + 1;
        assert_eq!(
            w.counts(99 * MS),
            WindowCounts {
                successes: 1000 * threads,
                failures: threads
            }
        );
        assert_eq!(w.counts(125 * MS), WindowCounts::default());
    }

    #[test]
    fn clear_forgets_everything() {
        let w = window(100, 4);
        w.record(10 * MS, true);
        w.record(60 * MS, false);
        w.clear();
        assert_eq!(w.counts(60 * MS), WindowCounts::default());
        w.record(60 * MS, false);
        assert_eq!(w.counts(60 * MS).successes, 1);
    }
}
