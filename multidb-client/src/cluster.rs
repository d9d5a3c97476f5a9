//! Redis Cluster members (feature `cluster`).
//!
//! A member may itself be a whole Redis Cluster: redis-rs' cluster client routes each
//! command to the right node and follows `MOVED`/`ASK` itself — those are not failures. The
//! cluster connection is made on first use and made again after it could not be made, so a
//! cluster that is down at start joins when it recovers. A cluster member is healthy only
//! when its masters cover every slot and each answers `PING` at its own address
//! ([`crate::PingCheck`] does that for clusters): one master down fails the member, a
//! replica down fails nothing; a topology that cannot be read never counts as healthy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionAddr, ConnectionInfo, RedisResult, Value};

use crate::abandon::Abandon;
use crate::connector::{Connector, OwnedDrivers};
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
    /// How the seeds are reached (TLS, credentials), for connections to one node.
    node: Arc<(ConnectionInfo, MemberSpec)>,
    /// Those connections' drivers, closed with the member.
    owned: Arc<OwnedDrivers>,
    seeds: Arc<Vec<ConnectionInfo>>,
    response_timeout: Option<std::time::Duration>,
}

/// The cluster client of `seeds` with the member's timeouts, TLS and retry policy.
fn client_builder(seeds: &[ConnectionInfo], spec: &MemberSpec) -> ClusterClientBuilder {
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
    builder
}

impl LazyCluster {
    pub(crate) fn new(seeds: &[ConnectionInfo], spec: &MemberSpec) -> RedisResult<Self> {
        let builder = client_builder(seeds, spec);
        Ok(LazyCluster {
            client: Arc::new(builder.build()?),
            connection: Arc::new(ArcSwapOption::empty()),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
            closed: Arc::new(AtomicBool::new(false)),
            connection_timeout: spec.connection_timeout,
            abandon: Arc::new(Abandon::default()),
            node: Arc::new((
                seeds.first().cloned().ok_or_else(|| {
                    redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no seed"))
                })?,
                spec.clone(),
            )),
            owned: Arc::default(),
            seeds: Arc::new(seeds.to_vec()),
            response_timeout: spec.response_timeout,
        })
    }

    /// A cluster connection of its own for a subscriber: RESP3 (redis-rs' cluster Pub/Sub
    /// needs it), its pushes — messages, and a node's disconnection — sent to `pushes`.
    /// redis-rs subscribes it again on a node it reconnects to, sharded channels on the
    /// slot's new owner. Made within the connection timeout.
    pub(crate) async fn subscriber(
        &self,
        pushes: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
    ) -> RedisResult<ClusterConnection> {
        if self.closed.load(Ordering::Acquire) {
            return Err(MultiDbError::Closed.into_redis());
        }
        let (_, spec) = &*self.node;
        let client = client_builder(&self.seeds, spec)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(pushes)
            .build()?;
        crate::connector::bounded(self.connection_timeout, client.get_async_connection()).await
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

    /// `send` on the cluster connection; without a response timeout, abandoned if the
    /// member fails or closes first.
    pub(crate) async fn send<T>(
        &self,
        send: impl AsyncFnOnce(&mut ClusterConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let command = async {
            let mut con = self.connection().await?;
            send(&mut con).await
        };
        // With a response timeout (redis-rs applies it) the command ends within it anyway.
        if self.response_timeout.is_some() {
            command.await
        } else {
            self.abandon.run(command).await
        }
    }

    /// How to connect to the master that owns `key`'s slot now, as the cluster says:
    /// the seeds' TLS and credentials, at the address the master announces.
    pub(crate) async fn master_of(&self, key: &[u8]) -> RedisResult<Connector> {
        let slot: i64 = self
            .send(async |c| {
                redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(key)
                    .query_async(c)
                    .await
            })
            .await?;
        let slots: Value = self
            .send(async |c| redis::cmd("CLUSTER").arg("SLOTS").query_async(c).await)
            .await?;
        let (host, port) = slot_owner(&slots, slot).ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "CLUSTER SLOTS names no master with an address for the slot",
                slot.to_string(),
            ))
        })?;
        let (seed, spec) = &*self.node;
        let addr = match seed.addr() {
            #[cfg(feature = "tls")]
            ConnectionAddr::TcpTls { .. } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        Connector::fixed(&seed.clone().set_addr(addr), spec)
            .map(|connector| connector.sharing(self.owned.clone()))
            .map_err(MultiDbError::into_redis)
    }

    /// The member failed: commands in flight end now, and the next use makes a new
    /// connection (a fresh slot map and node connections).
    pub(crate) fn reset(&self) {
        self.connection.store(None);
        self.abandon.now();
    }

    /// Forgets the connection and makes no other: its node connections close when the
    /// commands in flight, abandoned now, let go of their clones; pinned connections to
    /// single nodes close now.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.owned.close_all();
        self.reset();
    }

    /// `PING` to every master the cluster's slot map names, each at its own address;
    /// healthy only if the masters cover every slot and all answer. A master redis-rs
    /// has no connection to (it died) fails the check at once, whatever the survivors
    /// say of the cluster; replicas are not asked, so a dead replica fails nothing.
    pub(crate) async fn ping_all_masters(&self) -> RedisResult<Value> {
        self.send(async |c| {
            let slots: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(c).await?;
            let ranges = slot_ranges(&slots);
            let covered: i64 = ranges.iter().map(|r| r.end - r.start + 1).sum();
            if covered != SLOTS {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "the cluster's masters do not cover every slot",
                    format!("{covered} of {SLOTS} covered"),
                )));
            }
            let mut masters: Vec<(&str, u16)> =
                ranges.iter().map(|r| (r.host.as_str(), r.port)).collect();
            masters.sort_unstable();
            masters.dedup();
            let pings = masters.into_iter().map(|(host, port)| {
                let mut c = c.clone();
                async move {
                    let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                        host: host.to_owned(),
                        port,
                    });
                    c.route_command(redis::cmd("PING"), to).await.map_err(|e| {
                        redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "a master of the cluster did not answer",
                            format!("{host}:{port}: {e}"),
                        ))
                    })
                }
            });
            futures_util::future::try_join_all(pings).await?;
            Ok(Value::SimpleString("PONG".to_owned()))
        })
        .await
    }
}

/// The slots of a Redis Cluster.
const SLOTS: i64 = 16_384;

/// One range of `CLUSTER SLOTS`: its slots and its master's address.
struct SlotRange {
    start: i64,
    end: i64,
    host: String,
    port: u16,
}

/// The ranges of `CLUSTER SLOTS` whose master has an address; others are left out.
fn slot_ranges(slots: &Value) -> Vec<SlotRange> {
    let Value::Array(ranges) = slots else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|range| {
            let Value::Array(parts) = range else {
                return None;
            };
            let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                return None;
            };
            let host = match master.first()? {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Some(Value::Int(port)) = master.get(1) else {
                return None;
            };
            // An empty host means "the node you asked": not an address to dial.
            (!host.is_empty() && start <= end).then_some(())?;
            Some(SlotRange {
                start: *start,
                end: *end,
                host,
                port: u16::try_from(*port).ok()?,
            })
        })
        .collect()
}

/// The master `(host, port)` that `CLUSTER SLOTS` gives for `slot`.
fn slot_owner(slots: &Value, slot: i64) -> Option<(String, u16)> {
    slot_ranges(slots)
        .into_iter()
        .find(|r| (r.start..=r.end).contains(&slot))
        .map(|r| (r.host, r.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slot_owner_reads_the_master_of_the_range_holding_the_slot() {
        let slots = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk("10.0.0.1"), Value::Int(7000), bulk("id1")]),
                Value::Array(vec![bulk("10.0.0.4"), Value::Int(7003), bulk("id4")]),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                Value::Array(vec![bulk("10.0.0.2"), Value::Int(7001), bulk("id2")]),
            ]),
        ]);
        assert_eq!(slot_owner(&slots, 0), Some(("10.0.0.1".into(), 7000)));
        assert_eq!(slot_owner(&slots, 5461), Some(("10.0.0.2".into(), 7001)));
        assert_eq!(slot_owner(&slots, 16384), None);
        assert_eq!(slot_owner(&Value::Nil, 1), None);
        let no_host = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16383),
            Value::Array(vec![bulk(""), Value::Int(7000)]),
        ])]);
        assert_eq!(slot_owner(&no_host, 1), None);
        let bad_port = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16383),
            Value::Array(vec![bulk("h"), Value::Int(70000)]),
        ])]);
        assert_eq!(slot_owner(&bad_port, 1), None);
    }
}
