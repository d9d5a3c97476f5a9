//! Retries: exponential backoff with jitter, bounded by a retry budget.
//!
//! The budget (as in Finagle and gRPC) caps retries at a fraction of recent requests plus a
//! small floor per second, so that when a whole fleet struggles, clients do not multiply
//! the load by their retry count. The budget counts requests itself (the breakers' windows
//! are cleared when they close, which would leave no budget right after a recovery), in a
//! counter striped per thread, so the hot path pays one uncontended atomic add.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use crate::config::RetrySettings;

/// The backoff delays of one command's retries.
pub(crate) fn backoff(settings: &RetrySettings) -> impl Iterator<Item = Duration> + use<> {
    let mut builder = ExponentialBuilder::default()
        .with_min_delay(settings.base)
        .with_max_delay(settings.cap)
        .with_max_times(settings.attempts as usize);
    if settings.jitter {
        builder = builder.with_jitter();
    }
    builder.build()
}

/// How far back the budget looks, as in Finagle: long enough that the per-second floor
/// (`10 × 10 s = 100` retries by default) absorbs a whole pool of connections failing at
/// once, even right after start-up when there is no traffic history yet.
pub(crate) const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Stripes of [`StripedCounter`].
const STRIPES: usize = 4;

/// A counter spread over cache lines, one per thread (round robin): adds from different
/// threads do not bounce one cache line between cores.
#[derive(Debug, Default)]
struct StripedCounter([Stripe; STRIPES]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

impl StripedCounter {
    #[inline]
    fn add_one(&self) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        }
        STRIPE.with(|&i| self.0[i].0.fetch_add(1, Ordering::Relaxed));
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }

    /// The count, and zero from now on.
    fn take(&self) -> u64 {
        self.0.iter().map(|s| s.0.swap(0, Ordering::Relaxed)).sum()
    }
}

/// Retries allowed over a sliding window.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: f64,
    min_per_second: u32,
    window: Duration,
    /// Requests since the current epoch began: the only thing the hot path touches.
    requests: StripedCounter,
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    epoch_start: Instant,
    /// Requests in the window before the current epoch (estimated when it was longer).
    previous: u64,
    spent: VecDeque<Instant>,
}

impl RetryBudget {
    pub(crate) fn new(settings: &RetrySettings, window: Duration) -> Self {
        RetryBudget {
            ratio: settings.budget_ratio,
            min_per_second: settings.budget_min_per_second,
            window,
            requests: StripedCounter::default(),
            state: Mutex::new(BudgetState {
                epoch_start: Instant::now(),
                previous: 0,
                spent: VecDeque::new(),
            }),
        }
    }

    /// Counts one request.
    #[inline]
    pub(crate) fn record_request(&self) {
        self.requests.add_one();
    }

    /// Takes one retry from the budget if there is one left.
    pub(crate) fn try_withdraw(&self) -> bool {
        let now = Instant::now();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.duration_since(state.epoch_start);
        if elapsed >= self.window {
            // Close the epoch. One that ran long (no failure for a while) holds requests from
            // long ago: keep only its average share of one window.
            let n = self.requests.take();
            state.previous = if elapsed >= self.window * 2 {
                (n as f64 * self.window.as_secs_f64() / elapsed.as_secs_f64()) as u64
            } else {
                n
            };
            state.epoch_start = now;
        }
        let recent = state.previous + self.requests.sum();
        let allowed =
            self.ratio * recent as f64 + f64::from(self.min_per_second) * self.window.as_secs_f64();
        while state
            .spent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            state.spent.pop_front();
        }
        if (state.spent.len() as f64) < allowed {
            state.spent.push_back(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ratio: f64, floor: u32) -> RetrySettings {
        RetrySettings {
            attempts: 10,
            base: Duration::from_millis(10),
            cap: Duration::from_secs(1),
            jitter: false,
            budget_ratio: ratio,
            budget_min_per_second: floor,
            replay_up_to: crate::CommandCategory::LastWins,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn budget_allows_ratio_of_requests_plus_floor_then_refills() {
        let budget = RetryBudget::new(&settings(0.1, 1), Duration::from_secs(2));
        for _ in 0..100 {
            budget.record_request();
        }
        // 100 requests: 10 % => 10, floor 1/s over 2 s => 2.
        let granted = (0..50).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 12);
        tokio::time::advance(Duration::from_secs(2)).await;
        // The spent retries aged out; the 100 requests now count as the previous window.
        assert_eq!((0..50).filter(|_| budget.try_withdraw()).count(), 12);
        tokio::time::advance(Duration::from_secs(4)).await;
        // Long quiet: the old requests are spread over the time they took; the floor stays.
        assert_eq!((0..50).filter(|_| budget.try_withdraw()).count(), 2);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_attempts() {
        let delays: Vec<_> = backoff(&settings(0.1, 1)).collect();
        assert_eq!(delays.len(), 10);
        assert_eq!(delays[0], Duration::from_millis(10));
        assert_eq!(delays[1], Duration::from_millis(20));
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(1));
    }
}
