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
    if scheme.ends_with("unix") && url.contains('@') {
        // redis-rs reads `unix://user:pw@/s.sock` as a socket path holding the password.
        return Err(ConfigError::InvalidUrl {
            url: shown,
            reason: "an `@` in a unix:// URL: a socket's password goes in the query \
                     (`unix:///run/redis.sock?pass=…`), percent-encoded"
                .to_owned(),
        });
    }
    if !scheme.ends_with("unix") && has_at_past_authority(url) {
        // `redis://:pa/ss@host` parses as host `pa`, or fails: the password would end up
        // as a host name (shown, and sent to DNS). Refuse it, saying what to do.
        return Err(ConfigError::InvalidUrl {
            url: shown,
            reason: "an `@` after the first `/`, `?` or `#`: a password (or user name) holding \
                     one of `/?#@` must be percent-encoded (`/` as %2F, `?` as %3F, `#` as %23, \
                     `@` as %40)"
                .to_owned(),
        });
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

/// Whether an `@` comes after where a URL parser ends the authority (the first `/`, `?`
/// or `#` after `scheme://`): a sign of credentials holding raw reserved characters.
fn has_at_past_authority(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    rest.find(['/', '?', '#'])
        .is_some_and(|end| rest[end..].contains('@'))
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

    #[test]
    fn raw_reserved_characters_in_credentials_are_refused_with_the_fix() {
        for url in [
            "redis://:Pw/9Zq@h:6379/0",
            "redis://user:Pw#9Zq@h:6379",
            "rediss://:Pw?9Zq@h:6379",
            "redis://:@Pw?@h",
            "unix:///:Pw?9Zq@x.sock",
        ] {
            let err = parse_url(url).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("percent-encoded"), "{url}: {text}");
            assert!(
                !text.contains("9Zq") && !text.contains("Pw"),
                "{url}: {text}"
            );
        }
        // Encoded, they are fine; so is a raw `@` inside the userinfo.
        assert!(parse_url("redis://:Pw%2F9Zq@h:6379/0").is_ok());
        assert!(parse_url("redis://:Pw@9Zq@h:6379/0").is_ok());
    }
}
