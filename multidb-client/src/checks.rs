//! The health checks that come with the client: [`PingCheck`] (the default) and
//! [`EchoCheck`].
//!
//! Both go through the database's own connection (no new connection per probe, unlike
//! Lettuce), so a probe also repairs a broken connection: the connection manager
//! reconnects on the probe's failure.

use redis::Value;
use redis::aio::ConnectionLike as _;

use crate::member::Database;
use crate::{HealthCheck, Unhealthy};

/// Sends `PING`; healthy when the answer is `PONG`. For a Redis Cluster member, every
/// master must answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct PingCheck;

#[async_trait::async_trait]
impl HealthCheck<Database> for PingCheck {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        let mut con = db.connection();
        let reply = con
            .ping()
            .await
            .map_err(|e| Unhealthy::new(format!("ping failed: {e}")))?;
        match reply {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            Value::BulkString(b) if b == b"PONG" => Ok(()),
            Value::Okay => Ok(()),
            Value::ServerError(e) => Err(Unhealthy::new(format!("ping answered an error: {e}"))),
            other => Err(Unhealthy::new(format!(
                "ping answered {other:?}, expected PONG"
            ))),
        }
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's signature
    fn name(&self) -> &str {
        "ping"
    }
}

/// Sends `ECHO <token>`; healthy when the same token comes back (redis-py's default).
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoCheck;

#[async_trait::async_trait]
impl HealthCheck<Database> for EchoCheck {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        let token = format!("multidb-health-{}", fastrand::u64(..));
        let mut con = db.connection();
        let reply = con
            .req_packed_command(redis::cmd("ECHO").arg(&token))
            .await
            .map_err(|e| Unhealthy::new(format!("echo failed: {e}")))?;
        match reply {
            Value::BulkString(b) if b == token.as_bytes() => Ok(()),
            Value::SimpleString(s) if s == token => Ok(()),
            Value::ServerError(e) => Err(Unhealthy::new(format!("echo answered an error: {e}"))),
            other => Err(Unhealthy::new(format!(
                "echo answered {other:?}, expected the token sent"
            ))),
        }
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's signature
    fn name(&self) -> &str {
        "echo"
    }
}
