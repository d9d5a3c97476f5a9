//! Sentinel members (feature `sentinel`): a member that is itself a Redis HA pair, whose
//! master is found through Redis Sentinel.
//!
//! The master is resolved on first use and the connection to it kept; a connection-level
//! failure (or a `READONLY` reply, meaning the node was demoted to a replica) drops it, so
//! the next command or health probe asks the Sentinels again and follows a promotion. While
//! Sentinel fails over inside the member, the member is briefly unhealthy like any other:
//! the client may move traffic to another member and comes back after the grace period.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionInfo, RedisError, RedisResult};

/// A connection to the master a Sentinel names, made on first use and after a failure.
#[derive(Clone)]
pub(crate) struct LazySentinel {
    client: Arc<tokio::sync::Mutex<SentinelClient>>,
    connection: Arc<ArcSwapOption<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
    connection_timeout: Duration,
}

impl LazySentinel {
    pub(crate) fn new(
        sentinels: &[ConnectionInfo],
        master: &str,
        connection_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> RedisResult<Self> {
        // redis takes a `String` without its TLS feature and `impl AsRef<str>` with it.
        #[allow(clippy::unnecessary_to_owned)]
        let client = SentinelClient::build(
            sentinels.to_vec(),
            master.to_owned(),
            None,
            SentinelServerType::Master,
        )?;
        let mut config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(connection_timeout));
        config = config.set_response_timeout(response_timeout);
        Ok(LazySentinel {
            client: Arc::new(tokio::sync::Mutex::new(client)),
            connection: Arc::new(ArcSwapOption::empty()),
            config,
            connection_timeout,
        })
    }

    /// The master connection, resolved through Sentinel now if there is none.
    pub(crate) async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.connection.load_full() {
            return Ok((*c).clone());
        }
        // One resolution at a time; the lock also serializes SentinelClient's &mut API.
        let mut client = self.client.lock().await;
        if let Some(c) = self.connection.load_full() {
            return Ok((*c).clone());
        }
        let c = client
            .get_async_connection_with_config(&self.config)
            .await?;
        self.connection.store(Some(Arc::new(c.clone())));
        Ok(c)
    }

    /// Where the master the Sentinels name now lives (for connections of its own, such as
    /// a subscriber's), asked within the connection timeout.
    pub(crate) async fn master_info(&self) -> RedisResult<ConnectionInfo> {
        let ask = async {
            let client = self.client.lock().await.async_get_client().await?;
            Ok(client.get_connection_info().clone())
        };
        tokio::time::timeout(self.connection_timeout, ask)
            .await
            .map_err(|_| {
                RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the Sentinels did not name a master in time",
                ))
            })?
    }

    /// Forgets the connection after an error that says the master may have moved.
    pub(crate) fn observe(&self, error: &RedisError) {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.code() == Some("READONLY")
        {
            self.connection.store(None);
        }
    }
}
