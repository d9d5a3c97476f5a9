//! What `build()` checks beyond single fields: the circuit's and the health engine's own
//! configurations (built here, their errors kept as `source`), and the limits no deadline
//! may cross.

use multidb_circuit::CircuitConfig;
use multidb_health::{ProbeConfig, TargetConfig};

use std::time::Duration;

use super::limits::{MIN_WINDOW_EXPECTED, at_most_max, nonzero};
use super::{DatabaseConfig, MultiDbConfig};
use crate::error::ConfigError;

/// The most `blocking_connections` accepted: far more than any client needs, far from
/// exhausting file descriptors by a typo.
const MAX_BLOCKING_CONNECTIONS: usize = 10_000;

impl MultiDbConfig {
    /// The client-wide checks that neither the circuit breaker nor the health engine make.
    pub(super) fn validate_limits(&self) -> Result<(), ConfigError> {
        let (h, f, r) = (&self.health, &self.failover, &self.retry);
        for (field, value) in [
            ("health_check_interval", h.interval),
            ("health_check_probes_delay", h.probes_delay),
            ("health_check_timeout", h.timeout),
            ("min_probe_interval", h.min_probe_interval),
            ("failures_detection_window", self.circuit.window),
            ("failover_delay", f.delay),
            ("retry_backoff_base", r.base),
            ("retry_backoff_cap", r.cap),
        ] {
            at_most_max(field, value)?;
        }
        nonzero("min_probe_interval", h.min_probe_interval)?;
        nonzero("retry_backoff_base", r.base)?;
        let ratio = r.budget_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(ConfigError::invalid(
                "retry_budget_ratio",
                ratio,
                "in [0, 1]",
            ));
        }
        if r.cap < r.base {
            return Err(ConfigError::invalid(
                "retry_backoff_cap",
                r.cap,
                "at least retry_backoff_base",
            ));
        }
        if r.replay_up_to > crate::CommandCategory::MAX_REPLAYABLE {
            return Err(ConfigError::invalid(
                "replay_up_to",
                r.replay_up_to,
                "at most CommandCategory::Accumulating (admin commands and those of category Never are never replayed)",
            ));
        }
        if f.attempts == 0 {
            return Err(ConfigError::invalid("failover_attempts", 0, "at least 1"));
        }
        // The failover budget is one deadline: `failover_delay × failover_attempts`.
        if f.delay
            .checked_mul(f.attempts)
            .is_none_or(|budget| budget > Self::MAX_DURATION)
        {
            return Err(ConfigError::InvalidValue {
                field: "failover_delay",
                value: format!("{:?} × {} failover_attempts", f.delay, f.attempts),
                expected: "at most 100 years in all (failover_delay × failover_attempts)",
            });
        }
        if let Some(interval) = f.auto_fallback_interval {
            if interval.is_zero() {
                return Err(ConfigError::invalid(
                    "auto_fallback_interval",
                    interval,
                    "greater than zero, or None to disable",
                ));
            }
            at_most_max("auto_fallback_interval", interval)?;
        }
        if let Some(tolerance) = h.stall_tolerance {
            nonzero("stall_tolerance", tolerance)?;
            at_most_max("stall_tolerance", tolerance)?;
        }
        if !(1..=MAX_BLOCKING_CONNECTIONS).contains(&self.blocking_connections) {
            return Err(ConfigError::invalid(
                "blocking_connections",
                self.blocking_connections,
                "in 1..=10000",
            ));
        }
        if self.pubsub_buffer == 0 {
            return Err(ConfigError::invalid("pubsub_buffer", 0, "at least 1"));
        }
        if self.event_capacity == 0 {
            return Err(ConfigError::invalid("event_capacity", 0, "at least 1"));
        }
        Ok(())
    }

    /// The circuit breaker configuration of a database, as validated by
    /// [`MultiDbConfigBuilder::build`].
    ///
    /// # Errors
    /// [`ConfigError::Circuit`], naming the builder field the breaker refused, or
    /// [`ConfigError::DatabaseCircuit`] when the refused setting is the database's own.
    pub(crate) fn circuit_config(&self, db: &DatabaseConfig) -> Result<CircuitConfig, ConfigError> {
        use multidb_circuit::ConfigError as Refused;
        let (c, own) = (&self.circuit, &db.circuit);
        let rate = own
            .failure_rate_threshold
            .unwrap_or(c.failure_rate_threshold);
        let failures = own.min_num_failures.unwrap_or(c.min_num_failures);
        let window = own.window.unwrap_or(c.window);
        CircuitConfig::builder()
            .failure_rate_threshold(rate)
            .min_num_failures(failures)
            .window(window)
            .grace_period(db.grace_period)
            .build()
            .map_err(|source| {
                // Which setting, and whether it is this database's own.
                let (field, value, expected, own) = match &source {
                    Refused::FailureRateThreshold { .. } => (
                        "failure_rate_threshold",
                        format!("{rate:?}"),
                        "in (0, 1]",
                        own.failure_rate_threshold.is_some(),
                    ),
                    Refused::MinNumFailures { .. } => (
                        "min_num_failures",
                        format!("{failures:?}"),
                        "at least 1",
                        own.min_num_failures.is_some(),
                    ),
                    Refused::Window { .. }
                    | Refused::Buckets { .. }
                    | Refused::BucketWidth { .. } => (
                        "failures_detection_window",
                        format!("{window:?}"),
                        MIN_WINDOW_EXPECTED,
                        own.window.is_some(),
                    ),
                    _ => (
                        "circuit",
                        source.to_string(),
                        "a setting the circuit breaker accepts",
                        false,
                    ),
                };
                if own {
                    return ConfigError::DatabaseCircuit {
                        database: db.endpoint.to_string(),
                        field,
                        value,
                        expected,
                        source,
                    };
                }
                ConfigError::Circuit {
                    field,
                    value,
                    expected,
                    source,
                }
            })
    }

    /// The health-check schedule of a database, as validated by
    /// [`MultiDbConfigBuilder::build`]: the scheduled checks, and one probe on demand bounded
    /// by the database's response timeout (never longer than a scheduled check's).
    ///
    /// # Errors
    /// [`ConfigError::HealthCheck`], naming the builder field the health engine refused, or
    /// [`ConfigError::ProbeScheduleTooLong`].
    pub(crate) fn target_config(&self, db: &DatabaseConfig) -> Result<TargetConfig, ConfigError> {
        let h = &self.health;
        let probe = self.probe_config()?;
        let (timeout_field, timeout) = match db.spec.response_timeout {
            Some(t) if t < h.timeout => ("response_timeout", t),
            _ => ("health_check_timeout", h.timeout),
        };
        let on_demand = ProbeConfig::builder()
            .probes(1)
            .timeout(timeout)
            .policy(h.policy)
            .build()
            .map_err(|source| self.health_error(source, timeout_field, timeout))?;
        TargetConfig::builder()
            .interval(h.interval)
            .probe(probe)
            .on_demand(on_demand)
            .min_probe_interval(h.min_probe_interval)
            .build()
            .map_err(|source| self.health_error(source, "health_check_timeout", h.timeout))
    }

    /// How a scheduled health check probes.
    fn probe_config(&self) -> Result<ProbeConfig, ConfigError> {
        let h = &self.health;
        let probe = ProbeConfig::builder()
            .probes(h.probes)
            .probe_delay(h.probes_delay)
            .timeout(h.timeout)
            .policy(h.policy)
            .build()
            .map_err(|source| self.health_error(source, "health_check_timeout", h.timeout))?;
        let pauses = h.probes_delay.checked_mul(h.probes.saturating_sub(1));
        if pauses.is_none_or(|pauses| pauses >= h.timeout) {
            return Err(ConfigError::ProbeScheduleTooLong {
                probes: h.probes,
                delay: h.probes_delay,
                timeout: h.timeout,
            });
        }
        Ok(probe)
    }

    /// A health engine refusal, told in the builder's words; `timeout` is the builder field
    /// (and value) the refused probe timeout came from.
    fn health_error(
        &self,
        source: multidb_health::ConfigError,
        timeout_field: &'static str,
        timeout: Duration,
    ) -> ConfigError {
        use multidb_health::ConfigError as Refused;
        let h = &self.health;
        let (field, value, expected) = match &source {
            Refused::ZeroProbes { .. } => {
                ("health_check_probes", h.probes.to_string(), "at least 1")
            }
            Refused::ZeroDuration {
                field: "timeout", ..
            } => (timeout_field, format!("{timeout:?}"), "greater than zero"),
            Refused::ZeroDuration {
                field: "interval", ..
            } => (
                "health_check_interval",
                format!("{:?}", h.interval),
                "greater than zero",
            ),
            _ => (
                "health_check",
                source.to_string(),
                "a setting the health engine accepts",
            ),
        };
        ConfigError::HealthCheck {
            field,
            value,
            expected,
            source,
        }
    }
}
