//! Showing member URLs without their secrets (parsing them is the `url` module's).
//!
//! A URL may carry a password (`redis://user:secret@host:6379/0`). The parsed
//! [`redis::ConnectionInfo`] keeps it for connecting; everything a person can read — `Debug`,
//! `Display`, events, errors, logs — goes through [`redact_url`] or [`Endpoint`] instead.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, ProtocolVersion};

/// Where a member lives, as it may be shown: `host:port/db`, never a password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    pub(crate) fn from_info(info: &ConnectionInfo) -> Self {
        let db = info.redis_settings().db();
        let tls = if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            "tls://"
        } else {
            ""
        };
        Endpoint(format!("{tls}{}/{db}", info.addr()))
    }

    pub(crate) fn named(name: impl Into<String>) -> Self {
        Endpoint(name.into())
    }

    /// The endpoint as text (`127.0.0.1:6379/0`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address without the database number (`127.0.0.1:6379`); a name as it is.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn address(&self) -> &str {
        match self.0.rsplit_once('/') {
            Some((address, db))
                if !address.is_empty()
                    && db.bytes().all(|b| b.is_ascii_digit())
                    && !db.is_empty() =>
            {
                address
            }
            _ => &self.0,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.0)
    }
}

/// Returns `url` with any password replaced by `***`, for messages and logs.
///
/// ```
/// use multidb_client::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@db1:6379/0"), "redis://app:***@db1:6379/0");
/// assert_eq!(redact_url("redis://db1:6379"), "redis://db1:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL we can take apart: show nothing of what might be a secret.
        return "<not a url>".to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let shown = match authority.rfind('@') {
        None => url.to_owned(),
        Some(at) => {
            let userinfo = &authority[..at];
            let user = match userinfo.find(':') {
                Some(colon) => &userinfo[..colon],
                // `redis://secret@host` is read as a user name by redis-rs, but people do
                // put passwords there: hide it too.
                None => "",
            };
            format!(
                "{}{}:***{}",
                &url[..authority_start],
                user,
                &url[authority_start + at..]
            )
        }
    };
    redact_query(&shown)
}

/// Query parameters that carry secrets (`unix:///s.sock?pass=…` is how redis-rs takes a
/// password for sockets).
const SECRET_PARAMS: &[&str] = &["pass", "password", "passwd", "secret", "token", "auth"];

fn redact_query(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let (head, query) = url.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s)) => {
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}{}{fragment}", pairs.join("&"))
}

/// The RESP version a member speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// RESP2, the default of every Redis server.
    #[default]
    Resp2,
    /// RESP3 (`HELLO 3`): needed for push-based Pub/Sub on a shared connection.
    Resp3,
}

impl From<Protocol> for ProtocolVersion {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Resp2 => ProtocolVersion::RESP2,
            Protocol::Resp3 => ProtocolVersion::RESP3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_but_keeps_user_host_and_path() {
        assert_eq!(
            redact_url("rediss://u:p%40ss@h:1/2?protocol=resp3"),
            "rediss://u:***@h:1/2?protocol=resp3"
        );
        assert_eq!(redact_url("redis://:pw@h"), "redis://:***@h");
        assert_eq!(redact_url("redis://pw@h:1"), "redis://:***@h:1");
        assert_eq!(redact_url("not a url with @"), "<not a url>");
        assert_eq!(redact_url("hunter2"), "<not a url>");
        assert_eq!(
            redact_url("unix:///tmp/x.sock?db=1&pass=Fz9SECRET&protocol=resp3"),
            "unix:///tmp/x.sock?db=1&pass=***&protocol=resp3"
        );
        assert_eq!(
            redact_url("redis://h:1/0?PASSWORD=p#frag"),
            "redis://h:1/0?PASSWORD=***#frag"
        );
    }

    #[test]
    fn endpoint_shows_address_and_db_only() {
        let info =
            redis::IntoConnectionInfo::into_connection_info("redis://u:topsecret@127.0.0.1:6390/3")
                .unwrap();
        let e = Endpoint::from_info(&info);
        assert_eq!(e.to_string(), "127.0.0.1:6390/3");
        assert!(!format!("{e:?}").contains("topsecret"));
    }
}
