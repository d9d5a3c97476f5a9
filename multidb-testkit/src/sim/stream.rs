//! One simulated connection: two one-way pipes between a client end and a server end.
//!
//! Bytes keep their order and are never lost, as over TCP: latency delays a write's
//! delivery, a partition holds bytes until it heals (TCP retransmits), a reset breaks both
//! ends at once. Delivery times are tokio time, so paused-time tests advance through them.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::{Link, Way};
use crate::sync::lock;

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    /// Written chunks and when each may be read.
    chunks: VecDeque<(Instant, Bytes)>,
    /// The writer shut down or went away: the reader sees end of stream after the chunks.
    closed: bool,
    reader: Option<Waker>,
}

impl Pipe {
    fn wake(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
    }
}

/// Both directions of one connection, and the link they cross.
pub(crate) struct Wire {
    to_host: Mutex<Pipe>,
    from_host: Mutex<Pipe>,
    /// Set by a reset: every read and write of both ends fails from then on.
    broken: Mutex<bool>,
    link: Arc<Link>,
}

impl Wire {
    pub(crate) fn new(link: Arc<Link>) -> Arc<Self> {
        Arc::new(Wire {
            to_host: Mutex::default(),
            from_host: Mutex::default(),
            broken: Mutex::new(false),
            link,
        })
    }

    /// Breaks the connection: both ends fail their next read and write.
    pub(crate) fn reset(&self) {
        *lock(&self.broken) = true;
        lock(&self.to_host).wake();
        lock(&self.from_host).wake();
    }

    fn is_broken(&self) -> bool {
        *lock(&self.broken)
    }

    fn pipe(&self, way: Way) -> &Mutex<Pipe> {
        match way {
            Way::ToHost => &self.to_host,
            Way::FromHost => &self.from_host,
        }
    }
}

/// One end of a simulated connection: the client's (reads what the host sends) or the
/// host's. Dropping it closes its direction, as closing a socket does.
pub struct SimStream {
    wire: Arc<Wire>,
    /// The direction this end reads.
    reads: Way,
    /// A timer for the next chunk still in flight.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("host", &self.wire.link.addr)
            .field("reads", &self.reads)
            .finish_non_exhaustive()
    }
}

impl SimStream {
    /// The client's end and the host's end of a new connection over `wire`.
    pub(crate) fn pair(wire: &Arc<Wire>) -> (SimStream, SimStream) {
        let end = |reads| SimStream {
            wire: Arc::clone(wire),
            reads,
            sleep: None,
        };
        (end(Way::FromHost), end(Way::ToHost))
    }

    fn writes(&self) -> Way {
        self.reads.other()
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset")
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.wire.is_broken() {
                return Poll::Ready(Err(reset_error()));
            }
            let mut pipe = lock(this.wire.pipe(this.reads));
            pipe.reader = Some(cx.waker().clone());
            if this.wire.link.holds(this.reads, cx.waker()) {
                return Poll::Pending;
            }
            let Some((at, chunk)) = pipe.chunks.front_mut() else {
                return if pipe.closed {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            };
            if *at > Instant::now() {
                let at = *at;
                drop(pipe);
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if sleep.deadline() != at {
                    sleep.as_mut().reset(at);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            chunk.advance(n);
            if chunk.is_empty() {
                pipe.chunks.pop_front();
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.wire.is_broken() {
            return Poll::Ready(Err(reset_error()));
        }
        let way = self.writes();
        let mut pipe = lock(self.wire.pipe(way));
        if pipe.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "simulated stream shut down",
            )));
        }
        let mut at = Instant::now() + self.wire.link.latency(way);
        // Bytes keep their order even when the latency drops.
        if let Some((last, _)) = pipe.chunks.back() {
            at = at.max(*last);
        }
        pipe.chunks.push_back((at, Bytes::copy_from_slice(data)));
        pipe.wake();
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pipe = lock(self.wire.pipe(self.writes()));
        pipe.closed = true;
        pipe.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut pipe = lock(self.wire.pipe(self.writes()));
        pipe.closed = true;
        pipe.wake();
        drop(pipe);
        // Nothing reads this direction any more: what the peer writes fails, as on a
        // closed socket.
        let mut inbound = lock(self.wire.pipe(self.reads));
        inbound.closed = true;
        inbound.chunks.clear();
    }
}
