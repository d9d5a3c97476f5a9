//! Configuring a [`RedisCluster`] before starting it.

use std::fmt;

use super::super::credentials::AclUser;
use super::super::{LaunchError, RedisServer, RedisServerBuilder, TlsMaterial};
use super::{RedisCluster, SLOTS};

/// Configures a [`RedisCluster`] before starting it; made by [`RedisCluster::builder`].
///
/// Defaults: 3 masters, no replicas, plain TCP, no authentication.
///
/// ```no_run
/// use multidb_testkit::{RedisCluster, TlsMaterial};
///
/// # fn main() -> Result<(), multidb_testkit::LaunchError> {
/// let cluster = RedisCluster::builder()
///     .masters(3)
///     .tls(TlsMaterial::generate()?)
///     .acl_user("alice", "s3cr:t")
///     .start()?;
/// assert!(cluster.urls()[0].starts_with("rediss://alice:s3cr%3At@127.0.0.1:"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisClusterBuilder {
    masters: usize,
    replicas_per_master: usize,
    tls: Option<TlsMaterial>,
    acl_user: Option<AclUser>,
}

impl Default for RedisClusterBuilder {
    fn default() -> Self {
        Self {
            masters: 3,
            replicas_per_master: 0,
            tls: None,
            acl_user: None,
        }
    }
}

impl RedisClusterBuilder {
    /// Starts this many masters (1 to 16384), each serving an even share of the slots.
    pub fn masters(mut self, masters: usize) -> Self {
        self.masters = masters;
        self
    }

    /// Gives every master this many replicas (default 0): cluster-enabled nodes with the same
    /// TLS and ACL user as the masters, attached with `CLUSTER REPLICATE` once the masters own
    /// all slots. [`start`](Self::start) then also waits until every replica is in sync
    /// (`master_link_status:up`) and every node sees each master with its replicas.
    ///
    /// Replicas make the cluster fail over as a real one does: a master killed or paused
    /// for longer than the node timeout (2 s) is replaced by one of its replicas. A dead
    /// replica leaves the cluster serving (`cluster_state:ok`). Replicas stay with the
    /// master they were attached to (`cluster-allow-replica-migration no`), so
    /// [`RedisCluster::replicas_of`] keeps naming them.
    ///
    /// ```no_run
    /// use multidb_testkit::RedisCluster;
    ///
    /// # fn main() -> Result<(), multidb_testkit::LaunchError> {
    /// let mut cluster = RedisCluster::builder()
    ///     .masters(3)
    ///     .replicas_per_master(1)
    ///     .start()?;
    /// assert_eq!(cluster.nodes().len(), 6);
    /// assert_eq!(cluster.urls().len(), 3, "the masters' URLs");
    ///
    /// let replica = &mut cluster.replicas_of_mut(0)[0];
    /// let addr = replica.addr();
    /// replica.kill();
    /// cluster.wait_for_failed(addr)?; // the cluster noticed, and still serves
    /// # Ok(())
    /// # }
    /// ```
    pub fn replicas_per_master(mut self, replicas: usize) -> Self {
        self.replicas_per_master = replicas;
        self
    }

    /// Serves TLS only on every node, as [`RedisServerBuilder::tls`] does, the cluster bus
    /// and replication included (`tls-cluster yes`, `tls-replication yes`). The nodes then
    /// announce their TLS ports: `CLUSTER SLOTS`, `CLUSTER SHARDS` and redirections name
    /// them, and [`RedisCluster::urls`] start with `rediss://`.
    pub fn tls(mut self, material: TlsMaterial) -> Self {
        self.tls = Some(material);
        self
    }

    /// Requires the ACL user `username` with `password` on every node, as
    /// [`RedisServerBuilder::acl_user`] does (the `default` user off, replicas syncing as
    /// that user); [`RedisCluster::urls`] then carry `username:password@`.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.acl_user = Some(AclUser::new(username.into(), password.into()));
        self
    }

    /// Starts the cluster-enabled masters, assigns all 16384 slots, attaches the replicas
    /// and waits until the cluster is ready (typically 2–3 s, with replicas too).
    ///
    /// # Errors
    ///
    /// [`LaunchError::InvalidConfig`] for 0 or more than 16384 masters or a bad ACL user name,
    /// any error of [`RedisServer::start`], [`LaunchError::Command`] if wiring is refused,
    /// and [`LaunchError::ClusterNotReady`] if the cluster does not converge in time.
    pub fn start(self) -> Result<RedisCluster, LaunchError> {
        if self.masters == 0 || self.masters > SLOTS {
            return Err(LaunchError::InvalidConfig {
                field: "masters",
                value: self.masters.to_string(),
                reason: "a cluster needs 1 to 16384 masters",
            });
        }
        if let Some(user) = &self.acl_user {
            user.validate()?;
        }
        let masters = (0..self.masters)
            .map(|_| self.node().start())
            .collect::<Result<Vec<_>, _>>()?;
        let mut cluster = RedisCluster {
            nodes: masters,
            masters: self.masters,
            replicas_per_master: self.replicas_per_master,
        };
        cluster.wire()?;
        for _ in 0..self.masters.saturating_mul(self.replicas_per_master) {
            // Pushed one by one so the nodes started so far die with `cluster` on an error.
            let replica = self.node().start()?;
            cluster.nodes.push(replica);
        }
        cluster.attach_replicas()?;
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// One node, master or replica: any node may become either by a failover.
    fn node(&self) -> RedisServerBuilder {
        let mut node = RedisServer::builder().cluster_enabled(true);
        if self.replicas_per_master > 0 {
            // No diskless-sync delay: a replica syncs at once instead of after redis' 5 s.
            // A synced replica counts as available (in `CLUSTER SLOTS`, `online` in
            // `CLUSTER SHARDS`) only once its offset is not 0, which an idle master's stream
            // reaches with its first PING to replicas: every second instead of every 10 s.
            node = node
                .arg("repl-diskless-sync-delay", "0")
                .arg("repl-ping-replica-period", "1")
                .arg("cluster-allow-replica-migration", "no");
        }
        if let Some(tls) = &self.tls {
            node = node.tls(tls.clone());
        }
        if let Some(user) = &self.acl_user {
            node = node.acl_user(user.name(), user.password());
        }
        node
    }
}

impl fmt::Debug for RedisClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterBuilder")
            .field("masters", &self.masters)
            .field("replicas_per_master", &self.replicas_per_master)
            .field("tls", &self.tls.is_some())
            .field("acl_user", &self.acl_user)
            .finish()
    }
}
