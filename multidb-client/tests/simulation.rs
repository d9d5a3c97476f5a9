//! The whole client under seeded fault schedules, in simulated time.
//!
//! Each schedule runs the real client (URL members through a [`Transport`] over the
//! testkit's `SimNet`) against fake servers, with a seeded mix of traffic, faults and
//! management calls, then checks the invariants: no hang, nothing applied twice or
//! acknowledged and lost, no silent switch of a pinned connection, events that replay to
//! the final state, settling on the heaviest database, nothing left after `close()`, no
//! panic, no password in any text.
//!
//! `MULTIDB_SIM_SCHEDULES` (default 1000) schedules run: the fixed seeds `0..N/2` and
//! `N/2` from a fresh random base (`MULTIDB_SIM_SEED` fixes it). A failure prints its seed
//! and the command that replays it alone. `cargo xtask sim --schedules N --seed S` runs
//! long ones in release mode.
//!
//! [`Transport`]: multidb_client::transport::Transport
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Seeds that once found a defect: they always run.
const REGRESSIONS: &[u64] = &[];

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Runs `seeds` on every core, each on a thread of its own; returns the failures by seed.
fn run_all(seeds: &[u64]) -> (Vec<(u64, Vec<String>)>, u64) {
    let next = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let ops = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(usize::try_from(i).unwrap()) else {
                        return;
                    };
                    let outcome = run_alone(seed);
                    ops.fetch_add(outcome.ops, Ordering::Relaxed);
                    if !outcome.failures.is_empty() {
                        failures.lock().unwrap().push((seed, outcome.failures));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_unstable_by_key(|(seed, _)| *seed);
    (failures, ops.into_inner())
}

/// Schedule `seed` on a thread of its own: no thread-local state (random generators,
/// cached clock readings) carries over from another schedule, so a replay is exact.
fn run_alone(seed: u64) -> sim::schedule::Outcome {
    std::thread::scope(|scope| scope.spawn(|| sim::schedule::run(seed)).join())
        .unwrap_or_else(|_| panic!("schedule {seed}: the harness itself panicked"))
}

#[test]
fn seeded_schedules_keep_every_invariant() {
    let n = env_u64("MULTIDB_SIM_SCHEDULES").unwrap_or(1000);
    let (seeds, range) = match (env_u64("MULTIDB_SIM_SEED"), n) {
        // One seed: replay it alone.
        (Some(seed), 1) => (vec![seed], format!("{seed}")),
        (base, _) => {
            let base = base.unwrap_or_else(|| fastrand::u64(1 << 32..1 << 48));
            let fixed = n / 2;
            let mut seeds: Vec<u64> = (0..fixed).chain(base..base + (n - fixed)).collect();
            seeds.extend_from_slice(REGRESSIONS);
            (
                seeds,
                format!("0..{fixed} and {base}..{}", base + (n - fixed)),
            )
        }
    };
    let started = std::time::Instant::now();
    let (failures, ops) = run_all(&seeds);
    println!(
        "simulation: {} schedules, {} failures, seed range {range} ({ops} operations, {:.1?})",
        seeds.len(),
        failures.len(),
        started.elapsed()
    );
    for (seed, what) in failures.iter().take(10) {
        println!("seed {seed}: {}", what.join("; "));
        println!(
            "  replay: MULTIDB_SIM_SEED={seed} MULTIDB_SIM_SCHEDULES=1 cargo test -p multidb-client --all-features --test simulation -- --nocapture"
        );
    }
    assert!(failures.is_empty(), "{} schedules failed", failures.len());
}

#[test]
fn a_seed_replays_exactly() {
    let first = run_alone(7);
    let second = run_alone(7);
    assert_eq!(
        first.trace, second.trace,
        "the same seed gave different events"
    );
    assert_eq!(
        first.ops, second.ops,
        "the same seed gave different traffic"
    );
}
