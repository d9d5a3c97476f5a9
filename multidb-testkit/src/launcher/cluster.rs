//! A real Redis Cluster of N masters, each optionally with replicas, wired without
//! `redis-cli`, optionally TLS-only (the cluster bus and replication too) and requiring an
//! ACL user.
//!
//! Readiness is what a client would see: every node says `cluster_state:ok`, every replica
//! is in sync, and all nodes report the same masters, slots and replicas. Until then a
//! client's view of the cluster depends on which node it asks, and a test would race the
//! cluster's own gossip.

use std::net::SocketAddr;
use std::ops::{ControlFlow, Range};
use std::time::Duration;

use super::poll::poll_until;
use super::{LaunchError, RedisServer};

mod builder;
mod topology;

pub use builder::RedisClusterBuilder;
use topology::{Topology, all_online, flags_failed, knows_master};

const SLOTS: usize = 16_384;
/// How long the cluster may take to converge; a restarted master alone waits 2 s
/// (redis' `CLUSTER_WRITABLE_DELAY`) before it reports `cluster_state:ok`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// A Redis Cluster of real `redis-server` masters, each with
/// [`replicas_per_master`](RedisClusterBuilder::replicas_per_master) replicas (none by
/// default), on free loopback ports.
///
/// Slots are split evenly with `CLUSTER ADDSLOTSRANGE`, the nodes introduced with
/// `CLUSTER MEET`, replicas attached with `CLUSTER REPLICATE`, and `start` returns once
/// every node reports `cluster_state:ok`, every replica `master_link_status:up`, and all
/// nodes agree on the masters, their slots and their replicas. Each node keeps its
/// `nodes.conf` in its temp dir, so [`restart_all`](Self::restart_all) brings the same
/// cluster back. Dropping it kills every node. Blocking, like [`RedisServer`].
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
    /// The masters in the order of their slot ranges, then the replicas of master 0, of
    /// master 1, and so on.
    nodes: Vec<RedisServer>,
    masters: usize,
    replicas_per_master: usize,
}

impl RedisCluster {
    /// Starts a plain-TCP cluster of `masters` nodes without replicas or authentication: the
    /// same as `RedisCluster::builder().masters(masters).start()`.
    ///
    /// # Errors
    ///
    /// As [`RedisClusterBuilder::start`].
    pub fn start(masters: usize) -> Result<RedisCluster, LaunchError> {
        Self::builder().masters(masters).start()
    }

    /// A builder for the number of masters and replicas, TLS or an ACL user.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// Gives each master its slot range and a distinct config epoch (as `redis-cli --cluster
    /// create` does, sparing the epoch-collision rounds), then has the first master meet the
    /// rest.
    fn wire(&self) -> Result<(), LaunchError> {
        let masters = self.masters();
        for (i, node) in masters.iter().enumerate() {
            let (low, high) = slot_range(i, masters.len());
            node.call(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
            node.call(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &low.to_string(),
                &high.to_string(),
            ])?;
        }
        let (first, rest) = masters.split_first().ok_or(LaunchError::InvalidConfig {
            field: "masters",
            value: "0".to_owned(),
            reason: "a cluster needs 1 to 16384 masters",
        })?;
        for node in rest {
            meet(first, node)?;
        }
        Ok(())
    }

    /// Has each replica meet its master and, once it knows the master's id, replicate it.
    /// Gossip tells every node of the rest.
    fn attach_replicas(&self) -> Result<(), LaunchError> {
        for (i, master) in self.masters().iter().enumerate() {
            let id = master
                .call(&["CLUSTER", "MYID"])?
                .text()
                .unwrap_or_default();
            for replica in self.replicas_of(i) {
                meet(replica, master)?;
                self.poll(|| {
                    if knows_master(&cluster_nodes(replica)?, &id) {
                        Ok(())
                    } else {
                        Err(format!(
                            "replica {} does not know master {} yet",
                            replica.port(),
                            master.port()
                        ))
                    }
                })?;
                replica.call(&["CLUSTER", "REPLICATE", &id])?;
            }
        }
        Ok(())
    }

    fn wait_ready(&self) -> Result<(), LaunchError> {
        self.poll(|| self.check())
    }

    /// Polls `check` until it is `Ok`, for at most [`READY_TIMEOUT`]; the last `Err` is the
    /// detail of [`LaunchError::ClusterNotReady`].
    fn poll(&self, mut check: impl FnMut() -> Result<(), String>) -> Result<(), LaunchError> {
        let mut detail = String::new();
        poll_until(READY_TIMEOUT, POLL, || match check() {
            Ok(()) => ControlFlow::Break(()),
            Err(why) => {
                detail = why;
                ControlFlow::Continue(())
            }
        })
        .map_err(|waited| LaunchError::ClusterNotReady {
            masters: self.masters,
            waited,
            detail,
        })
    }

    /// `Ok` when every node says `cluster_state:ok`, every replica is in sync, and all nodes
    /// see the same healthy masters, slots and replicas, every node `online` (in `CLUSTER
    /// SHARDS`, so `CLUSTER SLOTS` lists the replicas too). Which node serves as a shard's
    /// master does not matter: after a failover it is the promoted replica.
    fn check(&self) -> Result<(), String> {
        let mut agreed: Option<Topology> = None;
        for node in &self.nodes {
            if !text(node, &["CLUSTER", "INFO"])?.contains("cluster_state:ok") {
                return Err(format!("node {} reports cluster_state not ok", node.port()));
            }
            let view = Topology::healthy(&cluster_nodes(node)?)
                .and_then(|view| {
                    view.expect(self.masters, self.replicas_per_master)?;
                    Ok(view)
                })
                .map_err(|e| format!("node {}: {e}", node.port()))?;
            match &agreed {
                Some(first) if *first != view => {
                    return Err(format!("node {} sees another topology", node.port()));
                }
                Some(_) => {}
                None => agreed = Some(view),
            }
            if self.replicas_per_master > 0 {
                let replication = text(node, &["INFO", "replication"])?;
                if replication.contains("role:slave")
                    && !replication.contains("master_link_status:up")
                {
                    return Err(format!("replica {} is not in sync", node.port()));
                }
                let shards = node
                    .call(&["CLUSTER", "SHARDS"])
                    .map_err(|e| e.to_string())?;
                all_online(&shards).map_err(|e| format!("node {}: {e}", node.port()))?;
            }
        }
        Ok(())
    }

    /// Every node: the masters first, in the order of their slot ranges (as
    /// [`masters`](Self::masters)), then the replicas (as [`replicas`](Self::replicas)).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node, in the order of [`nodes`](Self::nodes), to kill, pause or restart one.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// The nodes started as masters, in the order of their slot ranges: master `i` serves
    /// the `i`-th even share of the slots. After a failover one of them may be a replica
    /// now; the cluster's roles are what `CLUSTER NODES` says.
    pub fn masters(&self) -> &[RedisServer] {
        &self.nodes[..self.masters]
    }

    /// The nodes started as masters, to kill, pause or restart one.
    pub fn masters_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes[..self.masters]
    }

    /// The nodes started as replicas, grouped by master: those of master 0 first (as
    /// [`replicas_of`](Self::replicas_of)`(0)`), then those of master 1, and so on. Empty
    /// without [`replicas_per_master`](RedisClusterBuilder::replicas_per_master).
    pub fn replicas(&self) -> &[RedisServer] {
        &self.nodes[self.masters..]
    }

    /// The nodes started as replicas, to kill, pause or restart one.
    pub fn replicas_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes[self.masters..]
    }

    /// The replicas attached to master `master` (an index into [`masters`](Self::masters)).
    ///
    /// # Panics
    ///
    /// If `master` is not below the number of masters.
    pub fn replicas_of(&self, master: usize) -> &[RedisServer] {
        &self.nodes[self.replica_range(master)]
    }

    /// The replicas attached to master `master`, to kill, pause or restart one.
    ///
    /// # Panics
    ///
    /// If `master` is not below the number of masters.
    pub fn replicas_of_mut(&mut self, master: usize) -> &mut [RedisServer] {
        let range = self.replica_range(master);
        &mut self.nodes[range]
    }

    fn replica_range(&self, master: usize) -> Range<usize> {
        assert!(
            master < self.masters,
            "master {master} of a cluster of {} masters",
            self.masters
        );
        let first = self.masters + master * self.replicas_per_master;
        first..first + self.replicas_per_master
    }

    /// The masters' URLs, in the order of [`masters`](Self::masters), e.g. for
    /// `redis::cluster::ClusterClient::new` (a cluster client learns the replicas from the
    /// cluster): `rediss://` for a TLS cluster, with `USER:PASSWORD@` (percent-encoded) for
    /// an ACL user, as [`RedisServer::url`]. The URLs then **contain the secret**: do not
    /// log them.
    pub fn urls(&self) -> Vec<String> {
        self.masters().iter().map(RedisServer::url).collect()
    }

    /// Waits until every other running node flags the node at `addr` as failed (`fail` in
    /// `CLUSTER NODES`, agreed by a majority of masters), for at most 20 s. A killed node is
    /// flagged after the node timeout (2 s) and a round of gossip; a test that killed a
    /// replica can then check the cluster still serves without racing that detection.
    ///
    /// # Errors
    ///
    /// [`LaunchError::ClusterNotReady`] if some node does not flag it in time.
    pub fn wait_for_failed(&self, addr: SocketAddr) -> Result<(), LaunchError> {
        let port = addr.port();
        self.poll(|| {
            let others = self.nodes.iter().filter(|n| n.port() != port);
            for node in others.filter(|n| n.is_running()) {
                if !flags_failed(&cluster_nodes(node)?, port) {
                    return Err(format!("node {} does not flag {port} fail", node.port()));
                }
            }
            Ok(())
        })
    }

    /// Kills every node, replicas included (`SIGKILL`); their ports and `nodes.conf` stay
    /// for `restart_all`.
    pub fn kill_all(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::kill);
    }

    /// Restarts every node on its port (killing running ones first), masters first, and
    /// waits until the cluster is ready again, its replicas in sync, as
    /// [`RedisClusterBuilder::start`] does. Data is gone; slot assignment, roles and node
    /// identities persist (after a failover, the promoted replica stays master).
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

/// Has `node` meet `other` over `other`'s cluster bus.
fn meet(node: &RedisServer, other: &RedisServer) -> Result<(), LaunchError> {
    // Every node here was built with cluster mode, which always leases a bus port.
    let bus = other.bus_port().unwrap_or(other.port());
    node.call(&[
        "CLUSTER",
        "MEET",
        "127.0.0.1",
        &other.port().to_string(),
        &bus.to_string(),
    ])?;
    Ok(())
}

/// The text reply of `args` on `node`; an error as text, for a poll's detail.
fn text(node: &RedisServer, args: &[&str]) -> Result<String, String> {
    node.call(args)
        .map(|reply| reply.text().unwrap_or_default())
        .map_err(|e| e.to_string())
}

fn cluster_nodes(node: &RedisServer) -> Result<String, String> {
    text(node, &["CLUSTER", "NODES"])
}

/// The `i`-th of `n` even, contiguous slot ranges (inclusive).
fn slot_range(i: usize, n: usize) -> (usize, usize) {
    (i * SLOTS / n, (i + 1) * SLOTS / n - 1)
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
}
