//! A listening socket that can be closed and reopened on the same address from synchronous
//! code, so `inject(Fault::Down)` refuses the very next connect — over TCP or over a
//! [`SimNet`](crate::SimNet).
//!
//! The accept task never owns the listener: it polls it through the mutex, so closing is a
//! plain drop under the lock, effective before `inject` returns.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;

use super::lock;
use crate::sim::{SimListener, SimNet};

/// What accepts connections: a TCP listener or a simulated one.
pub(crate) trait Acceptor: Send + Sized + 'static {
    type Stream;
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
}

impl Acceptor for TcpListener {
    type Stream = TcpStream;
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        TcpListener::poll_accept(self, cx)
    }
}

/// A connection's byte stream, whichever network it came over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A fake server's listener: TCP, or a host on a simulated network.
pub(crate) enum Incoming {
    Tcp(TcpListener),
    Sim(SimListener),
}

impl Acceptor for Incoming {
    type Stream = Box<dyn Io>;
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Box<dyn Io>, SocketAddr)>> {
        match self {
            Incoming::Tcp(tcp) => tcp.poll_accept(cx).map_ok(|(stream, peer)| {
                let _ = stream.set_nodelay(true);
                (Box::new(stream) as Box<dyn Io>, peer)
            }),
            Incoming::Sim(sim) => sim
                .poll_accept(cx)
                .map_ok(|(stream, peer)| (Box::new(stream) as Box<dyn Io>, peer)),
        }
    }
}

#[derive(Debug)]
struct Slot<A> {
    listener: Option<A>,
    waker: Option<Waker>,
    shut_down: bool,
}

/// How a closed listener opens again on its address.
type Reopen<A> = Box<dyn Fn() -> io::Result<A> + Send + Sync>;

pub(crate) struct ListenerSlot<A = TcpListener> {
    slot: Mutex<Slot<A>>,
    addr: SocketAddr,
    reopen: Reopen<A>,
}

impl<A> std::fmt::Debug for ListenerSlot<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSlot")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ListenerSlot<TcpListener> {
    /// Binds `addr` (port 0 picks a free one) in the current runtime.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::bind_tcp(addr, |listener| listener)
    }
}

impl ListenerSlot<Incoming> {
    /// A fake server's listener on `addr`: TCP, or `net`'s host at `addr`.
    pub(crate) fn incoming(addr: SocketAddr, net: Option<&SimNet>) -> io::Result<Self> {
        let Some(net) = net else {
            return ListenerSlot::bind_tcp(addr, Incoming::Tcp);
        };
        let listener = net.listen(addr)?;
        let addr = listener.addr();
        let net = net.clone();
        Ok(ListenerSlot::new(
            Incoming::Sim(listener),
            addr,
            Box::new(move || net.listen(addr).map(Incoming::Sim)),
        ))
    }
}

impl<A: Acceptor> ListenerSlot<A> {
    fn bind_tcp(
        addr: SocketAddr,
        wrap: impl Fn(TcpListener) -> A + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        Ok(ListenerSlot::new(
            wrap(listener),
            addr,
            Box::new(move || {
                let _runtime = runtime.enter();
                listen(addr).map(&wrap)
            }),
        ))
    }

    fn new(listener: A, addr: SocketAddr, reopen: Reopen<A>) -> Self {
        ListenerSlot {
            slot: Mutex::new(Slot {
                listener: Some(listener),
                waker: None,
                shut_down: false,
            }),
            addr,
            reopen,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the socket now: connects are refused until [`ListenerSlot::reopen`].
    pub(crate) fn close(&self) {
        let mut slot = lock(&self.slot);
        slot.listener = None;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }

    /// Listens on the same address again (no-op if open or shut down).
    pub(crate) fn reopen(&self) -> io::Result<()> {
        let mut slot = lock(&self.slot);
        if slot.listener.is_some() || slot.shut_down {
            return Ok(());
        }
        slot.listener = Some((self.reopen)()?);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    /// Closes for good; a pending [`ListenerSlot::accept`] returns `None`.
    pub(crate) fn shut_down(&self) {
        let mut slot = lock(&self.slot);
        slot.shut_down = true;
        slot.listener = None;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }

    /// The next connection; waits while closed, `None` once shut down.
    pub(crate) async fn accept(&self) -> Option<io::Result<(A::Stream, SocketAddr)>> {
        poll_fn(|cx| {
            let mut slot = lock(&self.slot);
            if slot.shut_down {
                return Poll::Ready(None);
            }
            slot.waker = Some(cx.waker().clone());
            match &slot.listener {
                Some(listener) => listener.poll_accept(cx).map(Some),
                None => Poll::Pending,
            }
        })
        .await
    }
}

/// Binds with `SO_REUSEADDR` so the port can be taken again while old connections linger
/// in TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
