//! Reading a [`MultiDbConfig`] from TOML, JSON or any serde format (feature `serde`).
//!
//! Durations are written the way people say them (`"500ms"`, `"5s"`, `"2m"`), every field
//! but `databases` is optional (the defaults of [`MultiDbConfig::builder`] apply), unknown
//! fields are errors (a typo must not silently fall back to a default), and the result is
//! validated exactly like [`crate::MultiDbConfigBuilder::build`].
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use multidb_client::MultiDbConfig;
//!
//! let config: MultiDbConfig = serde_json::from_str(r#"{
//!     "databases": [
//!         { "url": "redis://:secret@db1:6379/0", "weight": 1.0, "grace_period": "30s" },
//!         { "url": "redis://db2:6379/0", "weight": 0.5 }
//!     ],
//!     "health_check_interval": "2s",
//!     "auto_fallback_interval": "off"
//! }"#).unwrap();
//! assert_eq!(config.databases().len(), 2);
//! # }
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::{DatabaseConfig, MultiDbConfig};
use crate::{HealthPolicy, InitialHealthCheck};

// `Option<Option<Duration>>`: absent (default), "off" (None), or a duration.
#[allow(clippy::option_option)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFile {
    url: String,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default, deserialize_with = "duration")]
    grace_period: Option<Duration>,
    #[serde(default)]
    health_check_url: Option<String>,
    #[serde(default, deserialize_with = "duration_or_off")]
    response_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "duration")]
    connection_timeout: Option<Duration>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    min_num_failures: Option<u32>,
    #[serde(default)]
    failure_rate_threshold: Option<f64>,
    #[serde(default, deserialize_with = "duration")]
    failures_detection_window: Option<Duration>,
}

#[allow(clippy::option_option)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    databases: Vec<DatabaseFile>,
    #[serde(default, deserialize_with = "duration")]
    health_check_interval: Option<Duration>,
    #[serde(default)]
    health_check_probes: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    health_check_probes_delay: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    health_check_timeout: Option<Duration>,
    #[serde(default)]
    health_check_policy: Option<PolicyFile>,
    #[serde(default)]
    initial_health_check: Option<InitialFile>,
    #[serde(default)]
    failover_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    failover_delay: Option<Duration>,
    #[serde(default, deserialize_with = "duration_or_off")]
    auto_fallback_interval: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "duration_or_off")]
    stall_tolerance: Option<Option<Duration>>,
    #[serde(default)]
    min_num_failures: Option<u32>,
    #[serde(default)]
    failure_rate_threshold: Option<f64>,
    #[serde(default, deserialize_with = "duration")]
    failures_detection_window: Option<Duration>,
    #[serde(default)]
    retry_attempts: Option<u32>,
    #[serde(default)]
    retry_non_idempotent: Option<bool>,
    #[serde(default)]
    replay_up_to: Option<crate::CommandCategory>,
    #[serde(default)]
    blocking_connections: Option<usize>,
    #[serde(default)]
    pubsub_buffer: Option<usize>,
    #[serde(default)]
    operation_duration_metric: Option<bool>,
    #[serde(default)]
    replication_heartbeat: Option<HeartbeatFile>,
}

/// `[replication_heartbeat]`: `lag_bound` and, optionally, `interval`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatFile {
    #[serde(deserialize_with = "required_duration")]
    lag_bound: Duration,
    #[serde(default, deserialize_with = "duration")]
    interval: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PolicyFile {
    All,
    Majority,
    Any,
}

// Mirrors the public `InitialHealthCheck` names.
#[allow(clippy::enum_variant_names)]
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InitialFile {
    AllAvailable,
    MajorityAvailable,
    OneAvailable,
}

fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("invalid duration `{text}`: {e}"))
}

fn required_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map(Some).map_err(serde::de::Error::custom)
}

#[allow(clippy::option_option)]
fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Duration>>, D::Error> {
    let text = String::deserialize(d)?;
    if matches!(text.as_str(), "off" | "none" | "never") {
        return Ok(Some(None));
    }
    parse(&text)
        .map(|d| Some(Some(d)))
        .map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for MultiDbConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let file = ConfigFile::deserialize(deserializer)?;
        // Each field given is passed to the builder method of the same name.
        macro_rules! set {
            ($builder:ident, $file:ident: $($field:ident),*) => {$(
                if let Some(v) = $file.$field {
                    $builder = $builder.$field(v);
                }
            )*};
        }
        let mut b = MultiDbConfig::builder();
        for db in file.databases {
            let mut c = DatabaseConfig::from_url(&db.url).map_err(serde::de::Error::custom)?;
            set!(
                c,
                db: weight,
                grace_period,
                health_check_url,
                response_timeout,
                connection_timeout,
                name,
                min_num_failures,
                failure_rate_threshold,
                failures_detection_window
            );
            b = b.database(c);
        }
        set!(
            b,
            file: health_check_interval,
            health_check_probes,
            health_check_probes_delay,
            health_check_timeout,
            failover_attempts,
            failover_delay,
            auto_fallback_interval,
            stall_tolerance,
            min_num_failures,
            failure_rate_threshold,
            failures_detection_window,
            retry_attempts,
            retry_non_idempotent,
            replay_up_to,
            blocking_connections,
            pubsub_buffer,
            operation_duration_metric
        );
        if let Some(p) = file.health_check_policy {
            b = b.health_check_policy(match p {
                PolicyFile::All => HealthPolicy::All,
                PolicyFile::Majority => HealthPolicy::Majority,
                PolicyFile::Any => HealthPolicy::Any,
            });
        }
        if let Some(p) = file.initial_health_check {
            b = b.initial_health_check(match p {
                InitialFile::AllAvailable => InitialHealthCheck::AllAvailable,
                InitialFile::MajorityAvailable => InitialHealthCheck::MajorityAvailable,
                InitialFile::OneAvailable => InitialHealthCheck::OneAvailable,
            });
        }
        if let Some(h) = file.replication_heartbeat {
            let mut heartbeat = crate::HeartbeatConfig::new(h.lag_bound);
            if let Some(interval) = h.interval {
                heartbeat = heartbeat.interval(interval);
            }
            b = b.replication_heartbeat(Some(heartbeat));
        }
        b.build().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_humane_durations_and_defaults() {
        let c: MultiDbConfig = toml::from_str(
            r#"
            health_check_interval = "250ms"
            auto_fallback_interval = "off"
            health_check_policy = "majority"
            [[databases]]
            url = "redis://127.0.0.1:6379/0"
            grace_period = "10s"
            [[databases]]
            url = "redis://127.0.0.1:6380/0"
            weight = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(c.health.interval, Duration::from_millis(250));
        assert_eq!(c.failover.auto_fallback_interval, None);
        assert_eq!(c.databases[0].grace_period, Duration::from_secs(10));
        assert!((c.databases[1].weight - 0.5).abs() < f64::EPSILON);
        assert_eq!(c.health.probes, 3, "defaults apply to what is not written");
    }

    #[test]
    fn a_database_carries_its_own_breaker_settings() {
        let config = toml::from_str::<MultiDbConfig>(
            "min_num_failures = 10\n\
             [[databases]]\nurl = \"redis://local:1\"\n\
             [[databases]]\nurl = \"redis://far:1\"\nmin_num_failures = 50\n\
             failure_rate_threshold = 0.8\nfailures_detection_window = \"30s\"\n",
        )
        .unwrap();
        let [local, far] = config.databases() else {
            panic!("two databases");
        };
        let local = config.circuit_config(local).unwrap();
        let far = config.circuit_config(far).unwrap();
        assert_eq!(local.min_num_failures(), 10);
        assert_eq!(far.min_num_failures(), 50);
        assert!((far.failure_rate_threshold() - 0.8).abs() < f64::EPSILON);
        assert_eq!(far.window(), Duration::from_secs(30));
        let bad = toml::from_str::<MultiDbConfig>(
            "[[databases]]\nurl = \"redis://far:1\"\nfailure_rate_threshold = 2.0\n",
        )
        .unwrap_err();
        assert!(bad.to_string().contains("far:1/0"), "{bad}");
        assert!(bad.to_string().contains("failure_rate_threshold"), "{bad}");
    }

    #[test]
    fn typos_bad_durations_and_bad_values_are_errors_that_say_so() {
        let typo = toml::from_str::<MultiDbConfig>(
            "helth_check_interval = \"1s\"\n[[databases]]\nurl = \"redis://h:1\"\n",
        )
        .unwrap_err();
        assert!(typo.to_string().contains("helth_check_interval"), "{typo}");
        let bad = serde_json::from_str::<MultiDbConfig>(
            r#"{"databases":[{"url":"redis://h:1"}],"failover_delay":"soon"}"#,
        )
        .unwrap_err();
        assert!(bad.to_string().contains("soon"), "{bad}");
        let weight = serde_json::from_str::<MultiDbConfig>(
            r#"{"databases":[{"url":"redis://:pw123@h:1","weight":-1}]}"#,
        )
        .unwrap_err();
        assert!(weight.to_string().contains("weight"), "{weight}");
        assert!(!weight.to_string().contains("pw123"), "{weight}");
    }

    #[test]
    fn replay_category_and_blocking_connections_are_read_and_checked() {
        let c: MultiDbConfig = toml::from_str(
            "replay_up_to = \"accumulating\"\nblocking_connections = 4\n[[databases]]\nurl = \"redis://h:1\"\n",
        )
        .unwrap();
        assert_eq!(c.retry.replay_up_to, crate::CommandCategory::Accumulating);
        assert_eq!(c.blocking_connections, 4);
        for (json, field) in [
            (
                r#"{"databases":[{"url":"redis://h:1"}],"replay_up_to":"admin"}"#,
                "replay_up_to",
            ),
            (
                r#"{"databases":[{"url":"redis://h:1"}],"blocking_connections":0}"#,
                "blocking_connections",
            ),
            (
                r#"{"databases":[{"url":"redis://h:1"}],"replay_up_to":"sometimes"}"#,
                "sometimes",
            ),
        ] {
            let err = serde_json::from_str::<MultiDbConfig>(json).unwrap_err();
            assert!(err.to_string().contains(field), "{json}: {err}");
        }
    }

    #[test]
    fn the_replication_heartbeat_is_a_table_read_and_checked() {
        let c: MultiDbConfig = toml::from_str(
            "[replication_heartbeat]\nlag_bound = \"2s\"\ninterval = \"250ms\"\n\
             [[databases]]\nurl = \"redis://h:1\"\n",
        )
        .unwrap();
        let s = c.heartbeat_settings().unwrap().unwrap();
        assert_eq!(
            (s.lag_bound, s.interval),
            (Duration::from_secs(2), Duration::from_millis(250))
        );
        for (json, expected) in [
            (
                r#"{"databases":[{"url":"redis://h:1"}],"replication_heartbeat":{"lag_bound":"1s","interval":"1s"}}"#,
                "replication_heartbeat.interval",
            ),
            (
                r#"{"databases":[{"url":"redis://h:1"}],"replication_heartbeat":{"interval":"1s"}}"#,
                "lag_bound",
            ),
            (
                r#"{"databases":[{"url":"redis://h:1"}],"replication_heartbeat":{"lag_bound":"2s","every":"1s"}}"#,
                "every",
            ),
        ] {
            let err = serde_json::from_str::<MultiDbConfig>(json).unwrap_err();
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn durations_above_one_hundred_years_are_refused_like_the_builder_does() {
        for json in [
            r#"{"databases":[{"url":"redis://h:1","grace_period":"200years"}]}"#,
            r#"{"databases":[{"url":"redis://h:1"}],"health_check_interval":"101years"}"#,
            r#"{"databases":[{"url":"redis://h:1"}],"failover_delay":"11years"}"#,
        ] {
            let err = serde_json::from_str::<MultiDbConfig>(json).unwrap_err();
            assert!(
                err.to_string().contains("at most 100 years"),
                "{json}: {err}"
            );
        }
    }
}
