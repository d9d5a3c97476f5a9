//! The limits every duration setting shares.

use std::time::Duration;

use super::MultiDbConfig;
use crate::error::ConfigError;

/// What `failures_detection_window` accepts, in words; see
/// [`MultiDbConfig::MIN_FAILURES_DETECTION_WINDOW`].
pub(super) const MIN_WINDOW_EXPECTED: &str =
    "at least 10ms (the circuit breaker slides it in 10 buckets of at least 1ms)";

/// What every duration accepts, in words; see [`MultiDbConfig::MAX_DURATION`].
pub(super) const MAX_DURATION_EXPECTED: &str = "at most 100 years";

pub(super) fn at_most_max(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value > MultiDbConfig::MAX_DURATION {
        Err(ConfigError::invalid(field, value, MAX_DURATION_EXPECTED))
    } else {
        Ok(())
    }
}

pub(super) fn nonzero(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        Err(ConfigError::invalid(field, value, "greater than zero"))
    } else {
        Ok(())
    }
}
