//! The lag-aware health check for Redis Enterprise Active-Active members (feature
//! `lag-aware`): a member is healthy when the cluster's REST API says its database is
//! available *and* its replication lag is within a tolerance, so traffic leaves a member
//! that still answers `PING` but has fallen behind its peers.
//!
//! For each member the check asks the REST API at the member's
//! [`health_check_url`](crate::DatabaseConfig::health_check_url) (port 9443 when the URL
//! names none):
//!
//! 1. once, `GET /v1/bdbs?fields=uid,endpoints`, and picks the database (bdb) with an
//!    endpoint whose `dns_name` or one of whose `addr` entries is the member's host, on the
//!    member's port. The uid is remembered per member and forgotten after any failed probe,
//!    so a database that was recreated is found again;
//! 2. every probe, `GET /v1/bdbs/{uid}/availability?extend_check=lag&availability_lag_tolerance_ms=N`
//!    (tolerance 5000 ms by default); a 2xx answer is healthy, anything else unhealthy with
//!    the status and the start of the body as the reason.
//!
//! Unlike redis-py's `LagAwareHealthCheck`, nothing is shared and mutated between members
//! (each request carries its own base URL, so concurrent checks of two members cannot mix),
//! and the bdb list is not fetched again on every probe. HTTPS certificates are always
//! verified (system roots, or the CA given to [`LagAwareCheckBuilder::root_cert_pem`]); the
//! basic-auth password never appears in `Debug`, reasons or logs.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use multidb_client::{DatabaseConfig, LagAwareCheck, MultiDbConfig};
//!
//! let check = LagAwareCheck::builder()
//!     .basic_auth("monitor@example.com", "s3cret")
//!     .lag_tolerance(Duration::from_millis(100))
//!     .build()?;
//! assert!(!format!("{check:?}").contains("s3cret"));
//! let config = MultiDbConfig::builder()
//!     .database(
//!         DatabaseConfig::from_url("redis://redis-12000.cluster-a.example.com:12000")?
//!             .health_check_url("https://cluster-a.example.com:9443"),
//!     )
//!     .health_check(Arc::new(check))
//!     .build()?;
//! # let _ = config;
//! # Ok::<(), multidb_client::ConfigError>(())
//! ```

mod bdb;
mod http;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::ConfigError;
use crate::event::DatabaseId;
use crate::member::Database;
use crate::{HealthCheck, Unhealthy};

use tokio_rustls::rustls::ClientConfig;

use self::http::BaseUrl;
use self::tls::{TlsConfig, TlsOptions};

/// Defaults of the check.
const DEFAULT_REST_API_PORT: u16 = 9443;
const DEFAULT_LAG_TOLERANCE: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of an error body a reason quotes.
const EXCERPT_CHARS: usize = 200;

/// A health check that asks the Redis Enterprise REST API whether a member's database is
/// available and within its replication-lag tolerance. See the [module docs](self).
///
/// Cheap to clone; one instance serves every member (its state is kept per member).
#[derive(Clone)]
pub struct LagAwareCheck {
    inner: Arc<Shared>,
}

struct Shared {
    rest_api_port: u16,
    lag_tolerance: Option<Duration>,
    timeout: Duration,
    credentials: Option<Credentials>,
    tls: TlsConfig,
    /// The bdb uid of each member, found once.
    uids: Mutex<HashMap<CacheKey, String>>,
}

/// A member as seen by one check: ids are only unique within one client, so the REST URL
/// and the endpoint are part of the key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    id: DatabaseId,
    rest: String,
    endpoint: String,
}

struct Credentials {
    username: String,
    password: String,
    /// `Basic base64(user:password)`: as secret as the password.
    header: String,
}

/// Builds a [`LagAwareCheck`].
#[must_use]
pub struct LagAwareCheckBuilder {
    rest_api_port: u16,
    lag_tolerance: Option<Duration>,
    timeout: Duration,
    credentials: Option<(String, String)>,
    tls: TlsOptions,
}

impl LagAwareCheck {
    /// A builder with the defaults: port 9443, lag tolerance 5000 ms, timeout 3 s, no
    /// authentication, system CA roots.
    pub fn builder() -> LagAwareCheckBuilder {
        LagAwareCheckBuilder {
            rest_api_port: DEFAULT_REST_API_PORT,
            lag_tolerance: Some(DEFAULT_LAG_TOLERANCE),
            timeout: DEFAULT_TIMEOUT,
            credentials: None,
            tls: TlsOptions::default(),
        }
    }

    /// Forgets every remembered bdb uid (they are found again on the next probes).
    pub fn forget_uids(&self) {
        self.uids().clear();
    }

    fn uids(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, String>> {
        // The map stays consistent whatever panicked while holding it: plain inserts.
        self.inner
            .uids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn probe(&self, db: &Database, key: &CacheKey) -> Result<(), String> {
        let url = db.health_check_url().ok_or_else(|| {
            format!(
                "database {} has no health_check_url (the REST API address)",
                db.endpoint()
            )
        })?;
        let base = BaseUrl::parse(url, self.inner.rest_api_port)?;
        let tls = if base.tls {
            Some(self.inner.tls.get()?)
        } else {
            None
        };
        let auth = self.inner.credentials.as_ref().map(|c| c.header.as_str());
        let cached = self.uids().get(key).cloned();
        let uid = if let Some(uid) = cached {
            uid
        } else {
            let uid = self.find_uid(db, &base, auth, tls).await?;
            self.uids().insert(key.clone(), uid.clone());
            uid
        };
        let target = match self.inner.lag_tolerance {
            Some(tolerance) => format!(
                "/v1/bdbs/{uid}/availability?extend_check=lag&availability_lag_tolerance_ms={}",
                tolerance.as_millis()
            ),
            None => format!("/v1/bdbs/{uid}/availability"),
        };
        let response = http::get(&base, &target, auth, tls).await?;
        if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(status_reason(
                &format!("availability of bdb {uid}"),
                &response,
            ))
        }
    }

    /// Looks the member up in the REST API's database list.
    async fn find_uid(
        &self,
        db: &Database,
        base: &BaseUrl,
        auth: Option<&str>,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<String, String> {
        let targets = bdb::redis_addrs(db);
        if targets.is_empty() {
            return Err(format!(
                "database {} has no host and port to look up in the REST API",
                db.endpoint()
            ));
        }
        let response = http::get(base, "/v1/bdbs?fields=uid,endpoints", auth, tls).await?;
        if !(200..300).contains(&response.status) {
            return Err(status_reason("the bdb list", &response));
        }
        let list: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| format!("the bdb list is not JSON: {e}"))?;
        let uid = bdb::find_uid(&list, &targets)?.ok_or_else(|| {
            format!(
                "no bdb has an endpoint matching {} in the REST API's list",
                db.endpoint()
            )
        })?;
        tracing::debug!(database = %db.id(), uid = %uid, "lag-aware check found the bdb");
        Ok(uid)
    }

    /// Removes anything secret a reason might quote (a server echoing the request, say).
    fn scrub(&self, mut reason: String) -> String {
        if let Some(c) = &self.inner.credentials {
            for secret in [&c.header, &c.password] {
                if !secret.is_empty() && reason.contains(secret.as_str()) {
                    reason = reason.replace(secret.as_str(), "***");
                }
            }
        }
        reason
    }
}

impl Default for LagAwareCheck {
    /// The check with every default (see [`LagAwareCheck::builder`]).
    fn default() -> Self {
        LagAwareCheck {
            inner: Arc::new(Shared {
                rest_api_port: DEFAULT_REST_API_PORT,
                lag_tolerance: Some(DEFAULT_LAG_TOLERANCE),
                timeout: DEFAULT_TIMEOUT,
                credentials: None,
                tls: TlsConfig::lazy(),
                uids: Mutex::new(HashMap::new()),
            }),
        }
    }
}

fn status_reason(what: &str, response: &http::Response) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let mut excerpt: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        excerpt.push('…');
    }
    let excerpt = excerpt.trim();
    if excerpt.is_empty() {
        format!("{what} answered HTTP {}", response.status)
    } else {
        format!("{what} answered HTTP {}: {excerpt}", response.status)
    }
}

#[async_trait::async_trait]
impl HealthCheck<Database> for LagAwareCheck {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        let key = CacheKey {
            id: db.id(),
            rest: db.health_check_url().unwrap_or_default().to_owned(),
            endpoint: db.endpoint().as_str().to_owned(),
        };
        let outcome = tokio::time::timeout(self.inner.timeout, self.probe(db, &key))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the REST API did not answer within {:?}",
                    self.inner.timeout
                ))
            });
        outcome.map_err(|reason| {
            // The uid may be what is wrong (the database was recreated): find it again.
            self.uids().remove(&key);
            let reason = self.scrub(reason);
            tracing::debug!(database = %db.id(), reason = %reason, "lag-aware check failed");
            Unhealthy::new(format!("lag-aware: {reason}"))
        })
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's signature
    fn name(&self) -> &str {
        "lag-aware"
    }
}

impl LagAwareCheckBuilder {
    /// The REST API port used when a `health_check_url` names none (default 9443).
    pub fn rest_api_port(mut self, port: u16) -> Self {
        self.rest_api_port = port;
        self
    }

    /// The replication lag a healthy database may have (default 5000 ms), sent as
    /// `availability_lag_tolerance_ms`.
    pub fn lag_tolerance(mut self, tolerance: Duration) -> Self {
        self.lag_tolerance = Some(tolerance);
        self
    }

    /// Whether to check the lag at all (default true). Off, the check asks only whether the
    /// database is available (`GET /v1/bdbs/{uid}/availability` without `extend_check`).
    pub fn lag_check(mut self, enabled: bool) -> Self {
        self.lag_tolerance = if enabled {
            Some(self.lag_tolerance.unwrap_or(DEFAULT_LAG_TOLERANCE))
        } else {
            None
        };
        self
    }

    /// How long one probe (both requests) may take (default 3 s). The client's
    /// `health_check_timeout` bounds it too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// HTTP basic authentication for the REST API. The password is never shown.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), password.into()));
        self
    }

    /// Trust this CA (PEM, one or more certificates) for `https://` REST APIs instead of the
    /// system's roots. Certificates are always verified.
    pub fn root_cert_pem(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert_pem = Some(ca_pem.into());
        self
    }

    /// Present this client certificate and key (PEM) to the REST API (mutual TLS). The key
    /// is never shown.
    pub fn client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_cert = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Checks the settings and returns the check.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] for a zero `timeout`, a user name containing `:`, or
    /// certificates or a key that are not valid PEM.
    pub fn build(self) -> Result<LagAwareCheck, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::invalid(
                "lag_aware.timeout",
                self.timeout,
                "greater than zero",
            ));
        }
        let credentials = match self.credentials {
            Some((username, _)) if username.contains(':') => {
                return Err(ConfigError::invalid(
                    "lag_aware.basic_auth",
                    username,
                    "a user name without ':'",
                ));
            }
            Some((username, password)) => Some(Credentials {
                header: format!(
                    "Basic {}",
                    http::base64(format!("{username}:{password}").as_bytes())
                ),
                username,
                password,
            }),
            None => None,
        };
        Ok(LagAwareCheck {
            inner: Arc::new(Shared {
                rest_api_port: self.rest_api_port,
                lag_tolerance: self.lag_tolerance,
                timeout: self.timeout,
                credentials,
                tls: TlsConfig::new(self.tls)?,
                uids: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl fmt::Debug for LagAwareCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner;
        f.debug_struct("LagAwareCheck")
            .field("rest_api_port", &s.rest_api_port)
            .field("lag_tolerance", &s.lag_tolerance)
            .field("timeout", &s.timeout)
            .field(
                "username",
                &s.credentials.as_ref().map(|c| c.username.as_str()),
            )
            .field("password", &s.credentials.as_ref().map(|_| "<redacted>"))
            .field("custom_ca", &s.tls.has_custom_ca())
            .field("client_cert", &s.tls.has_client_cert())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LagAwareCheckBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagAwareCheckBuilder")
            .field("rest_api_port", &self.rest_api_port)
            .field("lag_tolerance", &self.lag_tolerance)
            .field("timeout", &self.timeout)
            .field("username", &self.credentials.as_ref().map(|c| c.0.as_str()))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let b = LagAwareCheck::builder().basic_auth("u", "pa55word");
        assert!(!format!("{b:?}").contains("pa55word"));
        let c = b.build().unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pa55word") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn reasons_are_scrubbed_of_the_password_and_its_header() {
        let c = LagAwareCheck::builder()
            .basic_auth("u", "pa55word")
            .build()
            .unwrap();
        let header = http::base64(b"u:pa55word");
        let r = c.scrub(format!("echo pa55word and Basic {header}"));
        assert!(!r.contains("pa55word") && !r.contains(&header), "{r}");
    }

    #[test]
    fn bad_settings_are_config_errors_naming_the_field() {
        let e = LagAwareCheck::builder()
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("lag_aware.timeout"), "{e}");
        let e = LagAwareCheck::builder()
            .root_cert_pem("not pem")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("lag_aware.root_cert"), "{e}");
        let e = LagAwareCheck::builder()
            .basic_auth("a:b", "pw")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        let r = http::Response {
            status: 503,
            body: format!("{{\"error\":\n\"{}\"}}", "x".repeat(500)).into_bytes(),
        };
        let reason = status_reason("availability of bdb 1", &r);
        assert!(reason.starts_with("availability of bdb 1 answered HTTP 503: {\"error\": \"x"));
        assert!(
            !reason.contains('\n') && reason.chars().count() < 260,
            "{reason}"
        );
    }
}
