//! Cheap readings for the success path.
//!
//! A success only needs its window bucket (at least 1 ms wide, 200 ms by default), while an
//! exact `Instant::now()` costs as much as the rest of the Closed path. [`RecentReading`]
//! keeps a thread's last exact reading and hands it out again while the kernel's coarse
//! monotonic clock (`CLOCK_MONOTONIC_COARSE` on Linux, a few nanoseconds to read) has not
//! ticked, and for at most [`MAX_REUSES`] readings in a row: a reading is never later than
//! the exact time, and earlier by at most one coarse tick (1-10 ms, by the kernel's `HZ`).
//! Unlike a reading reused for a fixed number of calls, it cannot be minutes old after an
//! idle spell, so a slow caller's successes are never dropped from the window.

use std::cell::Cell;

/// How many readings in a row one exact reading may serve: bounds the error for clocks the
/// coarse clock does not follow (a paused test clock).
pub const MAX_REUSES: u8 = 16;

#[derive(Clone, Copy)]
struct Entry<I> {
    exact: I,
    tick: coarsetime::Instant,
    uses: u8,
}

/// One thread's cache of an exact clock reading; keep it in a `thread_local!`, one per
/// kind of clock (readings of different clocks must not mix).
///
/// ```
/// use std::time::Instant;
/// use multidb_circuit::RecentReading;
///
/// thread_local! {
///     static LAST: RecentReading<Instant> = const { RecentReading::new() };
/// }
/// let before = Instant::now();
/// let recent = LAST.with(|last| last.get(Instant::now));
/// assert!(recent >= before && recent <= Instant::now());
/// ```
pub struct RecentReading<I> {
    entry: Cell<Option<Entry<I>>>,
}

impl<I: Copy> RecentReading<I> {
    /// An empty cache: its first reading is exact.
    pub const fn new() -> Self {
        Self {
            entry: Cell::new(None),
        }
    }

    /// The cached reading if the coarse clock has not ticked since it was taken (and it has
    /// served fewer than [`MAX_REUSES`] times), else a fresh one from `exact`.
    #[inline]
    pub fn get(&self, exact: impl FnOnce() -> I) -> I {
        // Not `now()`: that also stores into a process-wide atomic, one cache line written
        // by every thread.
        let tick = coarsetime::Instant::now_without_cache_update();
        let entry = match self.entry.get() {
            Some(e) if e.tick == tick && e.uses < MAX_REUSES => Entry {
                uses: e.uses + 1,
                ..e
            },
            _ => Entry {
                exact: exact(),
                tick,
                uses: 1,
            },
        };
        self.entry.set(Some(entry));
        entry.exact
    }
}

impl<I: Copy> Default for RecentReading<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I> std::fmt::Debug for RecentReading<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentReading").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_reused_within_a_tick_at_most_max_reuses_times() {
        // Tries until one attempt fits inside one coarse tick (milliseconds; 32 reads take
        // microseconds, so the first attempt nearly always does).
        for _ in 0..1000 {
            let cache = RecentReading::new();
            let mut calls = 0u32;
            let start = coarsetime::Instant::now_without_cache_update();
            for _ in 0..2 * u32::from(MAX_REUSES) {
                cache.get(|| {
                    calls += 1;
                    calls
                });
            }
            if coarsetime::Instant::now_without_cache_update() == start {
                assert_eq!(calls, 2, "one exact reading per {MAX_REUSES}");
                return;
            }
        }
        panic!("no attempt fitted inside one coarse tick");
    }

    #[test]
    fn a_new_coarse_tick_takes_a_fresh_reading() {
        let cache = RecentReading::new();
        let first = cache.get(|| 1u32);
        let start = coarsetime::Instant::now_without_cache_update();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // Wait for the coarse clock's next tick (an event, not a fixed sleep).
        while coarsetime::Instant::now_without_cache_update() == start
            && std::time::Instant::now() < give_up
        {
            std::thread::yield_now();
        }
        assert_eq!(first, 1);
        assert_eq!(
            cache.get(|| 2u32),
            2,
            "the tick invalidated the cached reading"
        );
    }
}
