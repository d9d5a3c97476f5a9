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
        let addr = match info.addr() {
            // A socket path is shown as it is, unless it holds an `@`: then it may be a
            // URL's credentials that redis-rs read as a path (`unix://user:pw@/s.sock`).
            ConnectionAddr::Unix(path) => {
                let path = path.display().to_string();
                match path.rfind('@') {
                    Some(at) => format!("<redacted>{}", &path[at..]),
                    None => path,
                }
            }
            addr => addr.to_string(),
        };
        Endpoint(format!("{tls}{addr}/{db}"))
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

/// Returns `url` with any password replaced by `***`, for messages and logs: the one
/// redaction every error, `Debug`, event and log line of this crate goes through.
///
/// It holds for any password, whatever bytes it holds: everything before the last `@` is
/// credentials (a raw `@`, `/`, `?` or `#` inside a password included) and only a plain
/// user name of it is shown (any other is `<redacted>`); when that `@` may belong to a
/// secret query parameter (`?password=a@b`) the URL is shown as `scheme://<redacted>`
/// rather than guessed at. A secret query parameter (`?password=…`, `?pass=…`) hides the
/// rest of the URL, since a raw password may hold `&` or `#`.
///
/// ```
/// use multidb_client::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@db1:6379/0"), "redis://app:***@db1:6379/0");
/// assert_eq!(redact_url("redis://:Pw/9Zq@db1:6379/0"), "redis://:***@db1:6379/0");
/// assert_eq!(redact_url("redis://db1:6379"), "redis://db1:6379");
/// assert_eq!(redact_url("unix:///run/redis.sock?pass=s3cret&db=1"), "unix:///run/redis.sock?pass=***");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL we can take apart: show nothing of what might be a secret.
        return "<not a url>".to_owned();
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let Some(at) = rest.rfind('@') else {
        return format!("{head}{}", redact_query(rest));
    };
    let (userinfo, host) = rest.split_at(at);
    if has_secret_param(userinfo) {
        // The `@` may be inside a query's password (`?password=a@b`): what follows it
        // could be the password's end.
        return format!("{head}<redacted>");
    }
    let user = match userinfo.split_once(':') {
        Some((user, _)) if is_plain_user(user) => user,
        Some(_) => return format!("{head}<redacted>{}", redact_query(host)),
        // `redis://secret@host` is read as a user name by redis-rs, but people do put
        // passwords there: hide it too.
        None => "",
    };
    format!("{head}{user}:***{}", redact_query(host))
}

/// A user name shown as it is: what user names are made of, nothing that could be the
/// start of a password with odd bytes in it.
fn is_plain_user(user: &str) -> bool {
    user.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// Whether `text` holds `?key=` or `&key=` for a secret parameter `key`.
fn has_secret_param(text: &str) -> bool {
    text.split(['?', '&']).skip(1).any(|pair| {
        pair.split_once('=')
            .is_some_and(|(key, _)| is_secret_key(key))
    })
}

/// Query parameters that carry secrets (`unix:///s.sock?pass=…` is how redis-rs takes a
/// password for sockets).
const SECRET_PARAMS: &[&str] = &["pass", "password", "passwd", "secret", "token", "auth"];

/// Whether a query key names a secret once percent-decoded, as redis-rs reads it.
fn is_secret_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    SECRET_PARAMS
        .iter()
        .any(|s| decoded.eq_ignore_ascii_case(s.as_bytes()))
}

/// `part` (what follows the credentials) with the value of a secret query parameter, and
/// everything after it, hidden: a raw password may hold `&` or `#`, so where it ends is
/// unknown. Any `?` or `&` after the first `?` may start a parameter.
fn redact_query(part: &str) -> String {
    let Some(q) = part.find('?') else {
        return part.to_owned();
    };
    let mut start = q + 1;
    loop {
        let end = part[start..]
            .find(['?', '&'])
            .map_or(part.len(), |i| start + i);
        if let Some((key, _)) = part[start..end].split_once('=')
            && is_secret_key(key)
        {
            return format!("{}{key}=***", &part[..start]);
        }
        if end == part.len() {
            return part.to_owned();
        }
        start = end + 1;
    }
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
            "unix:///tmp/x.sock?db=1&pass=***"
        );
        assert_eq!(
            redact_url("redis://h:1/0?PASSWORD=p#frag"),
            "redis://h:1/0?PASSWORD=***"
        );
    }

    #[test]
    fn reserved_characters_in_a_password_hide_it_all_and_the_host_shows_when_it_can() {
        for (url, shown) in [
            ("redis://:Pw/9Zq@h:1/0", "redis://:***@h:1/0"),
            ("redis://user:Pw#9Zq@h:1", "redis://user:***@h:1"),
            ("rediss://:Pw?9Zq@h:1", "rediss://:***@h:1"),
            ("redis://:Pw@9Zq@h:1/0", "redis://:***@h:1/0"),
            ("redis://Pw/9Zq@h", "redis://:***@h"),
            // A user name with odd bytes may be the start of a password.
            ("redis://us/er:pw@h", "redis://<redacted>@h"),
            ("redis://us%2Fer:pw@h", "redis://<redacted>@h"),
            ("redis://:Pw?pass=9Zq@h", "redis://<redacted>"),
            // An `@` in a query value: credentials or not, the rest is not shown.
            ("redis://h:1/0?password=Pw@9Zq", "redis://<redacted>"),
            (
                "redis://h:1/0?password=Pw&9Zq",
                "redis://h:1/0?password=***",
            ),
            ("unix:///s.sock?pass=Pw#9Zq", "unix:///s.sock?pass=***"),
            // Found by fuzz/redact_url: a second `?` inside the query starts a parameter too.
            ("&://?%?pass=Pw9Zq", "&://?%?pass=***"),
            (
                "redis://h?db=0?password=Pw9Zq",
                "redis://h?db=0?password=***",
            ),
            // Query keys are percent-decoded before redis-rs reads them.
            ("redis://h?p%61ss=Pw9Zq", "redis://h?p%61ss=***"),
            ("redis://:Pw?p%61ss=9Zq@h", "redis://<redacted>"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_socket_path_with_an_at_sign_is_not_shown_before_it() {
        let info =
            redis::IntoConnectionInfo::into_connection_info("unix:///:s3cret@x.sock").unwrap();
        assert_eq!(Endpoint::from_info(&info).as_str(), "<redacted>@x.sock/0");
        let info = redis::IntoConnectionInfo::into_connection_info("unix:///run/r.sock").unwrap();
        assert_eq!(Endpoint::from_info(&info).as_str(), "/run/r.sock/0");
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
