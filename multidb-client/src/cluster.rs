//! Redis Cluster members (feature `cluster`).
//!
//! A member may itself be a whole Redis Cluster: redis-rs' cluster client routes each
//! command to the right node and follows `MOVED`/`ASK` itself — those are not failures. The
//! cluster connection is made on first use and made again after it could not be made, so a
//! cluster that is down at start joins when it recovers. A cluster member is healthy only
//! when every master answers `PING` ([`crate::PingCheck`] does that for clusters); a topology
//! that cannot be read never counts as healthy.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{ConnectionInfo, RedisResult, Value};

/// A cluster connection made on first use.
#[derive(Clone)]
pub(crate) struct LazyCluster {
    client: Arc<ClusterClient>,
    connection: Arc<ArcSwapOption<ClusterConnection>>,
    connecting: Arc<tokio::sync::Mutex<()>>,
}

impl LazyCluster {
    pub(crate) fn new(
        seeds: &[ConnectionInfo],
        connection_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> RedisResult<Self> {
        let mut builder = ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(connection_timeout)
            .retries(1);
        if let Some(timeout) = response_timeout {
            builder = builder.response_timeout(timeout);
        }
        Ok(LazyCluster {
            client: Arc::new(builder.build()?),
            connection: Arc::new(ArcSwapOption::empty()),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The cluster connection, made now if there is none yet.
    pub(crate) async fn connection(&self) -> RedisResult<ClusterConnection> {
        if let Some(c) = self.connection.load_full() {
            return Ok((*c).clone());
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.connection.load_full() {
            return Ok((*c).clone());
        }
        let c = self.client.get_async_connection().await?;
        self.connection.store(Some(Arc::new(c.clone())));
        Ok(c)
    }

    /// `PING` to every master; healthy only if all answer.
    pub(crate) async fn ping_all_masters(&self) -> RedisResult<Value> {
        let mut c = self.connection().await?;
        c.route_command(
            redis::cmd("PING"),
            RoutingInfo::MultiNode((
                MultipleNodeRoutingInfo::AllMasters,
                Some(ResponsePolicy::AllSucceeded),
            )),
        )
        .await
    }
}
