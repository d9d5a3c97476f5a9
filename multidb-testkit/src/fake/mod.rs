//! In-process fake Redis servers with fault injection.
//!
//! A [`FakeRedis`] is a real TCP server on a loopback port that speaks RESP2 and RESP3 well
//! enough for `redis-rs` (and other clients) to connect, run commands, pipelines,
//! transactions and pub/sub, and then see the failures a test asks for: a refused port, a
//! silent server, slow or wrong replies, dropped connections.
//!
//! Each of the 16 databases (`SELECT 0..15`) is its own keyspace, shared by all connections
//! of one server. Keys expire lazily on tokio time, so `#[tokio::test(start_paused = true)]`
//! can advance past a TTL.

mod commands;
mod fault;
mod keyspace;
pub(crate) mod listener;
mod pubsub;
mod reply;
mod request;
mod server;
mod state;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

pub use fault::Fault;
pub(crate) use fault::jittered;

use server::Shared;
use state::{Config, ServerState};

pub(crate) use crate::sync::lock;

/// A fake Redis server on a loopback port, and the handle to control it.
///
/// Clones share the server. The server stops on [`FakeRedis::shutdown`] or when the last
/// handle is dropped.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use multidb_testkit::{Fault, FakeRedis};
///
/// let fake = FakeRedis::builder().name("primary").start().await?;
/// fake.inject(Fault::ErrorReply("LOADING Redis is loading the dataset in memory".into()));
/// assert_eq!(fake.faults().len(), 1);
/// fake.recover();
/// assert!(fake.faults().is_empty());
/// fake.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FakeRedis {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    /// Closes once every server task has ended (all senders dropped).
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl fmt::Debug for FakeRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        f.debug_struct("FakeRedis")
            .field("name", &shared.cfg.name)
            .field("addr", &shared.cfg.addr)
            .field(
                "password",
                &shared.cfg.password.as_ref().map(|_| "<redacted>"),
            )
            .field("faults", &self.faults())
            .finish_non_exhaustive()
    }
}

/// Configures a [`FakeRedis`] before it starts.
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Clone)]
pub struct FakeRedisBuilder {
    bind: SocketAddr,
    network: Option<crate::SimNet>,
    name: String,
    username: String,
    password: Option<String>,
}

impl fmt::Debug for FakeRedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRedisBuilder")
            .field("bind", &self.bind)
            .field("network", &self.network)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for FakeRedisBuilder {
    fn default() -> Self {
        FakeRedisBuilder {
            bind: server::default_bind(),
            network: None,
            name: "fake-redis".to_owned(),
            username: "default".to_owned(),
            password: None,
        }
    }
}

impl FakeRedisBuilder {
    /// Requires clients to authenticate (`AUTH` or `HELLO ... AUTH`) with this password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The user `AUTH user pass` must name (default `"default"`, as in Redis).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Listens on `net` (a simulated network) instead of TCP, at the [`Self::bind`]
    /// address (port 0: the first free one from 6379). Faults, counters and the
    /// keyspace work as over TCP; the network's own faults come on top.
    pub fn network(mut self, net: &crate::SimNet) -> Self {
        self.network = Some(net.clone());
        self
    }

    /// A name for log lines, to tell several fakes apart.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Binds the listener and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Fails if the address cannot be bound, or if called outside a tokio runtime.
    #[allow(
        clippy::unused_async,
        reason = "async in the API so setup may await later"
    )]
    pub async fn start(self) -> io::Result<FakeRedis> {
        let listener = listener::ListenerSlot::incoming(self.bind, self.network.as_ref())?;
        let shared = Arc::new(Shared {
            cfg: Config {
                name: self.name,
                username: self.username,
                password: self.password,
                addr: listener.addr(),
            },
            state: Mutex::new(ServerState::default()),
            faults: Mutex::default(),
            log: Mutex::default(),
            counts: Mutex::default(),
            commands: 0.into(),
            data_commands: 0.into(),
            accepted: 0.into(),
            listener,
            changed: tokio::sync::Notify::new(),
        });
        let (done_tx, done_rx) = mpsc::channel(1);
        tokio::spawn(server::accept_loop(Arc::clone(&shared), done_tx));
        tracing::debug!(server = %shared.cfg.name, addr = %shared.cfg.addr, "fake redis started");
        Ok(FakeRedis {
            inner: Arc::new(Handle {
                shared,
                done: tokio::sync::Mutex::new(done_rx),
            }),
        })
    }
}

impl FakeRedis {
    /// Starts a server on `127.0.0.1` on a free port, without a password.
    ///
    /// # Errors
    ///
    /// Fails if no port can be bound, or if called outside a tokio runtime.
    pub async fn start() -> io::Result<FakeRedis> {
        Self::builder().start().await
    }

    /// A builder for a server with a password, a fixed address or a name.
    pub fn builder() -> FakeRedisBuilder {
        FakeRedisBuilder::default()
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The address the server listens on (the same after [`Fault::Down`] and recovery).
    pub fn addr(&self) -> SocketAddr {
        self.shared().cfg.addr
    }

    /// `redis://ADDR`; the password is never included.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Activates `fault` at once, replacing an active fault of the same kind.
    ///
    /// [`Fault::Down`] closes the listener and drops every connection before returning.
    pub fn inject(&self, fault: Fault) {
        let shared = self.shared();
        tracing::debug!(server = %shared.cfg.name, fault = ?fault, "fake redis fault injected");
        let down = fault == Fault::Down;
        lock(&shared.faults).inject(fault);
        if down {
            shared.listener.close();
            lock(&shared.state).kill_all();
        }
    }

    /// Clears every fault; after [`Fault::Down`] the listener reopens on the same port.
    ///
    /// If the port cannot be bound right away (another socket took it), binding is retried
    /// in the background for a few seconds and a warning is logged.
    pub fn recover(&self) {
        let shared = self.shared();
        lock(&shared.faults).clear();
        tracing::debug!(server = %shared.cfg.name, "fake redis recovered");
        if shared.listener.reopen().is_err() {
            tracing::warn!(server = %shared.cfg.name, addr = %shared.cfg.addr, "fake redis port busy, retrying");
            let shared = Arc::clone(&self.inner.shared);
            tokio::spawn(async move {
                for _ in 0..250 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if shared.listener.reopen().is_ok() {
                        return;
                    }
                }
                tracing::warn!(server = %shared.cfg.name, addr = %shared.cfg.addr, "fake redis could not reopen its port");
            });
        }
    }

    /// The active faults, in injection order.
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared().faults).list()
    }

    /// Closes every current client connection now; new connections are accepted.
    pub fn drop_connections(&self) {
        lock(&self.shared().state).kill_all();
    }

    /// Commands received, of any kind, including those a fault discarded or failed.
    pub fn command_count(&self) -> u64 {
        self.shared().commands.load(Ordering::Relaxed)
    }

    /// Commands received other than connection setup and checks
    /// (HELLO, AUTH, CLIENT, SELECT, PING, ECHO, QUIT).
    pub fn data_command_count(&self) -> u64 {
        self.shared().data_commands.load(Ordering::Relaxed)
    }

    /// Client connections open now.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared().state).clients.len()
    }

    /// Connections accepted since start, including those a fault closed at once.
    pub fn accepted_count(&self) -> u64 {
        self.shared().accepted.load(Ordering::Relaxed)
    }

    /// The last 10 000 commands, each as its arguments (lossy UTF-8; passwords redacted).
    pub fn command_log(&self) -> Vec<Vec<String>> {
        lock(&self.shared().log).iter().cloned().collect()
    }

    /// How many `command`s (any case) it received since it started, however many the log
    /// has forgotten.
    pub fn count_of(&self, command: &str) -> u64 {
        lock(&self.shared().counts)
            .get(&command.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Empties the command log (the counters keep counting).
    pub fn clear_log(&self) {
        lock(&self.shared().log).clear();
    }

    /// Publishes `message` on `channel` as if a client ran `PUBLISH`; returns how many
    /// subscriptions received it.
    #[allow(
        clippy::unused_async,
        reason = "async in the API so delivery may await later"
    )]
    pub async fn publish(&self, channel: &str, message: &str) -> usize {
        let state = lock(&self.shared().state);
        state.pubsub.publish(
            &state.clients,
            channel.as_bytes(),
            message.as_bytes(),
            false,
        )
    }

    /// The string stored at `key` in database 0, if any (as `GET` would see it), for a test
    /// to check what the server applied without a connection.
    pub fn string_value(&self, key: &str) -> Option<Vec<u8>> {
        match lock(&self.shared().state).keyspace.value(0, key.as_bytes()) {
            Some(keyspace::Value::Str(bytes)) => Some(bytes.clone()),
            _ => None,
        }
    }

    /// The length of the list at `key` in database 0 (0 if none), as `LLEN` would say.
    pub fn list_len(&self, key: &str) -> usize {
        match lock(&self.shared().state).keyspace.value(0, key.as_bytes()) {
            Some(keyspace::Value::List(list)) => list.len(),
            _ => 0,
        }
    }

    /// Live keys across all 16 databases (expired keys are purged first).
    pub fn keyspace_len(&self) -> usize {
        lock(&self.shared().state).keyspace.total_len()
    }

    /// Stops the listener and every connection, and waits until all server tasks ended.
    /// Idempotent; dropping the last handle stops the server too (without waiting).
    pub async fn shutdown(&self) {
        self.shared().stop();
        let mut done = self.inner.done.lock().await;
        while done.recv().await.is_some() {}
        tracing::debug!(server = %self.shared().cfg.name, "fake redis shut down");
    }
}
