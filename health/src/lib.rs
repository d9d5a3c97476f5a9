//! A generic async health-check engine: probes, policies, schedules and rate-limited
//! on-demand checks, for any kind of target. It knows nothing of Redis.
//!
//! A multi-database client registers one target per database with a
//! [`HealthMonitor`], each with one or more [`HealthCheck`]s (e.g. a `PING`), and
//! reacts to the results through [`HealthMonitor::watch`] or
//! [`HealthMonitor::subscribe`]. When a command fails, the client calls
//! [`HealthMonitor::request_check`] to have the database probed at once instead of
//! waiting for the next scheduled check. Where a verdict must honour the configured
//! probes and must not be an older result (the initial check, a database added at run
//! time, a manual switch), it calls [`HealthMonitor::check_fresh`]; and
//! [`HealthMonitor::set_checks`] replaces a target's checks without removing it.
//!
//! # Semantics
//!
//! - A *check* of a target runs every health check (all must pass). Each health check
//!   runs up to `probes` probes `probe_delay` apart, decided by a [`ProbePolicy`] with
//!   early exit; the whole check is bounded by `timeout`. A failure, timeout or panic is an
//!   unhealthy [`HealthStatus`] with its reason, never an error or a crash.
//! - Scheduled checks run every `interval ± jitter`; checks of one target never overlap:
//!   an on-demand request during a check joins it.
//! - On-demand checks ([`check_now`](HealthMonitor::check_now),
//!   [`request_check`](HealthMonitor::request_check)) use the `on_demand` configuration
//!   (by default one fast probe); `request_check` starts at most one per
//!   `min_probe_interval` per target.
//! - A fresh check ([`check_fresh`](HealthMonitor::check_fresh)) is a full check, as
//!   scheduled, that starts after it is asked for: it queues behind a running check,
//!   joins a fresh one not yet started, and answers on-demand requests queued with it.
//!   It is not rate-limited and does not move the schedule.
//! - [`set_checks`](HealthMonitor::set_checks) applies from the next check that starts.
//! - Results are published (watch first, then broadcast) in the order their checks
//!   started; a stale result never overrides a fresher one.
//! - All time is tokio time, so tests run under `#[tokio::test(start_paused = true)]`.
//! - No task outlives the monitor: [`HealthMonitor::shutdown`] stops and awaits them, and
//!   dropping the last handle aborts them.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//!
//! use multidb_health::{HealthCheck, HealthMonitor, TargetConfig, Unhealthy};
//!
//! /// Stands in for a database connection.
//! struct Server {
//!     up: AtomicBool,
//! }
//!
//! struct Ping;
//!
//! #[async_trait::async_trait]
//! impl HealthCheck<Server> for Ping {
//!     async fn check(&self, server: &Server) -> Result<(), Unhealthy> {
//!         if server.up.load(Ordering::SeqCst) {
//!             Ok(())
//!         } else {
//!             Err(Unhealthy::new("connection refused"))
//!         }
//!     }
//!
//!     fn name(&self) -> &str {
//!         "ping"
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let monitor = HealthMonitor::new();
//! let server = Arc::new(Server { up: AtomicBool::new(true) });
//! // No rate limit on on-demand checks, so the second check_now below probes again.
//! let config = TargetConfig::builder().min_probe_interval(Duration::ZERO).build()?;
//! monitor.add_target("east", Arc::clone(&server), vec![Arc::new(Ping)], config)?;
//!
//! assert!(monitor.check_now(&"east").await?.healthy);
//!
//! server.up.store(false, Ordering::SeqCst);
//! let status = monitor.check_now(&"east").await?;
//! assert!(!status.healthy);
//! assert_eq!(status.reason.unwrap().reason(), "ping: 1 of 1 probes failed: connection refused");
//!
//! monitor.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! None: the crate depends on tokio (`rt`, `sync`, `time`), governor and tracing only.

mod check;
mod clock;
mod config;
mod error;
mod monitor;
mod probe;
mod target;

pub use check::{HealthCheck, HealthEvent, HealthStatus, Unhealthy};
pub use config::{ProbeConfig, ProbeConfigBuilder, ProbePolicy, TargetConfig, TargetConfigBuilder};
pub use error::{ConfigError, MonitorError};
pub use monitor::HealthMonitor;
