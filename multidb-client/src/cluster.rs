//! Redis Cluster members (feature `cluster`).
//!
//! A member may itself be a whole Redis Cluster: redis-rs' cluster client routes each
//! command to the right node and follows `MOVED`/`ASK` itself — those are not failures. The
//! cluster connection is made on first use and made again after it could not be made, so a
//! cluster that is down at start joins when it recovers. A cluster member is healthy only
//! when every master answers `PING` ([`crate::PingCheck`] does that for clusters); a topology
//! that cannot be read never counts as healthy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{ConnectionAddr, ConnectionInfo, RedisResult, Value};

use crate::abandon::Abandon;
use crate::error::{ConfigError, MultiDbError};
use crate::source::MemberSpec;

/// Seeds that make one cluster client: TCP or TLS (nodes announce `ip:port`), db 0 (a
/// cluster has no other), and the same credentials, protocol and TLS on all.
pub(crate) fn check_seeds(seeds: &[ConnectionInfo]) -> Result<(), ConfigError> {
    let refuse = |seed: &ConnectionInfo, expected: &'static str| ConfigError::InvalidValue {
        field: "url",
        value: crate::endpoint::Endpoint::from_info(seed).to_string(),
        expected,
    };
    let Some(first) = seeds.first() else {
        return Err(ConfigError::NoDatabases);
    };
    let tls = |seed: &ConnectionInfo| matches!(seed.addr(), ConnectionAddr::TcpTls { .. });
    for seed in seeds {
        if matches!(seed.addr(), ConnectionAddr::Unix(_)) {
            return Err(refuse(
                seed,
                "a redis:// or rediss:// seed: cluster nodes announce ip:port, not sockets",
            ));
        }
        if seed.redis_settings().db() != 0 {
            return Err(refuse(seed, "db 0: a Redis Cluster has no other database"));
        }
        let (a, b) = (seed.redis_settings(), first.redis_settings());
        let same = a.username() == b.username()
            && a.password() == b.password()
            && a.protocol() == b.protocol()
            && tls(seed) == tls(first);
        if !same {
            return Err(refuse(
                seed,
                "the same user name, password, protocol and TLS as the first seed: the seeds \
                 of one cluster member are one cluster",
            ));
        }
    }
    Ok(())
}

/// A cluster connection made on first use.
#[derive(Clone)]
pub(crate) struct LazyCluster {
    client: Arc<ClusterClient>,
    connection: Arc<ArcSwapOption<ClusterConnection>>,
    connecting: Arc<tokio::sync::Mutex<()>>,
    closed: Arc<AtomicBool>,
    connection_timeout: std::time::Duration,
    /// Ends the commands in flight when the member fails or closes: redis-rs drives the
    /// node connections, the client cannot close them under a command.
    abandon: Arc<Abandon>,
}

impl LazyCluster {
    pub(crate) fn new(seeds: &[ConnectionInfo], spec: &MemberSpec) -> RedisResult<Self> {
        let mut builder = ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(spec.connection_timeout)
            .retries(1);
        if let Some(timeout) = spec.response_timeout {
            builder = builder.response_timeout(timeout);
        }
        #[cfg(feature = "tls")]
        if spec.tls.root_cert.is_some() || spec.tls.client_cert.is_some() {
            let client_tls = match (&spec.tls.client_cert, &spec.tls.client_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
                _ => None,
            };
            builder = builder.certs(redis::TlsCertificates {
                client_tls,
                root_cert: spec.tls.root_cert.clone(),
            });
        }
        Ok(LazyCluster {
            client: Arc::new(builder.build()?),
            connection: Arc::new(ArcSwapOption::empty()),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
            closed: Arc::new(AtomicBool::new(false)),
            connection_timeout: spec.connection_timeout,
            abandon: Arc::new(Abandon::default()),
        })
    }

    /// The cluster connection, made now (within the connection timeout) if there is none.
    pub(crate) async fn connection(&self) -> RedisResult<ClusterConnection> {
        if let Some(c) = self.connection.load_full() {
            return Ok((*c).clone());
        }
        let made = crate::connector::bounded(self.connection_timeout, async {
            let _one_at_a_time = self.connecting.lock().await;
            if let Some(c) = self.connection.load_full() {
                return Ok((*c).clone());
            }
            self.client.get_async_connection().await
        })
        .await?;
        if self.closed.load(Ordering::Acquire) {
            return Err(MultiDbError::Closed.into_redis());
        }
        self.connection.store(Some(Arc::new(made.clone())));
        Ok(made)
    }

    /// `send` on the cluster connection, abandoned if the member fails or closes first.
    pub(crate) async fn send<T>(
        &self,
        send: impl AsyncFnOnce(&mut ClusterConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        self.abandon
            .run(async {
                let mut con = self.connection().await?;
                send(&mut con).await
            })
            .await
    }

    /// The member failed: commands in flight end now, and the next use makes a new
    /// connection (a fresh slot map and node connections).
    pub(crate) fn reset(&self) {
        self.connection.store(None);
        self.abandon.now();
    }

    /// Forgets the connection and makes no other: its node connections close when the
    /// commands in flight, abandoned now, let go of their clones.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reset();
    }

    /// `PING` to every master; healthy only if all answer.
    pub(crate) async fn ping_all_masters(&self) -> RedisResult<Value> {
        self.send(async |c| {
            c.route_command(
                redis::cmd("PING"),
                RoutingInfo::MultiNode((
                    MultipleNodeRoutingInfo::AllMasters,
                    Some(ResponsePolicy::AllSucceeded),
                )),
            )
            .await
        })
        .await
    }
}
