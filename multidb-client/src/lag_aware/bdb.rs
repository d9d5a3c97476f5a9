//! Which Redis Enterprise database (bdb) a member is: its Redis endpoint matched against the
//! endpoints the REST API lists.

use redis::ConnectionAddr;
use serde_json::Value;

use crate::member::Database;
use crate::source::Source;

/// A Redis endpoint of a member: host, and port when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedisAddr {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// The Redis endpoints of a member: one for a URL member, every seed of a cluster member
/// (redis-py matched only the first node), none for a connection the application made.
pub(crate) fn redis_addrs(db: &Database) -> Vec<RedisAddr> {
    fn of(addr: &ConnectionAddr) -> Option<RedisAddr> {
        match addr {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                Some(RedisAddr {
                    host: host.clone(),
                    port: Some(*port),
                })
            }
            _ => None,
        }
    }
    match &db.spec.source {
        Source::Url(info) => of(info.addr()).into_iter().collect(),
        #[cfg(feature = "cluster")]
        Source::Cluster(seeds) => seeds.iter().filter_map(|s| of(s.addr())).collect(),
        #[allow(unreachable_patterns)] // other sources name no fixed Redis endpoint
        _ => Vec::new(),
    }
}

/// The uid of the first bdb with an endpoint whose `dns_name` or one of whose `addr`
/// entries is one of `targets`' hosts, on the same port when both sides name one. Matching
/// the port matters: every database of a cluster shares the proxies' addresses.
pub(crate) fn find_uid(bdbs: &Value, targets: &[RedisAddr]) -> Result<Option<String>, String> {
    let Some(list) = bdbs.as_array() else {
        return Err("the bdb list is not a JSON array".to_owned());
    };
    for bdb in list {
        let endpoints = bdb.get("endpoints").and_then(Value::as_array);
        let matches = endpoints
            .into_iter()
            .flatten()
            .any(|endpoint| targets.iter().any(|t| endpoint_matches(endpoint, t)));
        if matches {
            return match bdb.get("uid") {
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::String(s)) if is_uid(s) => Ok(Some(s.clone())),
                other => Err(format!("matching bdb has an invalid uid {other:?}")),
            };
        }
    }
    Ok(None)
}

/// A uid goes into a URL path: digits only, as Redis Enterprise assigns them.
fn is_uid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

fn endpoint_matches(endpoint: &Value, target: &RedisAddr) -> bool {
    let dns = endpoint
        .get("dns_name")
        .and_then(Value::as_str)
        .is_some_and(|name| name.eq_ignore_ascii_case(&target.host));
    let addr = endpoint
        .get("addr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|a| a.eq_ignore_ascii_case(&target.host));
    let port = match (endpoint.get("port").and_then(Value::as_u64), target.port) {
        (Some(theirs), Some(ours)) => theirs == u64::from(ours),
        _ => true,
    };
    (dns || addr) && port
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> RedisAddr {
        RedisAddr {
            host: host.to_owned(),
            port: Some(port),
        }
    }

    fn list() -> Value {
        serde_json::json!([
            {"uid": 1, "endpoints": [{"dns_name": "redis-12000.c.example", "addr": ["10.0.0.1"], "port": 12000}]},
            {"uid": 2, "endpoints": [{"dns_name": "redis-12001.c.example", "addr": ["10.0.0.1"], "port": 12001}]},
            {"uid": "3", "endpoints": [
                {"dns_name": "internal", "addr": ["10.0.0.9"], "port": 1},
                {"dns_name": "redis-13000.c.example", "addr": ["192.0.2.7"], "port": 13000}
            ]}
        ])
    }

    #[test]
    fn matches_by_dns_name_case_insensitively() {
        let uid = find_uid(&list(), &[addr("REDIS-12001.c.example", 12001)]).unwrap();
        assert_eq!(uid.as_deref(), Some("2"));
    }

    #[test]
    fn matches_by_address_and_port_not_address_alone() {
        let uid = find_uid(&list(), &[addr("10.0.0.1", 12001)]).unwrap();
        assert_eq!(uid.as_deref(), Some("2"));
    }

    #[test]
    fn looks_at_every_endpoint_of_a_bdb() {
        let uid = find_uid(&list(), &[addr("192.0.2.7", 13000)]).unwrap();
        assert_eq!(uid.as_deref(), Some("3"));
    }

    #[test]
    fn no_match_is_none_and_a_non_list_is_an_error() {
        assert_eq!(find_uid(&list(), &[addr("10.0.0.1", 9)]).unwrap(), None);
        assert!(find_uid(&serde_json::json!({"error": 1}), &[]).is_err());
    }

    #[test]
    fn a_uid_that_is_not_a_number_is_refused() {
        let bad = serde_json::json!([{"uid": "1/../x", "endpoints": [{"dns_name": "h"}]}]);
        assert!(find_uid(&bad, &[addr("h", 1)]).is_err());
    }
}
