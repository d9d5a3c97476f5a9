//! A real Redis Cluster of N masters, wired without `redis-cli`, optionally TLS-only (the
//! cluster bus too) and requiring an ACL user.

use std::fmt;
use std::ops::ControlFlow;
use std::time::Duration;

use super::credentials::AclUser;
use super::poll::poll_until;
use super::{LaunchError, RedisServer, TlsMaterial};

const SLOTS: usize = 16_384;
/// How long the cluster may take to converge; a restarted master alone waits 2 s
/// (redis' `CLUSTER_WRITABLE_DELAY`) before it reports `cluster_state:ok`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// A Redis Cluster of real `redis-server` masters (no replicas) on free loopback ports.
///
/// Slots are split evenly with `CLUSTER ADDSLOTSRANGE`, the nodes introduced with
/// `CLUSTER MEET`, and `start` returns once every node reports `cluster_state:ok` and all
/// nodes agree on one slot map. Each node keeps its `nodes.conf` in its temp dir, so
/// [`restart_all`](Self::restart_all) brings the same cluster back. Dropping it kills every
/// node. Blocking, like [`RedisServer`].
///
/// ```no_run
/// use multidb_testkit::RedisCluster;
///
/// # fn main() -> Result<(), multidb_testkit::LaunchError> {
/// let cluster = RedisCluster::start(3)?;
/// let client = redis::cluster::ClusterClient::new(cluster.urls()).expect("client");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// Configures a [`RedisCluster`] before starting it; made by [`RedisCluster::builder`].
///
/// Defaults: 3 masters, plain TCP, no authentication.
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
    tls: Option<TlsMaterial>,
    acl_user: Option<AclUser>,
}

impl Default for RedisClusterBuilder {
    fn default() -> Self {
        Self {
            masters: 3,
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

    /// Serves TLS only on every node, as [`RedisServerBuilder::tls`](super::RedisServerBuilder::tls)
    /// does, the cluster bus included (`tls-cluster yes`). The nodes then announce their TLS
    /// ports: `CLUSTER SLOTS`, `CLUSTER SHARDS` and redirections name them, and
    /// [`RedisCluster::urls`] start with `rediss://`.
    pub fn tls(mut self, material: TlsMaterial) -> Self {
        self.tls = Some(material);
        self
    }

    /// Requires the ACL user `username` with `password` on every node, as
    /// [`RedisServerBuilder::acl_user`](super::RedisServerBuilder::acl_user) does (the
    /// `default` user off); [`RedisCluster::urls`] then carry `username:password@`.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.acl_user = Some(AclUser::new(username.into(), password.into()));
        self
    }

    /// Starts the cluster-enabled nodes, assigns all 16384 slots and waits until the
    /// cluster is ready (typically 2–3 s).
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
        let nodes = (0..self.masters)
            .map(|_| {
                let mut node = RedisServer::builder().cluster_enabled(true);
                if let Some(tls) = &self.tls {
                    node = node.tls(tls.clone());
                }
                if let Some(user) = &self.acl_user {
                    node = node.acl_user(user.name(), user.password());
                }
                node.start()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = RedisCluster { nodes };
        cluster.wire()?;
        cluster.wait_ready()?;
        Ok(cluster)
    }
}

impl fmt::Debug for RedisClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterBuilder")
            .field("masters", &self.masters)
            .field("tls", &self.tls.is_some())
            .field("acl_user", &self.acl_user)
            .finish()
    }
}

impl RedisCluster {
    /// Starts a plain-TCP cluster of `masters` nodes without authentication: the same as
    /// `RedisCluster::builder().masters(masters).start()`.
    ///
    /// # Errors
    ///
    /// As [`RedisClusterBuilder::start`].
    pub fn start(masters: usize) -> Result<RedisCluster, LaunchError> {
        Self::builder().masters(masters).start()
    }

    /// A builder for the number of masters, TLS or an ACL user.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// Gives each node its slot range and a distinct config epoch (as `redis-cli --cluster
    /// create` does, sparing the epoch-collision rounds), then has the first node meet the rest.
    fn wire(&self) -> Result<(), LaunchError> {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            let (low, high) = slot_range(i, n);
            node.call(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
            node.call(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &low.to_string(),
                &high.to_string(),
            ])?;
        }
        let (first, rest) = self.nodes.split_first().ok_or(LaunchError::InvalidConfig {
            field: "masters",
            value: "0".to_owned(),
            reason: "a cluster needs 1 to 16384 masters",
        })?;
        for node in rest {
            // Every node here was built with cluster mode, which always leases a bus port.
            let bus = node.bus_port().unwrap_or(node.port());
            first.call(&[
                "CLUSTER",
                "MEET",
                "127.0.0.1",
                &node.port().to_string(),
                &bus.to_string(),
            ])?;
        }
        Ok(())
    }

    fn wait_ready(&self) -> Result<(), LaunchError> {
        let mut detail = String::new();
        poll_until(READY_TIMEOUT, POLL, || match self.check() {
            Ok(()) => ControlFlow::Break(()),
            Err(why) => {
                detail = why;
                ControlFlow::Continue(())
            }
        })
        .map_err(|waited| LaunchError::ClusterNotReady {
            masters: self.nodes.len(),
            waited,
            detail,
        })
    }

    /// `Ok` when every node says `cluster_state:ok` and sees the same healthy slot map.
    fn check(&self) -> Result<(), String> {
        let mut agreed: Option<Vec<(u16, String)>> = None;
        for node in &self.nodes {
            let text = |args: &[&str]| {
                node.call(args)
                    .map(|reply| reply.text().unwrap_or_default())
                    .map_err(|e| e.to_string())
            };
            if !text(&["CLUSTER", "INFO"])?.contains("cluster_state:ok") {
                return Err(format!("node {} reports cluster_state not ok", node.port()));
            }
            let view = slot_map(&text(&["CLUSTER", "NODES"])?)
                .map_err(|e| format!("node {}: {e}", node.port()))?;
            if view.len() != self.nodes.len() {
                return Err(format!(
                    "node {} knows {} of {} masters",
                    node.port(),
                    view.len(),
                    self.nodes.len()
                ));
            }
            match &agreed {
                Some(first) if *first != view => {
                    return Err(format!("node {} sees another slot map", node.port()));
                }
                Some(_) => {}
                None => agreed = Some(view),
            }
        }
        Ok(())
    }

    /// The nodes, in the order of their slot ranges.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, to kill, pause or restart one.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Every node's URL, e.g. for `redis::cluster::ClusterClient::new`: `rediss://` for a
    /// TLS cluster, with `USER:PASSWORD@` (percent-encoded) for an ACL user, as
    /// [`RedisServer::url`]. The URLs then **contain the secret**: do not log them.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Kills every node (`SIGKILL`); their ports and `nodes.conf` stay for `restart_all`.
    pub fn kill_all(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::kill);
    }

    /// Restarts every node on its port (killing running ones first) and waits until the
    /// cluster is ready again. Data is gone; slot assignment and node identities persist.
    ///
    /// # Errors
    ///
    /// Any error of [`RedisServer::restart`], and [`LaunchError::ClusterNotReady`] if the
    /// cluster does not converge in time.
    pub fn restart_all(&mut self) -> Result<(), LaunchError> {
        self.kill_all();
        for node in &mut self.nodes {
            node.restart()?;
        }
        self.wait_ready()
    }
}

/// The `i`-th of `n` even, contiguous slot ranges (inclusive).
fn slot_range(i: usize, n: usize) -> (usize, usize) {
    (i * SLOTS / n, (i + 1) * SLOTS / n - 1)
}

/// Parses `CLUSTER NODES` into sorted `(port, slots)` of its masters, refusing any node that
/// is failing, still in handshake or disconnected.
fn slot_map(nodes: &str) -> Result<Vec<(u16, String)>, String> {
    let mut map = Vec::new();
    for line in nodes.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, addr, flags, _, _, _, _, link, slots @ ..] = fields.as_slice() else {
            return Err(format!("malformed CLUSTER NODES line: {line}"));
        };
        let port = addr
            .split(['@', ','])
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("no port in {addr}"))?;
        let flags: Vec<&str> = flags.split(',').collect();
        if let Some(bad) = flags
            .iter()
            .find(|f| matches!(**f, "fail" | "fail?" | "handshake" | "noaddr"))
        {
            return Err(format!("node {port} is {bad}"));
        }
        if *link != "connected" {
            return Err(format!("link to node {port} is {link}"));
        }
        if flags.contains(&"master") {
            map.push((port, slots.join(" ")));
        }
    }
    map.sort();
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_cover_every_slot_once() {
        for n in [1, 2, 3, 5, 7] {
            let mut next = 0;
            for i in 0..n {
                let (low, high) = slot_range(i, n);
                assert_eq!(low, next);
                assert!(high >= low);
                next = high + 1;
            }
            assert_eq!(next, SLOTS);
        }
    }

    #[test]
    fn slot_map_ignores_myself_flag_and_rejects_unhealthy_nodes() {
        let a = "aa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
                 bb 127.0.0.1:7002@17002,host master - 0 1 2 connected 8192-16383\n";
        let b = "bb 127.0.0.1:7002@17002 myself,master - 0 0 2 connected 8192-16383\n\
                 aa 127.0.0.1:7001@17001 master - 0 1 1 connected 0-8191\n";
        assert_eq!(slot_map(a), slot_map(b));
        assert_eq!(slot_map(a).map(|m| m.len()), Ok(2));
        let failing = "aa 127.0.0.1:7001@17001 master,fail? - 0 0 1 connected 0-8191\n";
        assert!(slot_map(failing).is_err());
        let down = "aa 127.0.0.1:7001@17001 master - 0 0 1 disconnected 0-8191\n";
        assert!(slot_map(down).is_err());
        assert!(slot_map("garbage\n").is_err());
    }
}
