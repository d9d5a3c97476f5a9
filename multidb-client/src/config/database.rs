//! [`DatabaseConfig`]: one member database — where it is and how to treat it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::limits::{at_most_max, nonzero};
use crate::HealthCheck;
use crate::endpoint::{Endpoint, Protocol, redact_url};
use crate::error::ConfigError;
use crate::member::{CheckPlan, Database};
use crate::source::{MemberSpec, Source, TlsSettings, boxed};
use crate::url::parse_url;
use redis::ConnectionInfo;

/// One member database: where it is and how to treat it.
///
/// ```
/// use multidb_client::DatabaseConfig;
/// use std::time::Duration;
///
/// let db = DatabaseConfig::from_url("redis://:secret@127.0.0.1:6379/0")?
///     .weight(0.8)
///     .grace_period(Duration::from_secs(30));
/// assert_eq!(db.endpoint().as_str(), "127.0.0.1:6379/0");
/// assert!(!format!("{db:?}").contains("secret"));
/// # Ok::<(), multidb_client::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct DatabaseConfig {
    pub(crate) spec: MemberSpec,
    pub(crate) endpoint: Endpoint,
    pub(crate) weight: f64,
    pub(crate) grace_period: Duration,
    pub(crate) checks: CheckPlan,
    /// This database's own circuit breaker settings, over the client-wide ones.
    pub(crate) circuit: CircuitOverrides,
    /// Settings given that this kind of member cannot apply, each with what it needs:
    /// refused at `build()`.
    not_applicable: Vec<(&'static str, &'static str)>,
    /// The lag-aware check for this database, instead of the client-wide one.
    #[cfg(feature = "lag-aware")]
    pub(crate) lag_aware: Option<crate::LagAwareCheck>,
}

/// The circuit breaker settings a database sets for itself; `None` takes the client-wide
/// one.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CircuitOverrides {
    pub(crate) min_num_failures: Option<u32>,
    pub(crate) failure_rate_threshold: Option<f64>,
    pub(crate) window: Option<Duration>,
}

/// Defaults of a member database.
const DEFAULT_WEIGHT: f64 = 1.0;
const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(60);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a setting does not apply to a member the application made.
const MADE_BY_APP: &str = "not set on a member made with from_connection or from_pool: the \
                           application made its connections, with their own settings";
/// Why a setting applies only to a member the application made.
const NEEDS_APP_MEMBER: &str =
    "set only on a member made with from_connection or from_pool: other members make their own";

impl DatabaseConfig {
    /// A database reached by URL: `redis://[user:password@]host:port[/db][?protocol=resp3]`,
    /// `rediss://` (feature `tls`), `unix:///path`. Validates; does no I/O.
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`], [`ConfigError::UnsupportedScheme`] or
    /// [`ConfigError::TlsNotEnabled`], with the password redacted from the URL shown.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let info = parse_url(url)?;
        Ok(Self::with_source(
            Endpoint::from_info(&info),
            Source::Url(Box::new(info)),
        ))
    }

    /// A database reached through a connection the application made: any
    /// `redis::aio::ConnectionLike + Clone + Send + Sync + 'static`, e.g. a
    /// `redis::aio::ConnectionManager` or a pool's connection wrapper. The connection's own
    /// timeouts and reconnects apply, and the member's [`Self::response_timeout`] bounds
    /// every command on top; commands in flight when the member fails are abandoned, so a
    /// connection that hangs never holds a command past a failover. The client takes a
    /// clone per command and holds the connection in one place: `close()` (or removing the
    /// member) drops the client's hold on it, and this config is spent from then on.
    /// Settings the application's connection already has (credentials, protocol, TLS) are
    /// refused by `build()`. A pinned connection needs [`Self::pinned_connections`].
    /// [`Self::name`] sets how it is shown (default `connection#N`).
    pub fn from_connection<C>(connection: C) -> Self
    where
        C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
    {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::with_source(
            Endpoint::named(format!("connection#{n}")),
            Source::Connection(boxed(connection)),
        )
    }

    /// A database reached through a `deadpool-redis` pool the application made (feature
    /// `deadpool`): redis-py's `DatabaseConfig(from_pool=…)`. Each command checks a
    /// connection out and puts it back, so the pool's size bounds the connections; health
    /// probes go through it too, and a pinned connection is one connection checked out
    /// until it is dropped. Checking out is bounded by [`Self::connection_timeout`], each
    /// reply by [`Self::response_timeout`]; commands in flight when the member fails are
    /// abandoned and its idle connections dropped. The client owns the pool from then on:
    /// `close()` (or removing the member) closes it. The pool's manager has the
    /// credentials, protocol and TLS: `build()` refuses them here. Shown as `pool#N`
    /// unless [`Self::name`] says otherwise.
    #[cfg(feature = "deadpool")]
    pub fn from_pool(pool: deadpool_redis::Pool) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::with_source(Endpoint::named(format!("pool#{n}")), Source::Pool(pool))
    }

    /// How a pinned connection to this application-made member gets a connection of its
    /// own (a [`from_connection`](Self::from_connection) member only): `factory` makes one
    /// per [`crate::MultiDbClient::pinned`], within [`Self::connection_timeout`], so that
    /// `WATCH`/`MULTI`/`EXEC` and blocking commands never share the member's connection.
    /// Without it, `pinned()` on this member is refused. `build()` refuses it on other
    /// kinds, which make their own.
    ///
    /// ```no_run
    /// # async fn f() -> redis::RedisResult<()> {
    /// use multidb_client::DatabaseConfig;
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let shared = client.get_connection_manager().await?;
    /// let db = DatabaseConfig::from_connection(shared).pinned_connections(move || {
    ///     let client = client.clone();
    ///     async move { client.get_multiplexed_async_connection().await }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn pinned_connections<F, Fut, C>(mut self, factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = redis::RedisResult<C>> + Send + 'static,
        C: redis::aio::ConnectionLike + Send + Sync + 'static,
    {
        if !matches!(self.spec.source, Source::Connection(_)) {
            self.not_applicable
                .push(("pinned_connections", NEEDS_APP_MEMBER));
        }
        self.spec.pinned_factory = Some(Arc::new(move || {
            let made = factory();
            Box::pin(async move {
                made.await
                    .map(|c| Box::new(c) as Box<dyn crate::source::DynConnectionLike>)
            })
        }));
        self
    }

    /// Where a subscriber to this application-made member connects (a
    /// [`from_connection`](Self::from_connection) or `from_pool` member only): the client
    /// opens its own RESP3 connection with `client`'s address, credentials and TLS, within
    /// [`Self::connection_timeout`], so [`crate::MultiDbClient::pubsub`] works on a client
    /// with such members. Without it, `pubsub()` is refused. `build()` refuses it on other
    /// kinds, which make their own.
    ///
    /// ```no_run
    /// # async fn f() -> redis::RedisResult<()> {
    /// use multidb_client::DatabaseConfig;
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let shared = client.get_connection_manager().await?;
    /// let db = DatabaseConfig::from_connection(shared).pubsub_client(client);
    /// # Ok(()) }
    /// ```
    pub fn pubsub_client(mut self, client: redis::Client) -> Self {
        #[cfg(feature = "deadpool")]
        let made_by_app = matches!(self.spec.source, Source::Connection(_) | Source::Pool(_));
        #[cfg(not(feature = "deadpool"))]
        let made_by_app = matches!(self.spec.source, Source::Connection(_));
        if !made_by_app {
            self.not_applicable
                .push(("pubsub_client", NEEDS_APP_MEMBER));
        }
        self.spec.pubsub_client = Some(client);
        self
    }

    /// A Redis Cluster member, from seed node URLs (feature `cluster`). The member is
    /// healthy when every master answers.
    ///
    /// # Errors
    /// [`ConfigError::NoDatabases`] for an empty seed list, or a URL error as in
    /// [`Self::from_url`].
    #[cfg(feature = "cluster")]
    pub fn from_cluster_urls<I, S>(seeds: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let infos = seeds
            .into_iter()
            .map(|s| parse_url(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = infos.first() else {
            return Err(ConfigError::NoDatabases);
        };
        let endpoint = Endpoint::named(format!("cluster({})", Endpoint::from_info(first)));
        Ok(Self::with_source(endpoint, Source::Cluster(infos)))
    }

    /// A member whose master is found through Redis Sentinel (feature `sentinel`): the
    /// Sentinels' URLs and the name they monitor the master under. The member follows
    /// Sentinel's promotions. Shown as `sentinel(NAME@first-sentinel)`.
    ///
    /// Each Sentinel is reached with its own URL's credentials and TLS. The master is
    /// reached as the first URL says — TLS for `rediss://`, its user name, password, db and
    /// protocol — unless [`Self::username`], [`Self::password`] or [`Self::protocol`] say
    /// otherwise; [`Self::tls_root_cert`] and [`Self::tls_client_cert`] apply to every
    /// connection the member opens.
    ///
    /// # Errors
    /// [`ConfigError::NoDatabases`] for an empty Sentinel list, a URL error as in
    /// [`Self::from_url`], or [`ConfigError::InvalidValue`] (`master_name`) for a master
    /// name that is empty or holds whitespace or control characters (Sentinel cannot
    /// monitor such a name).
    #[cfg(feature = "sentinel")]
    pub fn from_sentinel<I, S>(sentinels: I, master_name: &str) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if master_name.is_empty()
            || master_name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::InvalidValue {
                field: "master_name",
                value: format!("{master_name:?}"),
                expected: "a Sentinel master name: not empty, no whitespace or control characters",
            });
        }
        let infos = sentinels
            .into_iter()
            .map(|s| parse_url(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = infos.first() else {
            return Err(ConfigError::NoDatabases);
        };
        let endpoint = Endpoint::named(format!(
            "sentinel({master_name}@{})",
            Endpoint::from_info(first)
        ));
        let master = first.redis_settings().clone();
        Ok(Self::with_source(
            endpoint,
            Source::Sentinel {
                sentinels: infos,
                master_name: master_name.to_owned(),
                master,
            },
        ))
    }

    fn with_source(endpoint: Endpoint, source: Source) -> Self {
        DatabaseConfig {
            spec: MemberSpec {
                source,
                pinned_factory: None,
                pubsub_client: None,
                health_check_url: None,
                response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
                connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
                tls: TlsSettings::default(),
                transport: None,
            },
            endpoint,
            weight: DEFAULT_WEIGHT,
            grace_period: DEFAULT_GRACE_PERIOD,
            checks: CheckPlan::default(),
            circuit: CircuitOverrides::default(),
            not_applicable: Vec::new(),
            #[cfg(feature = "lag-aware")]
            lag_aware: None,
        }
    }

    /// Trust this CA (PEM) for a `rediss://` member instead of the system's roots
    /// (feature `tls`). Certificates are always verified.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.spec.tls.root_cert = Some(ca_pem.into());
        self
    }

    /// Authenticate to a `rediss://` member with this client certificate and key (PEM,
    /// feature `tls`). The key is never shown.
    #[cfg(feature = "tls")]
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.spec.tls.client_cert = Some(cert_pem.into());
        self.spec.tls.client_key = Some(key_pem.into());
        self
    }

    /// Its weight (default 1.0, must be finite and > 0): the healthy database with the
    /// highest weight is active; ties go to the one added first.
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// How long it must stay healthy after a failure before traffic falls back to it
    /// (default 60 s): anti-flapping.
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// This database's circuit breaker trips only after at least this many failures in its
    /// window (overrides [`MultiDbConfigBuilder::min_num_failures`](crate::MultiDbConfigBuilder::min_num_failures)
    /// for this database: a far region may tolerate more than the local one). At least 1.
    pub fn min_num_failures(mut self, failures: u32) -> Self {
        self.circuit.min_num_failures = Some(failures);
        self
    }

    /// This database's breaker trips when this share of its commands in the window failed
    /// (overrides [`MultiDbConfigBuilder::failure_rate_threshold`](crate::MultiDbConfigBuilder::failure_rate_threshold)
    /// for this database). In (0, 1].
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.circuit.failure_rate_threshold = Some(rate);
        self
    }

    /// The sliding window this database's breaker counts failures over (overrides
    /// [`MultiDbConfigBuilder::failures_detection_window`](crate::MultiDbConfigBuilder::failures_detection_window)
    /// for this database).
    pub fn failures_detection_window(mut self, window: Duration) -> Self {
        self.circuit.window = Some(window);
        self
    }

    /// The Redis Enterprise cluster REST endpoint of this database (e.g.
    /// `https://cluster.example.com:9443`, feature `lag-aware`): the database then also
    /// runs the lag-aware check ([`crate::LagAwareCheck`]), with the client-wide settings
    /// of [`MultiDbConfigBuilder::lag_aware_check`](crate::MultiDbConfigBuilder::lag_aware_check) or this database's own
    /// ([`Self::lag_aware_check`]). **Lag gates, it does not evict**: a lagging database is
    /// not made active (failover or fallback target) while another one is usable, but lag
    /// alone never moves traffic off the active database while its other checks pass —
    /// unless [`MultiDbConfigBuilder::evict_on_lag`](crate::MultiDbConfigBuilder::evict_on_lag) says so. Without the feature,
    /// `build()` refuses it.
    pub fn health_check_url(mut self, url: impl Into<String>) -> Self {
        self.spec.health_check_url = Some(url.into());
        self
    }

    /// The lag-aware check settings (REST credentials, CA, lag tolerance) for this
    /// database, instead of the client-wide ones (feature `lag-aware`; used with
    /// [`Self::health_check_url`]).
    #[cfg(feature = "lag-aware")]
    pub fn lag_aware_check(mut self, check: crate::LagAwareCheck) -> Self {
        self.lag_aware = Some(check);
        self
    }

    /// Adds a health check this database runs on top of the client-wide ones (all must
    /// pass). `PING` stays: replacing is [`Self::replace_health_checks`].
    pub fn health_check(mut self, check: Arc<dyn HealthCheck<Database>>) -> Self {
        self.checks.added.push(check);
        self
    }

    /// This database runs these checks instead of the client-wide ones (`PING`
    /// included), plus any added with [`Self::health_check`]. At least one check must be
    /// left: `build()` refuses an empty list.
    pub fn replace_health_checks(mut self, checks: Vec<Arc<dyn HealthCheck<Database>>>) -> Self {
        self.checks.replaced = Some(checks);
        self
    }

    /// How long a command may wait for its reply before it counts as a failure (default
    /// 500 ms), for every kind of member. `None` sets no per-command bound; a command then
    /// still ends when its database fails over or closes.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.spec.response_timeout = timeout;
        self
    }

    /// How long connecting (TCP, TLS, HELLO/AUTH/SELECT; for a Sentinel member, asking the
    /// Sentinels too) may take (default 1 s). For an application's connection, how long
    /// its [`Self::pinned_connections`] factory may take; for a pool, a checkout.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.spec.connection_timeout = timeout;
        self
    }

    /// The RESP version (default: from the URL's `?protocol=`, else RESP2). For a Sentinel
    /// member, the master's; for a cluster, every node's. An application's connection
    /// has its own: `build()` refuses it there.
    pub fn protocol(self, protocol: Protocol) -> Self {
        self.with_handshake("protocol", |redis| redis.set_protocol(protocol.into()))
    }

    /// The ACL user name (overrides the URL's). For a Sentinel member, the master's (the
    /// Sentinels keep their URLs' own); for a cluster, every node's. `build()` refuses it
    /// on an application's connection.
    pub fn username(self, username: impl AsRef<str>) -> Self {
        self.with_handshake("username", |redis| redis.set_username(username.as_ref()))
    }

    /// The password (overrides the URL's; never shown anywhere). For a Sentinel member,
    /// the master's (the Sentinels keep their URLs' own); for a cluster, every node's.
    /// `build()` refuses it on an application's connection.
    pub fn password(self, password: impl AsRef<str>) -> Self {
        self.with_handshake("password", |redis| redis.set_password(password.as_ref()))
    }

    /// Changes the data nodes' handshake settings; on an application's connection, notes
    /// `field` for `build()` to refuse.
    fn with_handshake(
        mut self,
        field: &'static str,
        change: impl Fn(redis::RedisConnectionInfo) -> redis::RedisConnectionInfo,
    ) -> Self {
        let changed = |info: &ConnectionInfo| {
            let redis = change(info.redis_settings().clone());
            info.clone().set_redis_settings(redis)
        };
        match &mut self.spec.source {
            Source::Url(info) => **info = changed(info),
            #[cfg(feature = "sentinel")]
            Source::Sentinel { master, .. } => *master = change(master.clone()),
            #[cfg(feature = "cluster")]
            Source::Cluster(seeds) => {
                for seed in seeds {
                    *seed = changed(seed);
                }
            }
            Source::Connection(_) => self.not_applicable.push((field, MADE_BY_APP)),
            #[cfg(feature = "deadpool")]
            Source::Pool(_) => self.not_applicable.push((field, MADE_BY_APP)),
        }
        self
    }

    /// How this URL or Sentinel member opens its byte streams (default: TCP and Unix
    /// sockets): see [`crate::transport`]. TLS and the handshake still run on top of what
    /// `transport` returns, within [`Self::connection_timeout`]. `build()` refuses it on
    /// cluster members, pools and application connections, whose sockets are opened
    /// elsewhere.
    pub fn transport(mut self, transport: Arc<dyn crate::transport::Transport>) -> Self {
        if !self.spec.opens_own_sockets() {
            self.not_applicable.push((
                "transport",
                "set only on a URL or Sentinel member: the others open their sockets inside \
                 redis-rs, deadpool or the application",
            ));
        }
        self.spec.transport = Some(transport);
        self
    }

    /// How this database is shown in events, errors and logs (default: `host:port/db`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.endpoint = Endpoint::named(name);
        self
    }

    /// Where it lives, as shown (no password).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Its configured weight.
    pub fn weight_value(&self) -> f64 {
        self.weight
    }

    /// Refuses REST credentials over plain `http://`: this database's own lag-aware check,
    /// or else `client_wide`, must not have credentials for an `http://` health_check_url
    /// unless it allows insecure http.
    #[cfg(feature = "lag-aware")]
    pub(crate) fn validate_rest_transport(
        &self,
        client_wide: Option<&crate::LagAwareCheck>,
    ) -> Result<(), ConfigError> {
        let Some(url) = &self.spec.health_check_url else {
            return Ok(());
        };
        let check = self.lag_aware.as_ref().or(client_wide);
        if check.is_some_and(|check| check.refuses(url)) {
            return Err(ConfigError::InvalidUrl {
                url: redact_url(url),
                reason: crate::lag_aware::PLAIN_HTTP_REFUSED.to_owned(),
            });
        }
        Ok(())
    }

    /// Checks what a database can check on its own (weight, durations, URLs): at
    /// [`MultiDbConfigBuilder::build`] and for a database added at run time.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        validate_weight(&self.endpoint, self.weight)?;
        if let Some((field, expected)) = self.not_applicable.first() {
            return Err(ConfigError::InvalidValue {
                field,
                value: "set".to_owned(),
                expected,
            });
        }
        validate_transport(&self.spec)?;
        at_most_max("grace_period", self.grace_period)?;
        if let Some(timeout) = self.spec.response_timeout {
            if timeout.is_zero() {
                return Err(ConfigError::invalid(
                    "response_timeout",
                    timeout,
                    "greater than zero, or None to wait forever",
                ));
            }
            at_most_max("response_timeout", timeout)?;
        }
        nonzero("connection_timeout", self.spec.connection_timeout)?;
        at_most_max("connection_timeout", self.spec.connection_timeout)?;
        if let Some(url) = &self.spec.health_check_url {
            if !cfg!(feature = "lag-aware") {
                return Err(ConfigError::FeatureNotEnabled {
                    field: "health_check_url",
                    feature: "lag-aware",
                });
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::InvalidUrl {
                    url: redact_url(url),
                    reason: "health_check_url must be an http:// or https:// URL".to_owned(),
                });
            }
        }
        self.checks.validate()?;
        Ok(())
    }
}

/// Every connection address of the member: no `#insecure`; certificates only for a member
/// with TLS connections, and well-formed; cluster seeds that make one cluster.
fn validate_transport(spec: &MemberSpec) -> Result<(), ConfigError> {
    let infos: Vec<&ConnectionInfo> = match &spec.source {
        Source::Url(info) => vec![info],
        #[cfg(feature = "cluster")]
        Source::Cluster(seeds) => seeds.iter().collect(),
        #[cfg(feature = "sentinel")]
        Source::Sentinel { sentinels, .. } => sentinels.iter().collect(),
        Source::Connection(_) => Vec::new(),
        #[cfg(feature = "deadpool")]
        Source::Pool(_) => Vec::new(),
    };
    let mut tls = false;
    for info in &infos {
        if let redis::ConnectionAddr::TcpTls { insecure, .. } = info.addr() {
            if *insecure {
                return Err(crate::connector::insecure_refused());
            }
            tls = true;
        }
    }
    let certificates = [
        ("tls_root_cert", spec.tls.root_cert.is_some()),
        ("tls_client_cert", spec.tls.client_cert.is_some()),
    ];
    if let Some((field, _)) = certificates.iter().find(|(_, given)| *given) {
        if !tls {
            return Err(ConfigError::InvalidValue {
                field,
                value: "set".to_owned(),
                expected: "a member with rediss:// URLs: certificates are for TLS connections",
            });
        }
        #[cfg(feature = "tls")]
        crate::connector::check_certificates(&spec.tls)?;
    }
    #[cfg(feature = "cluster")]
    if let Source::Cluster(seeds) = &spec.source {
        crate::cluster::check_seeds(seeds)?;
    }
    Ok(())
}

/// Checks a database weight: finite and greater than zero.
pub(crate) fn validate_weight(endpoint: &Endpoint, weight: f64) -> Result<(), ConfigError> {
    // Written so that NaN fails the check.
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::InvalidWeight {
            endpoint: endpoint.to_string(),
            value: weight,
        })
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("endpoint", &self.endpoint)
            .field("weight", &self.weight)
            .field("grace_period", &self.grace_period)
            .field("circuit", &self.circuit)
            .field(
                "health_check_url",
                &self.spec.health_check_url.as_deref().map(redact_url),
            )
            .field("response_timeout", &self.spec.response_timeout)
            .field("connection_timeout", &self.spec.connection_timeout)
            .field("tls_root_cert", &self.spec.tls.root_cert.is_some())
            .field("tls_client_cert", &self.spec.tls.client_cert.is_some())
            .field("transport", &self.spec.transport.as_ref().map(|_| "custom"))
            .finish_non_exhaustive()
    }
}
