//! Cost of one failover decision over 16 candidates (goal: at most 100 ns).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use multidb_failover::{EngineConfig, FailoverEngine, InitialPolicy, Unavailability};

const CANDIDATES: u32 = 16;
const FALLBACK: Duration = Duration::from_secs(120);

/// 16 candidates, weights 16..1, initialized on the heaviest (id 0).
fn engine() -> FailoverEngine<u32> {
    let mut e = FailoverEngine::new(EngineConfig::default());
    for id in 0..CANDIDATES {
        e.add(
            id,
            f64::from(CANDIDATES - id),
            Duration::ZERO,
            true,
            Duration::ZERO,
        )
        .expect("valid weight");
    }
    e.initialize(InitialPolicy::OneAvailable, Duration::ZERO)
        .expect("all available");
    e
}

fn decisions(c: &mut Criterion) {
    let healthy = engine();
    c.bench_function("failover_on_active_unavailable", |b| {
        b.iter_batched(
            || healthy.clone(),
            |mut e| {
                let d = e.set_available(
                    black_box(&0),
                    false,
                    Unavailability::CircuitOpen,
                    Duration::from_secs(1),
                );
                (e, d)
            },
            BatchSize::SmallInput,
        );
    });

    // The heaviest database failed over and recovered: the next fallback tick moves back.
    let mut pending = engine();
    pending
        .set_available(
            &0,
            false,
            Unavailability::CircuitOpen,
            Duration::from_secs(1),
        )
        .expect("known id");
    pending
        .set_available(
            &0,
            true,
            Unavailability::CircuitOpen,
            Duration::from_secs(2),
        )
        .expect("known id");
    c.bench_function("tick_with_pending_fallback", |b| {
        b.iter_batched(
            || pending.clone(),
            |mut e| {
                let d = e.tick(black_box(FALLBACK));
                (e, d)
            },
            BatchSize::SmallInput,
        );
    });

    // A full cycle without cloning: the heaviest fails (decision 1), recovers, and the
    // fallback check moves back (decision 2). Time advances one fallback interval per cycle.
    let mut cycling = engine();
    let mut now = Duration::ZERO;
    c.bench_function("cycle_failover_then_fallback_two_decisions", |b| {
        b.iter(|| {
            let down = cycling.set_available(
                &0,
                false,
                Unavailability::CircuitOpen,
                now + Duration::from_secs(1),
            );
            let up = cycling.set_available(
                &0,
                true,
                Unavailability::CircuitOpen,
                now + Duration::from_secs(2),
            );
            now += FALLBACK;
            let back = cycling.tick(now);
            debug_assert!(down.is_ok_and(|d| d.is_some()) && back.is_some());
            (up, back)
        });
    });

    // A steady state tick with nothing to do: the cost the background loop pays.
    let mut idle = engine();
    c.bench_function("tick_idle", |b| {
        b.iter(|| idle.tick(black_box(Duration::from_secs(3))));
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
