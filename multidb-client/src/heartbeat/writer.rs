//! The writer task: every interval, one heartbeat on every member at once, each write
//! bounded by the interval; what each got goes to the heartbeat's owner.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionLike as _;
use redis::{RedisResult, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Heartbeat, server_said};
use crate::member::{Database, far_future, sleep_until};

/// What one heartbeat write got.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Acknowledged,
    /// `READONLY`: a replica. Expected, not a failure.
    Refused,
    /// Anything else: an error, a timeout, a reply that is not `OK`.
    Failed(String),
}

/// Starts writing heartbeats on the databases `members` returns, every interval from now;
/// the task ends when `members` returns `None` (the client is gone), or is aborted.
pub(crate) fn spawn<M>(heartbeat: Arc<Heartbeat>, members: M) -> JoinHandle<()>
where
    M: FnMut() -> Option<Vec<Arc<Database>>> + Send + 'static,
{
    tokio::spawn(run(heartbeat, members))
}

async fn run<M>(heartbeat: Arc<Heartbeat>, mut members: M)
where
    M: FnMut() -> Option<Vec<Arc<Database>>> + Send + 'static,
{
    let interval = heartbeat.settings.interval;
    let mut sequence: u64 = 0;
    loop {
        let round = Instant::now();
        let Some(members) = members() else {
            return;
        };
        // Heartbeats are numbered per client, not per database: the same number everywhere
        // in one round. u64 does not run out; saturating all the same.
        sequence = sequence.saturating_add(1);
        futures_util::future::join_all(members.iter().map(|db| heartbeat.beat(db, sequence))).await;
        sleep_until(Some(round.checked_add(interval).unwrap_or_else(far_future))).await;
    }
}

impl Heartbeat {
    /// Writes heartbeat `sequence` on `db` and records what it got.
    async fn beat(&self, db: &Database, sequence: u64) {
        let mut set = redis::cmd("SET");
        set.arg(self.key(db.id))
            .arg(sequence)
            .arg("PX")
            .arg(millis(self.settings.ttl));
        let mut con = db.connection();
        let bound = self.settings.interval;
        let written = match tokio::time::timeout(bound, con.req_packed_command(&set)).await {
            Ok(reply) => written(reply),
            Err(_) => Written::Failed(format!("no answer within {bound:?}")),
        };
        match written {
            Written::Acknowledged => self.acknowledged(db, sequence),
            Written::Refused => self.refused(db),
            Written::Failed(reason) => {
                tracing::debug!(database = %db.id, endpoint = %db.endpoint, reason = %reason, "heartbeat write failed");
            }
        }
    }
}

/// A `PX` argument: whole milliseconds, at least one (Redis refuses zero).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn written(reply: RedisResult<Value>) -> Written {
    let read_only = |code: &str| code.eq_ignore_ascii_case("READONLY");
    match reply {
        Ok(Value::Okay) => Written::Acknowledged,
        Ok(Value::SimpleString(s)) if s == "OK" => Written::Acknowledged,
        Ok(Value::ServerError(e)) if read_only(e.code()) => Written::Refused,
        Err(e) if e.code().is_some_and(read_only) => Written::Refused,
        Ok(Value::ServerError(e)) => Written::Failed(server_said(&e)),
        Ok(other) => Written::Failed(format!("SET answered {other:?}")),
        Err(e) => Written::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError};

    use super::*;

    fn reply(resp: &[u8]) -> Value {
        redis::parse_redis_value(resp).unwrap()
    }

    #[test]
    fn ok_is_acknowledged_and_readonly_is_refused_not_failed() {
        assert_eq!(written(Ok(reply(b"+OK\r\n"))), Written::Acknowledged);
        let read_only = reply(b"-READONLY You can't write against a read only replica.\r\n");
        assert_eq!(written(Ok(read_only.clone())), Written::Refused);
        let as_error = read_only.extract_error().unwrap_err();
        assert_eq!(written(Err(as_error)), Written::Refused);
    }

    #[test]
    fn other_errors_and_replies_are_failures() {
        for reply in [
            Ok(reply(
                b"-LOADING Redis is loading the dataset in memory\r\n",
            )),
            Ok(Value::Nil),
            Ok(reply(b"+QUEUED\r\n")),
            Err(RedisError::from((ErrorKind::Io, "connection reset"))),
        ] {
            assert!(
                matches!(written(reply), Written::Failed(_)),
                "a failure, not a verdict on the database's role"
            );
        }
    }

    #[test]
    fn ttls_are_whole_milliseconds_never_zero_never_overflowing() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
