//! Shared set-up for the rule tests: second-resolution time and a quick way to build an
//! initialized engine.
#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::time::Duration;

use multidb_failover::{EngineConfig, FailoverEngine, InitialPolicy, Unavailability};

pub const OPEN: Unavailability = Unavailability::CircuitOpen;

pub fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Config with a 100 s fallback interval and a 3 × 10 s unavailability budget.
pub fn config() -> EngineConfig {
    EngineConfig {
        auto_fallback_interval: Some(s(100)),
        failover_attempts: 3,
        failover_delay: s(10),
    }
}

/// An engine with `(id, weight)` candidates, all available with a 30 s grace period,
/// initialized at 0 s.
pub fn initialized(candidates: &[(&'static str, f64)]) -> FailoverEngine<&'static str> {
    let mut e = FailoverEngine::new(config());
    for &(id, weight) in candidates {
        e.add(id, weight, s(30), true, s(0))
            .expect("valid candidate");
    }
    e.initialize(InitialPolicy::OneAvailable, s(0))
        .expect("one available");
    e
}
