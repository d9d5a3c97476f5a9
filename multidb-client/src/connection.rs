//! The connection to one member database, whatever made it.
//!
//! URL members get a `redis::aio::ConnectionManager` (created lazily, so a database that is
//! down at start costs nothing until it recovers), configured so that *our* failover
//! logic decides: one connection attempt per reconnect, bounded by the member's connection
//! timeout, never redis-rs' own multi-second retry loop. Applications may bring their own
//! connection instead.

use std::fmt;
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::config::{DatabaseConfig, Source};

/// An application-made connection, cloneable behind a trait object.
pub(crate) trait DynConnection: Send + Sync {
    fn clone_box(&self) -> Box<dyn DynConnectionLike>;
}

/// `ConnectionLike` plus what a boxed clone needs.
pub(crate) trait DynConnectionLike: ConnectionLike + Send + Sync {}
impl<T: ConnectionLike + Send + Sync> DynConnectionLike for T {}

struct Shared<C>(C);

impl<C> DynConnection for Shared<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn clone_box(&self) -> Box<dyn DynConnectionLike> {
        Box::new(self.0.clone())
    }
}

pub(crate) fn boxed<C>(connection: C) -> Arc<dyn DynConnection>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    Arc::new(Shared(connection))
}

/// A connection to one member database. Cheap to clone (clones share the underlying
/// connection); implements `redis::aio::ConnectionLike`, so every `redis::AsyncCommands`
/// method works on it. Health checks receive one through [`crate::Database::connection`].
pub struct MemberConnection {
    inner: Inner,
    db: i64,
}

enum Inner {
    Manager(ConnectionManager),
    Custom(Arc<dyn DynConnection>, Box<dyn DynConnectionLike>),
    #[cfg(feature = "cluster")]
    Cluster(crate::cluster::LazyCluster),
    #[cfg(feature = "sentinel")]
    Sentinel(crate::sentinel::LazySentinel),
}

impl Clone for MemberConnection {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Manager(m) => Inner::Manager(m.clone()),
            Inner::Custom(shared, _) => Inner::Custom(shared.clone(), shared.clone_box()),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Inner::Cluster(c.clone()),
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Inner::Sentinel(s.clone()),
        };
        MemberConnection { inner, db: self.db }
    }
}

impl fmt::Debug for MemberConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Manager(_) => "managed",
            Inner::Custom(..) => "custom",
            #[cfg(feature = "cluster")]
            Inner::Cluster(_) => "cluster",
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(_) => "sentinel",
        };
        f.debug_struct("MemberConnection")
            .field("kind", &kind)
            .field("db", &self.db)
            .finish()
    }
}

impl MemberConnection {
    /// Opens (lazily) the connection a database config describes. Needs a tokio runtime.
    pub(crate) fn open(config: &DatabaseConfig) -> RedisResult<Self> {
        match &config.source {
            Source::Url(info) => {
                let db = info.redis_settings().db();
                let client = open_client(info, config)?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(config.connection_timeout))
                    .set_response_timeout(config.response_timeout);
                let manager = ConnectionManager::new_lazy_with_config(client, manager_config)?;
                Ok(MemberConnection {
                    inner: Inner::Manager(manager),
                    db,
                })
            }
            Source::Connection(shared) => {
                let first = shared.clone_box();
                let db = first.get_db();
                Ok(MemberConnection {
                    inner: Inner::Custom(shared.clone(), first),
                    db,
                })
            }
            #[cfg(feature = "cluster")]
            Source::Cluster(seeds) => Ok(MemberConnection {
                inner: Inner::Cluster(crate::cluster::LazyCluster::new(
                    seeds,
                    config.connection_timeout,
                    config.response_timeout,
                )?),
                db: 0,
            }),
            #[cfg(feature = "sentinel")]
            Source::Sentinel { sentinels, master } => Ok(MemberConnection {
                inner: Inner::Sentinel(crate::sentinel::LazySentinel::new(
                    sentinels,
                    master,
                    config.connection_timeout,
                    config.response_timeout,
                )?),
                db: 0,
            }),
        }
    }
}

/// A redis client for a URL member, with its TLS certificates where it has any.
pub(crate) fn open_client(
    info: &redis::ConnectionInfo,
    config: &DatabaseConfig,
) -> RedisResult<redis::Client> {
    #[cfg(feature = "tls")]
    if matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
        // redis-rs compiles rustls without a crypto provider; one must be installed
        // process-wide. An application that installed its own keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = &config.tls;
        let client_tls = match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            _ => None,
        };
        return redis::Client::build_with_tls(
            info.clone(),
            redis::TlsCertificates {
                client_tls,
                root_cert: tls.root_cert.clone(),
            },
        );
    }
    let _ = config;
    redis::Client::open(info.clone())
}

impl MemberConnection {
    /// `PING`, or for a cluster `PING` to every master (healthy only if all answer).
    ///
    /// # Errors
    /// The connection's error when the database (or any master) cannot answer.
    pub async fn ping(&mut self) -> RedisResult<Value> {
        #[cfg(feature = "cluster")]
        if let Inner::Cluster(c) = &self.inner {
            return c.ping_all_masters().await;
        }
        self.req_packed_command(&redis::cmd("PING")).await
    }
}

impl ConnectionLike for MemberConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Manager(m) => m.req_packed_command(cmd),
            Inner::Custom(_, c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => {
                Box::pin(async move { c.connection().await?.req_packed_command(cmd).await })
            }
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Box::pin(async move {
                let result = s.connection().await?.req_packed_command(cmd).await;
                if let Err(e) = &result {
                    s.observe(e);
                }
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Manager(m) => m.req_packed_commands(pipeline, offset, count),
            Inner::Custom(_, c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Box::pin(async move {
                c.connection()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }),
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Box::pin(async move {
                let result = s
                    .connection()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(e) = &result {
                    s.observe(e);
                }
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}
