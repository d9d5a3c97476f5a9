//! Rate limiting of on-demand checks on tokio's clock.
//!
//! governor's own clocks read `std::time::Instant`, which ignores tokio's paused time, so
//! under `#[tokio::test(start_paused = true)]` a limiter on them would never replenish.
//! This clock measures time since its creation with `tokio::time::Instant`, which follows
//! the runtime's clock, paused or not.

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// A governor clock over `tokio::time::Instant`: the time elapsed since its creation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// The longest period given to governor: a century, far below its u64 nanosecond limit.
const MAX_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Lets one requested check start per `min_probe_interval` (a burst of one).
#[derive(Debug)]
pub(crate) struct ProbeLimiter {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
}

impl ProbeLimiter {
    /// `None` when `min_probe_interval` is zero: no limit.
    pub(crate) fn new(min_probe_interval: Duration) -> Option<Self> {
        // governor counts in u64 nanoseconds and panics beyond them (about 584 years).
        let quota = Quota::with_period(min_probe_interval.min(MAX_PERIOD))?;
        Some(Self {
            limiter: RateLimiter::direct_with_clock(quota, TokioClock::new()),
        })
    }

    /// Takes the permit if there is one, or tells how long until there will be.
    pub(crate) fn try_acquire(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limiter_replenishes_with_paused_tokio_time() {
        let limiter = ProbeLimiter::new(Duration::from_millis(100)).unwrap();
        assert_eq!(limiter.try_acquire(), Ok(()));
        assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(60)).await;
        assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(40)));
        tokio::time::advance(Duration::from_millis(40)).await;
        assert_eq!(limiter.try_acquire(), Ok(()));
    }

    #[test]
    fn zero_interval_means_no_limiter() {
        assert!(ProbeLimiter::new(Duration::ZERO).is_none());
    }
}
