//! [`MultiDbClient`]: the handle applications hold.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::config::{DatabaseConfig, MultiDbConfig};
use crate::control::Controller;
use crate::error::{ConfigError, MultiDbError};
use crate::event::{DatabaseId, DatabaseInfo, Event};
use crate::request::Special;
use crate::request::{CmdRequest, PipelineRequest};
use crate::scripts::ScriptCommand;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A Redis client over several databases, always using the healthiest, highest-weighted
/// one and moving between them by itself.
///
/// Cheap to clone (clones share everything); `Send + Sync`; implements
/// `redis::aio::ConnectionLike`, so every `redis::AsyncCommands` method, `redis::cmd(..)`,
/// `redis::pipe()` and scripts work on it unchanged.
#[derive(Clone)]
pub struct MultiDbClient {
    pub(crate) controller: Arc<Controller>,
    pub(crate) local: crate::command::Local,
}

impl fmt::Debug for MultiDbClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiDbClient")
            .field("active", &self.active_database())
            .field("databases", &self.databases())
            .finish()
    }
}

impl MultiDbClient {
    /// A client over `urls`, with one weight per URL and every other setting default.
    /// Validates; does no I/O (call [`Self::initialize`], or just send a command).
    ///
    /// # Errors
    /// A [`ConfigError`]: no URL, URLs and weights of different lengths, a bad URL or
    /// weight, duplicate endpoints.
    pub fn from_urls<U, W>(urls: U, weights: W) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Ok(Self::new(MultiDbConfig::from_urls(urls, weights)?))
    }

    /// A client over Redis Clusters (feature `cluster`), one per URL — each URL a seed node
    /// of its cluster — with one weight per cluster and every other setting default:
    /// redis-py's `from_urls(urls, weights, client_class=RedisCluster)`. Validates; does no
    /// I/O. For several seeds per cluster, use [`DatabaseConfig::from_cluster_urls`].
    ///
    /// # Errors
    /// As [`Self::from_urls`], and the seed checks of
    /// [`DatabaseConfig::from_cluster_urls`].
    #[cfg(feature = "cluster")]
    pub fn from_cluster_urls<U, W>(urls: U, weights: W) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Ok(Self::new(MultiDbConfig::from_cluster_urls(urls, weights)?))
    }

    /// A client with a full configuration. Does no I/O.
    pub fn new(config: MultiDbConfig) -> Self {
        MultiDbClient {
            controller: Arc::new(Controller::new(config)),
            local: crate::command::Local::default(),
        }
    }

    /// Health-checks every database, applies the initial policy, picks the active database
    /// and starts background health checks. Idempotent: concurrent and repeated calls
    /// initialize once. A failed call may be retried.
    ///
    /// # Errors
    /// [`MultiDbError::InitialHealthCheckFailed`] (naming each database that failed and
    /// why) when the initial policy is not met; [`MultiDbError::Closed`] after
    /// [`Self::close`]. Needs a tokio runtime.
    pub async fn initialize(&self) -> Result<(), MultiDbError> {
        self.controller.initialize().await
    }

    /// A snapshot of every database.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.controller.databases()
    }

    /// How each database is doing now: health, circuit (state and window counts), weight,
    /// whether active, lag, the state of its connection, its last failure (when and why,
    /// password never shown) and the latency of recently timed commands. Cheap enough to
    /// serve from a status endpoint; with feature `serde` it serializes.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use multidb_client::MultiDbClient;
    ///
    /// let client = MultiDbClient::from_urls(["redis://127.0.0.1:6379"], [1.0])?;
    /// for db in client.status().databases {
    ///     println!("{} healthy={} circuit={:?} last failure={:?}", db.endpoint, db.healthy, db.circuit, db.last_failure);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> crate::ClientStatus {
        self.controller.status()
    }

    /// The database commands go to now (`None` before initialization).
    pub fn active_database(&self) -> Option<DatabaseId> {
        self.controller.router().active_id()
    }

    /// Makes `id` the active database after a fresh, full health check (the configured
    /// probes, delay and policy). The choice sticks until the next automatic failover away
    /// from it (auto-fallback does not undo it). A passing check closes the database's
    /// circuit even inside its grace period: the application vouched for it.
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`], or [`MultiDbError::UnhealthyDatabase`] when its
    /// health check fails.
    pub async fn set_active_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.controller.switch(id, None).await
    }

    /// Makes `id` the active database after a fresh health check and pins it for
    /// `duration` (any length, `Duration::MAX` included): no auto-fallback, weight change
    /// or addition moves traffic off it meanwhile. If it fails, the force ends and the
    /// client fails over at once
    /// ([`SwitchReason::ForcedDatabaseFailed`](crate::SwitchReason::ForcedDatabaseFailed)).
    /// When the pin expires (or [`Self::release_forced`] ends it), normal selection resumes.
    ///
    /// # Errors
    /// As [`Self::set_active_database`].
    pub async fn force_active_database(
        &self,
        id: DatabaseId,
        duration: Duration,
    ) -> Result<(), MultiDbError> {
        self.controller.switch(id, Some(duration)).await
    }

    /// Ends a force early ([`Self::force_active_database`]): normal selection resumes at
    /// once, as when the force expires, and may switch to a better database
    /// ([`SwitchReason::ForceReleased`](crate::SwitchReason::ForceReleased)). Does nothing
    /// when no force holds.
    ///
    /// # Errors
    /// The errors of [`Self::initialize`].
    pub async fn release_forced(&self) -> Result<(), MultiDbError> {
        self.controller.release_forced().await
    }

    /// Adds a database at run time: it is health-checked first and becomes active if it
    /// outranks the active one. Returns its id.
    ///
    /// # Errors
    /// [`MultiDbError::Config`] for a bad weight or an endpoint already present.
    pub async fn add_database(&self, config: DatabaseConfig) -> Result<DatabaseId, MultiDbError> {
        self.controller.join(config).await
    }

    /// Removes a database. If it is the active one, traffic switches first, then it is
    /// closed.
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`].
    pub async fn remove_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.controller.leave(id).await
    }

    /// Changes a database's weight; traffic moves at once if that changes the best choice
    /// among stably healthy databases.
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`], or [`MultiDbError::Config`] for a weight that is
    /// not finite and > 0.
    pub fn update_database_weight(&self, id: DatabaseId, weight: f64) -> Result<(), MultiDbError> {
        self.controller.set_weight(id, weight)
    }

    /// Adds a health check that every database runs from now on, on top of the configured
    /// ones (all must pass). Databases' schedules restart.
    ///
    /// # Errors
    /// [`MultiDbError::Config`] if a database could not be registered again with the
    /// health monitor (e.g. after [`Self::close`]).
    pub fn add_health_check(
        &self,
        check: Arc<dyn crate::HealthCheck<crate::Database>>,
    ) -> Result<(), MultiDbError> {
        self.controller.add_check(check)
    }

    /// Replaces the strategy that picks the active database among the healthy ones; it
    /// applies from the next decision on.
    pub fn set_failover_strategy(&self, strategy: Arc<dyn crate::FailoverStrategy<DatabaseId>>) {
        self.controller.set_strategy(strategy);
    }

    /// Every switch, circuit transition, health change, database added or removed and
    /// resubscription, from now on. A receiver that falls behind loses the oldest events.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.controller.events()
    }

    /// Events the [`MultiDbConfigBuilder::on_event`](crate::MultiDbConfigBuilder::on_event)
    /// listeners never got because they fell more than `event_capacity` events behind
    /// (switch events are never among them).
    pub fn dropped_listener_events(&self) -> u64 {
        self.controller.dropped_listener_events()
    }

    /// Stops every background task and closes every member connection. Commands then fail
    /// with [`MultiDbError::Closed`]. Idempotent.
    pub async fn close(&self) {
        self.controller.close().await;
    }
}

impl MultiDbClient {
    /// `SCRIPT LOAD` remembered, `EVALSHA` answered `NOSCRIPT` loaded again: see
    /// [`crate::scripts`].
    async fn run_script(
        &mut self,
        cmd: &Cmd,
        script: ScriptCommand<'_>,
    ) -> redis::RedisResult<Value> {
        let result =
            crate::command::execute(&self.controller, &mut self.local, CmdRequest(cmd)).await;
        let scripts = self.controller.scripts();
        match script {
            ScriptCommand::Load(source) => {
                if let Ok(sha) = &result {
                    scripts.loaded(source, sha);
                }
                result
            }
            ScriptCommand::EvalSha(sha) => {
                if !crate::scripts::is_noscript(&result) {
                    return result;
                }
                let Some(source) = scripts.source(sha) else {
                    return result;
                };
                let mut load = redis::cmd("SCRIPT");
                load.arg("LOAD").arg(&*source);
                let loaded =
                    crate::command::execute(&self.controller, &mut self.local, CmdRequest(&load))
                        .await;
                if !matches!(loaded, Ok(Value::BulkString(_) | Value::SimpleString(_))) {
                    return result;
                }
                tracing::debug!("script loaded again after NOSCRIPT");
                crate::command::execute(&self.controller, &mut self.local, CmdRequest(cmd)).await
            }
        }
    }
}

impl ConnectionLike for MultiDbClient {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let request = CmdRequest(cmd);
        match crate::request::special(cmd) {
            None => crate::command::execute(&self.controller, &mut self.local, request),
            Some(Special::Blocking(blocking)) => crate::command::execute_blocking(
                &self.controller,
                &mut self.local,
                request,
                blocking,
            ),
            Some(Special::Script(script)) => Box::pin(self.run_script(cmd, script)),
            Some(Special::Publish) => Box::pin(async move {
                self.controller.router().before_publish().await;
                crate::command::execute(&self.controller, &mut self.local, request).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let request = PipelineRequest {
            pipeline,
            offset,
            count,
        };
        match crate::category::pipeline_blocking(pipeline) {
            None if pipeline.cmd_iter().any(crate::request::is_publish) => Box::pin(async move {
                self.controller.router().before_publish().await;
                crate::command::execute(&self.controller, &mut self.local, request).await
            }),
            None => crate::command::execute(&self.controller, &mut self.local, request),
            Some(blocking) => crate::command::execute_blocking(
                &self.controller,
                &mut self.local,
                request,
                blocking,
            ),
        }
    }

    fn get_db(&self) -> i64 {
        self.controller
            .router()
            .active()
            .map_or(0, |db| db.connection.get_db())
    }
}
