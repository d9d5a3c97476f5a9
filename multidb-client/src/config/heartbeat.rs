//! [`HeartbeatConfig`]: the settings of the replication heartbeat, and what `build()`
//! checks of them.

use std::time::Duration;

use super::MultiDbConfig;
use super::limits::{MAX_DURATION_EXPECTED, nonzero};
use crate::error::ConfigError;

/// The most heartbeats one lag bound may span: the client remembers when each of them was
/// acknowledged, so a bound of more than this many intervals is refused.
const MAX_HEARTBEATS_PER_BOUND: u32 = 1000;

/// How long a heartbeat key lives beyond the lag bound, in intervals.
const TTL_INTERVALS_BEYOND_BOUND: u32 = 3;

/// The replication heartbeat (see
/// [`MultiDbConfigBuilder::replication_heartbeat`](crate::MultiDbConfigBuilder::replication_heartbeat)):
/// every `interval` the client writes a sequence number on each writable database, reads
/// the other databases' numbers on each one, and a database that does not show, after
/// `lag_bound`, a heartbeat written elsewhere is lagging.
///
/// ```
/// use std::time::Duration;
/// use multidb_client::{DatabaseConfig, HeartbeatConfig, MultiDbConfig};
///
/// let config = MultiDbConfig::builder()
///     .database(DatabaseConfig::from_url("redis://east.example.com:6379")?)
///     .database(DatabaseConfig::from_url("redis://west.example.com:6379")?.weight(0.5))
///     .replication_heartbeat(Some(
///         HeartbeatConfig::new(Duration::from_secs(2)).interval(Duration::from_millis(500)),
///     ))
///     .build()?;
/// # let _ = config;
/// # Ok::<(), multidb_client::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct HeartbeatConfig {
    lag_bound: Duration,
    interval: Option<Duration>,
}

impl HeartbeatConfig {
    /// Heartbeats every `health_check_interval`; a database whose view of another's
    /// heartbeats is more than `lag_bound` behind is lagging. `lag_bound` must be longer
    /// than the interval (checked by `build()`).
    pub fn new(lag_bound: Duration) -> Self {
        HeartbeatConfig {
            lag_bound,
            interval: None,
        }
    }

    /// Heartbeats every `interval` instead of every `health_check_interval`: shorter than
    /// the lag bound, and the bound at most 1000 intervals.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }
}

/// A checked [`HeartbeatConfig`], with the client's defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeartbeatSettings {
    /// How often heartbeats are written.
    pub(crate) interval: Duration,
    /// How far behind a database may be.
    pub(crate) lag_bound: Duration,
    /// How long a heartbeat key lives: longer than the bound, so that a database within
    /// the bound never reads an expired key, and short enough that a client gone leaves
    /// nothing behind for long.
    pub(crate) ttl: Duration,
}

impl MultiDbConfig {
    /// The replication heartbeat's settings, `None` when it is off.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] naming `replication_heartbeat.lag_bound` or
    /// `replication_heartbeat.interval`: zero, above [`MultiDbConfig::MAX_DURATION`], an
    /// interval not shorter than the bound, or a bound of more than 1000 intervals.
    pub(crate) fn heartbeat_settings(&self) -> Result<Option<HeartbeatSettings>, ConfigError> {
        let Some(config) = self.health.heartbeat else {
            return Ok(None);
        };
        let (bound_field, interval_field) = (
            "replication_heartbeat.lag_bound",
            "replication_heartbeat.interval",
        );
        let lag_bound = config.lag_bound;
        // Said with where it came from, when it is the default.
        let (interval, shown) = match config.interval {
            Some(interval) => (interval, format!("{interval:?}")),
            None => (
                self.health.interval,
                format!("{:?} (health_check_interval)", self.health.interval),
            ),
        };
        nonzero(bound_field, lag_bound)?;
        nonzero(interval_field, interval)?;
        if lag_bound > Self::MAX_DURATION {
            return Err(ConfigError::invalid(
                bound_field,
                lag_bound,
                MAX_DURATION_EXPECTED,
            ));
        }
        if interval >= lag_bound {
            return Err(ConfigError::InvalidValue {
                field: interval_field,
                value: shown,
                expected: "shorter than replication_heartbeat.lag_bound",
            });
        }
        if interval
            .checked_mul(MAX_HEARTBEATS_PER_BOUND)
            .is_some_and(|most| lag_bound > most)
        {
            return Err(ConfigError::InvalidValue {
                field: bound_field,
                value: format!("{lag_bound:?} with an interval of {shown}"),
                expected: "at most 1000 heartbeat intervals",
            });
        }
        // Both are at most 100 years: far from overflowing; saturating all the same.
        let ttl = lag_bound.saturating_add(interval.saturating_mul(TTL_INTERVALS_BEYOND_BOUND));
        Ok(Some(HeartbeatSettings {
            interval,
            lag_bound,
            ttl,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseConfig;

    fn build(
        heartbeat: HeartbeatConfig,
        health_interval: Duration,
    ) -> Result<MultiDbConfig, ConfigError> {
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_url("redis://127.0.0.1:1").unwrap())
            .health_check_interval(health_interval)
            .replication_heartbeat(Some(heartbeat))
            .build()
    }

    fn field(result: Result<MultiDbConfig, ConfigError>) -> (&'static str, String) {
        match result {
            Err(ConfigError::InvalidValue { field, value, .. }) => (field, value),
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn the_interval_defaults_to_the_health_check_interval_and_the_ttl_outlives_the_bound() {
        let c = build(
            HeartbeatConfig::new(Duration::from_secs(2)),
            Duration::from_millis(500),
        )
        .unwrap();
        let s = c.heartbeat_settings().unwrap().unwrap();
        assert_eq!(s.interval, Duration::from_millis(500));
        assert_eq!(s.lag_bound, Duration::from_secs(2));
        assert_eq!(s.ttl, Duration::from_millis(3500));
        let off = MultiDbConfig::builder()
            .database(DatabaseConfig::from_url("redis://127.0.0.1:1").unwrap())
            .build()
            .unwrap();
        assert_eq!(off.heartbeat_settings().unwrap(), None);
    }

    #[test]
    fn bad_bounds_and_intervals_are_refused_naming_the_field() {
        let s = Duration::from_secs(1);
        let bound = "replication_heartbeat.lag_bound";
        let interval = "replication_heartbeat.interval";
        assert_eq!(
            field(build(HeartbeatConfig::new(Duration::ZERO), s)).0,
            bound
        );
        assert_eq!(
            field(build(
                HeartbeatConfig::new(s * 2).interval(Duration::ZERO),
                s
            ))
            .0,
            interval
        );
        assert_eq!(
            field(build(HeartbeatConfig::new(s).interval(s), s)).0,
            interval
        );
        // The default interval (health_check_interval, 5 s) is not shorter than 5 s.
        let (f, value) = field(build(HeartbeatConfig::new(s * 5), s * 5));
        assert_eq!(f, interval);
        assert!(value.contains("health_check_interval"), "{value}");
        assert_eq!(
            field(build(HeartbeatConfig::new(Duration::MAX).interval(s), s)).0,
            bound
        );
        assert_eq!(
            field(build(HeartbeatConfig::new(s * 1001).interval(s), s)).0,
            bound
        );
        assert!(build(HeartbeatConfig::new(s * 1000).interval(s), s).is_ok());
    }
}
