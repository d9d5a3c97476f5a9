//! The server behind a [`FakeRedis`](super::FakeRedis) handle: shared state, the accept loop
//! and one task per connection.
//!
//! A connection task only ever holds locks for the span of one command, never across an
//! await, and every await races the connection's kill signal, so a stuck or hostile client
//! cannot hold up shutdown or other connections.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::commands::{dispatch, is_setup_command};
use super::fault::{Action, Faults, GARBAGE};
use super::listener::{Incoming, Io, ListenerSlot};
use super::lock;
use super::reply::Reply;
use super::request::{Parsed, next_request};
use super::state::{Client, Config, Ctx, ServerState, Session};

/// Commands kept by the command log.
const LOG_CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    pub(crate) state: Mutex<ServerState>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) log: Mutex<VecDeque<Vec<String>>>,
    /// Commands received since start, by lowercase name; never trimmed.
    pub(crate) counts: Mutex<std::collections::BTreeMap<String, u64>>,
    pub(crate) commands: AtomicU64,
    pub(crate) data_commands: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) listener: ListenerSlot<Incoming>,
    /// Notified after every batch of commands: blocked commands look again.
    pub(crate) changed: tokio::sync::Notify,
}

impl Shared {
    /// Stops listening and closes every connection; the tasks end soon after.
    pub(crate) fn stop(&self) {
        self.listener.shut_down();
        let mut state = lock(&self.state);
        state.closed = true;
        state.kill_all();
    }

    fn record(&self, args: &[Vec<u8>]) {
        if let Some(name) = args.first() {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            *lock(&self.counts).entry(name).or_default() += 1;
        }
        let mut log = lock(&self.log);
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(redacted(args));
    }
}

/// Command args as text, with passwords replaced.
fn redacted(args: &[Vec<u8>]) -> Vec<String> {
    let mut text: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let secret_at = match text.first().map(|c| c.to_ascii_lowercase()).as_deref() {
        Some("auth") => text.len().checked_sub(1),
        Some("hello") => text
            .iter()
            .position(|a| a.eq_ignore_ascii_case("auth"))
            .map(|i| i + 2),
        _ => None,
    };
    if let Some(secret) = secret_at.and_then(|i| text.get_mut(i)) {
        "<redacted>".clone_into(secret);
    }
    text
}

/// Accepts connections until the listener is shut down. `done` is held by every task so
/// shutdown can wait for all of them.
pub(crate) async fn accept_loop(shared: Arc<Shared>, done: mpsc::Sender<()>) {
    while let Some(accepted) = shared.listener.accept().await {
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(server = %shared.cfg.name, %error, "fake redis accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        if lock(&shared.faults).refuses_accept() {
            tracing::trace!(server = %shared.cfg.name, %peer, "fake redis reset connection on accept");
            continue;
        }
        let (kill_tx, kill_rx) = watch::channel(false);
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let session = {
            let mut state = lock(&shared.state);
            if state.closed {
                break;
            }
            state.next_id += 1;
            let id = state.next_id;
            let client = Client {
                peer,
                name: None,
                db: 0,
                subscriptions: 0,
                since: Instant::now(),
                kill: kill_tx,
                push: push_tx,
            };
            state.clients.insert(id, client);
            Session::new(id, shared.cfg.password.is_some())
        };
        tracing::trace!(server = %shared.cfg.name, %peer, id = session.id, "fake redis accepted connection");
        let connection = Connection {
            shared: Arc::clone(&shared),
            session,
            kill: kill_rx,
            pushes: push_rx,
            _done: done.clone(),
        };
        tokio::spawn(connection.run(stream));
    }
}

struct Connection {
    shared: Arc<Shared>,
    session: Session,
    kill: watch::Receiver<bool>,
    pushes: mpsc::UnboundedReceiver<Reply>,
    _done: mpsc::Sender<()>,
}

/// What woke the connection up.
enum Event {
    /// Killed, or the peer closed or failed: end the connection.
    Killed,
    Push(Reply),
    Read,
    /// A blocked command has its reply (in the output): go on with the requests after it.
    Unblocked,
}

/// What a batch of requests asks of the connection.
struct Batch {
    close: bool,
    replied: bool,
    /// A blocking command that found nothing, and its deadline: later requests wait.
    blocked: Option<(Vec<Vec<u8>>, Option<Instant>)>,
}

impl Connection {
    async fn run(mut self, stream: Box<dyn Io>) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut input = BytesMut::with_capacity(4096);
        let mut output = BytesMut::new();
        let mut blocked: Option<(Vec<Vec<u8>>, Option<Instant>)> = None;
        loop {
            let event = if let Some((args, deadline)) = blocked.take() {
                match self.unblock(&args, deadline, &mut reader, &mut input).await {
                    Some(reply) => {
                        reply.encode(self.session.protocol, &mut output);
                        Event::Unblocked
                    }
                    None => Event::Killed,
                }
            } else {
                tokio::select! {
                    biased;
                    _ = self.kill.wait_for(|killed| *killed) => Event::Killed,
                    push = self.pushes.recv() => push.map_or(Event::Killed, Event::Push),
                    read = reader.read_buf(&mut input) => match read {
                        Ok(n) if n > 0 => Event::Read,
                        _ => Event::Killed,
                    },
                }
            };
            let (mut close, mut replied) = (false, false);
            match event {
                Event::Killed => break,
                Event::Push(push) => {
                    if !lock(&self.shared.faults).has(&super::Fault::Blackhole) {
                        push.encode(self.session.protocol, &mut output);
                    }
                }
                Event::Read | Event::Unblocked => {
                    let batch = self.process(&mut input, &mut output);
                    (close, replied) = (
                        batch.close,
                        batch.replied || matches!(event, Event::Unblocked),
                    );
                    blocked = batch.blocked;
                    self.shared.changed.notify_waiters();
                }
            }
            let delay = if replied {
                lock(&self.shared.faults).latency()
            } else {
                None
            };
            if let Some(delay) = delay {
                tokio::select! {
                    biased;
                    _ = self.kill.wait_for(|killed| *killed) => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            if !output.is_empty() {
                tokio::select! {
                    biased;
                    _ = self.kill.wait_for(|killed| *killed) => break,
                    written = writer.write_all(&output) => if written.is_err() { break },
                }
                output.clear();
            }
            if close {
                break;
            }
        }
        lock(&self.shared.state).kill(self.session.id);
        tracing::trace!(server = %self.shared.cfg.name, id = self.session.id, "fake redis connection closed");
    }

    /// Waits until the blocked command `args` has a reply — it runs again after every
    /// batch any connection runs — or until `deadline` (then a nil array). Reads meanwhile
    /// only to see the client go, as Redis does; `None` when it went or was killed.
    async fn unblock<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        args: &[Vec<u8>],
        deadline: Option<Instant>,
        reader: &mut R,
        input: &mut BytesMut,
    ) -> Option<Reply> {
        let shared = Arc::clone(&self.shared);
        loop {
            let changed = shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let reply = {
                let mut state = lock(&shared.state);
                let mut cx = Ctx {
                    st: &mut state,
                    s: &mut self.session,
                    cfg: &shared.cfg,
                };
                dispatch(&mut cx, args)
            };
            if !matches!(reply, Reply::Block(_)) {
                return Some(reply);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Some(Reply::NilArray);
            }
            let expired = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.kill.wait_for(|killed| *killed) => return None,
                () = changed => {}
                () = expired => {}
                read = reader.read_buf(input) => match read {
                    Ok(n) if n > 0 => {}
                    _ => return None,
                },
            }
        }
    }

    /// Runs every complete request in `input`, appending replies to `output`.
    fn process(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Batch {
        let mut batch = Batch {
            close: false,
            replied: false,
            blocked: None,
        };
        loop {
            let args = match next_request(input) {
                Parsed::Incomplete => return batch,
                Parsed::Empty => continue,
                Parsed::Error(text) => {
                    Reply::Error(text).encode(self.session.protocol, output);
                    batch.close = true;
                    return batch;
                }
                Parsed::Command(args) => args,
            };
            let data = !is_setup_command(&args[0]);
            self.shared.commands.fetch_add(1, Ordering::Relaxed);
            if data {
                self.shared.data_commands.fetch_add(1, Ordering::Relaxed);
            }
            self.shared.record(&args);
            let action = lock(&self.shared.faults).on_command(data);
            match action {
                Action::Discard => continue,
                Action::Garbage => output.put_slice(GARBAGE),
                Action::Close => {
                    batch.close = true;
                    return batch;
                }
                Action::Error(text) => Reply::Error(text).encode(self.session.protocol, output),
                Action::Execute => {
                    let reply = {
                        let mut state = lock(&self.shared.state);
                        let mut cx = Ctx {
                            st: &mut state,
                            s: &mut self.session,
                            cfg: &self.shared.cfg,
                        };
                        dispatch(&mut cx, &args)
                    };
                    if let Reply::Block(deadline) = reply {
                        batch.blocked = Some((args, deadline));
                        return batch;
                    }
                    reply.encode(self.session.protocol, output);
                }
            }
            batch.replied = true;
            if self.session.quit {
                batch.close = true;
                return batch;
            }
        }
    }
}

/// The address a [`FakeRedis`](super::FakeRedis) listens on by default.
pub(crate) fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[cfg(test)]
mod tests {
    use super::redacted;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn passwords_never_reach_the_command_log() {
        assert_eq!(redacted(&args(&["AUTH", "s3cret"])), ["AUTH", "<redacted>"]);
        assert_eq!(
            redacted(&args(&["AUTH", "u", "s3cret"])),
            ["AUTH", "u", "<redacted>"]
        );
        assert_eq!(
            redacted(&args(&[
                "HELLO", "3", "AUTH", "u", "s3cret", "SETNAME", "n"
            ])),
            ["HELLO", "3", "AUTH", "u", "<redacted>", "SETNAME", "n"]
        );
        assert_eq!(redacted(&args(&["GET", "k"])), ["GET", "k"]);
    }
}
