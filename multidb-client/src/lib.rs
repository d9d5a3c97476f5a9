//! Use several Redis deployments as one: commands go to the healthiest, highest-weighted
//! database, move to another in milliseconds when it fails, and come back when it recovers.
//!
//! `multidb-client` is the Rust counterpart of redis-py's `MultiDBClient` (and Jedis' and
//! Lettuce's `MultiDbClient`), built from three generic crates — [`multidb_circuit`] (a
//! circuit breaker per database), [`multidb_health`] (background health checks) and
//! [`multidb_failover`] (which database should be active) — over the `redis` crate.
//!
//! ```no_run
//! use multidb_client::MultiDbClient;
//! use redis::AsyncCommands;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = MultiDbClient::from_urls(
//!     ["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0"],
//!     [1.0, 0.5],
//! )?;
//! client.initialize().await?;
//!
//! let mut con = client.clone();
//! con.set::<_, _, ()>("key", "value").await?;
//! let v: String = con.get("key").await?;
//! # let _ = v;
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Semantics
//!
//! - **What counts as a failure**: see [`replay`](crate#what-counts-as-a-failure-and-what-is-replayed).
//!   I/O errors, timeouts and (configurably) `LOADING`/`MASTERDOWN`/`CLUSTERDOWN`/`TRYAGAIN`
//!   feed each database's circuit breaker; error replies such as `WRONGTYPE` never do.
//! - **Probe-confirmed detection**: a connection-level failure on the active database
//!   triggers an immediate, rate-limited health probe of it; a failed probe opens its circuit
//!   and fails over at once. A single transient error causes no switch.
//! - **Retries** re-read the active database, so they land on the new one after a failover.
//!   Commands known not to have run are retried anywhere; commands that may have run are
//!   replayed only up to a [`CommandCategory`] (default: reads and last-wins writes such as
//!   `SET`), and transactions, scripts and admin commands never.
//! - **Blocking commands** (`BLPOP`, `XREAD … BLOCK`…) work on the client: each goes over a
//!   dedicated connection of the active database, waits as long as it asks, never delays
//!   other commands or probes and is never replayed; see
//!   [`MultiDbError::BlockingCommandInterrupted`].
//! - **Transactions and stateful sequences** (`WATCH`, `WAIT`…) go through
//!   [`MultiDbClient::pinned`]: a connection bound to one database that fails with
//!   [`MultiDbError::PinnedDatabaseLost`] instead of following a switch.
//! - **Without async**: [`blocking::MultiDbClient`] has the same management API and
//!   implements the synchronous `redis::ConnectionLike`, so `redis::Commands` works.
//! - **No healthy database**: commands fail fast with
//!   [`MultiDbError::TemporarilyUnavailable`] during the failover budget, then
//!   [`MultiDbError::NoValidDatabase`]; traffic resumes by itself when a database recovers.
//! - **Anti-flapping**: a database that failed has its circuit held Open for its grace
//!   period, then HalfOpen until a passing probe closes it; only then is it a candidate
//!   again (auto-fallback included). When no database is usable, the first passing check
//!   closes a circuit early: any database beats none.
//! - **Health checks** go through the health engine: `PING` plus whatever is added
//!   client-wide or per database (replacing `PING` is explicit); a database with a
//!   `health_check_url` also runs the lag-aware check, which keeps a lagging database from
//!   becoming active but never moves traffic off the active one by itself. The replication
//!   heartbeat ([`MultiDbConfigBuilder::replication_heartbeat`], opt-in) gates the same way
//!   any member that does not show, within a bound, the heartbeats written on the others.
//! - **Forced switches** end when the forced database fails (it is failed over at once) or
//!   on [`MultiDbClient::release_forced`]; no duration can overflow a deadline.
//! - **Nothing stops failover**: a panicking custom strategy or check is contained and
//!   announced ([`Event::CallbackPanicked`]); should the control task end while the client
//!   is open, commands fail with [`MultiDbError::ControlPlaneStopped`].
//! - **Secrets**: passwords in URLs never appear in `Debug`, `Display`, events, errors or logs.
//!
//! ## What counts as a failure, and what is replayed
//!
//! **Failures** (they feed the circuit breaker and may fail over): I/O errors — refused,
//! reset, broken pipe, EOF, timeouts — garbage from the server, and, unless
//! `busy_errors_are_failures(false)`, the replies that reject a command before it runs
//! (`LOADING`, `BUSY`, `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`, `MISCONF`,
//! `NOREPLICAS`, `ERR max number of clients reached`). Every other error reply means the
//! database answered.
//!
//! **Known not to have run** — never written (connection refused or not made in time,
//! circuit open) or rejected by one of the replies above, whether or not that counts as a
//! failure — a command is retried anywhere. One that **may have run** (a timeout, a reset
//! mid-flight) is replayed only if its [`CommandCategory`] is at most
//! [`MultiDbConfigBuilder::replay_up_to`] (default [`CommandCategory::LastWins`]); otherwise it
//! fails with [`MultiDbError::MayHaveBeenApplied`]. [`command_category`] holds the table.
//! Admin commands never go to a second database; pipelines with `MULTI`/`EXEC` are never
//! replayed once they may have run.
//!
//! # Feature flags
//!
//! - `serde`: `MultiDbConfig` deserializes from TOML/JSON, durations as `"500ms"`, `"5s"`.
//! - `cluster`: Redis Cluster members ([`DatabaseConfig::from_cluster_urls`]).
//! - `tls`: `rediss://` members (rustls), with a custom CA and client certificates.
//! - `metrics`: redis-py's failover counter `redis.client.geofailover.failovers` (attributes
//!   `db.client.geofailover.fail_from` / `fail_to` as `host:port/weight`, and
//!   `db.client.geofailover.reason` `automatic` or `manual`), through the `metrics` facade,
//!   counted only when the active database changes from one to another.
//! - `sentinel`: members whose master is found through Redis Sentinel
//!   ([`DatabaseConfig::from_sentinel`]).
//! - `deadpool`: members backed by a `deadpool-redis` pool
//!   ([`DatabaseConfig::from_pool`]).
//! - `lag-aware`: [`LagAwareCheck`], the Redis Enterprise REST API health check that also
//!   fails a member whose replication lag exceeds a tolerance (implies `tls`).

mod abandon;
pub mod blocking;
mod blocking_pool;
mod category;
mod checks;
mod client;
#[cfg(feature = "cluster")]
mod cluster;
mod command;
mod config;
mod connection;
mod connector;
mod control;
mod dedicated;
mod endpoint;
mod error;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod heartbeat;
#[cfg(feature = "lag-aware")]
mod lag_aware;
mod listeners;
mod member;
mod outcome;
mod pinned;
mod pubsub;
mod replay;
mod request;
mod retry;
mod scripts;
#[cfg(feature = "sentinel")]
mod sentinel;
#[cfg(feature = "serde")]
mod serde_config;
mod source;
mod stall;
mod status;
mod telemetry;
#[cfg(feature = "tls")]
mod tls;
pub mod transport;
mod url;

pub use category::{CommandCategory, command_category, pipeline_category};
pub use checks::{EchoCheck, PingCheck};
pub use client::MultiDbClient;
pub use config::{DatabaseConfig, HeartbeatConfig, MultiDbConfig, MultiDbConfigBuilder};
pub use connection::MemberConnection;
pub use endpoint::{Endpoint, Protocol, redact_url};
pub use error::{ConfigError, FailedDatabase, MultiDbError};
pub use event::{BreakerSettings, DatabaseId, DatabaseInfo, Event};
#[cfg(feature = "lag-aware")]
pub use lag_aware::{LagAwareCheck, LagAwareCheckBuilder};
pub use member::Database;
pub use pinned::PinnedConnection;
pub use pubsub::{Messages, Subscriber};
pub use status::{
    CircuitCounts, ClientStatus, ConnectionState, DatabaseStatus, Failure, LATENCY_SAMPLES,
    Latency, SAMPLE_EVERY,
};

/// The state of a database's circuit breaker.
pub use multidb_circuit::State as CircuitState;
/// How many databases must be healthy for `initialize()` to succeed.
pub use multidb_failover::InitialPolicy as InitialHealthCheck;
/// Why the active database changed.
pub use multidb_failover::SwitchReason;
/// Chooses the active database among the healthy ones (default: highest weight).
pub use multidb_failover::{CandidateView, FailoverStrategy, WeightedStrategy};
/// How the probes of one health check combine.
pub use multidb_health::ProbePolicy as HealthPolicy;
/// A health check of a [`Database`], and its failure.
pub use multidb_health::{HealthCheck, Unhealthy};
