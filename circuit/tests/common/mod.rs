//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use multidb_circuit::{
    CircuitBreaker, CircuitConfig, CircuitConfigBuilder, ManualClock, Transition,
};

pub type Log = Arc<Mutex<Vec<Transition>>>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A breaker on a manual clock at zero, with a listener logging every transition.
pub fn breaker(builder: CircuitConfigBuilder) -> (CircuitBreaker<ManualClock>, ManualClock, Log) {
    let clock = ManualClock::default();
    let config: CircuitConfig = builder.build().expect("valid test config");
    let breaker = CircuitBreaker::with_clock(config, clock.clone());
    let log = Log::default();
    let sink = Arc::clone(&log);
    breaker.on_transition(move |t| sink.lock().expect("log lock").push(t.clone()));
    (breaker, clock, log)
}

pub fn taken(log: &Log) -> Vec<Transition> {
    std::mem::take(&mut *log.lock().expect("log lock"))
}
