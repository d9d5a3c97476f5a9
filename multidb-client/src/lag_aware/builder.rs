//! Building a [`LagAwareCheck`]: settings checked once, certificates parsed up front.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    Credentials, DEFAULT_LAG_TOLERANCE, DEFAULT_REST_API_PORT, DEFAULT_TIMEOUT, LagAwareCheck,
    Shared, http,
};
use crate::error::ConfigError;
use crate::tls::{LAG_AWARE_FIELDS, TlsConfig, TlsOptions};

/// Builds a [`LagAwareCheck`].
#[must_use]
pub struct LagAwareCheckBuilder {
    rest_api_port: u16,
    lag_tolerance: Option<Duration>,
    timeout: Duration,
    credentials: Option<(String, String)>,
    insecure_http: bool,
    tls: TlsOptions,
}

impl LagAwareCheckBuilder {
    pub(super) fn new() -> Self {
        LagAwareCheckBuilder {
            rest_api_port: DEFAULT_REST_API_PORT,
            lag_tolerance: Some(DEFAULT_LAG_TOLERANCE),
            timeout: DEFAULT_TIMEOUT,
            credentials: None,
            insecure_http: false,
            tls: TlsOptions::new(LAG_AWARE_FIELDS),
        }
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

    /// Let [`Self::basic_auth`] credentials go to `http://` REST APIs, in clear text
    /// (default false: a database with an `http://` `health_check_url` and a check with
    /// credentials is refused at `build()`, or fails its check). Only for a REST API
    /// reached over a network that is already private and encrypted.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.insecure_http = allow;
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
                insecure_http: self.insecure_http,
                tls: TlsConfig::new(self.tls)?,
                uids: Mutex::new(HashMap::new()),
            }),
        })
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
            .field("insecure_http", &self.insecure_http)
            .finish_non_exhaustive()
    }
}
