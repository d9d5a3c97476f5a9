//! Time sources.
//!
//! The breaker never calls `Instant::now()` itself: it asks a [`Clock`], so tests drive time
//! with a [`ManualClock`] and an async runtime can plug in its own (paused) time. A clock
//! returns a monotonic [`Duration`] since an origin of its choosing; the breaker only ever
//! subtracts two readings, so the origin does not matter.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::recent::RecentReading;

/// A monotonic time source.
pub trait Clock: Send + Sync {
    /// Time elapsed since this clock's (arbitrary, fixed) origin. Never decreases.
    fn now(&self) -> Duration;

    /// A reading for a success's window bucket: never later than [`now`](Self::now), and
    /// earlier by at most a few milliseconds. The breaker reads it once per successful call,
    /// so a clock whose exact reading is costly may hand out a recent one (see
    /// [`RecentReading`](crate::RecentReading)); the default is [`now`](Self::now).
    #[inline]
    fn recent(&self) -> Duration {
        self.now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }

    #[inline]
    fn recent(&self) -> Duration {
        (**self).recent()
    }
}

/// The real monotonic clock: [`std::time::Instant`] measured from the moment the clock was
/// created. Clones share that origin. Its [`recent`](Clock::recent) reading, taken on every
/// successful call, reuses the thread's last exact reading while the kernel's coarse clock
/// has not ticked ([`RecentReading`]), which costs a fraction of `Instant::now()`.
#[derive(Clone, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    #[inline]
    fn recent(&self) -> Duration {
        thread_local! {
            static LAST: RecentReading<Instant> = const { RecentReading::new() };
        }
        LAST.with(|last| last.get(Instant::now))
            .saturating_duration_since(self.origin)
    }
}

/// A clock that moves only when told to; for tests. Clones share the same time, so a test
/// can keep one handle while the breaker owns another.
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// Moves time forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = duration_to_nanos(by);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the time to `to`. Setting it backwards breaks the monotonic promise of [`Clock`];
    /// the breaker tolerates it but its decisions are then unspecified.
    pub fn set(&self, to: Duration) {
        self.nanos.store(duration_to_nanos(to), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// Whole nanoseconds of `d`, saturating at `u64::MAX` (about 584 years).
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::default();
        let b = a.clone();
        a.advance(Duration::from_millis(5));
        assert_eq!(b.now(), Duration::from_millis(5));
        b.set(Duration::from_secs(1));
        assert_eq!(a.now(), Duration::from_secs(1));
    }

    #[test]
    fn manual_clock_advance_saturates() {
        let c = ManualClock::default();
        c.advance(Duration::MAX);
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn system_clock_never_goes_backwards() {
        let c = SystemClock::default();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }

    #[test]
    fn system_clock_recent_is_never_ahead_of_now() {
        let c = SystemClock::default();
        for _ in 0..100 {
            let recent = c.recent();
            assert!(recent <= c.now());
        }
    }

    #[test]
    fn arc_clock_delegates() {
        let inner = ManualClock::default();
        let shared: Arc<dyn Clock> = Arc::new(inner.clone());
        inner.advance(Duration::from_millis(7));
        assert_eq!(shared.now(), Duration::from_millis(7));
    }
}
