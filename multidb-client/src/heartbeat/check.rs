//! The lag check of one database: one `MGET` of the other writers' heartbeat keys on it,
//! and the verdict of the heartbeat's owner on what came back.

use redis::aio::ConnectionLike as _;
use redis::{RedisResult, Value};

use super::ledger::{Shown, Stale};
use super::{View, server_said};
use crate::event::DatabaseId;
use crate::member::Database;
use crate::{HealthCheck, Unhealthy};

/// See the module docs. Runs in the gate monitor, like the lag-aware check.
pub(super) struct HeartbeatCheck {
    view: View,
}

impl HeartbeatCheck {
    pub(super) fn new(view: View) -> Self {
        HeartbeatCheck { view }
    }
}

#[async_trait::async_trait]
impl HealthCheck<Database> for HeartbeatCheck {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        let keys = self.view.keys_to_read(db.id);
        if keys.is_empty() {
            // No writer elsewhere: nothing to be behind.
            return Ok(());
        }
        let mut mget = redis::cmd("MGET");
        for (_, key) in &keys {
            mget.arg(key);
        }
        let reply = db.connection().req_packed_command(&mget).await;
        readings(&keys, reply)
            .and_then(|readings| self.view.judge(db.id, &readings))
            .map_err(|stale| {
                tracing::debug!(database = %db.id, endpoint = %db.endpoint, reason = %stale, "heartbeat check failed");
                Unhealthy::new(stale.to_string())
            })
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's signature
    fn name(&self) -> &str {
        "heartbeat"
    }

    /// A removed database's heartbeats are forgotten: none is recorded for it again.
    fn removed(&self, db: &Database) {
        self.view.forget(db.id);
    }
}

/// What each writer's key showed, from the `MGET` of `keys`.
fn readings(
    keys: &[(DatabaseId, String)],
    reply: RedisResult<Value>,
) -> Result<Vec<(DatabaseId, Shown)>, Stale> {
    let values = match reply {
        Ok(Value::Array(values)) if values.len() == keys.len() => values,
        Ok(Value::Array(values)) => {
            return Err(Stale::Unread {
                reason: format!(
                    "MGET answered {} values for {} keys",
                    values.len(),
                    keys.len()
                ),
            });
        }
        Ok(Value::ServerError(e)) => {
            return Err(Stale::Unread {
                reason: server_said(&e),
            });
        }
        Ok(_) => {
            return Err(Stale::Unread {
                reason: "MGET answered something other than an array".to_owned(),
            });
        }
        Err(e) => {
            return Err(Stale::Unread {
                reason: e.to_string(),
            });
        }
    };
    keys.iter()
        .zip(values)
        .map(|((writer, _), value)| {
            let shown = match value {
                Value::Nil => Some(Shown::Nothing),
                Value::BulkString(bytes) => std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .map(Shown::Sequence),
                Value::SimpleString(text) => text.parse().ok().map(Shown::Sequence),
                Value::Int(n) => u64::try_from(n).ok().map(Shown::Sequence),
                _ => None,
            };
            shown
                .map(|shown| (*writer, shown))
                .ok_or(Stale::NotASequence { writer: *writer })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError};

    use super::*;

    const A: DatabaseId = DatabaseId(1);
    const B: DatabaseId = DatabaseId(2);

    fn keys() -> Vec<(DatabaseId, String)> {
        vec![(A, "a".to_owned()), (B, "b".to_owned())]
    }

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn sequence_numbers_and_missing_keys_are_read() {
        let read = readings(&keys(), Ok(Value::Array(vec![bulk("42"), Value::Nil])));
        assert_eq!(
            read,
            Ok(vec![(A, Shown::Sequence(42)), (B, Shown::Nothing)])
        );
        let read = readings(&keys(), Ok(Value::Array(vec![Value::Int(7), bulk("0")])));
        assert_eq!(
            read,
            Ok(vec![(A, Shown::Sequence(7)), (B, Shown::Sequence(0))])
        );
    }

    #[test]
    fn a_value_that_is_no_sequence_number_is_a_typed_reason_not_a_panic() {
        for bad in [
            bulk("forty-two"),
            bulk("-1"),
            bulk("18446744073709551616"),
            Value::BulkString(vec![0xff, 0xfe]),
            Value::Int(-3),
            Value::Array(vec![]),
            Value::Okay,
        ] {
            let read = readings(&keys(), Ok(Value::Array(vec![bulk("1"), bad.clone()])));
            assert_eq!(read, Err(Stale::NotASequence { writer: B }), "{bad:?}");
        }
        let text = Stale::NotASequence { writer: B }.to_string();
        assert!(
            text.contains("db2") && text.starts_with("heartbeat: "),
            "{text}"
        );
    }

    #[test]
    fn replies_of_the_wrong_shape_and_errors_are_unread_not_panics() {
        for reply in [
            Ok(Value::Array(vec![bulk("1")])),
            Ok(Value::Okay),
            Ok(Value::Nil),
            Err(RedisError::from((ErrorKind::Io, "connection reset"))),
            Err(RedisError::from(std::io::Error::from(
                std::io::ErrorKind::TimedOut,
            ))),
        ] {
            let read = readings(&keys(), reply);
            assert!(matches!(read, Err(Stale::Unread { .. })), "{read:?}");
        }
        let error = redis::parse_redis_value(b"-NOPERM no permissions\r\n").unwrap();
        let read = readings(&keys(), Ok(error));
        let Err(Stale::Unread { reason }) = read else {
            panic!("{read:?}");
        };
        assert!(reason.contains("NOPERM"), "{reason}");
    }
}
