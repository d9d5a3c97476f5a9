//! Breaker configuration and its validating builder.
//!
//! Defaults match redis-py's `MultiDbConfig` so a ported configuration behaves the same:
//! a 2 s window, at least 1000 failures and 10 % of the calls, 60 s grace period. On top of
//! that the breaker slides the window in 10 buckets of 200 ms (failures age out 200 ms at a
//! time rather than all at once) and limits half-open trial calls.

use std::time::Duration;

use crate::ConfigError;

/// Largest accepted `half_open_max_calls` and `success_threshold` (2^20 - 1): both live in
/// the breaker's single atomic state word.
pub const MAX_HALF_OPEN: u32 = (1 << 20) - 1;

const MAX_BUCKETS: u32 = 1000;
const MIN_BUCKET_WIDTH: Duration = Duration::from_millis(1);

/// A validated breaker configuration. Build one with [`CircuitConfig::builder`]; the
/// [`Default`] is the builder's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitConfig {
    failure_rate_threshold: f64,
    min_num_failures: u32,
    window: Duration,
    buckets: u32,
    grace_period: Duration,
    half_open_max_calls: u32,
    success_threshold: u32,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failure_rate_threshold: 0.10,
            min_num_failures: 1000,
            window: Duration::from_secs(2),
            buckets: 10,
            grace_period: Duration::from_secs(60),
            half_open_max_calls: 1,
            success_threshold: 1,
        }
    }
}

impl CircuitConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CircuitConfigBuilder {
        CircuitConfigBuilder {
            config: Self::default(),
        }
    }

    /// Fraction of failed calls in the window, in `(0, 1]`, at or above which the breaker
    /// opens (together with [`min_num_failures`](Self::min_num_failures)).
    pub fn failure_rate_threshold(&self) -> f64 {
        self.failure_rate_threshold
    }

    /// Failures in the window at or above which the breaker opens (together with
    /// [`failure_rate_threshold`](Self::failure_rate_threshold)).
    pub fn min_num_failures(&self) -> u32 {
        self.min_num_failures
    }

    /// Length of the sliding failure window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Number of buckets the window slides by.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Time from opening until the breaker lets trial calls through (half-open).
    pub fn grace_period(&self) -> Duration {
        self.grace_period
    }

    /// Trial calls allowed in flight at once while half-open.
    pub fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls
    }

    /// Consecutive half-open successes that close the breaker.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// Width of one bucket: `window / buckets`, rounded down to a nanosecond.
    pub(crate) fn bucket_width(&self) -> Duration {
        self.window / self.buckets
    }
}

/// Builds a [`CircuitConfig`]; every setter takes and returns the builder, and
/// [`build`](Self::build) checks the values.
#[must_use]
#[derive(Clone, Debug)]
pub struct CircuitConfigBuilder {
    config: CircuitConfig,
}

impl CircuitConfigBuilder {
    /// Failure rate, in `(0, 1]`, at or above which the breaker opens. Default `0.10`.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.config.failure_rate_threshold = rate;
        self
    }

    /// Failures in the window, at least 1, at or above which the breaker opens. Default 1000.
    pub fn min_num_failures(mut self, failures: u32) -> Self {
        self.config.min_num_failures = failures;
        self
    }

    /// Sliding window length, non-zero. Default 2 s.
    pub fn window(mut self, window: Duration) -> Self {
        self.config.window = window;
        self
    }

    /// Buckets the window slides by, in `1..=1000`, each at least 1 ms wide. Default 10.
    pub fn buckets(mut self, buckets: u32) -> Self {
        self.config.buckets = buckets;
        self
    }

    /// Time from opening until half-open; zero means half-open at once. Default 60 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.config.grace_period = grace;
        self
    }

    /// Trial calls in flight at once while half-open, in `1..=MAX_HALF_OPEN`. Default 1.
    pub fn half_open_max_calls(mut self, calls: u32) -> Self {
        self.config.half_open_max_calls = calls;
        self
    }

    /// Consecutive half-open successes that close the breaker, in `1..=MAX_HALF_OPEN`.
    /// Default 1.
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.config.success_threshold = successes;
        self
    }

    /// Checks every field and returns the configuration.
    ///
    /// # Errors
    ///
    /// The first invalid field, as the [`ConfigError`] variant named after it: a NaN or
    /// out-of-range rate, a zero count, window or bucket number, more than 1000 buckets, a
    /// bucket narrower than 1 ms, or a half-open limit above [`MAX_HALF_OPEN`].
    pub fn build(self) -> Result<CircuitConfig, ConfigError> {
        let c = self.config;
        let rate = c.failure_rate_threshold;
        // Written so that NaN fails the check.
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(ConfigError::FailureRateThreshold { value: rate });
        }
        if c.min_num_failures == 0 {
            return Err(ConfigError::MinNumFailures {
                value: c.min_num_failures,
            });
        }
        if c.window.is_zero() {
            return Err(ConfigError::Window { value: c.window });
        }
        if c.buckets == 0 || c.buckets > MAX_BUCKETS {
            return Err(ConfigError::Buckets { value: c.buckets });
        }
        if c.bucket_width() < MIN_BUCKET_WIDTH {
            return Err(ConfigError::BucketWidth {
                window: c.window,
                buckets: c.buckets,
            });
        }
        if c.half_open_max_calls == 0 || c.half_open_max_calls > MAX_HALF_OPEN {
            return Err(ConfigError::HalfOpenMaxCalls {
                value: c.half_open_max_calls,
            });
        }
        if c.success_threshold == 0 || c.success_threshold > MAX_HALF_OPEN {
            return Err(ConfigError::SuccessThreshold {
                value: c.success_threshold,
            });
        }
        Ok(c)
    }
}
