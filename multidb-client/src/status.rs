//! A snapshot of how each database is doing: [`MultiDbClient::status`](crate::MultiDbClient::status).
//!
//! Everything in it is read from state the client keeps anyway, plus two small records per
//! database written off the hot path: the last failure (on a failure only) and a ring of
//! sampled command latencies (one command in [`SAMPLE_EVERY`] per thread is timed).

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::CircuitState;
use crate::endpoint::Endpoint;
use crate::event::DatabaseId;

/// One command in this many, per thread, is timed for [`DatabaseStatus::latency`].
pub const SAMPLE_EVERY: u32 = 64;
/// How many timed commands [`DatabaseStatus::latency`] is computed over (the latest).
pub const LATENCY_SAMPLES: usize = 128;
/// The longest failure reason kept, in bytes (longer ones are cut at a character boundary).
const MAX_REASON: usize = 512;

/// The client and each of its databases, as [`MultiDbClient::status`](crate::MultiDbClient::status)
/// found them. With feature `serde` it serializes (to JSON, say) for a status endpoint.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ClientStatus {
    /// The database commands go to now (`None` before initialization or when none is usable).
    pub active: Option<DatabaseId>,
    /// Every database, in the order they were added.
    pub databases: Vec<DatabaseStatus>,
}

/// One database in a [`ClientStatus`].
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DatabaseStatus {
    /// Its id.
    pub id: DatabaseId,
    /// Where it lives (password never shown; serialized as the redacted text).
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_display"))]
    pub endpoint: Endpoint,
    /// Its weight.
    pub weight: f64,
    /// Whether it is the active database.
    pub active: bool,
    /// Whether its last health check passed (`false` before the first one).
    pub healthy: bool,
    /// The state of its circuit breaker (`closed`, `open`, `half_open`).
    #[cfg_attr(feature = "serde", serde(serialize_with = "circuit_name"))]
    pub circuit: CircuitState,
    /// Calls its circuit breaker counts in its window now.
    pub window: CircuitCounts,
    /// Whether replication lag keeps it from becoming active.
    pub lagging: bool,
    /// Its replication lag as the replication heartbeat's last check measured it
    /// (`None` without the heartbeat, or when no other database writes heartbeats).
    pub lag: Option<Duration>,
    /// The state of its shared connection.
    pub connection: ConnectionState,
    /// The last failure seen on it (a command, a connection attempt, a health check, a
    /// stall), if any since it was added.
    pub last_failure: Option<Failure>,
    /// Latency of recently timed commands, if any were timed.
    pub latency: Option<Latency>,
}

/// Successes and failures in a circuit breaker's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CircuitCounts {
    /// Calls that succeeded (the server answered).
    pub successes: u64,
    /// Calls that failed against the database.
    pub failures: u64,
}

/// The state of a database's shared connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Made and in use.
    Connected,
    /// Being made now.
    Connecting,
    /// Not made: never needed yet, or dropped (the next command makes it again).
    Disconnected,
    /// Not the client's to track: a pool, a cluster or an application's connection.
    External,
}

/// A failure on a database: when and why.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Failure {
    /// When it happened, by the system clock.
    pub at: SystemTime,
    /// How long before the snapshot it happened.
    pub ago: Duration,
    /// What failed (the member's password never appears).
    pub reason: String,
}

/// Latency of recently timed commands on a database (the latest [`LATENCY_SAMPLES`], one
/// command in [`SAMPLE_EVERY`] per thread timed, from send to reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Latency {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile (the slowest but one of 128).
    pub p99: Duration,
    /// How many timed commands these are computed over.
    pub samples: usize,
}

#[cfg(feature = "serde")]
fn as_display<S: serde::Serializer>(value: &Endpoint, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn circuit_name<S: serde::Serializer>(state: &CircuitState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// A database's last failure, written by whoever saw it.
#[derive(Default)]
pub(crate) struct LastFailure {
    last: Mutex<Option<(SystemTime, tokio::time::Instant, String)>>,
}

impl LastFailure {
    /// Records `reason` now, with `secret` (the member's password) cut out of it.
    pub(crate) fn note(&self, reason: impl fmt::Display, secret: Option<&str>) {
        let mut reason = reason.to_string();
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            // Raw, and as a URL would carry it.
            let encoded: String = secret
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            reason = reason.replace(secret, "***").replace(&encoded, "***");
        }
        if reason.len() > MAX_REASON {
            let mut cut = MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
            reason.push('…');
        }
        let now = (SystemTime::now(), tokio::time::Instant::now(), reason);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
    }

    pub(crate) fn get(&self) -> Option<Failure> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref().map(|(at, instant, reason)| Failure {
            at: *at,
            ago: instant.elapsed(),
            reason: reason.clone(),
        })
    }
}

/// Sampled command latencies of one database: a ring of the latest [`LATENCY_SAMPLES`].
#[derive(Default)]
pub(crate) struct LatencySampler {
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    samples: Vec<Duration>,
    next: usize,
}

impl LatencySampler {
    /// Whether this command (on this thread) is one to time: one in [`SAMPLE_EVERY`].
    #[inline]
    pub(crate) fn start() -> Option<tokio::time::Instant> {
        thread_local! {
            static COUNT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        let sampled = COUNT.with(|c| {
            let n = c.get();
            c.set(n.wrapping_add(1));
            n % SAMPLE_EVERY == 0
        });
        sampled.then(tokio::time::Instant::now)
    }

    /// A timed command got its reply.
    pub(crate) fn record(&self, started: tokio::time::Instant) {
        let took = started.elapsed();
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.samples.len() < LATENCY_SAMPLES {
            ring.samples.push(took);
        } else {
            let at = ring.next;
            ring.samples[at] = took;
        }
        ring.next = (ring.next + 1) % LATENCY_SAMPLES;
    }

    pub(crate) fn summary(&self) -> Option<Latency> {
        let mut samples = self
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples
            .clone();
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: usize| samples[(samples.len() - 1) * q / 100];
        Some(Latency {
            p50: at(50),
            p99: at(99),
            samples: samples.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_loses_the_password_and_is_bounded() {
        let last = LastFailure::default();
        last.note(
            "AUTH p@ss:w0rd failed for redis://:p%40ss%3Aw0rd@h",
            Some("p@ss:w0rd"),
        );
        assert_eq!(
            last.get().unwrap().reason,
            "AUTH *** failed for redis://:***@h"
        );
        last.note("é".repeat(MAX_REASON), None);
        let reason = last.get().unwrap().reason;
        assert!(
            reason.len() <= MAX_REASON + '…'.len_utf8(),
            "{}",
            reason.len()
        );
        assert!(reason.ends_with('…'));
    }

    #[test]
    fn latency_percentiles_come_from_the_latest_samples() {
        let sampler = LatencySampler::default();
        assert_eq!(sampler.summary(), None);
        let mut ring = sampler.ring.lock().unwrap();
        ring.samples = (1..=100).map(Duration::from_millis).collect();
        drop(ring);
        let summary = sampler.summary().unwrap();
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.samples, 100);
    }

    #[test]
    fn the_ring_keeps_only_the_latest() {
        let sampler = LatencySampler::default();
        let now = tokio::time::Instant::now();
        for _ in 0..LATENCY_SAMPLES + 10 {
            sampler.record(now);
        }
        assert_eq!(sampler.summary().unwrap().samples, LATENCY_SAMPLES);
    }
}
