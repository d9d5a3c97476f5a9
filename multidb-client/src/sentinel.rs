//! Sentinel members (feature `sentinel`): a member that is itself a Redis HA pair, whose
//! master is found through Redis Sentinel.
//!
//! Every connection the member opens first asks the Sentinels (all at once, the first
//! answer wins) where the master is, then checks with `ROLE` that the node it reached is
//! master. It is made like a URL member's otherwise (by the connector): bounded by the
//! connection timeout, with the member's TLS and credentials, closed on `close()`. A
//! connection-level failure or a `READONLY` reply (the node was demoted) retires the shared
//! connection, so the next command asks again and follows a promotion. While Sentinel fails
//! over inside the member, the member is briefly unhealthy like any other.

use redis::aio::MultiplexedConnection;
use redis::{RedisError, RedisResult, Value};

/// Where the master monitored as `master_name` is, as one Sentinel says.
pub(crate) async fn master_addr(
    sentinel: &mut MultiplexedConnection,
    master_name: &str,
) -> RedisResult<(String, u16)> {
    let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(master_name)
        .query_async(sentinel)
        .await?;
    reply.ok_or_else(|| {
        failed(format!(
            "the Sentinel does not know a master named {master_name:?}"
        ))
    })
}

/// Refuses a node that is not master (a Sentinel that has not yet seen a promotion names
/// the old one). A user whose ACL forbids `ROLE` is taken at the Sentinels' word.
pub(crate) async fn check_master(
    con: &mut MultiplexedConnection,
    host: &str,
    port: u16,
) -> RedisResult<()> {
    let role: Value = match redis::cmd("ROLE").query_async(con).await {
        Ok(role) => role,
        Err(e) if e.code() == Some("NOPERM") => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_master = matches!(&role, Value::Array(items)
        if matches!(items.first(), Some(Value::BulkString(b)) if b == b"master"));
    if is_master {
        Ok(())
    } else {
        Err(failed(format!(
            "the Sentinels name {host}:{port} as master, but it is not (yet) master"
        )))
    }
}

/// A failure to reach the master: counted like a connection that could not be made.
fn failed(detail: String) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        detail,
    ))
}
