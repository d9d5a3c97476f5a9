//! Where a member's connection comes from and how it is made: the part of a
//! [`crate::DatabaseConfig`] the connection and the member need, below both of them (the
//! configuration knows this module; this module knows no configuration).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::ConnectionInfo;
use redis::aio::ConnectionLike;

/// Where a member's connection comes from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A URL: the client opens and manages the connection.
    Url(Box<ConnectionInfo>),
    /// A connection the application made.
    Connection(Arc<AppSlot>),
    /// A pool the application made (feature `deadpool`): a connection checked out per
    /// command.
    #[cfg(feature = "deadpool")]
    Pool(deadpool_redis::Pool),
    /// A Redis Cluster, from seed node URLs.
    #[cfg(feature = "cluster")]
    Cluster(Vec<ConnectionInfo>),
    /// A master found through Redis Sentinel: the Sentinels (with their own credentials),
    /// the name they know the master by, and the master's handshake (credentials, db,
    /// protocol).
    #[cfg(feature = "sentinel")]
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        master: redis::RedisConnectionInfo,
    },
}

/// Makes a connection of its own for a pinned connection to an application's member.
pub(crate) type PinnedFactory = Arc<
    dyn Fn() -> futures_util::future::BoxFuture<
            'static,
            redis::RedisResult<Box<dyn DynConnectionLike>>,
        > + Send
        + Sync,
>;

/// How to reach one member and treat its connection.
#[derive(Clone)]
pub(crate) struct MemberSpec {
    pub(crate) source: Source,
    /// For an application's connection: how to make a pinned connection's own.
    pub(crate) pinned_factory: Option<PinnedFactory>,
    /// For an application's connection or pool: where a subscriber connects.
    pub(crate) pubsub_client: Option<redis::Client>,
    pub(crate) health_check_url: Option<String>,
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) connection_timeout: Duration,
    pub(crate) tls: TlsSettings,
    /// How a URL or Sentinel member opens its streams, if not over plain sockets.
    pub(crate) transport: Option<Arc<dyn crate::transport::Transport>>,
}

impl MemberSpec {
    /// Whether the client opens this member's sockets itself (through its connector).
    pub(crate) fn opens_own_sockets(&self) -> bool {
        match self.source {
            Source::Url(_) => true,
            #[cfg(feature = "sentinel")]
            Source::Sentinel { .. } => true,
            _ => false,
        }
    }
}

/// Certificates for a `rediss://` member (feature `tls`). Verification is always on.
#[derive(Clone, Default)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct TlsSettings {
    pub(crate) root_cert: Option<Vec<u8>>,
    pub(crate) client_cert: Option<Vec<u8>>,
    pub(crate) client_key: Option<Vec<u8>>,
}

/// An application-made connection, cloneable behind a trait object.
pub(crate) trait DynConnection: Send + Sync {
    fn clone_box(&self) -> Box<dyn DynConnectionLike>;
}

/// `ConnectionLike` plus what a boxed clone needs.
pub(crate) trait DynConnectionLike: ConnectionLike + Send + Sync {}
impl<T: ConnectionLike + Send + Sync> DynConnectionLike for T {}

struct AppConnection<C>(C);

impl<C> DynConnection for AppConnection<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn clone_box(&self) -> Box<dyn DynConnectionLike> {
        Box::new(self.0.clone())
    }
}

/// Where the client holds a connection the application made: one place, shared by the
/// config and the member, so closing the member drops the client's hold on it.
pub(crate) struct AppSlot(RwLock<Option<Box<dyn DynConnection>>>);

impl AppSlot {
    /// A clone of the connection; `None` once released.
    pub(crate) fn take(&self) -> Option<Box<dyn DynConnectionLike>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|made| made.clone_box())
    }

    /// Drops the client's hold on the connection.
    pub(crate) fn release(&self) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

pub(crate) fn boxed<C>(connection: C) -> Arc<AppSlot>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    Arc::new(AppSlot(RwLock::new(Some(Box::new(AppConnection(
        connection,
    ))))))
}
