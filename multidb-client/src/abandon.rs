//! Abandoning commands in flight on a connection the client cannot close itself (a cluster
//! connection driven inside redis-rs, a connection the application made or a pool's): when
//! the member fails or is closed, commands without a response timeout end at once instead
//! of waiting for a reply that may never come. Commands with one end within it anyway and
//! do not arm the signal.

use std::future::Future;

use redis::{RedisError, RedisResult};
use tokio::sync::Notify;

/// The signal commands in flight race against.
#[derive(Default)]
pub(crate) struct Abandon(Notify);

impl Abandon {
    /// `send`, unless the commands in flight are abandoned first.
    pub(crate) async fn run<T>(
        &self,
        send: impl Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let abandoned = std::pin::pin!(self.0.notified());
        let mut abandoned = abandoned;
        // Registered before the command is sent: an abandon from now on is seen.
        abandoned.as_mut().enable();
        tokio::select! {
            biased;
            result = send => result,
            () = abandoned => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the database failed or was closed while the command was in flight",
            ))),
        }
    }

    /// Ends every command in flight; later ones run as usual.
    pub(crate) fn now(&self) {
        self.0.notify_waiters();
    }
}
