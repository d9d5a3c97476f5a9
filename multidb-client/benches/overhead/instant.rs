//! A connection that answers at once, without I/O: under it, the client's own cost per
//! command (circuit permit, active-database load, eviction signal, classification) is
//! the whole difference, instead of 1–2 % of a loopback round trip.

use std::sync::Arc;

use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig};
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Answers `PING` with `PONG` (so health checks pass) and anything else with `value`.
#[derive(Clone)]
pub(crate) struct InstantConnection {
    value: Arc<[u8]>,
}

impl InstantConnection {
    pub(crate) fn new(value: &str) -> Self {
        InstantConnection {
            value: value.as_bytes().into(),
        }
    }

    fn answer(&self, cmd: &Cmd) -> Value {
        match cmd.args_iter().next() {
            Some(redis::Arg::Simple(b"PING")) => Value::SimpleString("PONG".to_owned()),
            _ => Value::BulkString(self.value.to_vec()),
        }
    }
}

impl ConnectionLike for InstantConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        // Boxed like every redis-rs connection's future.
        let value = self.answer(cmd);
        Box::pin(async move { Ok(value) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let values = pipeline
            .cmd_iter()
            .skip(offset)
            .take(count)
            .map(|cmd| self.answer(cmd))
            .collect();
        Box::pin(async move { Ok(values) })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A client over two instant members; the first is active. Call within a runtime.
pub(crate) async fn client(value: &str) -> MultiDbClient {
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_connection(InstantConnection::new(value)).weight(1.0))
        .database(DatabaseConfig::from_connection(InstantConnection::new(value)).weight(0.5))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    client
}
