//! Metrics under OpenTelemetry's semantic-convention names (feature `metrics`, through the
//! `metrics` facade): every function here is an empty inline function without the feature,
//! so call sites carry no `cfg`.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `db.client.operation.duration` | histogram, seconds (opt-in: `operation_duration_metric`) | database, `multidb.outcome`, `redis.client.operation.retry_attempts` |
//! | `redis.client.errors` | counter | database, `error.type`, `redis.client.errors.category` |
//! | `db.client.connection.count` | gauge | server |
//! | `db.client.connection.create_time` | histogram, seconds | server |
//! | `db.client.connection.wait_time` | histogram, seconds | database |
//! | `db.client.connection.timeouts` | counter | server |
//! | `redis.client.connection.closed` | counter | server, `redis.client.connection.close.reason` |
//! | `redis.client.geofailover.failovers` | counter | redis-py's (see `control::decisions`) |
//!
//! "database" is `db.system.name`, `server.address`, `server.port`, `db.namespace` and
//! `multidb.database.id`; "server" the first three (a connection is made to a server, which
//! for a Sentinel member changes with its master). Handles are registered when a database
//! is added: install the recorder before building the client.

use redis::RedisResult;

use crate::request::Request;

/// Metric names, for tests and dashboards.
#[cfg(feature = "metrics")]
pub(crate) mod names {
    pub(crate) const OPERATION_DURATION: &str = "db.client.operation.duration";
    pub(crate) const ERRORS: &str = "redis.client.errors";
    pub(crate) const CONNECTION_COUNT: &str = "db.client.connection.count";
    pub(crate) const CONNECTION_CREATE_TIME: &str = "db.client.connection.create_time";
    pub(crate) const CONNECTION_WAIT_TIME: &str = "db.client.connection.wait_time";
    pub(crate) const CONNECTION_TIMEOUTS: &str = "db.client.connection.timeouts";
    pub(crate) const CONNECTION_CLOSED: &str = "redis.client.connection.closed";
}

/// When an operation started, if it is timed.
#[derive(Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] Option<std::time::Instant>);

impl Started {
    /// Now (with the feature).
    #[inline]
    pub(crate) fn now() -> Self {
        Self::when(true)
    }

    /// Now if `timed` (and the feature is on), else nothing: no clock read.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn when(timed: bool) -> Self {
        Started(
            #[cfg(feature = "metrics")]
            timed.then(std::time::Instant::now),
        )
    }

    #[cfg(feature = "metrics")]
    fn elapsed(self) -> Option<f64> {
        self.0.map(|at| at.elapsed().as_secs_f64())
    }
}

/// The category of an error surfaced to the application (`redis.client.errors.category`).
#[cfg(feature = "metrics")]
fn category(e: &redis::RedisError) -> &'static str {
    use crate::MultiDbError as E;
    match crate::MultiDbError::from_redis(e) {
        Some(E::Closed) => "closed",
        Some(E::MayHaveBeenApplied { .. }) => "may_have_been_applied",
        Some(
            E::UnhealthyDatabase { .. }
            | E::NoValidDatabase { .. }
            | E::TemporarilyUnavailable { .. }
            | E::NoDatabases
            | E::InitialHealthCheckFailed { .. },
        ) => "unavailable",
        Some(_) => "client",
        None if e.is_timeout() => "timeout",
        None if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
            "network"
        }
        None if e.code().is_some() => "server",
        None => "other",
    }
}

/// `error.type`: the server's error code (`WRONGTYPE`), else the kind of error.
#[cfg(feature = "metrics")]
fn error_type(e: &redis::RedisError) -> String {
    e.code()
        .map_or_else(|| format!("{:?}", e.kind()), str::to_owned)
}

/// How an operation failed: an error reply (its code) or an error.
#[cfg(feature = "metrics")]
enum Failed<'a> {
    Reply(&'a str),
    Error(&'a redis::RedisError),
}

/// One database's metric handles.
#[derive(Default)]
pub(crate) struct DbMetrics {
    #[cfg(feature = "metrics")]
    labels: Vec<metrics::Label>,
    /// The common case, registered once: answered at the first try.
    #[cfg(feature = "metrics")]
    answered: Option<metrics::Histogram>,
}

impl DbMetrics {
    /// The handles of database `id` at `endpoint` (db index `db`); `timed`: operations are
    /// timed (see `MultiDbConfigBuilder::operation_duration_metric`).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(
        id: crate::DatabaseId,
        endpoint: &crate::Endpoint,
        db: i64,
        timed: bool,
    ) -> Self {
        #[cfg(feature = "metrics")]
        {
            let mut labels = server_labels(endpoint.address());
            labels.push(metrics::Label::new("db.namespace", db.to_string()));
            labels.push(metrics::Label::new(
                "multidb.database.id",
                id.get().to_string(),
            ));
            let mut first = labels.clone();
            first.push(metrics::Label::new("multidb.outcome", "ok"));
            first.push(metrics::Label::new(
                "redis.client.operation.retry_attempts",
                "0",
            ));
            let answered = timed.then(|| metrics::histogram!(names::OPERATION_DURATION, first));
            DbMetrics { labels, answered }
        }
        #[cfg(not(feature = "metrics"))]
        DbMetrics {}
    }

    /// An operation of `R` that ended on this database with `result` after `retries`
    /// retries.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables, clippy::unused_self))]
    pub(crate) fn operation<R: Request + ?Sized>(
        &self,
        started: Started,
        result: &RedisResult<R::Output>,
        retries: u32,
    ) {
        #[cfg(feature = "metrics")]
        {
            let failed = match result {
                Ok(output) => R::error_code(output).map(Failed::Reply),
                Err(e) => Some(Failed::Error(e)),
            };
            match (failed, retries, &self.answered, started.elapsed()) {
                (None, 0, Some(answered), Some(took)) => answered.record(took),
                (None, _, _, None) => {}
                (failed, _, _, took) => self.operation_slow(took, failed, retries),
            }
        }
    }

    #[cfg(feature = "metrics")]
    #[cold]
    fn operation_slow(&self, took: Option<f64>, failed: Option<Failed<'_>>, retries: u32) {
        if let Some(took) = took {
            let mut labels = self.labels.clone();
            labels.push(metrics::Label::new(
                "multidb.outcome",
                if failed.is_none() { "ok" } else { "error" },
            ));
            labels.push(metrics::Label::new(
                "redis.client.operation.retry_attempts",
                retries.to_string(),
            ));
            metrics::histogram!(names::OPERATION_DURATION, labels).record(took);
        }
        if let Some(failed) = failed {
            let (error_type, category) = match failed {
                Failed::Reply(code) => (code.to_owned(), "server"),
                Failed::Error(e) => (error_type(e), category(e)),
            };
            let mut labels = self.labels.clone();
            labels.push(metrics::Label::new("error.type", error_type));
            labels.push(metrics::Label::new(
                "redis.client.errors.category",
                category,
            ));
            metrics::counter!(names::ERRORS, labels).increment(1);
        }
    }

    /// A command waited `since` for this database's connection to be made.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables, clippy::unused_self))]
    pub(crate) fn waited(&self, since: Started) {
        #[cfg(feature = "metrics")]
        if let Some(took) = since.elapsed() {
            metrics::histogram!(names::CONNECTION_WAIT_TIME, self.labels.clone()).record(took);
        }
    }
}

/// `server.address` and `server.port` of `address` (`host:port`, a socket path, or a
/// Sentinel master's name), and `db.system.name`.
#[cfg(feature = "metrics")]
fn server_labels(address: &str) -> Vec<metrics::Label> {
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (host, port),
        _ => (address, ""),
    };
    let mut labels = vec![
        metrics::Label::new("db.system.name", "redis"),
        metrics::Label::new("server.address", host.trim_matches(['[', ']']).to_owned()),
    ];
    if !port.is_empty() {
        labels.push(metrics::Label::new("server.port", port.to_owned()));
    }
    labels
}

/// An open connection to a server, counted in `db.client.connection.count` while it lives;
/// dropping it counts it closed, by the client unless [`Self::ended_by_server`] said so.
pub(crate) struct OpenConnection {
    #[cfg(feature = "metrics")]
    labels: Vec<metrics::Label>,
    #[cfg(feature = "metrics")]
    by_server: bool,
}

impl OpenConnection {
    /// A connection to `address` made in the time since `started`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn made(address: &str, started: Started) -> Self {
        #[cfg(feature = "metrics")]
        {
            let labels = server_labels(address);
            if let Some(took) = started.elapsed() {
                metrics::histogram!(names::CONNECTION_CREATE_TIME, labels.clone()).record(took);
            }
            metrics::gauge!(names::CONNECTION_COUNT, labels.clone()).increment(1.0);
            OpenConnection {
                labels,
                by_server: false,
            }
        }
        #[cfg(not(feature = "metrics"))]
        OpenConnection {}
    }

    /// The server closed it, or it broke.
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    pub(crate) fn ended_by_server(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.by_server = true;
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        {
            let labels = std::mem::take(&mut self.labels);
            metrics::gauge!(names::CONNECTION_COUNT, labels.clone()).decrement(1.0);
            let mut closed = labels;
            closed.push(metrics::Label::new(
                "redis.client.connection.close.reason",
                if self.by_server { "server" } else { "client" },
            ));
            metrics::counter!(names::CONNECTION_CLOSED, closed).increment(1);
        }
    }
}

/// A connection to `address` was not made within its timeout.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn connection_timed_out(address: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::CONNECTION_TIMEOUTS, server_labels(address)).increment(1);
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn server_labels_split_host_and_port() {
        let value = |labels: &[metrics::Label], key: &str| {
            labels
                .iter()
                .find(|l| l.key() == key)
                .map(|l| l.value().to_owned())
        };
        let tcp = server_labels("10.0.0.1:6380");
        assert_eq!(value(&tcp, "server.address").as_deref(), Some("10.0.0.1"));
        assert_eq!(value(&tcp, "server.port").as_deref(), Some("6380"));
        let v6 = server_labels("[::1]:6379");
        assert_eq!(value(&v6, "server.address").as_deref(), Some("::1"));
        let unix = server_labels("/tmp/redis.sock");
        assert_eq!(
            value(&unix, "server.address").as_deref(),
            Some("/tmp/redis.sock")
        );
        assert_eq!(value(&unix, "server.port"), None);
        assert_eq!(value(&unix, "db.system.name").as_deref(), Some("redis"));
    }
}
