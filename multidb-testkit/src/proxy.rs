//! A fault-injecting TCP proxy, for servers the testkit cannot fake (a real `redis-server`,
//! a cluster node) or for network faults between a client and any server.
//!
//! Every accepted connection gets its own upstream connection and two pumps that copy
//! bytes; faults are read per chunk, so injecting or recovering takes effect on the next
//! chunk of every open connection.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::fake::listener::ListenerSlot;
use crate::fake::lock;

/// A failure mode of a [`FaultProxy`]. Several kinds can be active at once; injecting a kind
/// again replaces it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum ProxyFault {
    /// The listener is closed, so connecting fails with "connection refused". Open
    /// connections are left alone (add [`FaultProxy::drop_connections`] for a full outage).
    Refuse,
    /// Bytes in both directions are read and discarded; sockets stay open.
    Blackhole,
    /// Bytes from the server are read and discarded, requests still pass: a one-way
    /// blackhole (the server runs every command, the client hears nothing).
    BlackholeReplies,
    /// Every chunk from the server to the client is delayed by `fixed` plus a random part
    /// up to `jitter` (requests pass at once, so a round trip grows by about `fixed`).
    Latency {
        /// Delay added to every server-to-client chunk.
        fixed: Duration,
        /// Upper bound of a uniformly random extra delay.
        jitter: Duration,
    },
    /// Each direction is throttled to about this many bytes per second.
    Bandwidth {
        /// Throughput per direction; `0` stops traffic like a blackhole that keeps data.
        bytes_per_sec: u64,
    },
    /// New connections are accepted and closed at once.
    ResetOnAccept,
}

#[derive(Debug, Default)]
struct Connections {
    next_id: u64,
    kills: HashMap<u64, watch::Sender<bool>>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    listener: ListenerSlot,
    faults: Mutex<Vec<ProxyFault>>,
    connections: Mutex<Connections>,
}

impl Shared {
    fn faults(&self) -> Vec<ProxyFault> {
        lock(&self.faults).clone()
    }

    fn stop(&self) {
        self.listener.shut_down();
        let mut connections = lock(&self.connections);
        connections.closed = true;
        for (_, kill) in connections.kills.drain() {
            kill.send_replace(true);
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// A TCP proxy on a loopback port in front of `upstream`, with injectable network faults.
///
/// Clones share the proxy; it stops on [`FaultProxy::shutdown`] or when the last handle is
/// dropped.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use multidb_testkit::{FakeRedis, FaultProxy, ProxyFault};
///
/// let server = FakeRedis::start().await?;
/// let proxy = FaultProxy::start(server.addr()).await?;
/// proxy.inject(ProxyFault::Refuse);
/// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err());
/// proxy.recover();
/// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Handle>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        f.debug_struct("FaultProxy")
            .field("addr", &shared.listener.addr())
            .field("upstream", &shared.upstream)
            .field("faults", &shared.faults())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` on a free port, forwarding to `upstream`.
    ///
    /// # Errors
    ///
    /// Fails if no port can be bound, or if called outside a tokio runtime.
    #[allow(
        clippy::unused_async,
        reason = "async in the API so setup may await later"
    )]
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = ListenerSlot::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let shared = Arc::new(Shared {
            upstream,
            listener,
            faults: Mutex::default(),
            connections: Mutex::default(),
        });
        let (done_tx, done_rx) = mpsc::channel(1);
        tokio::spawn(accept_loop(Arc::clone(&shared), done_tx));
        Ok(FaultProxy {
            inner: Arc::new(Handle {
                shared,
                done: tokio::sync::Mutex::new(done_rx),
            }),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.listener.addr()
    }

    /// `redis://ADDR` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Activates `fault` at once, replacing an active fault of the same kind.
    pub fn inject(&self, fault: ProxyFault) {
        let shared = &self.inner.shared;
        tracing::debug!(proxy = %shared.listener.addr(), fault = ?fault, "fault proxy fault injected");
        let refuse = fault == ProxyFault::Refuse;
        {
            let mut faults = lock(&shared.faults);
            faults.retain(|f| std::mem::discriminant(f) != std::mem::discriminant(&fault));
            faults.push(fault);
        }
        if refuse {
            shared.listener.close();
        }
    }

    /// Clears every fault and reopens the listener (same port) after [`ProxyFault::Refuse`].
    pub fn recover(&self) {
        let shared = &self.inner.shared;
        lock(&shared.faults).clear();
        if let Err(error) = shared.listener.reopen() {
            tracing::warn!(proxy = %shared.listener.addr(), %error, "fault proxy could not reopen its port");
        }
    }

    /// Closes both sides of every current connection.
    pub fn drop_connections(&self) {
        for (_, kill) in lock(&self.inner.shared.connections).kills.drain() {
            kill.send_replace(true);
        }
    }

    /// Client connections proxied now.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.shared.connections).kills.len()
    }

    /// Stops listening, closes every connection and waits for all proxy tasks to end.
    /// Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shared.stop();
        let mut done = self.inner.done.lock().await;
        while done.recv().await.is_some() {}
    }
}

async fn accept_loop(shared: Arc<Shared>, done: mpsc::Sender<()>) {
    while let Some(accepted) = shared.listener.accept().await {
        let client = match accepted {
            Ok((client, _peer)) => client,
            Err(error) => {
                tracing::warn!(%error, "fault proxy accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared
            .faults()
            .iter()
            .any(|f| matches!(f, ProxyFault::ResetOnAccept | ProxyFault::Refuse))
        {
            continue;
        }
        let (kill_tx, kill_rx) = watch::channel(false);
        let id = {
            let mut connections = lock(&shared.connections);
            if connections.closed {
                break;
            }
            connections.next_id += 1;
            let id = connections.next_id;
            connections.kills.insert(id, kill_tx);
            id
        };
        tokio::spawn(proxy_connection(
            Arc::clone(&shared),
            client,
            id,
            kill_rx,
            done.clone(),
        ));
    }
}

async fn proxy_connection(
    shared: Arc<Shared>,
    client: TcpStream,
    id: u64,
    mut kill: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let upstream = tokio::select! {
        biased;
        _ = kill.wait_for(|killed| *killed) => None,
        upstream = TcpStream::connect(shared.upstream) => upstream.ok(),
    };
    if let Some(upstream) = upstream {
        let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        // Either side closing ends the whole connection, like a reset.
        tokio::select! {
            biased;
            _ = kill.wait_for(|killed| *killed) => {}
            () = pump(&shared, client_read, upstream_write, false) => {}
            () = pump(&shared, upstream_read, client_write, true) => {}
        }
    }
    lock(&shared.connections).kills.remove(&id);
}

/// Copies `from` to `to` chunk by chunk, applying the faults active for each chunk.
async fn pump(
    shared: &Shared,
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    to_client: bool,
) {
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let faults = shared.faults();
        if faults.contains(&ProxyFault::Blackhole)
            || (to_client && faults.contains(&ProxyFault::BlackholeReplies))
        {
            continue;
        }
        for fault in &faults {
            match fault {
                ProxyFault::Latency { fixed, jitter } if to_client => {
                    tokio::time::sleep(crate::fake::jittered(*fixed, *jitter)).await;
                }
                ProxyFault::Bandwidth { bytes_per_sec } => {
                    let Some(per_byte) = Duration::from_secs(1)
                        .checked_div(u32::try_from(*bytes_per_sec).unwrap_or(u32::MAX))
                    else {
                        // Zero bandwidth: hold the data until the connection is dropped.
                        std::future::pending::<()>().await;
                        return;
                    };
                    tokio::time::sleep(
                        per_byte.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)),
                    )
                    .await;
                }
                _ => {}
            }
        }
        if to.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}
