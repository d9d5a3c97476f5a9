//! [`MultiDbConfigBuilder`]: every client-wide knob, with redis-py's names and defaults.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{DatabaseConfig, MultiDbConfig};
use crate::error::ConfigError;
use crate::member::Database;
use crate::{FailoverStrategy, HealthCheck, HealthPolicy, InitialHealthCheck};

/// Builds a [`MultiDbConfig`]; every knob has redis-py's name (Rust style) and default.
#[must_use]
pub struct MultiDbConfigBuilder {
    pub(super) config: MultiDbConfig,
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
        /// Whether the replies that reject a command before it runs — `LOADING`, `BUSY`,
        /// `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`, `MISCONF`, `NOREPLICAS`,
        /// `ERR max number of clients reached` — count as failures of the database (default
        /// true: they feed its breaker and trigger a probe). Either way the command is known
        /// not to have run and is retried. Other error replies (`WRONGTYPE`, `ERR`,
        /// `NOSCRIPT`, `NOPERM`…) never count: the database answered.
        busy_errors_are_failures: bool => circuit.busy_errors_are_failures);
    setter!(
        /// Probe a database at once when a command on it fails at the connection level, and
        /// fail over if the probe fails too (default true).
        probe_on_failure: bool => health.probe_on_failure);
    setter!(
        /// At most one on-demand probe per database per this interval (default 100 ms).
        min_probe_interval: Duration => health.min_probe_interval);
    setter!(
        /// How long the active database may make no progress while commands are in flight
        /// before it is probed on a connection of its own (default 125 ms; `None` turns
        /// stall detection off). A probe that also gets no answer within the tolerance fails
        /// over, so a stall moves traffic in about twice the tolerance, and a pause shorter
        /// than the tolerance never even probes. It never drops below four times the
        /// shortest round trip measured to the database. See docs/semantics.md, "Stalls".
        stall_tolerance: Option<Duration> => health.stall_tolerance);
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
        /// The most hazardous [`crate::CommandCategory`] replayed when a command failed in a
        /// way that leaves it unknown whether it ran (a timeout, a reset mid-flight). Default
        /// [`CommandCategory::LastWins`](crate::CommandCategory::LastWins): reads and
        /// `SET`-like writes, whose replay never returns a misleading reply; other commands
        /// fail with [`crate::MultiDbError::MayHaveBeenApplied`]. At most
        /// [`CommandCategory::Accumulating`](crate::CommandCategory::Accumulating): admin
        /// commands, scripts, transactions and blocking commands are never replayed. Commands
        /// known not to have run are retried whatever this says.
        replay_up_to: crate::CommandCategory => retry.replay_up_to);

    /// redis-py's switch: `true` replays every command that may have run, up to
    /// [`CommandCategory::Accumulating`](crate::CommandCategory::Accumulating) (`INCR` may
    /// then be applied twice); `false` is the default,
    /// [`CommandCategory::LastWins`](crate::CommandCategory::LastWins). Scripts,
    /// transactions, admin and blocking commands are never replayed either way. Same as
    /// [`Self::replay_up_to`].
    pub fn retry_non_idempotent(self, yes: bool) -> Self {
        self.replay_up_to(if yes {
            crate::CommandCategory::Accumulating
        } else {
            crate::CommandCategory::LastWins
        })
    }
    setter!(
        /// Capacity of the events channel (default 1024).
        event_capacity: usize => event_capacity);
    setter!(
        /// Connections per database for blocking commands (`BLPOP`, `XREAD … BLOCK`…) sent
        /// through the client (default 16, in 1..=10 000): each such command has one to
        /// itself, so it never delays other commands or health probes. Idle ones are kept
        /// for reuse; when all are busy, a further blocking command waits for one within
        /// its deadline, then fails with
        /// [`crate::MultiDbError::BlockingConnectionsExhausted`].
        blocking_connections: usize => blocking_connections);
    setter!(
        /// Messages a Pub/Sub subscriber keeps for a reader that falls behind (default
        /// 10 000, at least 1): past it the oldest are dropped and counted
        /// ([`crate::Subscriber::dropped_messages`]), so memory stays bounded by about
        /// `pubsub_buffer × (channel + payload + 400 bytes)`.
        pubsub_buffer: usize => pubsub_buffer);
    setter!(
        /// Time every command into the `db.client.operation.duration` histogram (feature
        /// `metrics`; default false). It costs two clock reads and one histogram record per
        /// command, about 4 % of throughput at 64 tasks on a loopback server (BENCHMARKS.md,
        /// `observability`); the other metrics cost nothing on the hot path and are always on
        /// with the feature. Without the feature it does nothing.
        operation_duration_metric: bool => operation_duration_metric);

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

    /// The replication heartbeat (default `None`: off), Redis' recommended replication
    /// health check for Active-Active: write on one member, read on another.
    ///
    /// Every heartbeat interval ([`HeartbeatConfig::interval`](crate::HeartbeatConfig::interval),
    /// default `health_check_interval`) the client writes a sequence number on each
    /// database, under a key of its own (`multidb:hb:{<random 128-bit id>}:<database>`,
    /// expiring a few intervals after the lag bound). A database that refuses the write
    /// with `READONLY` (a replica) is simply not a writer; that is not a failure. With each
    /// lag check (every `health_check_interval`) every database reads the other writers'
    /// keys, and its **lag** is how long ago the oldest heartbeat it does not show yet was
    /// acknowledged by its writer — both instants on this client's own clock, never on a
    /// server's. Past the `lag_bound` of [`HeartbeatConfig::new`](crate::HeartbeatConfig::new)
    /// it is lagging: like the lag-aware check, **lag gates, it does not evict**
    /// ([`crate::Event::LagChanged`], [`crate::DatabaseInfo::lagging`]). A database with no
    /// writer elsewhere (none acknowledged a heartbeat within the bound) has no lag verdict.
    /// Only for databases that replicate each other: independent servers never show each
    /// other's heartbeats, so every one of them would lag.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multidb_client::{DatabaseConfig, HeartbeatConfig, MultiDbConfig};
    ///
    /// let config = MultiDbConfig::builder()
    ///     .database(DatabaseConfig::from_url("redis://east.example.com:6379")?)
    ///     .database(DatabaseConfig::from_url("redis://west.example.com:6379")?.weight(0.5))
    ///     .health_check_interval(Duration::from_secs(1))
    ///     .replication_heartbeat(Some(HeartbeatConfig::new(Duration::from_secs(5))))
    ///     .build()?;
    /// # let _ = config;
    /// # Ok::<(), multidb_client::ConfigError>(())
    /// ```
    pub fn replication_heartbeat(mut self, heartbeat: Option<crate::HeartbeatConfig>) -> Self {
        self.config.health.heartbeat = heartbeat;
        self
    }

    /// Chooses among healthy databases (default: highest weight, ties by order added).
    pub fn failover_strategy(
        mut self,
        strategy: Arc<dyn FailoverStrategy<crate::DatabaseId>>,
    ) -> Self {
        self.config.failover.strategy = Some(strategy);
        self
    }

    /// Calls `listener` with every event ([`Event`](crate::Event)), as redis-py's event
    /// dispatcher does: listeners are called in the order given, each event in the order
    /// published, on a thread of their own — never on a command's path, and a listener
    /// that is slow, blocks or panics (caught and logged at `warn`) delays only the
    /// listeners, never a failover. Switch events (`ActiveDatabaseChanged`,
    /// `AllDatabasesUnhealthy`) always reach them; other events beyond a backlog of
    /// [`Self::event_capacity`] waiting ones are dropped and counted
    /// ([`crate::MultiDbClient::dropped_listener_events`]). The blocking client takes the
    /// same config. [`crate::MultiDbClient::events`] is unchanged.
    ///
    /// ```
    /// use multidb_client::{DatabaseConfig, Event, MultiDbConfig};
    ///
    /// let config = MultiDbConfig::builder()
    ///     .database(DatabaseConfig::from_url("redis://127.0.0.1:6379")?)
    ///     .on_event(|event| {
    ///         if let Event::ActiveDatabaseChanged { from, to, reason } = event {
    ///             eprintln!("failover: {from:?} -> {to} ({reason:?})");
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), multidb_client::ConfigError>(())
    /// ```
    pub fn on_event(mut self, listener: impl Fn(&crate::Event) + Send + Sync + 'static) -> Self {
        self.config.listeners.push(std::sync::Arc::new(listener));
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
    /// check do not fit in its timeout; [`ConfigError::InvalidValue`] naming
    /// `replication_heartbeat.lag_bound` or `replication_heartbeat.interval` for a heartbeat
    /// whose interval is zero or not shorter than its bound, or whose bound is zero, above
    /// [`MultiDbConfig::MAX_DURATION`] or more than 1000 intervals.
    pub fn build(self) -> Result<MultiDbConfig, ConfigError> {
        let c = self.config;
        c.health.checks.validate()?;
        if c.databases.is_empty() {
            return Err(ConfigError::NoDatabases);
        }
        let mut seen = HashSet::new();
        for db in &c.databases {
            db.validate()?;
            #[cfg(feature = "lag-aware")]
            db.validate_rest_transport(c.health.lag_aware.as_ref())?;
            if !seen.insert(db.endpoint.clone()) {
                return Err(ConfigError::DuplicateEndpoint {
                    endpoint: db.endpoint.to_string(),
                });
            }
        }
        c.validate_limits()?;
        c.heartbeat_settings()?;
        // The breaker and the health engine are the judges of their own settings: build
        // them now, as the client will, so their refusals come before any I/O.
        for db in &c.databases {
            c.circuit_config(db)?;
            c.target_config(db)?;
        }
        Ok(c)
    }
}
