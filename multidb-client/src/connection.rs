//! The connection to one member database, whatever made it.
//!
//! URL members get a managed connection: one multiplexed connection, made on first use (a
//! database that is down at start costs nothing until it recovers) and made again on first
//! use after it broke, each attempt bounded by the member's connection timeout — our
//! failover logic decides what happens next, never a reconnect loop of redis-rs. We open
//! the socket ourselves and own the task that drives it, so closing or removing a member
//! closes its socket even while clones of its connection live on, and a socket the server
//! closed is forgotten when it closes, not at the next command. Applications may bring
//! their own connection instead.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::future::{BoxFuture, FutureExt as _, Shared};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, Pipeline, RedisError,
    RedisFuture, RedisResult, Value,
};
use tokio::task::AbortHandle;

use crate::error::MultiDbError;
use crate::source::{DynConnection, DynConnectionLike, MemberSpec, Source};

/// A connection to one member database. Cheap to clone (clones share the underlying
/// connection); implements `redis::aio::ConnectionLike`, so every `redis::AsyncCommands`
/// method works on it. Health checks receive one through [`crate::Database::connection`].
pub struct MemberConnection {
    inner: Inner,
    db: i64,
}

enum Inner {
    Managed(ManagedHandle),
    Custom(Arc<dyn DynConnection>, Box<dyn DynConnectionLike>),
    #[cfg(feature = "cluster")]
    Cluster(crate::cluster::LazyCluster),
    #[cfg(feature = "sentinel")]
    Sentinel(crate::sentinel::LazySentinel),
}

impl Clone for MemberConnection {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Managed(m) => Inner::Managed(m.clone()),
            Inner::Custom(shared, _) => Inner::Custom(shared.clone(), shared.clone_box()),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Inner::Cluster(c.clone()),
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Inner::Sentinel(s.clone()),
        };
        MemberConnection { inner, db: self.db }
    }
}

impl fmt::Debug for MemberConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Managed(_) => "managed",
            Inner::Custom(..) => "custom",
            #[cfg(feature = "cluster")]
            Inner::Cluster(_) => "cluster",
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(_) => "sentinel",
        };
        f.debug_struct("MemberConnection")
            .field("kind", &kind)
            .field("db", &self.db)
            .finish()
    }
}

impl MemberConnection {
    /// The connection a database config describes; connects on first use.
    pub(crate) fn open(config: &MemberSpec) -> Result<Self, MultiDbError> {
        match &config.source {
            Source::Url(info) => Ok(MemberConnection {
                inner: Inner::Managed(ManagedHandle::new(Managed::new(info, config)?)),
                db: info.redis_settings().db(),
            }),
            Source::Connection(shared) => {
                let first = shared.clone_box();
                let db = first.get_db();
                Ok(MemberConnection {
                    inner: Inner::Custom(shared.clone(), first),
                    db,
                })
            }
            #[cfg(feature = "cluster")]
            Source::Cluster(seeds) => Ok(MemberConnection {
                inner: Inner::Cluster(crate::cluster::LazyCluster::new(
                    seeds,
                    config.connection_timeout,
                    config.response_timeout,
                )?),
                db: 0,
            }),
            #[cfg(feature = "sentinel")]
            Source::Sentinel { sentinels, master } => Ok(MemberConnection {
                inner: Inner::Sentinel(crate::sentinel::LazySentinel::new(
                    sentinels,
                    master,
                    config.connection_timeout,
                    config.response_timeout,
                )?),
                db: 0,
            }),
        }
    }

    /// How a URL member connects (its pinned and Pub/Sub connections use it too).
    pub(crate) fn connector(&self) -> Option<Arc<Connector>> {
        if let Inner::Managed(m) = &self.inner {
            Some(m.shared.connector.clone())
        } else {
            None
        }
    }

    /// The master a Sentinel member's Sentinels name now.
    #[cfg(feature = "sentinel")]
    pub(crate) async fn sentinel_master(&self) -> Result<ConnectionInfo, MultiDbError> {
        match &self.inner {
            Inner::Sentinel(s) => Ok(s.master_info().await?),
            _ => Err(MultiDbError::Config(crate::ConfigError::invalid(
                "sentinel",
                "a member not given by sentinel",
                "a member from DatabaseConfig::from_sentinel",
            ))),
        }
    }

    /// Closes the shared connection of a URL member: its socket closes now, commands in
    /// flight on it fail, and it is not made again. Other kinds close when dropped.
    pub(crate) fn close(&self) {
        if let Inner::Managed(m) = &self.inner {
            m.shared.close();
        }
    }

    /// Closes a URL member's current connection (commands in flight on it fail at once);
    /// unlike [`Self::close`], the next use makes a new one. Other kinds are left alone.
    pub(crate) fn reset(&self) {
        if let Inner::Managed(m) = &self.inner {
            let mut state = m.shared.lock();
            m.shared.forget(&mut state);
        }
    }

    /// A URL member's connection, when it is made and current: commands may be sent on
    /// it directly, followed by [`Self::observe`]. Does no I/O; `None` for other kinds.
    pub(crate) fn current(&mut self) -> Option<(&mut MultiplexedConnection, u64)> {
        if let Inner::Managed(m) = &mut self.inner {
            m.current()
        } else {
            None
        }
    }

    /// Makes the connection now if it is not made, without sending anything: an error here
    /// means no command was written.
    pub(crate) async fn ready(&mut self) -> RedisResult<()> {
        match &mut self.inner {
            Inner::Managed(m) => m.ready().await,
            Inner::Custom(..) => Ok(()),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => c.connection().await.map(drop),
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => s.connection().await.map(drop),
        }
    }

    /// After a send on [`Self::current`]: a broken connection is retired, so the next use
    /// makes a new one.
    pub(crate) fn observe<T>(&self, generation: u64, result: &RedisResult<T>) {
        if let Inner::Managed(m) = &self.inner {
            m.shared.observe(generation, result);
        }
    }
}

/// How a URL member's sockets are made: its address and, for `rediss://`, its TLS
/// configuration (its certificates checked when the member is created).
pub(crate) struct Connector {
    addr: ConnectionAddr,
    nodelay: bool,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

impl Connector {
    // Without TLS nothing can fail here.
    #[cfg_attr(not(feature = "tls"), allow(clippy::unnecessary_wraps))]
    pub(crate) fn new(info: &ConnectionInfo, config: &MemberSpec) -> Result<Self, MultiDbError> {
        #[cfg(feature = "tls")]
        let tls = match info.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(MultiDbError::Config(crate::ConfigError::invalid(
                    "url",
                    "#insecure",
                    "a rediss:// URL without #insecure (certificates are always verified)",
                )));
            }
            ConnectionAddr::TcpTls { .. } => {
                let settings = &config.tls;
                let mut options = crate::tls::TlsOptions::new(crate::tls::MEMBER_FIELDS);
                options.root_cert_pem.clone_from(&settings.root_cert);
                if let (Some(cert), Some(key)) = (&settings.client_cert, &settings.client_key) {
                    options.client_cert = Some((cert.clone(), key.clone()));
                }
                Some(crate::tls::TlsConfig::new(options)?)
            }
            _ => None,
        };
        #[cfg(not(feature = "tls"))]
        let _ = config;
        Ok(Connector {
            addr: info.addr().clone(),
            nodelay: info.tcp_settings().nodelay(),
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// A multiplexed connection over a new socket, after the handshake `redis` describes
    /// (AUTH, HELLO, SELECT, ...), and the task that drives it: aborting that task closes
    /// the socket; `on_end` runs when it ends by itself (the socket closed or broke).
    /// Callers bound the time it takes.
    pub(crate) async fn connect(
        &self,
        redis: &redis::RedisConnectionInfo,
        config: AsyncConnectionConfig,
        on_end: impl FnOnce() + Send + 'static,
    ) -> RedisResult<(MultiplexedConnection, AbortHandle)> {
        match &self.addr {
            ConnectionAddr::Tcp(host, port) => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(self.nodelay)?;
                handshake(redis, tcp, config, on_end).await
            }
            #[cfg(feature = "tls")]
            ConnectionAddr::TcpTls { host, port, .. } => {
                let tls_config = self
                    .tls
                    .as_ref()
                    .ok_or_else(|| client_error("no TLS configuration".to_owned()))?
                    .get()
                    .map_err(|e| client_error(format!("TLS configuration: {e}")))?
                    .clone();
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| client_error(format!("TLS server name `{host}`: {e}")))?;
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(self.nodelay)?;
                let tls = tokio_rustls::TlsConnector::from(tls_config)
                    .connect(name, tcp)
                    .await?;
                handshake(redis, tls, config, on_end).await
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let unix = tokio::net::UnixStream::connect(path).await?;
                handshake(redis, unix, config, on_end).await
            }
            other => Err(client_error(format!("unsupported address {other}"))),
        }
    }

    /// [`Self::connect`] bounded by `timeout`, its driver spawned; the driver's task is
    /// aborted (closing the socket) when the handle is dropped. For connections with one
    /// owner: pinned and Pub/Sub.
    pub(crate) async fn connect_owned(
        &self,
        redis: &redis::RedisConnectionInfo,
        config: AsyncConnectionConfig,
        timeout: Duration,
    ) -> RedisResult<(MultiplexedConnection, DriverGuard)> {
        let (con, driver) = bounded(timeout, self.connect(redis, config, || {})).await?;
        Ok((con, DriverGuard(driver)))
    }
}

/// Aborts a connection's driver task, closing its socket, when dropped.
#[derive(Debug)]
pub(crate) struct DriverGuard(AbortHandle);

impl DriverGuard {
    /// Whether the connection still runs: its driver ends when the socket closes or breaks.
    pub(crate) fn is_alive(&self) -> bool {
        !self.0.is_finished()
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn handshake<S>(
    redis: &redis::RedisConnectionInfo,
    stream: S,
    config: AsyncConnectionConfig,
    on_end: impl FnOnce() + Send + 'static,
) -> RedisResult<(MultiplexedConnection, AbortHandle)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (con, driver) = MultiplexedConnection::new_with_config(redis, stream, config).await?;
    let driver = tokio::spawn(async move {
        driver.await;
        on_end();
    });
    Ok((con, driver.abort_handle()))
}

/// `attempt` within `timeout`; past it, a timed-out I/O error.
async fn bounded<T>(
    timeout: Duration,
    attempt: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connection not made within {timeout:?}"),
        ))
    })?
}

fn client_error(detail: String) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, "cannot connect", detail))
}

fn closed_error() -> RedisError {
    MultiDbError::Closed.into_redis()
}

/// The shared connection of a URL member.
struct Managed {
    connector: Arc<Connector>,
    redis: redis::RedisConnectionInfo,
    config: AsyncConnectionConfig,
    connection_timeout: Duration,
    /// The generation of the current connection; changes whenever it does (made, broken,
    /// closed). A handle compares it with the one it holds: with nothing changed, that one
    /// atomic load is all a command costs on top of a plain `MultiplexedConnection`.
    generation: AtomicU64,
    /// The current connection: read without a lock (a new handle picks it up at once),
    /// changed only under `state`'s lock.
    live: ArcSwapOption<Live>,
    closed: AtomicBool,
    state: Mutex<State>,
}

struct State {
    /// The attempt in progress, shared by everyone waiting, and when it started.
    connecting: Option<(tokio::time::Instant, u64, ConnectAttempt)>,
    next_generation: u64,
}

type ConnectAttempt = Shared<BoxFuture<'static, RedisResult<Arc<Live>>>>;

struct Live {
    con: MultiplexedConnection,
    generation: u64,
    /// Aborting the driver closes the socket; every clone of `con` then fails at once.
    driver: AbortHandle,
}

impl Managed {
    fn new(info: &ConnectionInfo, config: &MemberSpec) -> Result<Arc<Self>, MultiDbError> {
        Ok(Arc::new(Managed {
            connector: Arc::new(Connector::new(info, config)?),
            redis: info.redis_settings().clone(),
            config: AsyncConnectionConfig::new().set_response_timeout(config.response_timeout),
            connection_timeout: config.connection_timeout,
            generation: AtomicU64::new(0),
            live: ArcSwapOption::empty(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                connecting: None,
                next_generation: 1,
            }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change of the state is a few plain assignments: a panic leaves it whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current connection, made now (once, whoever asks) if there is none.
    async fn connection(self: &Arc<Self>) -> RedisResult<Arc<Live>> {
        let attempt = {
            let mut state = self.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            if let Some(live) = self.live.load_full() {
                return Ok(live);
            }
            // An attempt left unpolled past its timeout would fail at once on its stale
            // deadline: start a fresh one.
            match &state.connecting {
                Some((at, _, attempt)) if at.elapsed() < self.connection_timeout => attempt.clone(),
                _ => {
                    // The generation of the connection this attempt makes names the attempt.
                    let generation = state.next_generation;
                    state.next_generation += 1;
                    let attempt = Self::connect(Arc::downgrade(self), generation)
                        .boxed()
                        .shared();
                    let now = tokio::time::Instant::now();
                    state.connecting = Some((now, generation, attempt.clone()));
                    attempt
                }
            }
        };
        attempt.await
    }

    /// One connection attempt; installs the connection it made, unless another attempt
    /// (started when this one looked stale) already did.
    async fn connect(this: Weak<Self>, generation: u64) -> RedisResult<Arc<Live>> {
        // This future is kept in the member's state while it runs: it must not hold the
        // member itself across an await (a cycle if it is abandoned half-way).
        let (connector, redis, config, timeout) = {
            let managed = this.upgrade().ok_or_else(closed_error)?;
            (
                managed.connector.clone(),
                managed.redis.clone(),
                managed.config.clone(),
                managed.connection_timeout,
            )
        };
        let owner = this.clone();
        // The server closed the socket or it broke: forget it now.
        let on_end = move || {
            if let Some(managed) = owner.upgrade() {
                managed.retire(generation);
            }
        };
        let made = bounded(timeout, connector.connect(&redis, config, on_end)).await;
        let managed = this.upgrade().ok_or_else(closed_error)?;
        let mut state = managed.lock();
        if state
            .connecting
            .as_ref()
            .is_some_and(|(_, g, _)| *g == generation)
        {
            state.connecting = None;
        }
        let (con, driver) = made?;
        if managed.closed.load(Ordering::Acquire) {
            driver.abort();
            return Err(closed_error());
        }
        if let Some(live) = managed.live.load_full() {
            driver.abort();
            return Ok(live);
        }
        let live = Arc::new(Live {
            con,
            generation,
            driver,
        });
        managed.live.store(Some(live.clone()));
        managed.generation.store(generation, Ordering::Release);
        Ok(live)
    }

    /// Forgets connection `generation` if it is still the current one, closing its socket;
    /// the next use makes a new one.
    fn retire(&self, generation: u64) {
        let mut state = self.lock();
        if self
            .live
            .load()
            .as_ref()
            .is_some_and(|l| l.generation == generation)
        {
            self.forget(&mut state);
        }
    }

    /// After a command on connection `generation`: retires it if it broke.
    fn observe<T>(&self, generation: u64, result: &RedisResult<T>) {
        if let Err(e) = result
            && (e.is_unrecoverable_error() || e.is_connection_dropped())
        {
            self.retire(generation);
        }
    }

    fn forget(&self, state: &mut State) {
        if let Some(live) = self.live.swap(None) {
            live.driver.abort();
        }
        // No connection now: a generation no handle holds.
        let none = state.next_generation;
        state.next_generation += 1;
        self.generation.store(none, Ordering::Release);
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut state = self.lock();
        state.connecting = None;
        self.forget(&mut state);
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.close();
    }
}

/// A handle on a managed connection with its own clone of the current connection, used
/// for as long as the generation stays the same.
#[derive(Clone)]
struct ManagedHandle {
    shared: Arc<Managed>,
    current: Option<(u64, MultiplexedConnection)>,
}

impl ManagedHandle {
    fn new(shared: Arc<Managed>) -> Self {
        ManagedHandle {
            shared,
            current: None,
        }
    }

    fn current(&mut self) -> Option<(&mut MultiplexedConnection, u64)> {
        let now = self.shared.generation.load(Ordering::Acquire);
        if !matches!(&self.current, Some((generation, _)) if *generation == now) {
            // A new handle, or the connection was made again: take the current one.
            let live = self.shared.live.load();
            let live = live.as_ref().filter(|l| l.generation == now)?;
            self.current = Some((now, live.con.clone()));
        }
        self.current
            .as_mut()
            .map(|(generation, con)| (con, *generation))
    }

    /// The current connection, made now if there is none.
    async fn ready(&mut self) -> RedisResult<()> {
        if self.current().is_none() {
            let live = self.shared.connection().await?;
            self.current = Some((live.generation, live.con.clone()));
        }
        Ok(())
    }

    /// Sends with the current connection, made now if there is none.
    async fn send<'a, T, F, Fut>(&'a mut self, send: F) -> RedisResult<T>
    where
        F: FnOnce(&'a mut MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>> + 'a,
    {
        self.ready().await?;
        let ManagedHandle { shared, current } = self;
        // Set just above when it was not.
        let Some((generation, con)) = current.as_mut() else {
            return Err(closed_error());
        };
        let generation = *generation;
        let result = send(con).await;
        shared.observe(generation, &result);
        result
    }
}

impl MemberConnection {
    /// `PING`, or for a cluster `PING` to every master (healthy only if all answer).
    ///
    /// # Errors
    /// The connection's error when the database (or any master) cannot answer.
    pub async fn ping(&mut self) -> RedisResult<Value> {
        #[cfg(feature = "cluster")]
        if let Inner::Cluster(c) = &self.inner {
            return c.ping_all_masters().await;
        }
        self.req_packed_command(&redis::cmd("PING")).await
    }
}

impl ConnectionLike for MemberConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Managed(m) => Box::pin(m.send(|c| c.send_packed_command(cmd))),
            Inner::Custom(_, c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => {
                Box::pin(async move { c.connection().await?.req_packed_command(cmd).await })
            }
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Box::pin(async move {
                let result = s.connection().await?.req_packed_command(cmd).await;
                if let Err(e) = &result {
                    s.observe(e);
                }
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Managed(m) => {
                Box::pin(m.send(move |c| c.send_packed_commands(pipeline, offset, count)))
            }
            Inner::Custom(_, c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Box::pin(async move {
                c.connection()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }),
            #[cfg(feature = "sentinel")]
            Inner::Sentinel(s) => Box::pin(async move {
                let result = s
                    .connection()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(e) = &result {
                    s.observe(e);
                }
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}
