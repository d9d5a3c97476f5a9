//! Many threads on one breaker: no lost counts, one report per transition, quota held.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::breaker;
use multidb_circuit::{CircuitConfig, State, TransitionReason, WindowCounts};

const THREADS: usize = 4;

#[test]
fn concurrent_records_are_all_counted() {
    let (b, _, log) = breaker(CircuitConfig::builder().min_num_failures(1_000_000));
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for i in 0..THREADS {
            let (b, barrier) = (&b, &barrier);
            s.spawn(move || {
                barrier.wait();
                for n in 0..10_000 {
                    let permit = b.try_acquire().expect("closed");
                    if (n + i) % 10 == 0 {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                }
            });
        }
    });
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 36_000,
            failures: 4_000
        }
    );
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn crossing_the_threshold_from_many_threads_opens_exactly_once() {
    let (b, _, log) = breaker(
        CircuitConfig::builder()
            .min_num_failures(1000)
            .failure_rate_threshold(0.5),
    );
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&opened);
    b.on_transition(move |t| {
        if (t.from, t.to) == (State::Closed, State::Open) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    for round in 1..=20 {
        let barrier = Barrier::new(THREADS);
        thread::scope(|s| {
            for _ in 0..THREADS {
                let (b, barrier) = (&b, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..400 {
                        b.record_success();
                        b.record_failure();
                    }
                });
            }
        });
        assert_eq!(b.state(), State::Open);
        assert_eq!(opened.load(Ordering::SeqCst), round, "round {round}");
        let counts = b.counts();
        assert!(counts.failures >= 1000, "{counts:?}");
        assert!(
            counts.successes <= 1600 && counts.failures <= 1600,
            "{counts:?}"
        );
        b.reset();
    }
    let reasons = log
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.reason)
        .collect::<Vec<_>>();
    assert_eq!(reasons.len(), 40);
    assert!(
        reasons
            .chunks(2)
            .all(|pair| pair == [TransitionReason::ThresholdsCrossed, TransitionReason::Reset])
    );
}

#[test]
fn half_open_quota_holds_under_contention() {
    let (b, _, _) = breaker(
        CircuitConfig::builder()
            .grace_period(std::time::Duration::ZERO)
            .half_open_max_calls(3),
    );
    b.trip();
    let granted = AtomicUsize::new(0);
    let barrier = Barrier::new(THREADS * 2);
    thread::scope(|s| {
        for _ in 0..THREADS * 2 {
            let (b, barrier, granted) = (&b, &barrier, &granted);
            s.spawn(move || {
                barrier.wait();
                let permit = b.try_acquire();
                if permit.is_ok() {
                    granted.fetch_add(1, Ordering::SeqCst);
                }
                // Hold the permit until every thread has tried.
                barrier.wait();
                drop(permit);
            });
        }
    });
    assert_eq!(granted.load(Ordering::SeqCst), 3);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.try_acquire().map(|p| p.granted_in()), Ok(State::HalfOpen));
}
