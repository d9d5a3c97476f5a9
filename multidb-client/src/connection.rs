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
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::task::AbortHandle;

use crate::abandon::Abandon;
use crate::connector::{Connector, bounded};
use crate::error::MultiDbError;
use crate::source::{AppSlot, DynConnectionLike, MemberSpec, PinnedFactory, Source};

/// A connection to one member database. Cheap to clone (clones share the underlying
/// connection); implements `redis::aio::ConnectionLike`, so every `redis::AsyncCommands`
/// method works on it. Health checks receive one through [`crate::Database::connection`].
pub struct MemberConnection {
    inner: Inner,
    db: i64,
}

enum Inner {
    Managed(ManagedHandle),
    Custom(Arc<Application>),
    #[cfg(feature = "deadpool")]
    Pool(Arc<PoolMember>),
    #[cfg(feature = "cluster")]
    Cluster(crate::cluster::LazyCluster),
}

impl Clone for MemberConnection {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Managed(m) => Inner::Managed(m.clone()),
            Inner::Custom(app) => Inner::Custom(app.clone()),
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => Inner::Pool(pool.clone()),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Inner::Cluster(c.clone()),
        };
        MemberConnection { inner, db: self.db }
    }
}

impl fmt::Debug for MemberConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Managed(_) => "managed",
            Inner::Custom(..) => "custom",
            #[cfg(feature = "deadpool")]
            Inner::Pool(_) => "pool",
            #[cfg(feature = "cluster")]
            Inner::Cluster(_) => "cluster",
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
        let managed = |connector: Connector| {
            let db = connector.redis().db();
            MemberConnection {
                inner: Inner::Managed(ManagedHandle::new(Managed::new(connector, config))),
                db,
            }
        };
        match &config.source {
            Source::Url(info) => Ok(managed(Connector::fixed(info, config)?)),
            #[cfg(feature = "sentinel")]
            Source::Sentinel {
                sentinels,
                master_name,
                master,
            } => Ok(managed(Connector::sentinel(
                sentinels,
                master_name,
                master,
                config,
            )?)),
            Source::Connection(made) => Ok(MemberConnection {
                db: made.take().map_or(0, |con| con.get_db()),
                inner: Inner::Custom(Arc::new(Application {
                    made: made.clone(),
                    pinned: config.pinned_factory.clone(),
                    connection_timeout: config.connection_timeout,
                    outside: Outside::new(config.response_timeout),
                })),
            }),
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => Ok(MemberConnection {
                db: 0,
                inner: Inner::Pool(Arc::new(PoolMember {
                    pool: pool.clone(),
                    checkout_timeout: config.connection_timeout,
                    outside: Outside::new(config.response_timeout),
                })),
            }),
            #[cfg(feature = "cluster")]
            Source::Cluster(seeds) => Ok(MemberConnection {
                inner: Inner::Cluster(crate::cluster::LazyCluster::new(seeds, config)?),
                db: 0,
            }),
        }
    }

    /// How a URL or Sentinel member connects (its pinned, blocking and Pub/Sub
    /// connections use it too).
    pub(crate) fn connector(&self) -> Option<Arc<Connector>> {
        if let Inner::Managed(m) = &self.inner {
            Some(m.shared.connector.clone())
        } else {
            None
        }
    }

    /// A connection of its own for a pinned connection: a pool member's, checked out until
    /// dropped; an application's member's, from its factory. `None` for other kinds, and
    /// for an application's member without a factory.
    pub(crate) async fn hold(&self) -> Option<RedisResult<HeldConnection>> {
        match &self.inner {
            Inner::Custom(app) => {
                let factory = app.pinned.as_ref()?;
                let made = bounded(app.connection_timeout, factory()).await;
                Some(made.map(|con| app.outside.held.hold(con)))
            }
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => Some(
                pool.checkout()
                    .await
                    .map(|con| pool.outside.held.hold(Box::new(con))),
            ),
            _ => None,
        }
    }

    /// For a cluster member, a cluster connection of its own for a subscriber, its pushes
    /// sent to `pushes`; `None` for other kinds.
    #[cfg(feature = "cluster")]
    pub(crate) async fn cluster_subscriber(
        &self,
        pushes: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
    ) -> Option<RedisResult<redis::cluster_async::ClusterConnection>> {
        match &self.inner {
            Inner::Cluster(c) => Some(c.subscriber(pushes).await),
            _ => None,
        }
    }

    /// For a cluster member, how to connect to the master that owns `key`'s slot now;
    /// `None` for other kinds.
    #[cfg(feature = "cluster")]
    pub(crate) async fn cluster_master_of(&self, key: &[u8]) -> RedisResult<Option<Connector>> {
        match &self.inner {
            Inner::Cluster(c) => c.master_of(key).await.map(Some),
            _ => Ok(None),
        }
    }

    /// Closes the member's connection and makes no other: a URL or Sentinel member's
    /// sockets close now, its pinned, blocking and Pub/Sub ones included (commands in
    /// flight on them fail); a cluster's node connections close
    /// once the commands in flight end. An application's connection closes when the
    /// client drops its clones.
    pub(crate) fn close(&self) {
        match &self.inner {
            Inner::Managed(m) => m.shared.close(),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => c.close(),
            Inner::Custom(app) => app.close(),
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => pool.close(),
        }
    }

    /// The member failed: commands in flight on it end at once (a URL or Sentinel member's
    /// socket is closed; a cluster's or application's commands are abandoned). Unlike
    /// [`Self::close`], the next use goes on: a new connection, or the same cluster or
    /// application connection.
    pub(crate) fn reset(&self) {
        match &self.inner {
            Inner::Managed(m) => {
                let mut state = m.shared.lock();
                m.shared.forget(&mut state);
            }
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => c.reset(),
            Inner::Custom(app) => app.outside.reset(),
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => pool.reset(),
        }
    }

    /// The logical database (`SELECT` index) commands go to.
    pub(crate) fn db_index(&self) -> i64 {
        self.db
    }

    /// The state of the shared connection, for `status()`.
    pub(crate) fn state(&self) -> crate::ConnectionState {
        if let Inner::Managed(m) = &self.inner {
            m.shared.state()
        } else {
            crate::ConnectionState::External
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
            // A connection checked out (made if none is idle) and put back: an error here
            // means no command was written.
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => pool.checkout().await.map(drop),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => c.connection().await.map(drop),
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
    fn new(connector: Connector, config: &MemberSpec) -> Arc<Self> {
        Arc::new(Managed {
            redis: connector.redis().clone(),
            connector: Arc::new(connector),
            config: AsyncConnectionConfig::new().set_response_timeout(config.response_timeout),
            connection_timeout: config.connection_timeout,
            generation: AtomicU64::new(0),
            live: ArcSwapOption::empty(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                connecting: None,
                next_generation: 1,
            }),
        })
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
        let made = connector
            .connect_within(timeout, &redis, config, on_end)
            .await;
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

    fn state(&self) -> crate::ConnectionState {
        let state = self.lock();
        if self.live.load().is_some() {
            crate::ConnectionState::Connected
        } else if state.connecting.is_some() {
            crate::ConnectionState::Connecting
        } else {
            crate::ConnectionState::Disconnected
        }
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

    /// After a command on connection `generation`: retires it if it broke, or if the
    /// master it followed was demoted.
    fn observe<T>(&self, generation: u64, result: &RedisResult<T>) {
        if let Err(e) = result
            && (e.is_unrecoverable_error()
                || e.is_connection_dropped()
                || (e.code() == Some("READONLY") && self.connector.follows_master()))
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
        self.connector.close_owned();
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

/// A connection the application made. The client holds it in one place and takes a clone
/// per command, so closing the member drops every clone the client holds once the commands
/// in flight end; those are abandoned when the member fails or closes, and bounded by the
/// member's response timeout, whatever the connection's own settings.
struct Application {
    made: Arc<AppSlot>,
    /// Makes pinned connections' own, if the application said how.
    pinned: Option<PinnedFactory>,
    connection_timeout: Duration,
    outside: Outside,
}

impl Application {
    /// A clone of the connection for one command; `Closed` once the member is closed.
    fn take(&self) -> RedisResult<Box<dyn DynConnectionLike>> {
        self.made.take().ok_or_else(closed_error)
    }

    /// Drops the client's hold on the connection, and everything [`Outside::close`] ends.
    fn close(&self) {
        self.made.release();
        self.outside.close();
    }
}

/// What the client keeps for a member whose sockets it does not own (an application's
/// connection, a pool): the bound on each reply, the signal that abandons commands in
/// flight, and the connections pinned connections hold.
struct Outside {
    abandon: Abandon,
    response_timeout: Option<Duration>,
    held: HeldConnections,
}

impl Outside {
    fn new(response_timeout: Option<Duration>) -> Self {
        Outside {
            abandon: Abandon::default(),
            response_timeout,
            held: HeldConnections::default(),
        }
    }

    /// A reply within the response timeout (plus the block time of a blocking command);
    /// without a response timeout, until the member fails or closes.
    async fn bound<T>(
        &self,
        blocking: Option<crate::category::Blocking>,
        send: impl Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        match crate::category::reply_bound(blocking, self.response_timeout) {
            Some(timeout) => tokio::time::timeout(timeout, send)
                .await
                .unwrap_or_else(|_| Err(no_reply_within(timeout))),
            // A bounded command ends within its bound anyway, so only an unbounded one
            // arms the signal (a lock taken and released per command).
            None => self.abandon.run(send).await,
        }
    }

    /// The member failed: commands in flight without a bound end now.
    fn reset(&self) {
        self.abandon.now();
    }

    /// The member is closed: the connections pinned connections hold are taken back, and
    /// commands in flight end.
    fn close(&self) {
        self.held.close_all();
        self.abandon.now();
    }
}

/// A pool the application made: a connection checked out per command.
#[cfg(feature = "deadpool")]
struct PoolMember {
    pool: deadpool_redis::Pool,
    checkout_timeout: Duration,
    outside: Outside,
}

#[cfg(feature = "deadpool")]
impl PoolMember {
    /// A connection of the pool, made if none is idle, within the connection timeout.
    async fn checkout(&self) -> RedisResult<deadpool_redis::Connection> {
        use deadpool_redis::PoolError;
        match bounded(self.checkout_timeout, async {
            self.pool.get().await.map_err(|e| match e {
                PoolError::Backend(e) => e,
                PoolError::Closed => closed_error(),
                other => RedisError::from(std::io::Error::other(format!(
                    "no pool connection: {other}"
                ))),
            })
        })
        .await
        {
            Ok(con) => Ok(con),
            // Nothing was sent: the pool had no connection to give in time.
            Err(e) if e.is_timeout() => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("no pool connection within {:?}", self.checkout_timeout),
            ))),
            Err(e) => Err(e),
        }
    }

    /// The member failed: besides [`Outside::reset`], the idle connections (to a server
    /// that may be gone) are dropped.
    fn reset(&self) {
        self.pool.retain(|_, _| false);
        self.outside.reset();
    }

    fn close(&self) {
        self.pool.close();
        self.outside.close();
    }
}

/// A connection of its own that a pinned connection holds (a pool's, or one from the
/// application's factory), which closing the member takes back.
pub(crate) type HeldConnection = Arc<HeldSlot>;

/// Where a held connection lives: emptied when the member takes it back.
pub(crate) type HeldSlot = tokio::sync::Mutex<Option<Box<dyn DynConnectionLike>>>;

/// The connections a member's pinned connections hold: `close()` drops each one no
/// command is using (its socket closes, or goes back to a closed pool); one in use is
/// dropped when its pinned connection, failed by the close, lets go of it.
#[derive(Default)]
struct HeldConnections(Mutex<Vec<Weak<HeldSlot>>>);

impl HeldConnections {
    fn hold(&self, con: Box<dyn DynConnectionLike>) -> HeldConnection {
        let held = Arc::new(tokio::sync::Mutex::new(Some(con)));
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget the ones dropped, so the list stays as long as the live ones.
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&held));
        held
    }

    fn close_all(&self) {
        let all = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for held in all.iter().filter_map(Weak::upgrade) {
            if let Ok(mut con) = held.try_lock() {
                con.take();
            }
        }
    }
}

fn no_reply_within(timeout: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "no reply within {timeout:?} (the response timeout, plus the block time of a \
             blocking command)"
        ),
    ))
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
            Inner::Custom(app) => {
                let app = &**app;
                Box::pin(async move {
                    let mut con = app.take()?;
                    app.outside
                        .bound(crate::category::blocking(cmd), con.req_packed_command(cmd))
                        .await
                })
            }
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => Box::pin(async move {
                let mut con = pool.checkout().await?;
                pool.outside
                    .bound(crate::category::blocking(cmd), con.req_packed_command(cmd))
                    .await
            }),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => {
                Box::pin(async move { c.send(async |c| c.req_packed_command(cmd).await).await })
            }
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
            Inner::Custom(app) => {
                let app = &**app;
                Box::pin(async move {
                    let mut con = app.take()?;
                    let blocking = crate::category::pipeline_blocking(pipeline);
                    app.outside
                        .bound(blocking, con.req_packed_commands(pipeline, offset, count))
                        .await
                })
            }
            #[cfg(feature = "deadpool")]
            Inner::Pool(pool) => Box::pin(async move {
                let mut con = pool.checkout().await?;
                let blocking = crate::category::pipeline_blocking(pipeline);
                pool.outside
                    .bound(blocking, con.req_packed_commands(pipeline, offset, count))
                    .await
            }),
            #[cfg(feature = "cluster")]
            Inner::Cluster(c) => Box::pin(async move {
                c.send(async |c| c.req_packed_commands(pipeline, offset, count).await)
                    .await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}
