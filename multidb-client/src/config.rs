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

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use multidb_circuit::CircuitConfig;
use multidb_health::{ProbeConfig, TargetConfig};

use crate::endpoint::{Endpoint, Protocol, redact_url};
use crate::error::ConfigError;
use crate::member::{CheckPlan, Database};
use crate::source::{MemberSpec, Source, TlsSettings, boxed};
use crate::url::parse_url;
use crate::{FailoverStrategy, HealthCheck, HealthPolicy, InitialHealthCheck};

/// One member database: where it is and how to treat it.
///
/// ```
/// use multidb_client::DatabaseConfig;
/// use std::time::Duration;
///
/// let db = DatabaseConfig::from_url("redis://:secret@127.0.0.1:6379/0")?
///     .weight(0.8)
///     .grace_period(Duration::from_secs(30));
/// assert_eq!(db.endpoint().as_str(), "127.0.0.1:6379/0");
/// assert!(!format!("{db:?}").contains("secret"));
/// # Ok::<(), multidb_client::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct DatabaseConfig {
    pub(crate) spec: MemberSpec,
    pub(crate) endpoint: Endpoint,
    pub(crate) weight: f64,
    pub(crate) grace_period: Duration,
    pub(crate) checks: CheckPlan,
    /// The lag-aware check for this database, instead of the client-wide one.
    #[cfg(feature = "lag-aware")]
    pub(crate) lag_aware: Option<crate::LagAwareCheck>,
}

/// Defaults of a member database.
const DEFAULT_WEIGHT: f64 = 1.0;
const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(60);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

impl DatabaseConfig {
    /// A database reached by URL: `redis://[user:password@]host:port[/db][?protocol=resp3]`,
    /// `rediss://` (feature `tls`), `unix:///path`. Validates; does no I/O.
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`], [`ConfigError::UnsupportedScheme`] or
    /// [`ConfigError::TlsNotEnabled`], with the password redacted from the URL shown.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let info = parse_url(url)?;
        Ok(Self::with_source(
            Endpoint::from_info(&info),
            Source::Url(Box::new(info)),
        ))
    }

    /// A database reached through a connection the application made: any
    /// `redis::aio::ConnectionLike + Clone + Send + Sync + 'static`, e.g. a
    /// `redis::aio::ConnectionManager` or a pool's connection wrapper. The connection's own
    /// timeouts and reconnects apply; [`Self::name`] sets how it is shown (default
    /// `connection#N`).
    pub fn from_connection<C>(connection: C) -> Self
    where
        C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
    {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::with_source(
            Endpoint::named(format!("connection#{n}")),
            Source::Connection(boxed(connection)),
        )
    }

    /// A Redis Cluster member, from seed node URLs (feature `cluster`). The member is
    /// healthy when every master answers.
    ///
    /// # Errors
    /// [`ConfigError::NoDatabases`] for an empty seed list, or a URL error as in
    /// [`Self::from_url`].
    #[cfg(feature = "cluster")]
    pub fn from_cluster_urls<I, S>(seeds: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let infos = seeds
            .into_iter()
            .map(|s| parse_url(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = infos.first() else {
            return Err(ConfigError::NoDatabases);
        };
        let endpoint = Endpoint::named(format!("cluster({})", Endpoint::from_info(first)));
        Ok(Self::with_source(endpoint, Source::Cluster(infos)))
    }

    /// A member whose master is found through Redis Sentinel (feature `sentinel`): the
    /// Sentinels' URLs and the name they monitor the master under. The member follows
    /// Sentinel's promotions. Shown as `sentinel(NAME@first-sentinel)`.
    ///
    /// # Errors
    /// [`ConfigError::NoDatabases`] for an empty Sentinel list, or a URL error as in
    /// [`Self::from_url`].
    #[cfg(feature = "sentinel")]
    pub fn from_sentinel<I, S>(sentinels: I, master_name: &str) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let infos = sentinels
            .into_iter()
            .map(|s| parse_url(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = infos.first() else {
            return Err(ConfigError::NoDatabases);
        };
        let endpoint = Endpoint::named(format!(
            "sentinel({master_name}@{})",
            Endpoint::from_info(first)
        ));
        Ok(Self::with_source(
            endpoint,
            Source::Sentinel {
                sentinels: infos,
                master: master_name.to_owned(),
            },
        ))
    }

    fn with_source(endpoint: Endpoint, source: Source) -> Self {
        DatabaseConfig {
            spec: MemberSpec {
                source,
                health_check_url: None,
                response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
                connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
                tls: TlsSettings::default(),
            },
            endpoint,
            weight: DEFAULT_WEIGHT,
            grace_period: DEFAULT_GRACE_PERIOD,
            checks: CheckPlan::default(),
            #[cfg(feature = "lag-aware")]
            lag_aware: None,
        }
    }

    /// Trust this CA (PEM) for a `rediss://` member instead of the system's roots
    /// (feature `tls`). Certificates are always verified.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.spec.tls.root_cert = Some(ca_pem.into());
        self
    }

    /// Authenticate to a `rediss://` member with this client certificate and key (PEM,
    /// feature `tls`). The key is never shown.
    #[cfg(feature = "tls")]
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.spec.tls.client_cert = Some(cert_pem.into());
        self.spec.tls.client_key = Some(key_pem.into());
        self
    }

    /// Its weight (default 1.0, must be finite and > 0): the healthy database with the
    /// highest weight is active; ties go to the one added first.
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// How long it must stay healthy after a failure before traffic falls back to it
    /// (default 60 s): anti-flapping.
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// The Redis Enterprise cluster REST endpoint of this database (e.g.
    /// `https://cluster.example.com:9443`, feature `lag-aware`): the database then also
    /// runs the lag-aware check ([`crate::LagAwareCheck`]), with the client-wide settings
    /// of [`MultiDbConfigBuilder::lag_aware_check`] or this database's own
    /// ([`Self::lag_aware_check`]). **Lag gates, it does not evict**: a lagging database is
    /// not made active (failover or fallback target) while another one is usable, but lag
    /// alone never moves traffic off the active database while its other checks pass —
    /// unless [`MultiDbConfigBuilder::evict_on_lag`] says so. Without the feature,
    /// `build()` refuses it.
    pub fn health_check_url(mut self, url: impl Into<String>) -> Self {
        self.spec.health_check_url = Some(url.into());
        self
    }

    /// The lag-aware check settings (REST credentials, CA, lag tolerance) for this
    /// database, instead of the client-wide ones (feature `lag-aware`; used with
    /// [`Self::health_check_url`]).
    #[cfg(feature = "lag-aware")]
    pub fn lag_aware_check(mut self, check: crate::LagAwareCheck) -> Self {
        self.lag_aware = Some(check);
        self
    }

    /// Adds a health check this database runs on top of the client-wide ones (all must
    /// pass). `PING` stays: replacing is [`Self::replace_health_checks`].
    pub fn health_check(mut self, check: Arc<dyn HealthCheck<Database>>) -> Self {
        self.checks.added.push(check);
        self
    }

    /// This database runs these checks instead of the client-wide ones (`PING`
    /// included), plus any added with [`Self::health_check`]. At least one check must be
    /// left: `build()` refuses an empty list.
    pub fn replace_health_checks(mut self, checks: Vec<Arc<dyn HealthCheck<Database>>>) -> Self {
        self.checks.replaced = Some(checks);
        self
    }

    /// How long a command may wait for its reply before it counts as a failure (default
    /// 500 ms; `None` waits forever — only for blocking commands, better done on a
    /// dedicated connection). URL members only.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.spec.response_timeout = timeout;
        self
    }

    /// How long connecting (TCP, TLS, HELLO/AUTH/SELECT) may take (default 1 s). URL
    /// members only.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.spec.connection_timeout = timeout;
        self
    }

    /// The RESP version (default: from the URL's `?protocol=`, else RESP2). URL members only.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        if let Source::Url(info) = &mut self.spec.source {
            let redis = info.redis_settings().clone().set_protocol(protocol.into());
            **info = info.as_ref().clone().set_redis_settings(redis);
        }
        self
    }

    /// The ACL user name (overrides the URL's). URL members only.
    pub fn username(mut self, username: impl AsRef<str>) -> Self {
        if let Source::Url(info) = &mut self.spec.source {
            let redis = info.redis_settings().clone().set_username(username);
            **info = info.as_ref().clone().set_redis_settings(redis);
        }
        self
    }

    /// The password (overrides the URL's; never shown anywhere). URL members only.
    pub fn password(mut self, password: impl AsRef<str>) -> Self {
        if let Source::Url(info) = &mut self.spec.source {
            let redis = info.redis_settings().clone().set_password(password);
            **info = info.as_ref().clone().set_redis_settings(redis);
        }
        self
    }

    /// How this database is shown in events, errors and logs (default: `host:port/db`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.endpoint = Endpoint::named(name);
        self
    }

    /// Where it lives, as shown (no password).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Its configured weight.
    pub fn weight_value(&self) -> f64 {
        self.weight
    }

    /// Checks what a database can check on its own (weight, durations, URLs): at
    /// [`MultiDbConfigBuilder::build`] and for a database added at run time.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        validate_weight(&self.endpoint, self.weight)?;
        at_most_max("grace_period", self.grace_period)?;
        if let Some(timeout) = self.spec.response_timeout {
            if timeout.is_zero() {
                return Err(ConfigError::invalid(
                    "response_timeout",
                    timeout,
                    "greater than zero, or None to wait forever",
                ));
            }
            at_most_max("response_timeout", timeout)?;
        }
        nonzero("connection_timeout", self.spec.connection_timeout)?;
        at_most_max("connection_timeout", self.spec.connection_timeout)?;
        if let Some(url) = &self.spec.health_check_url {
            if !cfg!(feature = "lag-aware") {
                return Err(ConfigError::FeatureNotEnabled {
                    field: "health_check_url",
                    feature: "lag-aware",
                });
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::InvalidUrl {
                    url: redact_url(url),
                    reason: "health_check_url must be an http:// or https:// URL".to_owned(),
                });
            }
        }
        self.checks.validate()?;
        Ok(())
    }
}

/// Checks a database weight: finite and greater than zero.
pub(crate) fn validate_weight(endpoint: &Endpoint, weight: f64) -> Result<(), ConfigError> {
    // Written so that NaN fails the check.
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::InvalidWeight {
            endpoint: endpoint.to_string(),
            value: weight,
        })
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("endpoint", &self.endpoint)
            .field("weight", &self.weight)
            .field("grace_period", &self.grace_period)
            .field(
                "health_check_url",
                &self.spec.health_check_url.as_deref().map(redact_url),
            )
            .field("response_timeout", &self.spec.response_timeout)
            .field("connection_timeout", &self.spec.connection_timeout)
            .field("tls_root_cert", &self.spec.tls.root_cert.is_some())
            .field("tls_client_cert", &self.spec.tls.client_cert.is_some())
            .finish_non_exhaustive()
    }
}

/// The whole client configuration. Build it with [`MultiDbConfig::builder`].
#[derive(Clone)]
pub struct MultiDbConfig {
    pub(crate) databases: Vec<DatabaseConfig>,
    pub(crate) health: HealthSettings,
    pub(crate) circuit: CircuitSettings,
    pub(crate) failover: FailoverSettings,
    pub(crate) retry: RetrySettings,
    pub(crate) event_capacity: usize,
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
    pub(crate) non_idempotent: bool,
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
                    non_idempotent: false,
                },
                event_capacity: 1024,
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
            .field("circuit", &self.circuit)
            .field("failover_attempts", &self.failover.attempts)
            .field("failover_delay", &self.failover.delay)
            .field(
                "auto_fallback_interval",
                &self.failover.auto_fallback_interval,
            )
            .field("initial_health_check", &self.failover.initial)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MultiDbConfig`]; every knob has redis-py's name (Rust style) and default.
#[must_use]
pub struct MultiDbConfigBuilder {
    config: MultiDbConfig,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $($field:ident).+) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$($field).+ = value;
            self
        }
    };
}

impl MultiDbConfigBuilder {
    /// Adds a member database.
    pub fn database(mut self, database: DatabaseConfig) -> Self {
        self.config.databases.push(database);
        self
    }

    setter!(
        /// How often each database is health-checked (default 5 s).
        health_check_interval: Duration => health.interval);
    setter!(
        /// Probes per health check (default 3, at least 1).
        health_check_probes: u32 => health.probes);
    setter!(
        /// Pause between the probes of one check (default 500 ms).
        health_check_probes_delay: Duration => health.probes_delay);
    setter!(
        /// Time limit of one whole health check, all probes included (default 3 s).
        health_check_timeout: Duration => health.timeout);
    setter!(
        /// How probe results combine: all must pass (default), a majority, or any.
        health_check_policy: HealthPolicy => health.policy);
    setter!(
        /// How many databases must be healthy for `initialize()` to succeed (default
        /// [`InitialHealthCheck::OneAvailable`]; the others join when they recover).
        initial_health_check: InitialHealthCheck => failover.initial);
    setter!(
        /// With no healthy database, how many `failover_delay` periods commands fail with
        /// "temporarily unavailable" before "no valid database" (default 10).
        failover_attempts: u32 => failover.attempts);
    setter!(
        /// See [`Self::failover_attempts`] (default 12 s).
        failover_delay: Duration => failover.delay);
    setter!(
        /// How often to fall back to a healthier, higher-weight database (default 120 s;
        /// `None` disables auto-fallback).
        auto_fallback_interval: Option<Duration> => failover.auto_fallback_interval);
    setter!(
        /// Failures inside the detection window needed to open a circuit (default 1000).
        min_num_failures: u32 => circuit.min_num_failures);
    setter!(
        /// Failure rate inside the window needed to open a circuit, in (0, 1] (default 0.1).
        failure_rate_threshold: f64 => circuit.failure_rate_threshold);
    setter!(
        /// The sliding window over which failures are counted (default 2 s).
        failures_detection_window: Duration => circuit.window);
    setter!(
        /// Whether `LOADING`, `MASTERDOWN`, `CLUSTERDOWN` and `TRYAGAIN` replies count as
        /// failures of the database (default true). Other error replies (`WRONGTYPE`,
        /// `ERR`, `NOSCRIPT`, `NOPERM`…) never do: the database answered.
        busy_errors_are_failures: bool => circuit.busy_errors_are_failures);
    setter!(
        /// Probe a database at once when a command on it fails at the connection level, and
        /// fail over if the probe fails too (default true).
        probe_on_failure: bool => health.probe_on_failure);
    setter!(
        /// At most one on-demand probe per database per this interval (default 100 ms).
        min_probe_interval: Duration => health.min_probe_interval);
    setter!(
        /// Retries of a failed command (default 10; 0 disables). Each retry re-reads the
        /// active database, so it lands on the new one after a failover.
        retry_attempts: u32 => retry.attempts);
    setter!(
        /// First retry backoff (default 10 ms), doubled each retry.
        retry_backoff_base: Duration => retry.base);
    setter!(
        /// Longest retry backoff (default 1 s).
        retry_backoff_cap: Duration => retry.cap);
    setter!(
        /// Randomize backoffs so clients do not retry in lockstep (default true).
        retry_jitter: bool => retry.jitter);
    setter!(
        /// Retries may be at most this fraction of the requests of the last 10 s, plus
        /// [`Self::retry_budget_min_per_second`] (default 0.2, in [0, 1]).
        retry_budget_ratio: f64 => retry.budget_ratio);
    setter!(
        /// Retries always allowed per second whatever the traffic (default 10).
        retry_budget_min_per_second: u32 => retry.budget_min_per_second);
    setter!(
        /// Also replay commands that are not idempotent (e.g. `INCR`) when they may already
        /// have been applied, like redis-py does (default false: such a command fails with
        /// [`crate::MultiDbError::MayHaveBeenApplied`]). Transactions are never replayed.
        retry_non_idempotent: bool => retry.non_idempotent);
    setter!(
        /// Capacity of the events channel (default 1024).
        event_capacity: usize => event_capacity);

    /// Adds a health check every database runs, on top of [`crate::PingCheck`] (all must
    /// pass). Replacing `PING` is explicit: [`Self::replace_health_checks`].
    pub fn health_check(mut self, check: Arc<dyn HealthCheck<Database>>) -> Self {
        self.config.health.checks.added.push(check);
        self
    }

    /// Every database runs these checks instead of [`crate::PingCheck`], plus any added
    /// with [`Self::health_check`]; a database may still add or replace its own
    /// ([`DatabaseConfig::health_check`]). `build()` refuses an empty list.
    pub fn replace_health_checks(mut self, checks: Vec<Arc<dyn HealthCheck<Database>>>) -> Self {
        self.config.health.checks.replaced = Some(checks);
        self
    }

    /// The lag-aware check settings (REST credentials, CA, lag tolerance) of every database
    /// with a [`DatabaseConfig::health_check_url`] (feature `lag-aware`; default
    /// [`crate::LagAwareCheck::default`]). A database may have its own
    /// ([`DatabaseConfig::lag_aware_check`]).
    #[cfg(feature = "lag-aware")]
    pub fn lag_aware_check(mut self, check: crate::LagAwareCheck) -> Self {
        self.config.health.lag_aware = Some(check);
        self
    }

    setter!(
        #[cfg(feature = "lag-aware")]
        /// The stricter rule for lag (feature `lag-aware`): a lagging database counts as
        /// unhealthy, so lag alone fails over the active database (default false: lag only
        /// keeps a database from becoming active).
        evict_on_lag: bool => health.evict_on_lag);

    /// Chooses among healthy databases (default: highest weight, ties by order added).
    pub fn failover_strategy(
        mut self,
        strategy: Arc<dyn FailoverStrategy<crate::DatabaseId>>,
    ) -> Self {
        self.config.failover.strategy = Some(strategy);
        self
    }

    /// Checks everything and returns the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first field that is wrong: no database, a bad weight,
    /// duplicate endpoints, a zero duration where one makes no sense, a duration above
    /// [`MultiDbConfig::MAX_DURATION`], and so on; [`ConfigError::Circuit`] or
    /// [`ConfigError::HealthCheck`] for a value the circuit breaker or the health engine
    /// refuses (zero probes, a failure rate outside (0, 1], a failure window shorter than
    /// [`MultiDbConfig::MIN_FAILURES_DETECTION_WINDOW`]…); and
    /// [`ConfigError::ProbeScheduleTooLong`] when the pauses between the probes of a health
    /// check do not fit in its timeout.
    pub fn build(self) -> Result<MultiDbConfig, ConfigError> {
        let c = self.config;
        c.health.checks.validate()?;
        if c.databases.is_empty() {
            return Err(ConfigError::NoDatabases);
        }
        let mut seen = HashSet::new();
        for db in &c.databases {
            db.validate()?;
            if !seen.insert(db.endpoint.clone()) {
                return Err(ConfigError::DuplicateEndpoint {
                    endpoint: db.endpoint.to_string(),
                });
            }
        }
        c.validate_limits()?;
        // The breaker and the health engine are the judges of their own settings: build
        // them now, as the client will, so their refusals come before any I/O.
        for db in &c.databases {
            c.circuit_config(db)?;
            c.target_config(db)?;
        }
        Ok(c)
    }
}

impl MultiDbConfig {
    /// The client-wide checks that neither the circuit breaker nor the health engine make.
    fn validate_limits(&self) -> Result<(), ConfigError> {
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
        if self.event_capacity == 0 {
            return Err(ConfigError::invalid("event_capacity", 0, "at least 1"));
        }
        Ok(())
    }

    /// The circuit breaker configuration of a database, as validated by
    /// [`MultiDbConfigBuilder::build`].
    ///
    /// # Errors
    /// [`ConfigError::Circuit`], naming the builder field the breaker refused.
    pub(crate) fn circuit_config(&self, db: &DatabaseConfig) -> Result<CircuitConfig, ConfigError> {
        use multidb_circuit::ConfigError as Refused;
        let c = &self.circuit;
        CircuitConfig::builder()
            .failure_rate_threshold(c.failure_rate_threshold)
            .min_num_failures(c.min_num_failures)
            .window(c.window)
            .grace_period(db.grace_period)
            .build()
            .map_err(|source| {
                let (field, value, expected) = match &source {
                    Refused::FailureRateThreshold { .. } => (
                        "failure_rate_threshold",
                        format!("{:?}", c.failure_rate_threshold),
                        "in (0, 1]",
                    ),
                    Refused::MinNumFailures { .. } => (
                        "min_num_failures",
                        format!("{:?}", c.min_num_failures),
                        "at least 1",
                    ),
                    Refused::Window { .. }
                    | Refused::Buckets { .. }
                    | Refused::BucketWidth { .. } => (
                        "failures_detection_window",
                        format!("{:?}", c.window),
                        MIN_WINDOW_EXPECTED,
                    ),
                    _ => (
                        "circuit",
                        source.to_string(),
                        "a setting the circuit breaker accepts",
                    ),
                };
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

/// What `failures_detection_window` accepts, in words; see
/// [`MultiDbConfig::MIN_FAILURES_DETECTION_WINDOW`].
const MIN_WINDOW_EXPECTED: &str =
    "at least 10ms (the circuit breaker slides it in 10 buckets of at least 1ms)";

/// What every duration accepts, in words; see [`MultiDbConfig::MAX_DURATION`].
const MAX_DURATION_EXPECTED: &str = "at most 100 years";

fn at_most_max(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value > MultiDbConfig::MAX_DURATION {
        Err(ConfigError::invalid(field, value, MAX_DURATION_EXPECTED))
    } else {
        Ok(())
    }
}

fn nonzero(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        Err(ConfigError::invalid(field, value, "greater than zero"))
    } else {
        Ok(())
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
            builder = builder.database(DatabaseConfig::from_url(url.as_ref())?.weight(weight));
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
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
