//! How a member's sockets are made: where to (a fixed address, or the master a set of
//! Sentinels names), over what (TCP, TLS with the member's certificates, Unix), and the
//! handshake (AUTH, HELLO, SELECT). Every connection a URL or Sentinel member opens — its
//! shared connection, pinned and blocking connections, subscriptions — is made here, so
//! they all get the same TLS, credentials and bounds.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo,
    RedisError, RedisResult,
};
use tokio::task::AbortHandle;

use crate::error::MultiDbError;
use crate::source::MemberSpec;
use crate::telemetry::{OpenConnection, Started};
use crate::transport::{Address, Transport};

/// Where a socket goes.
#[derive(Clone)]
enum Addr {
    Tcp { host: String, port: u16, tls: bool },
    Unix(PathBuf),
}

impl Addr {
    fn of(addr: &ConnectionAddr) -> Result<Self, MultiDbError> {
        match addr {
            ConnectionAddr::Tcp(host, port) => Ok(Addr::Tcp {
                host: host.clone(),
                port: *port,
                tls: false,
            }),
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                Err(MultiDbError::Config(insecure_refused()))
            }
            ConnectionAddr::TcpTls { host, port, .. } => Ok(Addr::Tcp {
                host: host.clone(),
                port: *port,
                tls: true,
            }),
            ConnectionAddr::Unix(path) => Ok(Addr::Unix(path.clone())),
            other => Err(MultiDbError::Config(crate::ConfigError::invalid(
                "url",
                other,
                "a tcp, tls or unix address",
            ))),
        }
    }

    /// Where the transport is asked to connect.
    fn address(&self) -> Address<'_> {
        match self {
            Addr::Tcp { host, port, .. } => Address::Tcp { host, port: *port },
            Addr::Unix(path) => Address::Unix(path),
        }
    }

    /// `host:port` or the socket's path, for metrics.
    fn label(&self) -> String {
        match self {
            Addr::Tcp { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Addr::Tcp { host, port, .. } => format!("{host}:{port}"),
            Addr::Unix(path) => path.display().to_string(),
        }
    }

    #[cfg_attr(not(any(feature = "tls", feature = "sentinel")), allow(dead_code))]
    fn tls(&self) -> bool {
        matches!(self, Addr::Tcp { tls: true, .. })
    }
}

/// The refusal of `#insecure`, for every kind of member.
pub(crate) fn insecure_refused() -> crate::ConfigError {
    crate::ConfigError::invalid(
        "url",
        "#insecure",
        "a rediss:// URL without #insecure (certificates are always verified)",
    )
}

/// What a connection is made to.
enum Target {
    Fixed(Addr),
    /// The master the Sentinels name at the time of connecting.
    #[cfg(feature = "sentinel")]
    Sentinel {
        sentinels: Vec<(Addr, RedisConnectionInfo)>,
        master_name: String,
        /// Whether the master is reached over TLS (as the first Sentinel is).
        tls: bool,
    },
}

/// How a member's sockets are made (its certificates checked when the member is created).
pub(crate) struct Connector {
    target: Target,
    /// The data node's handshake: credentials, db, protocol.
    redis: RedisConnectionInfo,
    nodelay: bool,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
    /// The drivers of the connections made for one owner (pinned, blocking, Pub/Sub): the
    /// member's `close()` ends them, wherever their handles are.
    owned: Arc<OwnedDrivers>,
    /// Opens the streams, when not plain sockets.
    transport: Option<Arc<dyn Transport>>,
}

/// The drivers of a member's connections that have one owner each, so that closing the
/// member closes them wherever their handles are.
#[derive(Default)]
pub(crate) struct OwnedDrivers(Mutex<Owned>);

#[derive(Default)]
struct Owned {
    drivers: Vec<AbortHandle>,
    closed: bool,
}

impl OwnedDrivers {
    /// Keeps `driver`, or aborts it and says so if the member is closed.
    fn adopt(&self, driver: &AbortHandle) -> bool {
        let mut owned = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if owned.closed {
            driver.abort();
            return false;
        }
        // Forget the ones that ended, so the list stays as long as the live ones.
        owned.drivers.retain(|d| !d.is_finished());
        owned.drivers.push(driver.clone());
        true
    }

    /// Closes every connection adopted, and refuses new ones.
    pub(crate) fn close_all(&self) {
        let mut owned = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        owned.closed = true;
        for driver in owned.drivers.drain(..) {
            driver.abort();
        }
    }
}

impl Connector {
    /// Connections to the address of `info`, with its handshake.
    pub(crate) fn fixed(info: &ConnectionInfo, spec: &MemberSpec) -> Result<Self, MultiDbError> {
        let addr = Addr::of(info.addr())?;
        #[cfg(feature = "tls")]
        let tls = tls_config(addr.tls(), spec)?;
        Ok(Connector {
            target: Target::Fixed(addr),
            redis: info.redis_settings().clone(),
            nodelay: info.tcp_settings().nodelay(),
            #[cfg(feature = "tls")]
            tls,
            owned: Arc::default(),
            transport: spec.transport.clone(),
        })
    }

    /// Connections to the master `sentinels` name as `master_name`, with the `master`
    /// handshake; over TLS when the first Sentinel is.
    #[cfg(feature = "sentinel")]
    pub(crate) fn sentinel(
        sentinels: &[ConnectionInfo],
        master_name: &str,
        master: &RedisConnectionInfo,
        spec: &MemberSpec,
    ) -> Result<Self, MultiDbError> {
        let nodes = sentinels
            .iter()
            .map(|info| {
                // Sentinels have no databases: never SELECT on them.
                let redis = info
                    .redis_settings()
                    .clone()
                    .set_db(0)
                    .set_protocol(redis::ProtocolVersion::RESP2);
                Ok((Addr::of(info.addr())?, redis))
            })
            .collect::<Result<Vec<_>, MultiDbError>>()?;
        let tls = nodes.first().is_some_and(|(addr, _)| addr.tls());
        #[cfg(feature = "tls")]
        let tls_config = tls_config(nodes.iter().any(|(addr, _)| addr.tls()), spec)?;
        Ok(Connector {
            target: Target::Sentinel {
                sentinels: nodes,
                master_name: master_name.to_owned(),
                tls,
            },
            redis: master.clone(),
            nodelay: true,
            #[cfg(feature = "tls")]
            tls: tls_config,
            owned: Arc::default(),
            transport: spec.transport.clone(),
        })
    }

    /// The data node's handshake settings (credentials, db, protocol).
    pub(crate) fn redis(&self) -> &RedisConnectionInfo {
        &self.redis
    }

    /// Where it connects, for metrics: `host:port`, a socket's path, or a Sentinel master's
    /// name.
    pub(crate) fn target_label(&self) -> String {
        match &self.target {
            Target::Fixed(addr) => addr.label(),
            #[cfg(feature = "sentinel")]
            Target::Sentinel { master_name, .. } => master_name.clone(),
        }
    }

    /// [`Self::connect`] bounded by `timeout`; a timeout is counted.
    pub(crate) async fn connect_within(
        &self,
        timeout: Duration,
        redis: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
        on_end: impl FnOnce() + Send + 'static,
    ) -> RedisResult<(MultiplexedConnection, AbortHandle)> {
        let made = bounded(timeout, self.connect(redis, config, on_end)).await;
        if made.as_ref().is_err_and(RedisError::is_timeout) {
            crate::telemetry::connection_timed_out(&self.target_label());
        }
        made
    }

    /// Whether its connections go to whichever node is master now: a `READONLY` reply then
    /// means the node was demoted, and the next connection should ask again.
    pub(crate) fn follows_master(&self) -> bool {
        !matches!(self.target, Target::Fixed(_))
    }

    /// A multiplexed connection over a new socket, after the handshake `redis` describes,
    /// and the task that drives it: aborting that task closes the socket; `on_end` runs
    /// when it ends by itself (the socket closed or broke). Callers bound the time it takes.
    pub(crate) async fn connect(
        &self,
        redis: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
        on_end: impl FnOnce() + Send + 'static,
    ) -> RedisResult<(MultiplexedConnection, AbortHandle)> {
        match &self.target {
            Target::Fixed(addr) => self.dial(addr, redis, config, on_end).await,
            #[cfg(feature = "sentinel")]
            Target::Sentinel {
                sentinels,
                master_name,
                tls,
            } => {
                let (host, port) = self.ask_sentinels(sentinels, master_name).await?;
                let addr = Addr::Tcp {
                    host: host.clone(),
                    port,
                    tls: *tls,
                };
                let (mut con, driver) = self.dial(&addr, redis, config, on_end).await?;
                if let Err(e) = crate::sentinel::check_master(&mut con, &host, port).await {
                    driver.abort();
                    return Err(e);
                }
                Ok((con, driver))
            }
        }
    }

    /// [`Self::connect`] bounded by `timeout`, its driver spawned; the driver's task is
    /// aborted (closing the socket) when the handle is dropped. For connections with one
    /// owner: pinned, blocking and Pub/Sub.
    pub(crate) async fn connect_owned(
        &self,
        redis: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
        timeout: Duration,
    ) -> RedisResult<(MultiplexedConnection, DriverGuard)> {
        let (con, driver) = self.connect_within(timeout, redis, config, || {}).await?;
        if !self.owned.adopt(&driver) {
            return Err(crate::MultiDbError::Closed.into_redis());
        }
        Ok((con, DriverGuard(driver)))
    }

    /// Its connections made by [`Self::connect_owned`] are closed along with `owned`'s
    /// (a cluster member's connectors to single nodes share the member's).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn sharing(mut self, owned: Arc<OwnedDrivers>) -> Self {
        self.owned = owned;
        self
    }

    /// Closes every connection made by [`Self::connect_owned`] and refuses new ones: the
    /// member is closed, so are its pinned, blocking and Pub/Sub connections, held or not.
    pub(crate) fn close_owned(&self) {
        self.owned.close_all();
    }

    /// The master's address from the first Sentinel that names one; all are asked at once,
    /// so a Sentinel that is down or silent costs nothing while another answers.
    #[cfg(feature = "sentinel")]
    async fn ask_sentinels(
        &self,
        sentinels: &[(Addr, RedisConnectionInfo)],
        master_name: &str,
    ) -> RedisResult<(String, u16)> {
        let asks = sentinels.iter().map(|(addr, redis)| {
            Box::pin(async move {
                let (mut con, driver) = self
                    .dial(addr, redis, AsyncConnectionConfig::new(), || {})
                    .await?;
                let _close = DriverGuard(driver);
                crate::sentinel::master_addr(&mut con, master_name).await
            })
        });
        if sentinels.is_empty() {
            return Err(client_error("no Sentinel to ask".to_owned()));
        }
        let (found, _) = futures_util::future::select_ok(asks).await?;
        Ok(found)
    }

    async fn dial(
        &self,
        addr: &Addr,
        redis: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
        on_end: impl FnOnce() + Send + 'static,
    ) -> RedisResult<(MultiplexedConnection, AbortHandle)> {
        let label = addr.label();
        let meter = Meter {
            started: Started::now(),
            address: &label,
        };
        if let Some(transport) = &self.transport {
            let stream = transport.connect(addr.address()).await?;
            #[cfg(feature = "tls")]
            if let Addr::Tcp {
                host, tls: true, ..
            } = addr
            {
                let tls = self.tls_over(host, stream).await?;
                return handshake(redis, tls, config, meter, on_end).await;
            }
            return handshake(redis, stream, config, meter, on_end).await;
        }
        // Plain sockets stay unboxed: the default costs nothing per read or write.
        match addr {
            Addr::Tcp {
                host,
                port,
                tls: false,
            } => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(self.nodelay)?;
                handshake(redis, tcp, config, meter, on_end).await
            }
            #[cfg(feature = "tls")]
            Addr::Tcp {
                host,
                port,
                tls: true,
            } => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                tcp.set_nodelay(self.nodelay)?;
                handshake(
                    redis,
                    self.tls_over(host, tcp).await?,
                    config,
                    meter,
                    on_end,
                )
                .await
            }
            #[cfg(unix)]
            Addr::Unix(path) => {
                let unix = tokio::net::UnixStream::connect(path).await?;
                handshake(redis, unix, config, meter, on_end).await
            }
            #[allow(unreachable_patterns)] // TLS without its feature; Unix off unix
            _ => Err(client_error("unsupported address".to_owned())),
        }
    }

    /// A TLS session to `host` over `stream`, with the member's certificates.
    #[cfg(feature = "tls")]
    async fn tls_over<S>(
        &self,
        host: &str,
        stream: S,
    ) -> RedisResult<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let tls_config = self
            .tls
            .as_ref()
            .ok_or_else(|| client_error("no TLS configuration".to_owned()))?
            .get()
            .map_err(|e| client_error(format!("TLS configuration: {e}")))?
            .clone();
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| client_error(format!("TLS server name `{host}`: {e}")))?;
        Ok(tokio_rustls::TlsConnector::from(tls_config)
            .connect(name, stream)
            .await?)
    }
}

/// The member's TLS configuration when it opens TLS connections: its certificates, checked
/// now.
#[cfg(feature = "tls")]
fn tls_config(tls: bool, spec: &MemberSpec) -> Result<Option<crate::tls::TlsConfig>, MultiDbError> {
    if !tls {
        return Ok(None);
    }
    Ok(Some(crate::tls::TlsConfig::new(tls_options(&spec.tls))?))
}

#[cfg(feature = "tls")]
fn tls_options(settings: &crate::source::TlsSettings) -> crate::tls::TlsOptions {
    let mut options = crate::tls::TlsOptions::new(crate::tls::MEMBER_FIELDS);
    options.root_cert_pem.clone_from(&settings.root_cert);
    if let (Some(cert), Some(key)) = (&settings.client_cert, &settings.client_key) {
        options.client_cert = Some((cert.clone(), key.clone()));
    }
    options
}

/// Whether a member's certificates are well-formed PEM that rustls takes.
#[cfg(feature = "tls")]
pub(crate) fn check_certificates(
    settings: &crate::source::TlsSettings,
) -> Result<(), crate::ConfigError> {
    crate::tls::TlsConfig::new(tls_options(settings)).map(drop)
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

/// When a connection attempt started and where to, for metrics.
#[derive(Clone, Copy)]
struct Meter<'a> {
    started: Started,
    address: &'a str,
}

async fn handshake<S>(
    redis: &RedisConnectionInfo,
    stream: S,
    config: AsyncConnectionConfig,
    meter: Meter<'_>,
    on_end: impl FnOnce() + Send + 'static,
) -> RedisResult<(MultiplexedConnection, AbortHandle)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (con, driver) = MultiplexedConnection::new_with_config(redis, stream, config).await?;
    // Counted while the driver runs; an abort (the client closing it) drops it unmarked.
    let mut open = OpenConnection::made(meter.address, meter.started);
    let driver = tokio::spawn(async move {
        driver.await;
        open.ended_by_server();
        drop(open);
        on_end();
    });
    Ok((con, driver.abort_handle()))
}

/// `attempt` within `timeout`; past it, a timed-out I/O error.
pub(crate) async fn bounded<T>(
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
