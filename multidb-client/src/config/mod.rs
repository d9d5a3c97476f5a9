//! Configuration: [`MultiDbConfig`] (client-wide knobs, with redis-py's names and defaults)
//! and [`DatabaseConfig`] (one member database).
//!
//! Everything is validated by [`MultiDbConfigBuilder::build`] before any I/O: a bad value
//! is a [`ConfigError`] naming the field and the value, never a panic or a late surprise.
//!
//! Defaults follow redis-py, Jedis and Lettuce so a ported configuration behaves the same
//! (health checks every 5 s, 3 probes 0.5 s apart, 3 s timeout; failure window 2 s with 1000
//! failures and 10 %; grace period 60 s; auto-fallback 120 s; failover budget 10 × 12 s),
//! with two deliberate differences:
//! - the initial policy is [`InitialHealthCheck::OneAvailable`]: a region that is down at
//!   start must not stop the application — that is the outage failover exists for;
//! - probe-confirmed detection is on: a connection failure on the active database triggers
//!   an immediate health probe, and a failed probe fails over at once, so a dead primary
//!   moves traffic in milliseconds instead of after the windowed thresholds or the next
//!   scheduled check.

mod builder;
mod database;
mod heartbeat;
mod limits;
mod validate;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use builder::MultiDbConfigBuilder;
pub use database::DatabaseConfig;
pub(crate) use database::validate_weight;
pub use heartbeat::HeartbeatConfig;
pub(crate) use heartbeat::HeartbeatSettings;

use crate::error::ConfigError;
use crate::member::CheckPlan;
use crate::{FailoverStrategy, HealthPolicy, InitialHealthCheck};

/// The whole client configuration. Build it with [`MultiDbConfig::builder`].
#[derive(Clone)]
pub struct MultiDbConfig {
    pub(crate) databases: Vec<DatabaseConfig>,
    pub(crate) health: HealthSettings,
    pub(crate) circuit: CircuitSettings,
    pub(crate) failover: FailoverSettings,
    pub(crate) retry: RetrySettings,
    pub(crate) event_capacity: usize,
    pub(crate) blocking_connections: usize,
    pub(crate) pubsub_buffer: usize,
    /// See [`MultiDbConfigBuilder::operation_duration_metric`].
    pub(crate) operation_duration_metric: bool,
    /// Called with every event, in order, on a thread of their own.
    pub(crate) listeners: Vec<crate::listeners::Listener>,
}

#[derive(Clone)]
pub(crate) struct HealthSettings {
    pub(crate) interval: Duration,
    pub(crate) probes: u32,
    pub(crate) probes_delay: Duration,
    pub(crate) timeout: Duration,
    pub(crate) policy: HealthPolicy,
    pub(crate) checks: CheckPlan,
    pub(crate) probe_on_failure: bool,
    #[cfg(feature = "lag-aware")]
    pub(crate) lag_aware: Option<crate::LagAwareCheck>,
    #[cfg(feature = "lag-aware")]
    pub(crate) evict_on_lag: bool,
    pub(crate) min_probe_interval: Duration,
    /// See [`MultiDbConfigBuilder::stall_tolerance`].
    pub(crate) stall_tolerance: Option<Duration>,
    /// See [`MultiDbConfigBuilder::replication_heartbeat`].
    pub(crate) heartbeat: Option<HeartbeatConfig>,
}

#[derive(Clone, Debug)]
pub(crate) struct CircuitSettings {
    pub(crate) min_num_failures: u32,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) window: Duration,
    pub(crate) busy_errors_are_failures: bool,
}

#[derive(Clone)]
pub(crate) struct FailoverSettings {
    pub(crate) attempts: u32,
    pub(crate) delay: Duration,
    pub(crate) auto_fallback_interval: Option<Duration>,
    pub(crate) initial: InitialHealthCheck,
    pub(crate) strategy: Option<Arc<dyn FailoverStrategy<crate::DatabaseId>>>,
}

#[derive(Clone, Debug)]
pub(crate) struct RetrySettings {
    pub(crate) attempts: u32,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) jitter: bool,
    pub(crate) budget_ratio: f64,
    pub(crate) budget_min_per_second: u32,
    /// The most hazardous category replayed after a command may have run.
    pub(crate) replay_up_to: crate::CommandCategory,
}

impl MultiDbConfig {
    /// The longest duration any setting accepts: 100 years of 365 days (3 153 600 000 s).
    ///
    /// Deadlines are computed as "now + duration"; a duration such as `Duration::MAX` would
    /// overflow them, so it is refused at [`MultiDbConfigBuilder::build`] instead of
    /// panicking or wrapping later. 100 years is longer than any useful setting (to disable
    /// something, use the `None` its setter offers) and far from overflowing.
    pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

    /// The shortest accepted `failures_detection_window`: 10 ms. The circuit breaker slides
    /// the window in 10 buckets, each at least 1 ms wide.
    pub const MIN_FAILURES_DETECTION_WINDOW: Duration = Duration::from_millis(10);

    /// A builder with every default set; add databases with
    /// [`MultiDbConfigBuilder::database`].
    pub fn builder() -> MultiDbConfigBuilder {
        MultiDbConfigBuilder {
            config: MultiDbConfig {
                databases: Vec::new(),
                health: HealthSettings {
                    interval: Duration::from_secs(5),
                    probes: 3,
                    probes_delay: Duration::from_millis(500),
                    timeout: Duration::from_secs(3),
                    policy: HealthPolicy::All,
                    checks: CheckPlan::default(),
                    #[cfg(feature = "lag-aware")]
                    lag_aware: None,
                    #[cfg(feature = "lag-aware")]
                    evict_on_lag: false,
                    probe_on_failure: true,
                    min_probe_interval: Duration::from_millis(100),
                    stall_tolerance: Some(crate::stall::DEFAULT_TOLERANCE),
                    heartbeat: None,
                },
                circuit: CircuitSettings {
                    min_num_failures: 1000,
                    failure_rate_threshold: 0.1,
                    window: Duration::from_secs(2),
                    busy_errors_are_failures: true,
                },
                failover: FailoverSettings {
                    attempts: 10,
                    delay: Duration::from_secs(12),
                    auto_fallback_interval: Some(Duration::from_secs(120)),
                    initial: InitialHealthCheck::OneAvailable,
                    strategy: None,
                },
                retry: RetrySettings {
                    attempts: 10,
                    base: Duration::from_millis(10),
                    cap: Duration::from_secs(1),
                    jitter: true,
                    budget_ratio: 0.2,
                    budget_min_per_second: 10,
                    replay_up_to: crate::CommandCategory::LastWins,
                },
                event_capacity: 1024,
                blocking_connections: crate::blocking_pool::DEFAULT_BLOCKING_CONNECTIONS,
                pubsub_buffer: 10_000,
                operation_duration_metric: false,
                listeners: Vec::new(),
            },
        }
    }

    /// The member databases, in the order given.
    pub fn databases(&self) -> &[DatabaseConfig] {
        &self.databases
    }
}

impl fmt::Debug for MultiDbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiDbConfig")
            .field("databases", &self.databases)
            .field("health_check_interval", &self.health.interval)
            .field("health_check_probes", &self.health.probes)
            .field("health_check_probes_delay", &self.health.probes_delay)
            .field("health_check_timeout", &self.health.timeout)
            .field("health_check_policy", &self.health.policy)
            .field("stall_tolerance", &self.health.stall_tolerance)
            .field("replication_heartbeat", &self.health.heartbeat)
            .field("circuit", &self.circuit)
            .field("failover_attempts", &self.failover.attempts)
            .field("failover_delay", &self.failover.delay)
            .field(
                "auto_fallback_interval",
                &self.failover.auto_fallback_interval,
            )
            .field("initial_health_check", &self.failover.initial)
            .field("retry", &self.retry)
            .field("event_listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl MultiDbConfig {
    /// The configuration of `from_urls`: one database per URL with the matching weight,
    /// everything else default.
    pub(crate) fn from_urls<U, W>(urls: U, weights: W) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Self::weighted(urls, weights, DatabaseConfig::from_url)
    }

    /// The configuration of `from_cluster_urls`: one cluster member per URL (its seed
    /// node) with the matching weight, everything else default.
    #[cfg(feature = "cluster")]
    pub(crate) fn from_cluster_urls<U, W>(urls: U, weights: W) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Self::weighted(urls, weights, |url| {
            DatabaseConfig::from_cluster_urls([url])
        })
    }

    fn weighted<U, W>(
        urls: U,
        weights: W,
        member: impl Fn(&str) -> Result<DatabaseConfig, ConfigError>,
    ) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        let urls: Vec<U::Item> = urls.into_iter().collect();
        let weights: Vec<f64> = weights.into_iter().collect();
        if urls.len() != weights.len() {
            return Err(ConfigError::WeightCountMismatch {
                urls: urls.len(),
                weights: weights.len(),
            });
        }
        let mut builder = MultiDbConfig::builder();
        for (url, weight) in urls.iter().zip(weights) {
            builder = builder.database(member(url.as_ref())?.weight(weight));
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use multidb_circuit::CircuitConfig;

    use super::limits::{MAX_DURATION_EXPECTED, MIN_WINDOW_EXPECTED};
    use super::*;

    #[test]
    #[cfg(not(feature = "lag-aware"))]
    fn a_health_check_url_needs_the_lag_aware_feature() {
        let err = MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_url("redis://127.0.0.1:1")
                    .unwrap()
                    .health_check_url("https://cluster.example.com:9443"),
            )
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::FeatureNotEnabled {
                field: "health_check_url",
                feature: "lag-aware"
            }
        );
        assert!(err.to_string().contains("`lag-aware` feature"), "{err}");
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = MultiDbConfig::builder()
            .database(DatabaseConfig::from_url("redis://127.0.0.1:1").unwrap())
            .build()
            .unwrap();
        assert_eq!(c.health.interval, Duration::from_secs(5));
        assert_eq!(c.health.probes, 3);
        assert_eq!(c.health.probes_delay, Duration::from_millis(500));
        assert_eq!(c.health.timeout, Duration::from_secs(3));
        assert_eq!(c.circuit.min_num_failures, 1000);
        assert!((c.circuit.failure_rate_threshold - 0.1).abs() < f64::EPSILON);
        assert_eq!(c.circuit.window, Duration::from_secs(2));
        assert_eq!(c.failover.attempts, 10);
        assert_eq!(c.failover.delay, Duration::from_secs(12));
        assert_eq!(
            c.failover.auto_fallback_interval,
            Some(Duration::from_secs(120))
        );
        assert_eq!(c.failover.initial, InitialHealthCheck::OneAvailable);
        assert_eq!(c.databases[0].grace_period, Duration::from_secs(60));
        assert_eq!(c.retry.attempts, 10);
    }

    #[test]
    fn min_failures_detection_window_is_what_the_circuit_breaker_accepts() {
        let window = |window| CircuitConfig::builder().window(window).build();
        let min = MultiDbConfig::MIN_FAILURES_DETECTION_WINDOW;
        assert!(window(min).is_ok());
        assert!(window(min.saturating_sub(Duration::from_nanos(1))).is_err());
        assert!(MIN_WINDOW_EXPECTED.starts_with(&format!("at least {min:?} ")));
    }

    #[test]
    fn max_duration_is_one_hundred_years_of_365_days() {
        assert_eq!(MultiDbConfig::MAX_DURATION.as_secs(), 3_153_600_000);
        assert!(MAX_DURATION_EXPECTED.ends_with("100 years"));
    }

    #[test]
    fn a_databases_own_breaker_settings_override_the_client_wide_ones_and_are_checked() {
        let far = DatabaseConfig::from_url("redis://far:1")
            .unwrap()
            .min_num_failures(40)
            .failures_detection_window(Duration::from_secs(20));
        let c = MultiDbConfig::builder()
            .min_num_failures(4)
            .failure_rate_threshold(0.3)
            .database(DatabaseConfig::from_url("redis://near:1").unwrap())
            .database(far)
            .build()
            .unwrap();
        let near = c.circuit_config(&c.databases[0]).unwrap();
        let far = c.circuit_config(&c.databases[1]).unwrap();
        assert_eq!((near.min_num_failures(), far.min_num_failures()), (4, 40));
        assert_eq!(far.window(), Duration::from_secs(20));
        assert!((far.failure_rate_threshold() - 0.3).abs() < f64::EPSILON);
        let cases = [
            (
                DatabaseConfig::from_url("redis://far:1")
                    .unwrap()
                    .min_num_failures(0),
                "min_num_failures",
            ),
            (
                DatabaseConfig::from_url("redis://far:1")
                    .unwrap()
                    .failure_rate_threshold(0.0),
                "failure_rate_threshold",
            ),
            (
                DatabaseConfig::from_url("redis://far:1")
                    .unwrap()
                    .failure_rate_threshold(f64::NAN),
                "failure_rate_threshold",
            ),
            (
                DatabaseConfig::from_url("redis://far:1")
                    .unwrap()
                    .failures_detection_window(Duration::ZERO),
                "failures_detection_window",
            ),
        ];
        for (db, expected) in cases {
            match MultiDbConfig::builder().database(db).build() {
                Err(ConfigError::DatabaseCircuit {
                    database, field, ..
                }) => {
                    assert_eq!((database.as_str(), field), ("far:1/0", expected));
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        // A client-wide refusal still names the builder field alone.
        let wide = MultiDbConfig::builder()
            .min_num_failures(0)
            .database(DatabaseConfig::from_url("redis://near:1").unwrap())
            .build();
        assert!(
            matches!(
                wide,
                Err(ConfigError::Circuit {
                    field: "min_num_failures",
                    ..
                })
            ),
            "{wide:?}"
        );
    }

    #[test]
    fn the_built_schedules_are_the_configured_ones() {
        let c = MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_url("redis://127.0.0.1:1")
                    .unwrap()
                    .grace_period(Duration::from_secs(7))
                    .response_timeout(Some(Duration::from_millis(200))),
            )
            .build()
            .unwrap();
        let db = &c.databases[0];
        let circuit = c.circuit_config(db).unwrap();
        assert_eq!(circuit.window(), Duration::from_secs(2));
        assert_eq!(circuit.grace_period(), Duration::from_secs(7));
        let target = c.target_config(db).unwrap();
        assert_eq!(target.interval(), Duration::from_secs(5));
        assert_eq!(target.probe().probes(), 3);
        assert_eq!(target.probe().probe_delay(), Duration::from_millis(500));
        assert_eq!(target.on_demand().probes(), 1);
        assert_eq!(target.on_demand().timeout(), Duration::from_millis(200));
        assert_eq!(target.min_probe_interval(), Duration::from_millis(100));
        let no_timeout = db.clone().response_timeout(None);
        let target = c.target_config(&no_timeout).unwrap();
        assert_eq!(target.on_demand().timeout(), Duration::from_secs(3));
    }
}
