//! What the client tells the application: database ids and snapshots, and the events
//! published on every change.
//!
//! Events go out on a `tokio::sync::broadcast` channel ([`crate::MultiDbClient::events`]):
//! a receiver that falls behind loses the oldest events (and learns how many it lost), it
//! never slows the client down. No event carries a password: endpoints are shown as
//! `host:port/db`.

use std::fmt;

use crate::endpoint::Endpoint;
use crate::{CircuitState, SwitchReason};

/// The id of one member database of a client. Ids are never reused within a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct DatabaseId(pub(crate) u32);

impl DatabaseId {
    /// The number behind the id (the order in which databases were added, from 1).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "db{}", self.0)
    }
}

/// A snapshot of one member database.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DatabaseInfo {
    /// Its id.
    pub id: DatabaseId,
    /// Where it lives (password never shown).
    pub endpoint: Endpoint,
    /// Its weight: the healthy database with the highest weight is active.
    pub weight: f64,
    /// The state of its circuit breaker.
    pub circuit: CircuitState,
    /// Whether its last health check passed (`false` before the first one).
    pub healthy: bool,
    /// Whether its replication lag keeps it from becoming active (its lag-aware check,
    /// see [`crate::DatabaseConfig::health_check_url`], or the replication heartbeat, see
    /// [`crate::MultiDbConfigBuilder::replication_heartbeat`], failing).
    pub lagging: bool,
    /// Whether it is the active database.
    pub active: bool,
    /// Its circuit breaker's settings in force: its own
    /// ([`crate::DatabaseConfig::min_num_failures`] and the like), else the client-wide ones.
    pub breaker: BreakerSettings,
}

/// The settings a database's circuit breaker trips by.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// Failures in the window before it may trip.
    pub min_num_failures: u32,
    /// The share of failed commands in the window that trips it.
    pub failure_rate_threshold: f64,
    /// The sliding window failures are counted over.
    pub failures_detection_window: std::time::Duration,
}

/// Something that happened to the client. Published on [`crate::MultiDbClient::events`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Commands now go to `to`.
    ActiveDatabaseChanged {
        /// The database that was active before (`None` at start).
        from: Option<DatabaseId>,
        /// The database now active.
        to: DatabaseId,
        /// Why.
        reason: SwitchReason,
    },
    /// A database's circuit breaker changed state.
    CircuitStateChanged {
        /// The database.
        database: DatabaseId,
        /// The state before.
        from: CircuitState,
        /// The state now.
        to: CircuitState,
    },
    /// A database's health check result flipped (or arrived for the first time).
    HealthChanged {
        /// The database.
        database: DatabaseId,
        /// Whether it is healthy now.
        healthy: bool,
    },
    /// A database's lag checks' result flipped (the lag-aware check and the replication
    /// heartbeat together): while `lagging`, it is not made active (unless nothing else is
    /// usable); lag alone does not move traffic off it.
    LagChanged {
        /// The database.
        database: DatabaseId,
        /// Whether it lags now.
        lagging: bool,
    },
    /// No database is usable: commands fail fast until one recovers.
    AllDatabasesUnhealthy,
    /// A Pub/Sub subscriber re-subscribed its channels on a newly active database.
    Resubscribed {
        /// The database subscribed on.
        database: DatabaseId,
        /// How many channels, patterns and sharded channels.
        channels: usize,
    },
    /// A sharded channel's slot moved to another node of a cluster member (a reshard, or a
    /// failover inside the cluster): the node that served it ended the subscription, and
    /// the subscriber subscribed it again where it lives now. Messages published in
    /// between are lost.
    ShardedChannelMoved {
        /// The database the channel lives on.
        database: DatabaseId,
        /// The sharded channel.
        channel: String,
    },
    /// A Pub/Sub reader falls behind: its subscriber's buffer (`pubsub_buffer`) is full
    /// and the oldest messages are dropped to make room. Published once per run of drops
    /// (again after the reader caught up and fell behind anew).
    PubSubMessagesDropped {
        /// Messages this subscriber dropped so far, in all.
        dropped: u64,
    },
    /// Application code the client runs — a custom failover strategy or health check —
    /// panicked. The client carried on: a strategy's decision was made by the default
    /// weighted strategy instead, a check's probe counted as failed.
    CallbackPanicked {
        /// What panicked, e.g. `failover strategy` or `health check "ping" of db1`.
        what: String,
        /// The panic's message.
        message: String,
    },
    /// The active database made no progress for `silent_for` while commands were in
    /// flight, and a probe on a connection of its own got no answer within the stall
    /// tolerance either ([`crate::MultiDbConfigBuilder::stall_tolerance`]): its circuit
    /// opens and traffic moves off it (an [`Event::ActiveDatabaseChanged`] follows, with
    /// reason `CircuitOpened`). Not published when no other database is usable.
    Stalled {
        /// The database.
        database: DatabaseId,
        /// How long it had been silent when the probe began.
        silent_for: std::time::Duration,
    },
    /// A database was added.
    DatabaseAdded {
        /// Its id.
        database: DatabaseId,
    },
    /// A database was removed.
    DatabaseRemoved {
        /// Its id.
        database: DatabaseId,
    },
}

/// A panic's message, for logs and [`Event::CallbackPanicked`].
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
