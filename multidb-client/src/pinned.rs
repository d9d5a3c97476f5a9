//! Pinned connections: one member database, never switched silently.
//!
//! The client moves commands between databases by itself, which is what plain commands
//! want and what stateful sequences cannot survive: a `WATCH` on one member and its
//! `EXEC` on another, a `BLPOP` that must not be cut short by a response timeout, a
//! `MULTI` whose first half ran before a failover. [`MultiDbClient::pinned`] hands out a
//! connection bound to the database active at that moment. Before each command it checks
//! that this database is still the active one and that its circuit admits the call; when
//! not — or when the connection fails — the command fails with
//! [`MultiDbError::PinnedDatabaseLost`] and the connection stays unusable from then on.
//! Nothing is ever retried on another database: take a new pinned connection and start the
//! sequence over.
//!
//! Every command's reply is due within the member's response timeout; a blocking command
//! (`BLPOP`, `XREAD … BLOCK`, `WAIT`) gets its block time on top. Past that bound the
//! connection is lost (the command may have run). Without a bound (`response_timeout(None)`,
//! `BLPOP q 0`) a command waits until its reply or until its database fails. A command in
//! flight when the client switches away for a routine reason (fallback, a manual switch, a
//! weight change) runs to its reply; the next one fails.
//!
//! For a URL or Sentinel member, and a cluster member's master of a key
//! ([`MultiDbClient::pinned_for_key`]), the connection is dedicated (its own socket, so `WATCH`
//! state belongs to it alone; a Sentinel member's goes to the master the Sentinels name
//! when it is taken, and never follows a promotion: the next command after one fails).
//! A pool member's is one pool connection, held until dropped; an application's member's
//! comes from its [`crate::DatabaseConfig::pinned_connections`] factory. A pinned
//! connection never shares the member's connection (its `WATCH` state would be everyone's):
//! `pinned()` on a cluster member (use `pinned_for_key`) or on an application's member
//! without a factory is refused.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;

use futures_util::FutureExt as _;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::category::Blocking;
use crate::client::MultiDbClient;
use crate::connection::HeldConnection;
use crate::connector::{Connector, DriverGuard};
use crate::control::Controller;
use crate::endpoint::Endpoint;
use crate::error::MultiDbError;
use crate::event::DatabaseId;
use crate::member::Database;
use crate::outcome::{Outcome, OutcomePolicy};
use crate::request::{CmdRequest, PipelineRequest, Request};

impl MultiDbClient {
    /// A connection bound to the database active now, for `WATCH`/`MULTI`/`EXEC`, blocking
    /// commands (`BLPOP` and friends, with their block time on top of the response timeout) and other stateful
    /// sequences. See [`PinnedConnection`] for what happens when that database fails or
    /// stops being active. Initializes the client if needed.
    ///
    /// # Errors
    /// [`MultiDbError::Closed`]; [`MultiDbError::TemporarilyUnavailable`] or
    /// [`MultiDbError::NoValidDatabase`] when no database is usable;
    /// [`MultiDbError::PinnedDatabaseLost`] when the active database's circuit is open or
    /// connecting to it fails (take another one once the client has failed over);
    /// [`MultiDbError::Config`] (`pinned`) when the active database is a cluster (use
    /// [`Self::pinned_for_key`]) or an application's connection without
    /// [`crate::DatabaseConfig::pinned_connections`].
    pub async fn pinned(&self) -> Result<PinnedConnection, MultiDbError> {
        self.pin(None).await
    }

    /// A pinned connection for a sequence on `key` and keys of its hash slot (hash tags:
    /// `{user:1}:cart`, `{user:1}:total`). On a Redis Cluster member (feature `cluster`) it
    /// is a dedicated connection to the master that owns the key's slot now, with the
    /// member's TLS and credentials, so `WATCH`/`MULTI`/`EXEC` are isolated as on a URL
    /// member; keys of other slots are answered `MOVED` on it, and so are its keys once
    /// the slot moves (take a new one). On any other member it is [`Self::pinned`].
    ///
    /// # Errors
    /// As [`Self::pinned`]; [`MultiDbError::PinnedDatabaseLost`] also when the cluster
    /// cannot say which master owns the slot.
    pub async fn pinned_for_key<K: redis::ToRedisArgs>(
        &self,
        key: K,
    ) -> Result<PinnedConnection, MultiDbError> {
        let key = key.to_redis_args().into_iter().next().unwrap_or_default();
        self.pin(Some(key)).await
    }

    async fn pin(&self, key: Option<Vec<u8>>) -> Result<PinnedConnection, MultiDbError> {
        self.controller.initialize().await?;
        let router = self.controller.router();
        let Some(db) = router.active() else {
            return Err(router
                .unavailable_error()
                .unwrap_or(MultiDbError::NoDatabases));
        };
        let connector = match (db.connection.connector(), key) {
            (Some(connector), _) => Some(connector),
            #[cfg(feature = "cluster")]
            (None, Some(key)) => db
                .connection
                .cluster_master_of(&key)
                .await
                .map_err(|e| MultiDbError::PinnedDatabaseLost {
                    id: db.id,
                    endpoint: db.endpoint.clone(),
                    reason: format!("which master owns the key's slot is unknown: {e}"),
                })?
                .map(Arc::new),
            _ => None,
        };
        let con = if let Some(connector) = connector {
            let (con, driver) = connect(&self.controller, &db, &connector).await?;
            Pinned::Dedicated {
                con,
                _driver: driver,
            }
        } else if let Some(held) = db.connection.hold().await {
            // A pool's connection, or one from the application's factory: its own.
            Pinned::Held {
                con: held.map_err(|e| MultiDbError::PinnedDatabaseLost {
                    id: db.id,
                    endpoint: db.endpoint.clone(),
                    reason: format!("no connection of its own: {e}"),
                })?,
                db: db.connection.get_db(),
            }
        } else {
            // Sharing the member's connection would share WATCH state with every user.
            return Err(MultiDbError::Config(crate::ConfigError::InvalidValue {
                field: "pinned",
                value: format!("{} ({})", db.id, db.endpoint),
                expected: "a member a pinned connection can have its own connection to: for \
                           a cluster, pinned_for_key(key); for from_connection, \
                           DatabaseConfig::pinned_connections(factory)",
            }));
        };
        tracing::debug!(database = %db.id, endpoint = %db.endpoint, "pinned connection opened");
        Ok(PinnedConnection {
            controller: self.controller.clone(),
            db_index: db.connection.get_db(),
            db,
            con: Some(con),
            lost: None,
        })
    }
}

/// Opens a dedicated connection, counting the attempt in the member's circuit.
async fn connect(
    controller: &Controller,
    db: &Database,
    connector: &Connector,
) -> Result<(MultiplexedConnection, DriverGuard), MultiDbError> {
    let lost = |reason: String| MultiDbError::PinnedDatabaseLost {
        id: db.id,
        endpoint: db.endpoint.clone(),
        reason,
    };
    let Ok(permit) = db.circuit.try_acquire() else {
        return Err(lost("its circuit is open".to_owned()));
    };
    // The member's own connection settings: TLS certificates included.
    let config = AsyncConnectionConfig::new().set_response_timeout(None);
    match connector
        .connect_owned(connector.redis(), config, db.spec.connection_timeout)
        .await
    {
        Ok(made) => {
            OutcomePolicy::settle(controller.router(), db, permit, Outcome::Answered, &"");
            Ok(made)
        }
        Err(e) => {
            let outcome = controller.outcomes().classify_connect(&e);
            OutcomePolicy::settle(controller.router(), db, permit, outcome, &e);
            Err(lost(format!("could not connect: {e}")))
        }
    }
}

/// What a pinned connection talks through.
enum Pinned {
    /// Its own socket, closed when the guard drops.
    Dedicated {
        con: MultiplexedConnection,
        _driver: DriverGuard,
    },
    /// A connection of its own that the client does not make: a pool member's, put back
    /// when dropped, or one from the application's factory; the member's `close()` takes
    /// it back.
    Held { con: HeldConnection, db: i64 },
}

/// A connection bound to one member database, from [`MultiDbClient::pinned`].
///
/// Implements `redis::aio::ConnectionLike`, so `redis::AsyncCommands`, `redis::cmd(..)`
/// and `redis::pipe()` work on it. It is never switched silently: once its database stops
/// being the active one, its circuit opens, or the connection fails, every further command
/// fails with [`MultiDbError::PinnedDatabaseLost`] (inside the `redis::RedisError`; get it
/// back with [`MultiDbError::from_redis`]) and nothing is retried elsewhere. A command in
/// flight when its database stops being active is abandoned the same way; it may have been
/// applied. Dropping it closes a dedicated connection.
///
/// Outcomes count in the database's circuit breaker like those of ordinary commands.
pub struct PinnedConnection {
    controller: Arc<Controller>,
    db: Arc<Database>,
    db_index: i64,
    /// `None` once lost: the socket is closed so the server drops its state (and any
    /// blocked command) too.
    con: Option<Pinned>,
    lost: Option<String>,
}

impl fmt::Debug for PinnedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedConnection")
            .field("database", &self.db.id)
            .field("endpoint", &self.db.endpoint)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl PinnedConnection {
    /// The database it is bound to.
    pub fn database(&self) -> DatabaseId {
        self.db.id
    }

    /// That database's endpoint (no password).
    pub fn endpoint(&self) -> &Endpoint {
        &self.db.endpoint
    }

    /// Whether it is lost: its next command would fail with
    /// [`MultiDbError::PinnedDatabaseLost`]. A `false` may turn `true` at any moment.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some() || self.refusal().is_some()
    }

    /// Why the bound database may not take a command now, if so.
    fn refusal(&self) -> Option<&'static str> {
        let router = self.controller.router();
        if router.is_closed() {
            return Some("the client is closed");
        }
        if !router.is_active(&self.db) {
            return Some("it is no longer the active database");
        }
        None
    }

    fn lose(&mut self, reason: String) -> RedisError {
        if self.lost.is_none() {
            tracing::warn!(database = %self.db.id, endpoint = %self.db.endpoint, reason = %reason, "pinned connection lost");
            self.lost = Some(reason);
            self.con = None;
        }
        self.lost_error()
    }

    fn lost_error(&self) -> RedisError {
        MultiDbError::PinnedDatabaseLost {
            id: self.db.id,
            endpoint: self.db.endpoint.clone(),
            reason: self.lost.clone().unwrap_or_default(),
        }
        .into_redis()
    }

    /// Runs `request` (`blocking` when it blocks on the server): its reply is due within
    /// the member's response timeout, plus its block time; without either bound it waits
    /// until a reply or until its database fails.
    async fn run<R: Request>(
        &mut self,
        request: &R,
        blocking: Option<Blocking>,
    ) -> RedisResult<R::Output> {
        if self.lost.is_some() {
            return Err(self.lost_error());
        }
        if let Some(reason) = self.refusal() {
            return Err(self.lose(reason.to_owned()));
        }
        let db = self.db.clone();
        let Ok(permit) = db.circuit.try_acquire() else {
            return Err(self.lose("its circuit is open".to_owned()));
        };
        let bound = crate::category::reply_bound(blocking, db.spec.response_timeout);
        let mut failed = pin!(db.failed.notified());
        failed.as_mut().enable();
        // A switch between the check above and arming the failure signal.
        if let Some(reason) = self.refusal() {
            drop(permit);
            return Err(self.lose(reason.to_owned()));
        }
        let Some(con) = self.con.as_mut() else {
            drop(permit);
            return Err(self.lose("the connection is closed".to_owned()));
        };
        let send = request.send(con);
        let result = tokio::select! {
            biased;
            result = bounded(bound, send) => Some(result),
            () = failed => None,
        };
        let Some(result) = result else {
            drop(permit);
            return Err(self.lose(
                "it failed while a command was in flight; the command may have been applied"
                    .to_owned(),
            ));
        };
        let result = match result {
            Ok(result) => result,
            Err(elapsed) => {
                OutcomePolicy::settle(
                    self.controller.router(),
                    &db,
                    permit,
                    Outcome::Failed(crate::replay::Sent::Maybe),
                    &format_args!("a pinned connection got no reply within {elapsed:?}"),
                );
                return Err(self.lose(format!(
                    "no reply within {elapsed:?}; the command may have been applied"
                )));
            }
        };
        let outcome = self.controller.outcomes().record(
            self.controller.router(),
            &db,
            permit,
            request,
            &result,
        );
        match result {
            // An answer, or a rejection: the database is alive and the connection still good.
            Ok(output) => Ok(output),
            Err(e) if !matches!(outcome, Outcome::Failed(_)) => Err(e),
            Err(e) => Err(self.lose(format!(
                "the connection failed (the command may have been applied): {e}"
            ))),
        }
    }
}

/// `send` within `bound`, if any; past it, `Err` with the bound.
async fn bounded<T>(
    bound: Option<std::time::Duration>,
    send: impl std::future::Future<Output = T>,
) -> Result<T, std::time::Duration> {
    match bound {
        Some(bound) => tokio::time::timeout(bound, send).await.map_err(|_| bound),
        None => Ok(send.await),
    }
}

impl ConnectionLike for Pinned {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Pinned::Dedicated { con: c, .. } => c.req_packed_command(cmd),
            Pinned::Held { con, .. } => Box::pin(async move {
                match con.lock().await.as_mut() {
                    Some(c) => c.req_packed_command(cmd).await,
                    None => Err(MultiDbError::Closed.into_redis()),
                }
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Pinned::Dedicated { con: c, .. } => c.req_packed_commands(pipeline, offset, count),
            Pinned::Held { con, .. } => Box::pin(async move {
                match con.lock().await.as_mut() {
                    Some(c) => c.req_packed_commands(pipeline, offset, count).await,
                    None => Err(MultiDbError::Closed.into_redis()),
                }
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Pinned::Dedicated { con: c, .. } => c.get_db(),
            Pinned::Held { db, .. } => *db,
        }
    }
}

impl ConnectionLike for PinnedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        async move {
            let blocking = crate::category::blocking(cmd);
            self.run(&CmdRequest(cmd), blocking).await
        }
        .boxed()
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        async move {
            let request = PipelineRequest {
                pipeline,
                offset,
                count,
            };
            let blocking = crate::category::pipeline_blocking(pipeline);
            self.run(&request, blocking).await
        }
        .boxed()
    }

    fn get_db(&self) -> i64 {
        self.db_index
    }
}
