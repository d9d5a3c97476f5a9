//! A clock cheap enough to read on every call.
//!
//! `Instant::now()` costs about 25-35 ns on a typical VM, more than the rest of the breaker's
//! Closed path. The window only needs bucket resolution (at least 1 ms), so
//! [`CoarseClock`] reads a timestamp that a background thread refreshes every `resolution`:
//! one atomic load per reading.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::{Clock, duration_to_nanos};

/// A monotonic clock refreshed by a background thread every `resolution`, read with one
/// atomic load. Readings lag real time by up to `resolution` (plus scheduling delay).
///
/// Clones share the clock and its thread; the thread exits at the first tick after the last
/// clone is dropped. If the thread cannot be spawned, readings fall back to `Instant::now`.
#[derive(Clone)]
pub struct CoarseClock {
    shared: Arc<Shared>,
}

struct Shared {
    origin: Instant,
    nanos: AtomicU64,
    ticking: AtomicBool,
    resolution: Duration,
}

impl Shared {
    fn exact(&self) -> u64 {
        duration_to_nanos(self.origin.elapsed())
    }
}

impl CoarseClock {
    /// Starts a clock ticking every `resolution` (1 ms suits the smallest bucket).
    pub fn new(resolution: Duration) -> Self {
        let shared = Arc::new(Shared {
            origin: Instant::now(),
            nanos: AtomicU64::new(0),
            ticking: AtomicBool::new(false),
            resolution,
        });
        let ticker = Arc::downgrade(&shared);
        let spawned = thread::Builder::new()
            .name("multidb-coarse-clock".into())
            .spawn(move || tick(&ticker, resolution));
        shared.ticking.store(spawned.is_ok(), Ordering::Release);
        Self { shared }
    }

    /// How often the time is refreshed.
    pub fn resolution(&self) -> Duration {
        self.shared.resolution
    }
}

fn tick(shared: &Weak<Shared>, resolution: Duration) {
    loop {
        thread::sleep(resolution);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.nanos.fetch_max(shared.exact(), Ordering::Release);
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Duration {
        let s = &*self.shared;
        if s.ticking.load(Ordering::Relaxed) {
            Duration::from_nanos(s.nanos.load(Ordering::Acquire))
        } else {
            Duration::from_nanos(s.exact())
        }
    }
}

impl fmt::Debug for CoarseClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoarseClock")
            .field("resolution", &self.shared.resolution)
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_advances_and_never_runs_ahead() {
        let clock = CoarseClock::new(Duration::from_millis(1));
        let first = clock.now();
        let give_up = Instant::now() + Duration::from_secs(30);
        // Wait for the ticker's next refresh (an event, not a fixed sleep).
        while clock.now() == first && Instant::now() < give_up {
            thread::yield_now();
        }
        let later = clock.now();
        assert!(later > first, "the ticker never refreshed");
        assert!(later <= clock.shared.origin.elapsed());
        assert_eq!(clock.clone().resolution(), Duration::from_millis(1));
    }
}
