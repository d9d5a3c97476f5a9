//! The errors of this crate: [`ConfigError`] for bad configuration (no I/O involved) and
//! [`MultiDbError`] for everything that happens at run time.
//!
//! Commands issued through [`redis::aio::ConnectionLike`] must report `redis::RedisError`.
//! Our own conditions (no healthy database, a write that may have been applied) travel
//! inside it as the source of an I/O error, so `RedisError::is_io_error()` stays true for
//! them (retryable) and [`MultiDbError::from_redis`] gets the typed value back.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

use crate::InitialHealthCheck;
use crate::endpoint::Endpoint;
use crate::event::DatabaseId;

/// A configuration that cannot work, found before any I/O.
///
/// Each variant names the field and the value that were wrong; URLs are shown with their
/// password redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration lists no database.
    #[error("no database configured: add at least one with `database(..)` or `from_urls`")]
    NoDatabases,
    /// `from_urls` was given a different number of URLs and weights.
    #[error("{urls} urls but {weights} weights: give one weight per url")]
    WeightCountMismatch {
        /// How many URLs.
        urls: usize,
        /// How many weights.
        weights: usize,
    },
    /// A URL that does not parse.
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL whose scheme is not one of redis, rediss, valkey, valkeys, unix, redis+unix.
    #[error(
        "unsupported scheme `{scheme}` in `{url}`: use redis://, rediss://, valkey://, valkeys:// or unix://"
    )]
    UnsupportedScheme {
        /// The URL, password redacted.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// A `rediss://` URL while the `tls` feature is off.
    #[error("`{url}` needs TLS: enable the `tls` feature of multidb-client")]
    TlsNotEnabled {
        /// The URL, password redacted.
        url: String,
    },
    /// A setting that needs a cargo feature of multidb-client that is off.
    #[error("{field} needs the `{feature}` feature of multidb-client")]
    FeatureNotEnabled {
        /// The builder method / field.
        field: &'static str,
        /// The feature to enable.
        feature: &'static str,
    },
    /// Two databases with the same endpoint.
    #[error("duplicate database endpoint `{endpoint}`: each database may be configured once")]
    DuplicateEndpoint {
        /// The endpoint (host:port/db).
        endpoint: String,
    },
    /// A database weight that is NaN, infinite, zero or negative.
    #[error("weight of `{endpoint}` must be a finite number greater than 0, got {value}")]
    InvalidWeight {
        /// The database's endpoint.
        endpoint: String,
        /// The weight given.
        value: f64,
    },
    /// Any other field with a value outside its range.
    #[error("{field} must be {expected}, got {value}")]
    InvalidValue {
        /// The builder method / field name.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A value the circuit breaker (`multidb-circuit`) refuses. The message speaks of this
    /// crate's builder field; `source` is the breaker's own error.
    #[error("{field} must be {expected}, got {value}")]
    Circuit {
        /// The builder method / field name, e.g. `"failures_detection_window"`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
        /// The circuit breaker's error.
        #[source]
        source: multidb_circuit::ConfigError,
    },
    /// A circuit breaker setting a database set for itself
    /// ([`crate::DatabaseConfig::min_num_failures`] and the like) that the breaker refuses.
    #[error("database {database}: {field} must be {expected}, got {value}")]
    DatabaseCircuit {
        /// The database, as shown (no password).
        database: String,
        /// The setting, e.g. `"min_num_failures"`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
        /// The circuit breaker's error.
        #[source]
        source: multidb_circuit::ConfigError,
    },
    /// A value the health engine (`multidb-health`) refuses. The message speaks of this
    /// crate's builder field; `source` is the engine's own error.
    #[error("{field} must be {expected}, got {value}")]
    HealthCheck {
        /// The builder method / field name, e.g. `"health_check_probes"`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
        /// The health engine's error.
        #[source]
        source: multidb_health::ConfigError,
    },
    /// `health_check_probes_delay` is too long for `health_check_timeout`: the pauses
    /// between the probes of one check, `(probes - 1) × delay`, use up the whole timeout,
    /// so every scheduled check would time out.
    #[error(
        "health_check_probes_delay {delay:?} is too long: {probes} probes pause {pauses:?} in all, which does not fit in health_check_timeout {timeout:?}; shorten the delay, use fewer probes or lengthen the timeout",
        pauses = .delay.saturating_mul(.probes.saturating_sub(1))
    )]
    ProbeScheduleTooLong {
        /// `health_check_probes`.
        probes: u32,
        /// `health_check_probes_delay`.
        delay: Duration,
        /// `health_check_timeout`: the budget of one whole check.
        timeout: Duration,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl fmt::Debug,
        expected: &'static str,
    ) -> Self {
        ConfigError::InvalidValue {
            field,
            value: format!("{value:?}"),
            expected,
        }
    }
}

/// A database that failed the initial health check, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDatabase {
    /// Its id.
    pub id: DatabaseId,
    /// Its endpoint (no password).
    pub endpoint: Endpoint,
    /// Why it was unhealthy.
    pub reason: String,
}

impl fmt::Display for FailedDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.id, self.endpoint, self.reason)
    }
}

/// An error of the multi-database client at run time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultiDbError {
    /// The client has no database (all were removed).
    #[error("no database configured")]
    NoDatabases,
    /// `initialize()` found too few healthy databases for the initial policy.
    #[error("initial health check failed: policy {policy:?} not met; unhealthy: {}", list(.failed))]
    InitialHealthCheckFailed {
        /// The policy that was not met.
        policy: InitialHealthCheck,
        /// Each database that failed, and why.
        failed: Vec<FailedDatabase>,
    },
    /// No database is healthy right now; the failover budget is still running, so retrying
    /// later may succeed.
    #[error("temporarily unavailable: no healthy database for {unavailable_for:?}, still trying")]
    TemporarilyUnavailable {
        /// How long no database has been healthy.
        unavailable_for: Duration,
        /// When a database was last healthy (wall clock), if ever.
        last_healthy: Option<SystemTime>,
    },
    /// No database has been healthy for the whole failover budget
    /// (`failover_attempts × failover_delay`). Traffic resumes by itself once one recovers.
    #[error("no valid database: none healthy for {unavailable_for:?}, failover budget spent")]
    NoValidDatabase {
        /// How long no database has been healthy.
        unavailable_for: Duration,
        /// When a database was last healthy (wall clock), if ever.
        last_healthy: Option<SystemTime>,
    },
    /// A manual switch named a database that is not healthy.
    #[error("database {id} ({endpoint}) is unhealthy: {reason}")]
    UnhealthyDatabase {
        /// The database.
        id: DatabaseId,
        /// Its endpoint.
        endpoint: Endpoint,
        /// Why it is unhealthy.
        reason: String,
    },
    /// No database has this id (never added, or removed).
    #[error("unknown database {id}")]
    UnknownDatabase {
        /// The id asked for.
        id: DatabaseId,
    },
    /// A command failed after it may have reached the server; it was not replayed because
    /// its [`crate::CommandCategory`] is beyond `replay_up_to` (or is never replayed: a
    /// transaction, a script, an admin command). Check before retrying it.
    #[error("command may have been applied on {id} ({endpoint}) and was not retried: {source}")]
    MayHaveBeenApplied {
        /// The database it was sent to.
        id: DatabaseId,
        /// Its endpoint.
        endpoint: Endpoint,
        /// What went wrong.
        source: redis::RedisError,
    },
    /// A pinned connection whose database failed or is no longer the active one.
    #[error("pinned connection to {id} ({endpoint}) is no longer usable: {reason}")]
    PinnedDatabaseLost {
        /// The database it was bound to.
        id: DatabaseId,
        /// Its endpoint.
        endpoint: Endpoint,
        /// What happened.
        reason: String,
    },
    /// A blocking command (`BLPOP`, `XREAD … BLOCK`…) whose wait ended without a reply: its
    /// database stopped being the active one, its connection failed, or no reply came
    /// within its block time plus the response timeout. The server may have taken an
    /// element for it (popped, or delivered to its consumer group) just before: check
    /// before assuming nothing happened. Never retried by the client.
    #[error(
        "blocking command on {id} ({endpoint}) interrupted: {reason}; an element it waited for may have been taken"
    )]
    BlockingCommandInterrupted {
        /// The database it was sent to.
        id: DatabaseId,
        /// Its endpoint.
        endpoint: Endpoint,
        /// What ended the wait.
        reason: String,
    },
    /// Every dedicated connection for blocking commands of the active database stayed busy
    /// for the command's whole deadline. The command was not sent. Raise
    /// `blocking_connections`, or run fewer blocking commands at once.
    #[error(
        "all {max} blocking connections to {id} ({endpoint}) stayed busy: the command was not sent; raise blocking_connections"
    )]
    BlockingConnectionsExhausted {
        /// The active database.
        id: DatabaseId,
        /// Its endpoint.
        endpoint: Endpoint,
        /// `blocking_connections`.
        max: usize,
    },
    /// `WAIT` or `WAITAOF` sent through the main client: they wait for the writes of the
    /// connection they are sent on, which the main client shares between all its users and
    /// may change at a failover. Send them, after the writes, on a connection from
    /// `MultiDbClient::pinned()`.
    #[error(
        "{command} waits for the writes of its own connection, which the main client shares: send the writes and {command} on a pinned connection (MultiDbClient::pinned)"
    )]
    NeedsPinnedConnection {
        /// The command.
        command: &'static str,
    },
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// The client's control task ended while the client was open (a bug: it should never
    /// happen): no failover can happen any more, so commands fail instead of going on
    /// silently on a database nobody watches. Close the client and make a new one.
    #[error(
        "the client's control task stopped ({reason}): no failover is possible; make a new client"
    )]
    ControlPlaneStopped {
        /// What ended it.
        reason: String,
    },
    /// A method of the blocking client was called on a thread inside a tokio runtime,
    /// where blocking would stall or deadlock it: use the async client there, or call the
    /// blocking one from a thread of its own (`std::thread::spawn`).
    #[error(
        "blocking client method `{method}` called inside a tokio runtime: use the async client, or a std thread"
    )]
    BlockingInAsyncContext {
        /// The method called.
        method: &'static str,
    },
    /// A method of the blocking client made with `with_handle` on a current-thread runtime
    /// that no thread drives: the client's tasks (connections, health checks) run only
    /// while a thread is inside that runtime's `Runtime::block_on`, so the call would never
    /// finish. Drive the runtime from a thread, use a multi-thread runtime, or let the
    /// client own one (`blocking::MultiDbClient::new`).
    #[error(
        "blocking client method `{method}` on a current-thread runtime that no thread drives: it would never finish; drive the runtime, use a multi-thread one, or blocking::MultiDbClient::new"
    )]
    RuntimeNotDriven {
        /// The method called.
        method: &'static str,
    },
    /// A configuration error (e.g. from `add_database`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An error from the `redis` crate.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

fn list(failed: &[FailedDatabase]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl MultiDbError {
    /// The `MultiDbError` carried inside a `redis::RedisError` returned by a command, if any.
    ///
    /// ```
    /// # use multidb_client::MultiDbError;
    /// fn is_unavailable(e: &redis::RedisError) -> bool {
    ///     matches!(
    ///         MultiDbError::from_redis(e),
    ///         Some(MultiDbError::TemporarilyUnavailable { .. } | MultiDbError::NoValidDatabase { .. })
    ///     )
    /// }
    /// # let _ = is_unavailable;
    /// ```
    pub fn from_redis(err: &redis::RedisError) -> Option<&MultiDbError> {
        use std::error::Error;
        // redis keeps an io::Error behind an `Arc<dyn Error>`; ours rides inside that io::Error.
        let arc = err
            .source()?
            .downcast_ref::<std::sync::Arc<dyn Error + Send + Sync>>()?;
        let io = arc.downcast_ref::<io::Error>()?;
        io.get_ref()?.downcast_ref::<MultiDbError>()
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            MultiDbError::TemporarilyUnavailable { .. }
            | MultiDbError::NoValidDatabase { .. }
            | MultiDbError::UnhealthyDatabase { .. }
            | MultiDbError::PinnedDatabaseLost { .. }
            | MultiDbError::BlockingConnectionsExhausted { .. } => true,
            MultiDbError::Redis(e) => e.is_io_error(),
            _ => false,
        }
    }

    /// This error as a `redis::RedisError`, for the `ConnectionLike` path.
    pub(crate) fn into_redis(self) -> redis::RedisError {
        match self {
            MultiDbError::Redis(e) => e,
            other => {
                let kind = match &other {
                    MultiDbError::MayHaveBeenApplied { source, .. } => {
                        if source.is_timeout() {
                            io::ErrorKind::TimedOut
                        } else if source.is_connection_refusal() {
                            io::ErrorKind::ConnectionRefused
                        } else if source.is_connection_dropped() {
                            io::ErrorKind::ConnectionReset
                        } else {
                            io::ErrorKind::Other
                        }
                    }
                    _ => io::ErrorKind::NotConnected,
                };
                redis::RedisError::from(io::Error::new(kind, other))
            }
        }
    }
}
