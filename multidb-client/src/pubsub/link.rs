//! The subscription connection to one member.
//!
//! A dedicated RESP3 `MultiplexedConnection` with a push channel: RESP3 because redis-rs'
//! RESP2 `PubSub` has no `SSUBSCRIBE` outside its cluster feature, and because a RESP3
//! connection reports its own loss as a `Disconnection` push on the same channel that
//! carries the messages, so one `recv()` tells the subscriber both. It needs Redis 6 or
//! newer (sharded channels: Redis 7), whatever protocol the member's commands use. A
//! cluster member's subscription is a RESP3 cluster connection of its own: redis-rs
//! subscribes each channel on its node and subscribes again where it reconnects, sharded
//! channels on their slot's owner.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, RedisResult, Value};
use tokio::sync::mpsc;

use super::registry::{Kind, Registry};
use crate::source::Source;
use std::sync::Arc;

use crate::connector::{Connector, DriverGuard};
use crate::error::{ConfigError, MultiDbError};
use crate::event::DatabaseId;
use crate::member::Database;

/// A subscription connection and the pushes (messages, confirmations, disconnection) it
/// receives. Dropping it closes the connection.
pub(crate) struct Link {
    pub(crate) database: DatabaseId,
    con: Con,
    pub(crate) pushes: mpsc::UnboundedReceiver<PushInfo>,
}

/// What a subscription talks through.
enum Con {
    /// A connection of its own to the member's (master) node.
    Node {
        con: MultiplexedConnection,
        /// Closes our own socket when dropped; `None` for one redis-rs drives (made with
        /// the application's `pubsub_client`), which closes when the connection is dropped.
        _driver: Option<DriverGuard>,
    },
    /// A cluster connection of its own; redis-rs subscribes each channel on its node.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Link {
    /// Connects to `db` (bounded by its connection timeout).
    pub(crate) async fn open(db: &Database) -> Result<Link, MultiDbError> {
        #[cfg(feature = "cluster")]
        {
            let (tx, pushes) = mpsc::unbounded_channel();
            if let Some(con) = db.connection.cluster_subscriber(tx).await {
                return Ok(Link {
                    database: db.id,
                    con: Con::Cluster(con?),
                    pushes,
                });
            }
        }
        if db.connection.connector().is_none()
            && let Some(client) = &db.spec.pubsub_client
        {
            return Self::open_with(db, client).await;
        }
        let connector = connector(db)?;
        let settings = connector
            .redis()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let (tx, pushes) = mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(confirmation_deadline(db)))
            .set_push_sender(tx);
        let (con, driver) = connector
            .connect_owned(&settings, config, db.spec.connection_timeout)
            .await?;
        Ok(Link {
            database: db.id,
            con: Con::Node {
                con,
                _driver: Some(driver),
            },
            pushes,
        })
    }

    /// A subscription over the application's `pubsub_client`: its address, credentials and
    /// TLS, in RESP3 whatever it says, within the connection timeout.
    async fn open_with(db: &Database, client: &redis::Client) -> Result<Link, MultiDbError> {
        let info = client.get_connection_info().clone();
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(redis))?;
        let (tx, pushes) = mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(db.spec.connection_timeout))
            .set_response_timeout(Some(confirmation_deadline(db)))
            .set_push_sender(tx);
        let made = client.get_multiplexed_async_connection_with_config(&config);
        let con = crate::connector::bounded(db.spec.connection_timeout, made).await?;
        Ok(Link {
            database: db.id,
            con: Con::Node { con, _driver: None },
            pushes,
        })
    }

    /// Sends one (un)subscribe command per name, pipelined: one name per command, so each
    /// command is answered by exactly one confirmation whatever the server's version.
    pub(crate) async fn send(
        &mut self,
        kind: Kind,
        subscribe: bool,
        names: &[String],
    ) -> RedisResult<()> {
        if names.is_empty() {
            return Ok(());
        }
        match &mut self.con {
            Con::Node { con, .. } => {
                let mut pipe = redis::pipe();
                for name in names {
                    pipe.cmd(kind.command(subscribe)).arg(name);
                }
                let replies = con.req_packed_commands(&pipe, 0, names.len()).await?;
                replies
                    .into_iter()
                    .try_for_each(|v| Value::extract_error(v).map(drop))
            }
            #[cfg(feature = "cluster")]
            Con::Cluster(con) => {
                for name in names {
                    match (kind, subscribe) {
                        (Kind::Channel, true) => con.subscribe(name).await?,
                        (Kind::Channel, false) => con.unsubscribe(name).await?,
                        (Kind::Pattern, true) => con.psubscribe(name).await?,
                        (Kind::Pattern, false) => con.punsubscribe(name).await?,
                        (Kind::Shard, true) => con.ssubscribe(name).await?,
                        (Kind::Shard, false) => con.sunsubscribe(name).await?,
                    }
                }
                Ok(())
            }
        }
    }

    /// Subscribes to everything in `registry` (a snapshot: the worker is its only writer).
    pub(crate) async fn subscribe_all(&mut self, registry: &Registry) -> RedisResult<()> {
        for kind in Kind::ALL {
            self.send(kind, true, &registry.names(kind)).await?;
        }
        Ok(())
    }
}

/// How long an (un)subscribe confirmation may take: like any reply, even with
/// `response_timeout(None)`, since a subscription is never a blocking command.
fn confirmation_deadline(db: &Database) -> std::time::Duration {
    db.spec
        .response_timeout
        .unwrap_or(db.spec.connection_timeout)
}

/// The error for a member a subscriber cannot open its own connection to, if it is one.
pub(crate) fn unsupported(db: &Database) -> Option<MultiDbError> {
    if db.spec.pubsub_client.is_some() {
        return None;
    }
    let made_by = match &db.spec.source {
        Source::Url(_) => return None,
        #[cfg(feature = "sentinel")]
        Source::Sentinel { .. } => return None,
        Source::Connection(_) => "DatabaseConfig::from_connection",
        #[cfg(feature = "deadpool")]
        Source::Pool(_) => "DatabaseConfig::from_pool",
        #[cfg(feature = "cluster")]
        Source::Cluster(_) => return None,
    };
    Some(MultiDbError::Config(ConfigError::InvalidValue {
        field: "pubsub",
        value: format!(
            "{} ({}), made with {made_by} without DatabaseConfig::pubsub_client",
            db.id, db.endpoint
        ),
        expected: "a client whose databases are all given by url, sentinel or cluster urls (a subscriber opens its own connection to each)",
    }))
}

/// How to connect to a member for a subscription: a URL member's own connector; for a
/// Sentinel member, one that asks the Sentinels where the master is now.
fn connector(db: &Database) -> Result<Arc<Connector>, MultiDbError> {
    db.connection.connector().ok_or_else(|| {
        unsupported(db).unwrap_or(MultiDbError::Config(ConfigError::InvalidValue {
            field: "pubsub",
            value: format!("{} ({})", db.id, db.endpoint),
            expected: "a database given by url or sentinel",
        }))
    })
}

/// Whether an error means the connection is gone (rather than the server refusing).
pub(crate) fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}
