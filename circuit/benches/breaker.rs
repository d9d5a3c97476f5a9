//! Closed-path cost of one acquire + success: this crate against `failsafe` in the same run,
//! single-threaded and with two threads sharing one breaker.
//!
//! `multidb_circuit` is the default clock, what a user of the crate and the client pay per
//! call: a success reads [`Clock::recent`] (the thread's last exact reading while the
//! kernel's coarse clock has not ticked). `multidb_circuit_exact_clock` reads
//! `Instant::now` on every success, as the default did before; `instant_now_alone` and
//! `coarse_tick_alone` are the two clock reads by themselves.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::{backoff, failure_policy};
use multidb_circuit::{
    CircuitBreaker, CircuitConfig, Clock, CoarseClock, ManualClock, SystemClock,
};

/// The system clock without its cheap recent reading: `Instant::now` on every call.
struct ExactClock(SystemClock);

impl Clock for ExactClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

fn ours<C: Clock>(breaker: &CircuitBreaker<C>) {
    if let Ok(permit) = breaker.try_acquire() {
        permit.success();
    }
}

type Failsafe =
    failsafe::StateMachine<failure_policy::SuccessRateOverTimeWindow<backoff::Constant>, ()>;

/// failsafe's closest policy to ours: success rate over a 2 s window, 1000 calls minimum.
fn failsafe_breaker() -> Failsafe {
    let policy = failure_policy::success_rate_over_time_window(
        0.9,
        1000,
        Duration::from_secs(2),
        backoff::constant(Duration::from_secs(60)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

fn theirs(breaker: &Failsafe) {
    if breaker.is_call_permitted() {
        breaker.on_success();
    }
}

/// Runs `op` `iters` times on each of `threads` threads; returns the wall time, so the
/// reported figure is the time per operation per thread under contention.
fn on_threads(threads: usize, iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    op();
                }
            });
        }
    });
    start.elapsed()
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("acquire_success/1_thread");
    let system = CircuitBreaker::new(CircuitConfig::default());
    group.bench_function("multidb_circuit", |b| b.iter(|| ours(black_box(&system))));
    let exact =
        CircuitBreaker::with_clock(CircuitConfig::default(), ExactClock(SystemClock::default()));
    group.bench_function("multidb_circuit_exact_clock", |b| {
        b.iter(|| ours(black_box(&exact)));
    });
    let coarse = CircuitBreaker::with_clock(
        CircuitConfig::default(),
        CoarseClock::new(Duration::from_millis(1)),
    );
    group.bench_function("multidb_circuit_coarse_clock", |b| {
        b.iter(|| ours(black_box(&coarse)));
    });
    let manual = CircuitBreaker::with_clock(CircuitConfig::default(), ManualClock::default());
    group.bench_function("multidb_circuit_manual_clock", |b| {
        b.iter(|| ours(black_box(&manual)));
    });
    let failsafe = failsafe_breaker();
    group.bench_function("failsafe", |b| b.iter(|| theirs(black_box(&failsafe))));
    group.bench_function("instant_now_alone", |b| b.iter(Instant::now));
    group.bench_function("coarse_tick_alone", |b| {
        b.iter(coarsetime::Instant::now_without_cache_update);
    });
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("acquire_success/2_threads");
    let system = CircuitBreaker::new(CircuitConfig::default());
    group.bench_function("multidb_circuit", |b| {
        b.iter_custom(|iters| on_threads(2, iters, &|| ours(black_box(&system))));
    });
    let exact =
        CircuitBreaker::with_clock(CircuitConfig::default(), ExactClock(SystemClock::default()));
    group.bench_function("multidb_circuit_exact_clock", |b| {
        b.iter_custom(|iters| on_threads(2, iters, &|| ours(black_box(&exact))));
    });
    let coarse = CircuitBreaker::with_clock(
        CircuitConfig::default(),
        CoarseClock::new(Duration::from_millis(1)),
    );
    group.bench_function("multidb_circuit_coarse_clock", |b| {
        b.iter_custom(|iters| on_threads(2, iters, &|| ours(black_box(&coarse))));
    });
    let failsafe = failsafe_breaker();
    group.bench_function("failsafe", |b| {
        b.iter_custom(|iters| on_threads(2, iters, &|| theirs(black_box(&failsafe))));
    });
    group.finish();
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
