//! What a health check is, and what the engine reports about a target.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// One way of checking a target (e.g. a Redis `PING`).
///
/// The engine calls [`check`](Self::check) once per probe, bounds the whole check by its
/// timeout and catches panics, so an implementation may simply return an error, hang or
/// even panic: every such outcome is reported as an unhealthy result, never propagated.
/// (A caught panic is still printed by the panic hook; with `panic = "abort"` it aborts.)
///
/// The target is lent to every probe, so a check can reuse the target's own connection
/// instead of opening one per probe.
#[async_trait::async_trait]
pub trait HealthCheck<T: ?Sized + Send + Sync>: Send + Sync {
    /// Probes the target once.
    ///
    /// # Errors
    ///
    /// [`Unhealthy`] with the reason when the target failed the probe.
    async fn check(&self, target: &T) -> Result<(), Unhealthy>;

    /// The check's name, used in reasons and logs.
    #[allow(
        clippy::unnecessary_literal_bound,
        reason = "implementations return names borrowed from self"
    )]
    fn name(&self) -> &str {
        "check"
    }

    /// The target was removed from the monitor: forget whatever was kept for it (a cache,
    /// a connection). Called once, after its last probe was stopped; the default keeps
    /// nothing. A panic here is caught.
    fn removed(&self, target: &T) {
        let _ = target;
    }
}

/// Why a target is unhealthy, in words (e.g. `"ping: timed out after 3s"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{reason}")]
pub struct Unhealthy {
    reason: String,
}

impl Unhealthy {
    /// The longest reason kept, in bytes: a reason may quote what a server sent, and it goes
    /// into events, errors and log lines. Longer ones are cut (at a character boundary) and
    /// end with `…`.
    pub const MAX_REASON_BYTES: usize = 1024;

    /// An unhealthy outcome with the given reason, kept to one line (it goes into events and
    /// log lines): control characters, such as the newlines of a multi-line error, become
    /// single spaces; at most [`Self::MAX_REASON_BYTES`] of it are kept.
    pub fn new(reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > Self::MAX_REASON_BYTES {
            let mut end = Self::MAX_REASON_BYTES - '…'.len_utf8();
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        if reason.contains(char::is_control) {
            reason = reason
                .split(char::is_control)
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        Self { reason }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The result of one check of a target (every health check, every probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthStatus {
    /// Whether every health check passed.
    pub healthy: bool,
    /// `Some` when unhealthy: which check failed and why (failed probes, timeout, panic).
    pub reason: Option<Unhealthy>,
    /// How long the check took (`finished_at - started_at`).
    pub latency: Duration,
    /// When the check started; results are published in this order.
    pub started_at: Instant,
    /// When the check finished.
    pub finished_at: Instant,
}

impl HealthStatus {
    pub(crate) fn new(outcome: Result<(), Unhealthy>, started_at: Instant) -> Self {
        let finished_at = Instant::now();
        Self {
            healthy: outcome.is_ok(),
            reason: outcome.err(),
            latency: finished_at.saturating_duration_since(started_at),
            started_at,
            finished_at,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            None => write!(f, "healthy ({:?})", self.latency),
            Some(reason) => write!(f, "unhealthy ({:?}): {reason}", self.latency),
        }
    }
}

/// A published result, as seen by [`HealthMonitor::subscribe`](crate::HealthMonitor::subscribe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent<K> {
    /// The target's key.
    pub target: K,
    /// The result.
    pub status: HealthStatus,
    /// `true` for the target's first result and whenever `healthy` flipped.
    pub changed: bool,
}

#[cfg(test)]
mod tests {
    use super::Unhealthy;

    #[test]
    fn reasons_are_one_line() {
        let multi = Unhealthy::new("ping: parse error:\n  unexpected byte\r\n\tat 3\u{1b}");
        assert_eq!(multi.reason(), "ping: parse error: unexpected byte at 3");
        assert_eq!(Unhealthy::new("a  b: c").reason(), "a  b: c");
    }

    #[test]
    fn reasons_are_bounded_and_cut_between_characters() {
        let max = Unhealthy::MAX_REASON_BYTES;
        let exact = "x".repeat(max);
        assert_eq!(Unhealthy::new(exact.clone()).reason(), exact);
        for long in ["y".repeat(10 * max), "é".repeat(max), "ab€".repeat(max)] {
            let reason = Unhealthy::new(long.clone()).reason().to_owned();
            assert!(reason.len() <= max, "{}", reason.len());
            assert!(reason.ends_with('…'));
            assert!(long.starts_with(reason.trim_end_matches('…')));
        }
    }
}
