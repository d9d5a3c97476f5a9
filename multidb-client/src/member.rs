//! One member database: its connection, its circuit breaker, its health.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use multidb_circuit::{CircuitBreaker, CircuitConfig, Clock, RecentReading};
use tokio::sync::Notify;

use crate::HealthCheck;
use crate::connection::MemberConnection;
use crate::endpoint::Endpoint;
use crate::event::{DatabaseId, DatabaseInfo};
use crate::source::MemberSpec;

/// The circuit breakers' clock: tokio time, so paused-time tests drive them too.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub(crate) fn new(origin: tokio::time::Instant) -> Self {
        TokioClock { origin }
    }
}

impl TokioClock {
    /// The instant `at` after the origin; about 30 years from now if that is past what
    /// `Instant` can hold (a pin of `Duration::MAX`, a huge grace period).
    pub(crate) fn instant_at(&self, at: Duration) -> tokio::time::Instant {
        self.origin.checked_add(at).unwrap_or_else(far_future)
    }
}

/// A deadline that never comes in practice, and never overflows.
pub(crate) fn far_future() -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(Duration::from_secs(30 * 365 * 86_400))
        .unwrap_or(now)
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The thread's last exact reading while the coarse clock has not ticked, at most 16
    /// times in a row: paused test time does not move the coarse clock, the bound does.
    #[inline]
    fn recent(&self) -> Duration {
        thread_local! {
            static LAST: RecentReading<tokio::time::Instant> = const { RecentReading::new() };
        }
        LAST.with(|last| last.get(tokio::time::Instant::now))
            .saturating_duration_since(self.origin)
    }
}

/// A command on its way to a database: see [`Database::begin_command`].
pub(crate) struct Sending<'a> {
    in_flight: crate::stall::InFlight<'a>,
    timer: Option<tokio::time::Instant>,
    db: &'a Database,
}

impl Sending<'_> {
    /// The command ended; `answered` when the database replied (an error reply too).
    #[inline]
    pub(crate) fn end(self, answered: bool) {
        if answered && let Some(started) = self.timer {
            self.db.latency.record(started);
        }
        self.in_flight.end(answered);
    }
}

/// Which health checks a database runs: a base list (replaced or kept) plus additions.
///
/// Client-wide, the base is [`crate::PingCheck`]; for one database, the base is the
/// client-wide list. Adding a check never removes the base: replacing it is explicit.
#[derive(Clone, Default)]
pub(crate) struct CheckPlan {
    /// `Some`: these instead of the base.
    pub(crate) replaced: Option<Vec<Arc<dyn HealthCheck<Database>>>>,
    /// Run on top of the base (or of the replacement).
    pub(crate) added: Vec<Arc<dyn HealthCheck<Database>>>,
}

impl CheckPlan {
    /// The checks to run, over `base`.
    pub(crate) fn resolve(
        &self,
        base: &[Arc<dyn HealthCheck<Database>>],
    ) -> Vec<Arc<dyn HealthCheck<Database>>> {
        let mut checks = self.replaced.clone().unwrap_or_else(|| base.to_vec());
        checks.extend(self.added.iter().cloned());
        checks
    }

    /// Refuses a replacement by nothing: a database must run at least one check.
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        if self.replaced.as_ref().is_some_and(Vec::is_empty) && self.added.is_empty() {
            return Err(crate::ConfigError::invalid(
                "replace_health_checks",
                "[]",
                "at least one health check",
            ));
        }
        Ok(())
    }
}

/// A member database as health checks and the client see it.
///
/// Custom health checks implement [`crate::HealthCheck`]`<Database>` and get one of these
/// for each check: its id, its endpoint and a connection to it.
pub struct Database {
    pub(crate) id: DatabaseId,
    pub(crate) endpoint: Endpoint,
    pub(crate) weight_bits: AtomicU64,
    pub(crate) connection: MemberConnection,
    pub(crate) circuit: CircuitBreaker<TokioClock>,
    healthy: AtomicBool,
    /// Notified when the database stops being active, for any reason: blocking commands
    /// waiting on it end.
    pub(crate) evicted: Notify,
    /// Notified when it stops being active because it failed: commands in flight on it
    /// are failed fast instead of waiting out their timeouts (after a routine switch they
    /// run to their reply).
    pub(crate) failed: Notify,
    /// A command failed on it since its last passing health check: commands sent to it
    /// arm the failure signal.
    suspect: AtomicBool,
    pub(crate) spec: MemberSpec,
    /// Its own health checks, over the client-wide ones.
    pub(crate) checks: CheckPlan,
    lagging: AtomicBool,
    /// Its connections for blocking commands.
    pub(crate) dedicated: crate::blocking_pool::DedicatedPool,
    /// Commands in flight on its connection and replies they got: what the stall
    /// watchdog samples.
    pub(crate) activity: crate::stall::Activity,
    /// What failed on it last, for `status()`.
    pub(crate) last_failure: crate::status::LastFailure,
    /// Sampled command latencies, for `status()`.
    pub(crate) latency: crate::status::LatencySampler,
    /// Its metric handles (feature `metrics`).
    pub(crate) metrics: crate::telemetry::DbMetrics,
}

impl Database {
    pub(crate) fn new(
        id: DatabaseId,
        endpoint: Endpoint,
        weight: f64,
        spec: MemberSpec,
        checks: CheckPlan,
        circuit_config: CircuitConfig,
        clock: TokioClock,
    ) -> Result<Self, crate::MultiDbError> {
        let connection = MemberConnection::open(&spec)?;
        let metrics = crate::telemetry::DbMetrics::new(id, &endpoint, connection.db_index(), false);
        Ok(Database {
            id,
            endpoint,
            weight_bits: AtomicU64::new(weight.to_bits()),
            connection,
            circuit: CircuitBreaker::with_clock(circuit_config, clock),
            healthy: AtomicBool::new(false),
            evicted: Notify::new(),
            failed: Notify::new(),
            suspect: AtomicBool::new(false),
            spec,
            checks,
            lagging: AtomicBool::new(false),
            dedicated: crate::blocking_pool::DedicatedPool::new(
                crate::blocking_pool::DEFAULT_BLOCKING_CONNECTIONS,
            ),
            activity: crate::stall::Activity::default(),
            last_failure: crate::status::LastFailure::default(),
            latency: crate::status::LatencySampler::default(),
            metrics,
        })
    }

    /// With its operations timed into the duration histogram (feature `metrics`).
    pub(crate) fn with_operation_durations(mut self, timed: bool) -> Self {
        if timed {
            let db = self.connection.db_index();
            self.metrics = crate::telemetry::DbMetrics::new(self.id, &self.endpoint, db, true);
        }
        self
    }

    /// With at most `cap` connections for blocking commands.
    pub(crate) fn with_blocking_connections(mut self, cap: usize) -> Self {
        self.dedicated = crate::blocking_pool::DedicatedPool::new(cap);
        self
    }

    /// Its id.
    pub fn id(&self) -> DatabaseId {
        self.id
    }

    /// Where it lives (no password).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A connection to it (a cheap clone of the one commands use).
    pub fn connection(&self) -> MemberConnection {
        self.connection.clone()
    }

    /// The Redis Enterprise REST endpoint configured for it, if any.
    pub fn health_check_url(&self) -> Option<&str> {
        self.spec.health_check_url.as_deref()
    }

    /// Its response timeout (bounds each probe of the default checks).
    pub fn response_timeout(&self) -> Option<Duration> {
        self.spec.response_timeout
    }

    /// Its current weight.
    pub fn weight(&self) -> f64 {
        f64::from_bits(self.weight_bits.load(Ordering::Relaxed))
    }

    pub(crate) fn set_weight(&self, weight: f64) {
        self.weight_bits.store(weight.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Its last health result; the controller's to write.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Release);
    }

    /// Whether its replication lag keeps it from becoming active (its last lag check
    /// failed).
    pub(crate) fn is_lagging(&self) -> bool {
        self.lagging.load(Ordering::Acquire)
    }

    /// Its last lag-check result; the controller's to write.
    pub(crate) fn set_lagging(&self, lagging: bool) {
        self.lagging.store(lagging, Ordering::Release);
    }

    /// A command is being sent on it: counted for the stall watchdog, and one in
    /// [`crate::SAMPLE_EVERY`] timed for `status()`.
    #[inline]
    pub(crate) fn begin_command(&self) -> Sending<'_> {
        Sending {
            in_flight: self.activity.begin(),
            timer: crate::status::LatencySampler::start(),
            db: self,
        }
    }

    /// Remembers `reason` as its last failure (its password cut out).
    pub(crate) fn note_failure(&self, reason: impl fmt::Display) {
        let connector = self.connection.connector();
        let secret = connector.as_ref().and_then(|c| c.redis().password());
        self.last_failure.note(reason, secret);
    }

    /// How it is doing now, for `status()`.
    pub(crate) fn status(&self, active: bool) -> crate::DatabaseStatus {
        let counts = self.circuit.counts();
        crate::DatabaseStatus {
            id: self.id,
            endpoint: self.endpoint.clone(),
            weight: self.weight(),
            active,
            healthy: self.is_healthy(),
            circuit: self.circuit.state(),
            window: crate::CircuitCounts {
                successes: counts.successes,
                failures: counts.failures,
            },
            lagging: self.is_lagging(),
            lag: None,
            connection: self.connection.state(),
            last_failure: self.last_failure.get(),
            latency: self.latency.summary(),
        }
    }

    /// Whether a command failed on it since its last passing health check.
    #[inline]
    pub(crate) fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::Acquire)
    }

    /// A path saw it fail: its commands arm the eviction signal from now on.
    pub(crate) fn mark_suspect(&self) {
        self.suspect.store(true, Ordering::Release);
    }

    /// A health check passed: back to the plain hot path.
    pub(crate) fn clear_suspect(&self) {
        self.suspect.store(false, Ordering::Release);
    }

    /// A new connection of its own (for a blocking command, or the stall watchdog): the
    /// member's own settings (TLS, AUTH, db), no response timeout (the caller bounds it),
    /// made within the connection timeout.
    pub(crate) async fn open_dedicated(
        &self,
    ) -> redis::RedisResult<crate::blocking_pool::Dedicated> {
        let Some(connector) = self.connection.connector() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a member without connections of its own",
            )));
        };
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let (con, driver) = connector
            .connect_owned(connector.redis(), config, self.spec.connection_timeout)
            .await?;
        Ok(crate::blocking_pool::Dedicated { con, driver })
    }

    /// How the failover counter names it, as redis-py does: `host:port/weight`.
    #[cfg(feature = "metrics")]
    pub(crate) fn metric_label(&self) -> String {
        format!("{}/{}", self.endpoint.address(), self.weight())
    }

    /// Why a command could not be sent here and nowhere else, when no retry is left.
    pub(crate) fn circuit_open_error(&self) -> crate::MultiDbError {
        crate::MultiDbError::UnhealthyDatabase {
            id: self.id,
            endpoint: self.endpoint.clone(),
            reason: "circuit open and no other database available".to_owned(),
        }
    }

    /// It stopped being the active database. Blocking commands waiting on it end; when it
    /// `failed`, every command in flight on it is failed fast and its connection is closed,
    /// so nothing waits on a database that is gone, whatever the response timeout (the
    /// next use makes a new connection). After a routine switch (fallback, manual, weight)
    /// commands in flight run to their reply.
    pub(crate) fn evict(&self, failed: bool) {
        self.evicted.notify_waiters();
        self.dedicated.clear_idle();
        if failed {
            self.failed.notify_waiters();
            self.connection.reset();
        }
    }

    /// Evicts its commands in flight and closes its connection: for a member removed or a
    /// client closed.
    pub(crate) fn close(&self) {
        self.evict(true);
        self.connection.close();
        self.dedicated.close();
    }

    pub(crate) fn info(&self, active: bool) -> DatabaseInfo {
        DatabaseInfo {
            id: self.id,
            endpoint: self.endpoint.clone(),
            weight: self.weight(),
            circuit: self.circuit.state(),
            healthy: self.is_healthy(),
            lagging: self.is_lagging(),
            active,
            breaker: {
                let config = self.circuit.config();
                crate::event::BreakerSettings {
                    min_num_failures: config.min_num_failures(),
                    failure_rate_threshold: config.failure_rate_threshold(),
                    failures_detection_window: config.window(),
                }
            },
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("weight", &self.weight())
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

/// Sleeps until `at`; never resolves for `None` (no deadline).
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
