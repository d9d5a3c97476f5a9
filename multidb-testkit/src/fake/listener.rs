//! A listening socket that can be closed and reopened on the same port from synchronous
//! code, so `inject(Fault::Down)` refuses the very next connect.
//!
//! The accept task never owns the listener: it polls it through the mutex, so closing is a
//! plain drop under the lock, effective before `inject` returns.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Poll, Waker};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;

use super::lock;

#[derive(Debug)]
struct Slot {
    listener: Option<TcpListener>,
    waker: Option<Waker>,
    shut_down: bool,
}

#[derive(Debug)]
pub(crate) struct ListenerSlot {
    slot: Mutex<Slot>,
    addr: SocketAddr,
    runtime: Handle,
}

impl ListenerSlot {
    /// Binds `addr` (port 0 picks a free one) in the current runtime.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        Ok(ListenerSlot {
            slot: Mutex::new(Slot {
                listener: Some(listener),
                waker: None,
                shut_down: false,
            }),
            addr,
            runtime,
        })
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
        let _runtime = self.runtime.enter();
        slot.listener = Some(listen(self.addr)?);
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
    pub(crate) async fn accept(&self) -> Option<io::Result<(TcpStream, SocketAddr)>> {
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
