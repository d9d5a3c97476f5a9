//! What counts as a failure, and what is known not to have run — the one place for both.
//!
//! **Failures** (they feed the circuit breaker and may fail over): I/O errors — refused,
//! reset, broken pipe, EOF, timeouts — garbage from the server, and, unless
//! `busy_errors_are_failures(false)`, the [rejections](REJECTIONS) below. Every other error
//! reply (`WRONGTYPE`, `ERR`, `NOSCRIPT`, `NOPERM`…) means the database is alive and
//! answered: it goes back to the application untouched.
//!
//! **Known not to have run**: a command never written (the connection was refused or not
//! made in time, the handshake failed, the circuit was open) or rejected by the server
//! before running it — `LOADING`, `BUSY`, `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`,
//! `READONLY`, `MISCONF`, `NOREPLICAS`, `ERR max number of clients reached`, and `MOVED` or
//! `ASK` (what reaches the client when a cluster could not route a command, typically
//! because a node just died and the cluster client's own redirect failed). Such a
//! command may be retried anywhere, whatever its category, and whether or not the
//! rejection counts as a failure: the two questions are kept apart. Anything else that
//! fails may have run: [`crate::category`] says whether it may be replayed.

use redis::{ErrorKind, RedisError, Value};

/// Whether a failed attempt may have had an effect on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The server never executed it.
    No,
    /// The server may have executed it.
    Maybe,
}

/// The error codes of replies that reject a command before it runs.
pub(crate) const REJECTIONS: &[&str] = &[
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "READONLY",
    "MISCONF",
    "NOREPLICAS",
    "MOVED",
    "ASK",
];

/// `ERR max number of clients reached`: an `ERR` that rejects, told by its text.
const MAX_CLIENTS: &str = "max number of clients reached";

fn is_rejection(code: &str, detail: Option<&str>) -> bool {
    REJECTIONS.iter().any(|r| code.eq_ignore_ascii_case(r))
        || (code == "ERR" && detail.is_some_and(|d| d.starts_with(MAX_CLIENTS)))
}

/// `Some(sent)` when the error is a failure of the database, `None` when it is an answer.
/// Rejections are failures only when `busy_errors_are_failures`.
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
        _ if busy_errors_are_failures && error_rejects(err) => Some(Sent::No),
        _ => None,
    }
}

/// Whether the database replied — a value, or an error reply of any kind (a `LOADING`
/// or `BUSY` one too) — rather than the connection failing or timing out.
#[inline]
pub(crate) fn replied<T>(result: &redis::RedisResult<T>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => error_failure(e, false).is_none(),
    }
}

/// Whether an error reply rejected the command before it ran.
pub(crate) fn error_rejects(err: &RedisError) -> bool {
    err.code()
        .is_some_and(|code| is_rejection(code, err.detail()))
}

/// Whether a reply is an error that rejected the command before it ran.
pub(crate) fn value_rejects(value: &Value) -> bool {
    match value {
        Value::ServerError(e) => is_rejection(e.code(), e.details()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::ServerErrorKind;

    #[test]
    fn refused_is_unsent_timeouts_are_maybe_sent_and_answers_are_not_failures() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(error_failure(&refused, true), Some(Sent::No));
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(error_failure(&timeout, true), Some(Sent::Maybe));
        let answer = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "ERR"));
        assert_eq!(error_failure(&answer, true), None);
        assert!(!error_rejects(&answer));
    }

    fn reply(text: &str) -> Value {
        let resp = format!("-{text}\r\n");
        redis::parse_redis_value(resp.as_bytes()).expect("an error reply")
    }

    #[test]
    fn every_rejection_reply_is_known_not_applied_and_a_failure_only_when_configured() {
        for text in [
            "LOADING Redis is loading the dataset in memory",
            "BUSY Redis is busy running a script",
            "MASTERDOWN Link with MASTER is down",
            "CLUSTERDOWN The cluster is down",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "READONLY You can't write against a read only replica.",
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk",
            "NOREPLICAS Not enough good replicas to write.",
            "ERR max number of clients reached",
            "MOVED 3999 127.0.0.1:6381",
            "ASK 3999 127.0.0.1:6381",
        ] {
            let value = reply(text);
            assert!(value_rejects(&value), "{text}");
            let err = value.extract_error().expect_err("an error");
            assert!(error_rejects(&err), "{text}");
            assert_eq!(error_failure(&err, true), Some(Sent::No), "{text}");
            assert_eq!(error_failure(&err, false), None, "{text}");
        }
        for text in [
            "ERR unknown command",
            "WRONGTYPE Operation",
            "NOSCRIPT No matching",
            "OOM command not allowed",
        ] {
            assert!(!value_rejects(&reply(text)), "{text}");
        }
    }
}
