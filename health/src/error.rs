//! Errors of the health engine: bad configuration and misuse of a monitor.
//!
//! A failed health check is not an error: it is an unhealthy [`HealthStatus`](crate::HealthStatus)
//! carrying an [`Unhealthy`](crate::Unhealthy) reason.

use std::time::Duration;

/// A builder was given a value the engine cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `probes` was zero: a check needs at least one probe.
    #[error("probes must be at least 1, got {value}")]
    ZeroProbes {
        /// The rejected value.
        value: u32,
    },
    /// A duration that must be positive (`timeout`, `interval`) was zero.
    #[error("{field} must be greater than zero, got {value:?}")]
    ZeroDuration {
        /// The builder field, e.g. `"timeout"`.
        field: &'static str,
        /// The rejected value.
        value: Duration,
    },
    /// `jitter` was not smaller than `interval`, so a wait could be zero or negative.
    #[error("jitter must be less than interval ({interval:?}), got {value:?}")]
    JitterTooLarge {
        /// The rejected jitter.
        value: Duration,
        /// The interval it was compared with.
        interval: Duration,
    },
}

/// A [`HealthMonitor`](crate::HealthMonitor) operation could not be carried out.
///
/// Targets are named with their key's `Debug` form, so the error type stays non-generic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `add_target` was called with a key that is already registered.
    #[error("target {target} is already registered")]
    DuplicateTarget {
        /// The key, formatted with `{:?}`.
        target: String,
    },
    /// The key is not (or no longer) registered.
    #[error("target {target} is not registered")]
    UnknownTarget {
        /// The key, formatted with `{:?}`.
        target: String,
    },
    /// `add_target` or `set_checks` was given an empty list of checks.
    #[error("target {target} has no health checks")]
    NoChecks {
        /// The key, formatted with `{:?}`.
        target: String,
    },
    /// The monitor was shut down; it accepts no more work.
    #[error("the health monitor is shut down")]
    ShutDown,
    /// `add_target` was called outside a tokio runtime, so it could not spawn the target's task.
    #[error("no tokio runtime: add_target must be called from within a tokio runtime")]
    NoRuntime,
}
