//! Errors: bad configuration, rejected calls, and the result of a protected call.

use std::fmt;
use std::time::Duration;

use crate::State;

/// A [`CircuitConfig`](crate::CircuitConfig) field was given a value it cannot take.
///
/// Each variant names the field and carries the rejected value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `failure_rate_threshold` is NaN or outside `(0, 1]`.
    #[error("failure_rate_threshold must be in (0, 1], got {value}")]
    FailureRateThreshold {
        /// The rejected value.
        value: f64,
    },
    /// `min_num_failures` is zero.
    #[error("min_num_failures must be at least 1, got {value}")]
    MinNumFailures {
        /// The rejected value.
        value: u32,
    },
    /// `window` is zero.
    #[error("window must be greater than zero, got {value:?}")]
    Window {
        /// The rejected value.
        value: Duration,
    },
    /// `buckets` is zero or above 1000.
    #[error("buckets must be in 1..=1000, got {value}")]
    Buckets {
        /// The rejected value.
        value: u32,
    },
    /// `window / buckets` is shorter than one millisecond.
    #[error("buckets: window / buckets must be at least 1ms, got {window:?} / {buckets}")]
    BucketWidth {
        /// The configured window.
        window: Duration,
        /// The configured number of buckets.
        buckets: u32,
    },
    /// `half_open_max_calls` is zero or above [`MAX_HALF_OPEN`](crate::MAX_HALF_OPEN).
    #[error("half_open_max_calls must be in 1..={max}, got {value}", max = crate::MAX_HALF_OPEN)]
    HalfOpenMaxCalls {
        /// The rejected value.
        value: u32,
    },
    /// `success_threshold` is zero or above [`MAX_HALF_OPEN`](crate::MAX_HALF_OPEN).
    #[error("success_threshold must be in 1..={max}, got {value}", max = crate::MAX_HALF_OPEN)]
    SuccessThreshold {
        /// The rejected value.
        value: u32,
    },
}

/// The breaker refused a call: it is open, or half-open with every trial slot taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub(crate) state: State,
    pub(crate) retry_after: Option<Duration>,
}

impl Rejected {
    /// The state that rejected the call ([`State::Open`] or [`State::HalfOpen`]).
    pub fn state(&self) -> State {
        self.state
    }

    /// How long until the breaker lets a trial call through: the rest of the grace period
    /// when open, zero when half-open (a slot may free up at any time), `None` when forced
    /// open (only [`force_closed`](crate::CircuitBreaker::force_closed) or
    /// [`reset`](crate::CircuitBreaker::reset) will close it).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after) {
            (State::HalfOpen, _) => f.write_str("circuit half-open: all trial calls are in flight"),
            (_, Some(after)) => write!(f, "circuit open: retry after {after:?}"),
            (_, None) => f.write_str("circuit forced open"),
        }
    }
}

impl std::error::Error for Rejected {}

/// The error of [`CircuitBreaker::call`](crate::CircuitBreaker::call): the breaker refused
/// the call, or the call ran and failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker did not run the call.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => write!(f, "call rejected: {r}"),
            Self::Inner(_) => f.write_str("protected call failed"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(_) => None,
            Self::Inner(e) => Some(e),
        }
    }
}
