//! What counts as a failure, and what may be replayed — the one place for both.
//!
//! **Failures** (they feed the circuit breaker and may fail over): I/O errors — refused,
//! reset, broken pipe, EOF, timeouts — garbage from the server, and, unless
//! `busy_errors_are_failures(false)`, the replies `LOADING`, `MASTERDOWN`, `CLUSTERDOWN`
//! and `TRYAGAIN`. Every other error reply (`WRONGTYPE`, `ERR`, `NOSCRIPT`, `NOPERM`…)
//! means the database is alive and answered: it goes back to the application untouched.
//!
//! **Replay**: a command that provably never reached a server — the connection was refused,
//! the circuit was open, or the server answered one of the busy errors above without
//! executing it — may be retried anywhere. A command that may have reached a server (a
//! timeout, a reset mid-flight) is retried only if replaying it cannot change the outcome:
//! the idempotent commands in [`is_idempotent`] (reads; `SET` without `GET`/`NX`/`XX`;
//! `DEL`, `HSET`, `SADD`, `EXPIRE`…). `INCR`, `LPUSH`, scripts and the like fail with
//! [`crate::MultiDbError::MayHaveBeenApplied`] unless `retry_non_idempotent(true)`.
//! Transactions (`MULTI`/`EXEC` pipelines) are never replayed once they may have been
//! applied, whatever the settings.

use redis::{Arg, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

/// Whether a failed attempt may have had an effect on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The server never executed it.
    No,
    /// The server may have executed it.
    Maybe,
}

/// `Some(sent)` when the error is a failure of the database, `None` when it is an answer.
/// Busy replies (`LOADING`…) are failures only when `busy_errors_are_failures`.
pub(crate) fn error_failure(err: &RedisError, busy_errors_are_failures: bool) -> Option<Sent> {
    if err.is_connection_refusal() {
        return Some(Sent::No);
    }
    match err.kind() {
        ErrorKind::Io | ErrorKind::Parse | ErrorKind::ClusterConnectionNotFound => {
            Some(Sent::Maybe)
        }
        // The handshake failed: nothing of ours was sent.
        ErrorKind::AuthenticationFailed => Some(Sent::No),
        ErrorKind::Server(kind) if busy_errors_are_failures && is_busy(kind) => Some(Sent::No),
        _ => None,
    }
}

/// `Some(Sent::No)` when a reply is a busy error that counts as a failure.
pub(crate) fn value_failure(value: &Value, busy_errors_are_failures: bool) -> Option<Sent> {
    if !busy_errors_are_failures {
        return None;
    }
    match value {
        Value::ServerError(e) if e.kind().is_some_and(is_busy) => Some(Sent::No),
        _ => None,
    }
}

fn is_busy(kind: ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::TryAgain
    )
}

/// Commands whose replay cannot change the data nor the reply the application sees.
const IDEMPOTENT: &[&str] = &[
    // Reads.
    "GET",
    "MGET",
    "EXISTS",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TYPE",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "HGET",
    "HMGET",
    "HGETALL",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HEXISTS",
    "HSTRLEN",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "LPOS",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SINTER",
    "SUNION",
    "SDIFF",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZREVRANGEBYLEX",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANK",
    "ZREVRANK",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "PFCOUNT",
    "GEOPOS",
    "GEODIST",
    "GEOHASH",
    "GEOSEARCH",
    "SCAN",
    "SSCAN",
    "HSCAN",
    "ZSCAN",
    "KEYS",
    "DBSIZE",
    "PING",
    "ECHO",
    "INFO",
    "TIME",
    "DUMP",
    "TOUCH",
    // Writes that leave the same state and reply when repeated.
    "MSET",
    "HSET",
    "HMSET",
    "SADD",
    "SREM",
    "HDEL",
    "ZREM",
    "PFADD",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "PERSIST",
    "SETEX",
    "PSETEX",
    "FLUSHDB",
    "FLUSHALL",
];

/// Commands that are idempotent unless one of their flags makes the reply depend on the
/// state before (`SET .. GET`, `SET .. NX`, `ZADD .. INCR`); `DEL`/`UNLINK` repeat the
/// same end state and are accepted like the other clients do.
const IDEMPOTENT_UNLESS: &[(&str, &[&str])] = &[
    ("SET", &["GET", "NX", "XX"]),
    ("ZADD", &["INCR"]),
    ("DEL", &[]),
    ("UNLINK", &[]),
];

/// Whether `cmd` may be replayed after it may have been applied.
pub(crate) fn is_idempotent(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let Some(name) = args.next() else {
        return false;
    };
    if IDEMPOTENT
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
    {
        return true;
    }
    IDEMPOTENT_UNLESS
        .iter()
        .find(|(c, _)| name.eq_ignore_ascii_case(c.as_bytes()))
        .is_some_and(|(_, flags)| {
            !args.any(|a| flags.iter().any(|f| a.eq_ignore_ascii_case(f.as_bytes())))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_plain_set_are_idempotent() {
        assert!(is_idempotent(redis::cmd("get").arg("k")));
        assert!(is_idempotent(
            redis::cmd("SET").arg("k").arg("v").arg("EX").arg(5)
        ));
        assert!(is_idempotent(redis::cmd("DEL").arg("k")));
        assert!(is_idempotent(redis::cmd("HSET").arg("h").arg("f").arg("v")));
    }

    #[test]
    fn counters_pushes_scripts_and_flagged_set_are_not() {
        assert!(!is_idempotent(redis::cmd("INCR").arg("k")));
        assert!(!is_idempotent(redis::cmd("LPUSH").arg("l").arg("v")));
        assert!(!is_idempotent(redis::cmd("EVAL").arg("return 1").arg(0)));
        assert!(!is_idempotent(
            redis::cmd("SET").arg("k").arg("v").arg("nx")
        ));
        assert!(!is_idempotent(
            redis::cmd("SET").arg("k").arg("v").arg("GET")
        ));
        assert!(!is_idempotent(
            redis::cmd("ZADD").arg("z").arg("INCR").arg(1).arg("m")
        ));
        assert!(!is_idempotent(&redis::Cmd::new()));
    }

    #[test]
    fn refused_is_unsent_timeouts_are_maybe_sent_and_answers_are_not_failures() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(error_failure(&refused, true), Some(Sent::No));
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(error_failure(&timeout, true), Some(Sent::Maybe));
        let answer = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "ERR"));
        assert_eq!(error_failure(&answer, true), None);
    }

    #[test]
    fn busy_error_replies_are_failures_only_when_configured() {
        let loading =
            RedisError::from((ErrorKind::Server(ServerErrorKind::BusyLoading), "LOADING"));
        assert_eq!(error_failure(&loading, true), Some(Sent::No));
        assert_eq!(error_failure(&loading, false), None);
    }
}
