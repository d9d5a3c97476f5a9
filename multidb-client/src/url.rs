//! Parsing member URLs: schemes, TLS availability and errors that never show the password.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::endpoint::redact_url;
use crate::error::ConfigError;

/// Schemes a member URL may use.
const SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "valkey",
    "valkeys",
    "unix",
    "redis+unix",
    "valkey+unix",
];

/// A member URL, parsed and checked.
pub(crate) fn parse_url(url: &str) -> Result<ConnectionInfo, ConfigError> {
    let shown = redact_url(url);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let Some(scheme) = scheme else {
        return Err(ConfigError::InvalidUrl {
            url: shown,
            reason: "expected scheme://host:port, e.g. redis://127.0.0.1:6379/0".to_owned(),
        });
    };
    if !SCHEMES.contains(&scheme.as_str()) {
        return Err(ConfigError::UnsupportedScheme { url: shown, scheme });
    }
    if matches!(scheme.as_str(), "rediss" | "valkeys") && !cfg!(feature = "tls") {
        return Err(ConfigError::TlsNotEnabled { url: shown });
    }
    let info = url
        .into_connection_info()
        .map_err(|e| ConfigError::InvalidUrl {
            url: shown.clone(),
            reason: e.detail().map_or_else(
                || e.to_string(),
                |detail| format!("{}: {detail}", e.category()),
            ),
        })?;
    if let ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } = info.addr()
        && host.is_empty()
    {
        return Err(ConfigError::InvalidUrl {
            url: shown,
            reason: "missing host".to_owned(),
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_other_schemes_and_names_the_scheme() {
        let err = parse_url("http://user:pw@h:1").unwrap_err();
        assert!(
            matches!(err, ConfigError::UnsupportedScheme { ref scheme, .. } if scheme == "http")
        );
        assert!(!err.to_string().contains("pw@"));
    }

    #[test]
    fn parse_error_never_shows_the_password() {
        let err = parse_url("redis://u:topsecret@h:1/notanumber").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let err = parse_url("redis://u:topsecret@:1/0").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }
}
