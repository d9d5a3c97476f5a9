//! What one node's `CLUSTER NODES` says about the cluster, reduced to what every node must
//! agree on before the cluster counts as ready.
//!
//! The shards are keyed by the nodes' ports, not their ids or roles as started: after a
//! failover the promoted replica is a shard's master, and a restarted cluster keeps that
//! (its `nodes.conf` says so), so readiness asks only that all nodes see the same healthy
//! shape.

use super::super::control::Reply;

/// One line of `CLUSTER NODES`.
struct Line<'a> {
    id: &'a str,
    port: u16,
    flags: Vec<&'a str>,
    /// The master's id for a replica; `-` for a master.
    master: &'a str,
    connected: bool,
    slots: String,
}

fn parse(nodes: &str) -> Result<Vec<Line<'_>>, String> {
    nodes
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, addr, flags, master, _, _, _, link, slots @ ..] = fields.as_slice() else {
                return Err(format!("malformed CLUSTER NODES line: {line}"));
            };
            // `ip:port@cport[,hostname]`
            let port = addr
                .split(['@', ','])
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| format!("no port in {addr}"))?;
            Ok(Line {
                id,
                port,
                flags: flags.split(',').collect(),
                master,
                connected: *link == "connected",
                slots: slots.join(" "),
            })
        })
        .collect()
}

/// The shards one node sees: its masters' ports and slots, each with its replicas' ports.
/// Two nodes agree on the cluster when their topologies are equal.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Topology {
    /// Sorted by master port.
    shards: Vec<Shard>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shard {
    master: u16,
    slots: String,
    /// Sorted.
    replicas: Vec<u16>,
}

impl Topology {
    /// Parses `CLUSTER NODES`, refusing any node that is failing, still in handshake or
    /// disconnected, and any replica of a master the node does not know.
    pub(super) fn healthy(nodes: &str) -> Result<Self, String> {
        let lines = parse(nodes)?;
        for line in &lines {
            if let Some(bad) = line
                .flags
                .iter()
                .find(|f| matches!(**f, "fail" | "fail?" | "handshake" | "noaddr"))
            {
                return Err(format!("node {} is {bad}", line.port));
            }
            if !line.connected {
                return Err(format!("link to node {} is disconnected", line.port));
            }
        }
        let mut shards: Vec<Shard> = lines
            .iter()
            .filter(|l| l.flags.contains(&"master"))
            .map(|l| Shard {
                master: l.port,
                slots: l.slots.clone(),
                replicas: Vec::new(),
            })
            .collect();
        for replica in lines.iter().filter(|l| l.flags.contains(&"slave")) {
            let master = lines
                .iter()
                .find(|l| l.id == replica.master && l.flags.contains(&"master"))
                .ok_or_else(|| format!("node {} replicates an unknown master", replica.port))?;
            if let Some(shard) = shards.iter_mut().find(|s| s.master == master.port) {
                shard.replicas.push(replica.port);
            }
        }
        for shard in &mut shards {
            shard.replicas.sort_unstable();
        }
        shards.sort();
        Ok(Self { shards })
    }

    /// `Ok` when there are `masters` masters, each serving slots and with `replicas`
    /// replicas; else what is missing.
    pub(super) fn expect(&self, masters: usize, replicas: usize) -> Result<(), String> {
        if self.shards.len() != masters {
            return Err(format!("knows {} of {masters} masters", self.shards.len()));
        }
        for shard in &self.shards {
            if shard.slots.is_empty() {
                return Err(format!("sees master {} without slots", shard.master));
            }
            if shard.replicas.len() != replicas {
                return Err(format!(
                    "sees master {} with {} of {replicas} replicas",
                    shard.master,
                    shard.replicas.len()
                ));
            }
        }
        Ok(())
    }
}

/// `Ok` when `CLUSTER SHARDS` reports every node `online`; else the first that is not.
///
/// A replica is `loading` until its replication offset is not 0, and until then
/// `CLUSTER SLOTS` leaves it out too: a client would not know it.
pub(super) fn all_online(shards: &Reply) -> Result<(), String> {
    let malformed = || format!("malformed CLUSTER SHARDS reply: {shards:?}");
    let Reply::Array(shards) = shards else {
        return Err(malformed());
    };
    for shard in shards {
        let Some(Reply::Array(nodes)) = field(shard, "nodes") else {
            return Err(malformed());
        };
        for node in nodes {
            let health = field(node, "health").and_then(Reply::text);
            if health.as_deref() != Some("online") {
                let port = field(node, "port")
                    .or_else(|| field(node, "tls-port"))
                    .map_or_else(|| "?".to_owned(), |p| format!("{p:?}"));
                return Err(format!(
                    "shard node {port} is {}",
                    health.as_deref().unwrap_or("of unknown health")
                ));
            }
        }
    }
    Ok(())
}

/// The value of `key` in a RESP2 map: an array of alternating keys and values.
fn field<'a>(map: &'a Reply, key: &str) -> Option<&'a Reply> {
    let Reply::Array(items) = map else {
        return None;
    };
    items
        .chunks_exact(2)
        .find(|pair| pair[0].text().as_deref() == Some(key))
        .map(|pair| &pair[1])
}

/// Whether `CLUSTER NODES` flags the node on `port` as failed: `fail`, agreed by a majority
/// of masters, not a lone node's `fail?`.
pub(super) fn flags_failed(nodes: &str, port: u16) -> bool {
    parse(nodes).is_ok_and(|lines| {
        lines
            .iter()
            .any(|l| l.port == port && l.flags.contains(&"fail"))
    })
}

/// Whether `CLUSTER NODES` lists the master `id`, its handshake done: only then does
/// `CLUSTER REPLICATE id` succeed.
pub(super) fn knows_master(nodes: &str, id: &str) -> bool {
    parse(nodes).is_ok_and(|lines| {
        lines
            .iter()
            .any(|l| l.id == id && l.flags.contains(&"master") && !l.flags.contains(&"handshake"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
                     bb 127.0.0.1:7002@17002,host master - 0 1 2 connected 8192-16383\n\
                     cc 127.0.0.1:7003@17003 slave aa 0 1 1 connected\n\
                     dd 127.0.0.1:7004@17004 slave bb 0 1 2 connected\n";
    const D: &str = "dd 127.0.0.1:7004@17004 myself,slave bb 0 0 2 connected\n\
                     cc 127.0.0.1:7003@17003 slave aa 0 1 1 connected\n\
                     bb 127.0.0.1:7002@17002 master - 0 1 2 connected 8192-16383\n\
                     aa 127.0.0.1:7001@17001 master - 0 1 1 connected 0-8191\n";

    #[test]
    fn topologies_agree_whichever_node_reports_them() {
        let a = Topology::healthy(A).expect("healthy");
        assert_eq!(Ok(&a), Topology::healthy(D).as_ref());
        assert_eq!(a.expect(2, 1), Ok(()));
        assert!(a.expect(3, 1).is_err());
        assert!(a.expect(2, 0).is_err());
    }

    #[test]
    fn masters_only_have_no_replicas() {
        let masters = "aa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n";
        assert_eq!(
            Topology::healthy(masters).and_then(|t| t.expect(1, 0)),
            Ok(())
        );
    }

    #[test]
    fn a_freshly_met_node_is_a_master_without_slots() {
        let met = "aa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n\
                   ee 127.0.0.1:7005@17005 master - 0 1 0 connected\n";
        let err = Topology::healthy(met).and_then(|t| t.expect(1, 0));
        assert!(err.is_err_and(|e| e.contains("2 of 1")));
    }

    #[test]
    fn unhealthy_nodes_and_unknown_masters_are_refused() {
        for bad in [
            "aa 127.0.0.1:7001@17001 master,fail? - 0 0 1 connected 0-8191\n",
            "aa 127.0.0.1:7001@17001 master - 0 0 1 disconnected 0-8191\n",
            "aa 127.0.0.1:7001@17001 handshake - 0 0 0 connected\n",
            "cc 127.0.0.1:7003@17003 myself,slave zz 0 0 0 connected\n",
            "garbage\n",
        ] {
            assert!(Topology::healthy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_an_agreed_failure_counts_as_failed() {
        let pfail = A.replace("slave aa", "slave,fail? aa");
        let fail = A.replace("slave aa", "slave,fail aa");
        assert!(!flags_failed(A, 7003));
        assert!(!flags_failed(&pfail, 7003));
        assert!(flags_failed(&fail, 7003));
        assert!(!flags_failed(&fail, 7004));
    }

    fn shard_node(port: i64, health: &str) -> Reply {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        Reply::Array(vec![
            bulk("id"),
            bulk("aa"),
            bulk("port"),
            Reply::Integer(port),
            bulk("health"),
            bulk(health),
        ])
    }

    fn shards(nodes: Vec<Reply>) -> Reply {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        Reply::Array(vec![Reply::Array(vec![
            bulk("slots"),
            Reply::Array(vec![Reply::Integer(0), Reply::Integer(16383)]),
            bulk("nodes"),
            Reply::Array(nodes),
        ])])
    }

    #[test]
    fn a_loading_replica_is_not_online() {
        let ready = shards(vec![shard_node(7001, "online"), shard_node(7003, "online")]);
        assert_eq!(all_online(&ready), Ok(()));
        let syncing = shards(vec![
            shard_node(7001, "online"),
            shard_node(7003, "loading"),
        ]);
        assert!(all_online(&syncing).is_err_and(|e| e.contains("7003") && e.contains("loading")));
        assert!(all_online(&Reply::Nil).is_err());
    }

    #[test]
    fn a_master_is_known_once_its_handshake_is_done() {
        assert!(knows_master(D, "aa"));
        assert!(!knows_master(D, "cc"), "cc is a replica");
        assert!(!knows_master(D, "zz"));
        let shaking = "aa 127.0.0.1:7001@17001 master,handshake - 0 0 0 connected\n";
        assert!(!knows_master(shaking, "aa"));
    }
}
