//! The simulated network: see [`SimNet`].

mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;

pub use stream::SimStream;
use stream::Wire;

use crate::sync::lock;

/// Which way across a link a fault applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// What clients send to the host.
    ToHost,
    /// What the host sends back.
    FromHost,
    /// Both ways.
    Both,
}

impl Direction {
    fn ways(self) -> &'static [Way] {
        match self {
            Direction::ToHost => &[Way::ToHost],
            Direction::FromHost => &[Way::FromHost],
            Direction::Both => &[Way::ToHost, Way::FromHost],
        }
    }
}

/// One way across a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Way {
    ToHost,
    FromHost,
}

impl Way {
    fn index(self) -> usize {
        match self {
            Way::ToHost => 0,
            Way::FromHost => 1,
        }
    }

    pub(crate) fn other(self) -> Way {
        match self {
            Way::ToHost => Way::FromHost,
            Way::FromHost => Way::ToHost,
        }
    }
}

/// Everything between the clients and one host: its faults, its listener's backlog and
/// its open connections.
pub(crate) struct Link {
    pub(crate) addr: SocketAddr,
    state: Mutex<LinkState>,
    /// Wakes connects waiting out a partition.
    healed: Notify,
}

#[derive(Default)]
struct LinkState {
    held: [bool; 2],
    latency: [Duration; 2],
    /// Readers waiting for a partition to heal.
    waiting: Vec<Waker>,
    /// Connections made and not yet accepted, while the host listens.
    backlog: Option<VecDeque<(SimStream, SocketAddr)>>,
    acceptor: Option<Waker>,
    wires: Vec<Weak<Wire>>,
}

impl Link {
    /// Whether `way` is partitioned; if so, `waker` is woken when it heals.
    pub(crate) fn holds(&self, way: Way, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if !state.held[way.index()] {
            return false;
        }
        if !state.waiting.iter().any(|w| w.will_wake(waker)) {
            state.waiting.push(waker.clone());
        }
        true
    }

    pub(crate) fn latency(&self, way: Way) -> Duration {
        lock(&self.state).latency[way.index()]
    }

    fn set_held(&self, ways: &[Way], held: bool) {
        let waiting = {
            let mut state = lock(&self.state);
            for way in ways {
                state.held[way.index()] = held;
            }
            if held {
                return;
            }
            std::mem::take(&mut state.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
        self.healed.notify_waiters();
    }

    fn partitioned(&self) -> bool {
        lock(&self.state).held.iter().any(|held| *held)
    }
}

/// A simulated network of hosts (clones share it): fake servers and clients in one process, connected by in-memory
/// streams whose faults a test controls — partitions (one way or both), latency, resets —
/// on tokio time, so a paused-time runtime runs a whole failover in microseconds of real
/// time and the same seed gives the same run.
///
/// Hosts are named by socket addresses (use loopback ones, such as `127.0.10.1:6379`, so a
/// stray real connection could only ever reach this machine); a [`FakeRedis`] listens on
/// one with [`FakeRedisBuilder::network`], and a client connects with
/// [`SimNet::connect`] — for `multidb-client`, through a `Transport` that calls it.
///
/// A partition holds bytes rather than losing them, as TCP retransmits: what was written
/// arrives when the partition heals, unless the connection was given up first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> std::io::Result<()> {
/// use multidb_testkit::{Direction, FakeRedis, SimNet};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let net = SimNet::new();
/// let addr = "127.0.10.1:6379".parse().unwrap();
/// let fake = FakeRedis::builder().bind(addr).network(&net).start().await?;
/// let mut stream = net.connect(fake.addr()).await?;
/// stream.write_all(b"PING\r\n").await?;
/// let mut reply = [0; 7];
/// stream.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"+PONG\r\n");
///
/// net.partition(addr, Direction::FromHost);
/// stream.write_all(b"PING\r\n").await?;
/// let held = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut reply)).await;
/// assert!(held.is_err(), "nothing arrives across a partition");
/// net.heal_all();
/// stream.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"+PONG\r\n");
/// # Ok(()) }
/// ```
///
/// [`FakeRedis`]: crate::FakeRedis
/// [`FakeRedisBuilder::network`]: crate::FakeRedisBuilder::network
#[derive(Clone, Default)]
pub struct SimNet {
    inner: Arc<Net>,
}

#[derive(Default)]
struct Net {
    hosts: Mutex<BTreeMap<SocketAddr, Arc<Link>>>,
    next_peer: AtomicU16,
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<SocketAddr> = lock(&self.inner.hosts).keys().copied().collect();
        f.debug_struct("SimNet").field("hosts", &hosts).finish()
    }
}

impl SimNet {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn link(&self, addr: SocketAddr) -> Arc<Link> {
        let mut hosts = lock(&self.inner.hosts);
        Arc::clone(hosts.entry(addr).or_insert_with(|| {
            Arc::new(Link {
                addr,
                state: Mutex::default(),
                healed: Notify::new(),
            })
        }))
    }

    /// Listens on `addr` (port 0: the first free one from 6379 on that IP); connects to
    /// it are refused again once the listener is dropped.
    ///
    /// # Errors
    /// `AddrInUse` if something listens there already.
    pub(crate) fn listen(&self, mut addr: SocketAddr) -> io::Result<SimListener> {
        if addr.port() == 0 {
            let hosts = lock(&self.inner.hosts);
            let free = (6379..=u16::MAX).find(|port| {
                let candidate = SocketAddr::new(addr.ip(), *port);
                hosts
                    .get(&candidate)
                    .is_none_or(|link| lock(&link.state).backlog.is_none())
            });
            addr.set_port(free.ok_or_else(|| io::Error::from(io::ErrorKind::AddrInUse))?);
        }
        let link = self.link(addr);
        let mut state = lock(&link.state);
        if state.backlog.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("a simulated host listens on {addr} already"),
            ));
        }
        state.backlog = Some(VecDeque::new());
        drop(state);
        Ok(SimListener { link })
    }

    /// A connection to the host at `addr`. Waits while a partition separates it from the
    /// host (a TCP handshake cannot cross one); the caller bounds that wait.
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens at `addr`.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<SimStream> {
        let link = self.link(addr);
        loop {
            let healed = link.healed.notified();
            tokio::pin!(healed);
            healed.as_mut().enable();
            if !link.partitioned() {
                break;
            }
            healed.await;
        }
        let round_trip = link.latency(Way::ToHost) + link.latency(Way::FromHost);
        if !round_trip.is_zero() {
            tokio::time::sleep(round_trip).await;
        }
        let port = 1024 + self.inner.next_peer.fetch_add(1, Ordering::Relaxed) % 60_000;
        let peer = SocketAddr::from(([127, 0, 0, 1], port));
        let mut state = lock(&link.state);
        let Some(backlog) = state.backlog.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens on simulated {addr}"),
            ));
        };
        let wire = Wire::new(Arc::clone(&link));
        let (client, host) = SimStream::pair(&wire);
        backlog.push_back((host, peer));
        state.wires.retain(|w| w.strong_count() > 0);
        state.wires.push(Arc::downgrade(&wire));
        if let Some(acceptor) = state.acceptor.take() {
            acceptor.wake();
        }
        Ok(client)
    }

    /// Holds everything crossing the link to `host` in `direction` until [`Self::heal`].
    pub fn partition(&self, host: SocketAddr, direction: Direction) {
        self.link(host).set_held(direction.ways(), true);
    }

    /// Ends the partitions of the link to `host`; what they held is delivered.
    pub fn heal(&self, host: SocketAddr) {
        self.link(host)
            .set_held(&[Way::ToHost, Way::FromHost], false);
    }

    /// Delays everything written across the link to `host` in `direction` by `latency`
    /// (zero removes it); bytes keep their order.
    pub fn set_latency(&self, host: SocketAddr, direction: Direction, latency: Duration) {
        let link = self.link(host);
        let mut state = lock(&link.state);
        for way in direction.ways() {
            state.latency[way.index()] = latency;
        }
    }

    /// Breaks every open connection to `host`: both ends fail their next read or write.
    pub fn reset(&self, host: SocketAddr) {
        let wires: Vec<_> = {
            let link = self.link(host);
            let mut state = lock(&link.state);
            state.wires.retain(|w| w.strong_count() > 0);
            state.wires.iter().filter_map(Weak::upgrade).collect()
        };
        for wire in wires {
            wire.reset();
        }
    }

    /// Ends every partition and latency on every link.
    pub fn heal_all(&self) {
        let links: Vec<_> = lock(&self.inner.hosts).values().cloned().collect();
        for link in links {
            link.set_held(&[Way::ToHost, Way::FromHost], false);
            lock(&link.state).latency = [Duration::ZERO; 2];
        }
    }
}

/// A host listening on a [`SimNet`]; dropping it refuses new connects and drops the ones
/// not yet accepted.
pub(crate) struct SimListener {
    link: Arc<Link>,
}

impl SimListener {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.link.addr
    }

    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(SimStream, SocketAddr)>> {
        let mut state = lock(&self.link.state);
        if let Some(accepted) = state.backlog.as_mut().and_then(VecDeque::pop_front) {
            return Poll::Ready(Ok(accepted));
        }
        state.acceptor = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let backlog = {
            let mut state = lock(&self.link.state);
            state.acceptor = None;
            state.backlog.take()
        };
        // Dropped outside the lock: a stream's drop takes its own locks.
        drop(backlog);
    }
}
