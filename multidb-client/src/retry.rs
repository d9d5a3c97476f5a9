//! Retries: exponential backoff with jitter, bounded by a retry budget.
//!
//! The budget (as in Finagle and gRPC) caps retries at a fraction of recent requests plus a
//! small floor per second, so that when a whole fleet struggles, clients do not multiply
//! the load by their retry count. Recent requests are read from the circuit breaker's
//! window, which counts them anyway: the budget costs nothing on the command hot path.

use std::collections::VecDeque;
use std::sync::Mutex;
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

/// Retries allowed over a sliding window.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: f64,
    min_per_second: u32,
    window: Duration,
    spent: Mutex<VecDeque<Instant>>,
}

impl RetryBudget {
    pub(crate) fn new(settings: &RetrySettings, window: Duration) -> Self {
        RetryBudget {
            ratio: settings.budget_ratio,
            min_per_second: settings.budget_min_per_second,
            window,
            spent: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes one retry from the budget if there is one left; `recent_requests` is the
    /// number of requests seen inside the window.
    pub(crate) fn try_withdraw(&self, recent_requests: u64) -> bool {
        let now = Instant::now();
        let allowed = self.ratio * recent_requests as f64
            + f64::from(self.min_per_second) * self.window.as_secs_f64();
        let mut spent = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while spent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            spent.pop_front();
        }
        if (spent.len() as f64) < allowed {
            spent.push_back(now);
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
            non_idempotent: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn budget_allows_ratio_of_requests_plus_floor_then_refills() {
        let budget = RetryBudget::new(&settings(0.1, 1), Duration::from_secs(2));
        // 100 requests: 10 % => 10, floor 1/s over 2 s => 2.
        let granted = (0..50).filter(|_| budget.try_withdraw(100)).count();
        assert_eq!(granted, 12);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(budget.try_withdraw(0));
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
