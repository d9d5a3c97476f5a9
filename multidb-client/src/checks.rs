//! The health checks that come with the client: [`PingCheck`] (the default) and
//! [`EchoCheck`].
//!
//! Both go through the database's own connection (no new connection per probe, unlike
//! Lettuce), so a probe also repairs a broken connection: the connection manager
//! reconnects on the probe's failure.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use redis::Value;
use redis::aio::ConnectionLike as _;

use crate::event::Event;
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

/// A health check whose panics are caught, logged at `warn` and announced as
/// [`Event::CallbackPanicked`]; the probe then counts as failed. Every check the client
/// runs is wrapped in one.
pub(crate) struct Caught {
    check: Arc<dyn HealthCheck<Database>>,
    events: crate::listeners::EventBus,
}

impl Caught {
    pub(crate) fn wrap(
        check: Arc<dyn HealthCheck<Database>>,
        events: crate::listeners::EventBus,
    ) -> Arc<dyn HealthCheck<Database>> {
        Arc::new(Caught { check, events })
    }
}

#[async_trait::async_trait]
impl HealthCheck<Database> for Caught {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        match AssertUnwindSafe(self.check.check(db)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = crate::event::panic_message(&*panic).to_owned();
                let what = format!("health check \"{}\" of {}", self.check.name(), db.id);
                tracing::warn!(database = %db.id, endpoint = %db.endpoint, check = self.check.name(), message = %message, "health check panicked: the probe counts as failed");
                self.events.send(Event::CallbackPanicked {
                    what,
                    message: message.clone(),
                });
                Err(Unhealthy::new(format!("panicked: {message}")))
            }
        }
    }

    fn name(&self) -> &str {
        self.check.name()
    }

    fn removed(&self, db: &Database) {
        self.check.removed(db);
    }
}
