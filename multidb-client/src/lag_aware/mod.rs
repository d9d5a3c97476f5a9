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

pub(crate) mod bdb;
mod builder;
pub(crate) mod http;

pub use builder::LagAwareCheckBuilder;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::event::DatabaseId;
use crate::member::Database;
use crate::{HealthCheck, Unhealthy};

use tokio_rustls::rustls::ClientConfig;

use self::http::BaseUrl;
use crate::tls::{LAG_AWARE_FIELDS, TlsConfig};

/// Defaults of the check.
pub(crate) const DEFAULT_REST_API_PORT: u16 = 9443;
pub(crate) const DEFAULT_LAG_TOLERANCE: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of an error body a reason quotes.
const EXCERPT_CHARS: usize = 200;

/// A health check that asks the Redis Enterprise REST API whether a member's database is
/// available and within its replication-lag tolerance.
///
/// Per member: the bdb uid is found once with `GET /v1/bdbs?fields=uid,endpoints` (matched by
/// endpoint DNS name or address, and port) and remembered until a probe fails; each probe is
/// `GET /v1/bdbs/{uid}/availability?extend_check=lag&availability_lag_tolerance_ms=N`, healthy
/// on 2xx.
///
/// Cheap to clone; one instance serves every member (its state is kept per member).
#[derive(Clone)]
pub struct LagAwareCheck {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) rest_api_port: u16,
    pub(crate) lag_tolerance: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) credentials: Option<Credentials>,
    /// `allow_insecure_http(true)`: credentials may go over plain `http://`.
    pub(crate) insecure_http: bool,
    pub(crate) tls: TlsConfig,
    /// The bdb uid of each member, found once.
    pub(crate) uids: Mutex<HashMap<CacheKey, String>>,
}

/// A member as seen by one check: ids are only unique within one client, so the REST URL
/// and the endpoint are part of the key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    id: DatabaseId,
    rest: String,
    endpoint: String,
}

/// Why a check with credentials does not call an `http://` REST API.
pub(crate) const PLAIN_HTTP_REFUSED: &str = "the lag-aware check has REST credentials and \
     will not send them over plain http://: use an https:// health_check_url, or \
     allow_insecure_http(true) on the check";

impl CacheKey {
    fn of(db: &Database) -> Self {
        CacheKey {
            id: db.id(),
            rest: db.health_check_url().unwrap_or_default().to_owned(),
            endpoint: db.endpoint().as_str().to_owned(),
        }
    }
}

pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
    /// `Basic base64(user:password)`: as secret as the password.
    pub(crate) header: String,
}

impl LagAwareCheck {
    /// A builder with the defaults: port 9443, lag tolerance 5000 ms, timeout 3 s, no
    /// authentication, system CA roots.
    pub fn builder() -> LagAwareCheckBuilder {
        LagAwareCheckBuilder::new()
    }

    /// Whether it would refuse to call the REST API at `url`: it has credentials, `url` is
    /// plain `http://` and insecure http was not allowed.
    pub(crate) fn refuses(&self, url: &str) -> bool {
        self.inner.credentials.is_some()
            && !self.inner.insecure_http
            && BaseUrl::parse(url, self.inner.rest_api_port).is_ok_and(|base| !base.tls)
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
        if self.refuses(url) {
            return Err(PLAIN_HTTP_REFUSED.to_owned());
        }
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
                insecure_http: false,
                tls: TlsConfig::lazy(LAG_AWARE_FIELDS),
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
        let key = CacheKey::of(db);
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

    /// A removed database's bdb uid is forgotten: the cache holds only members.
    fn removed(&self, db: &Database) {
        self.uids().remove(&CacheKey::of(db));
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
