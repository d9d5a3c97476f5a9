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

/// Seeds that once found a defect: they always run. 10, 41, 9007: a replayed `SET` that
/// may have been written failed as if it was not.
const REGRESSIONS: &[u64] = &[10, 41, 9007];

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

/// Moved from `replay.rs` onto simulated time (it waited 1.5 real seconds): a `BLPOP`
/// whose element comes long after the response timeout gets it, delays nothing else, and
/// moves no traffic.
#[test]
fn a_blpop_past_the_response_timeout_delivers_its_element_delays_nothing_and_switches_nothing() {
    use multidb_client::Event;
    use redis::AsyncCommands;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    sim::world::paused(async {
        let net = multidb_testkit::SimNet::new();
        let (hosts, client) = sim::world::pair(&net).await;
        let first = client.active_database();
        let mut events = client.events();
        let mut con = client.clone();
        let blpop =
            tokio::spawn(async move { con.blpop::<_, Option<(String, String)>>("q", 3.0).await });
        let a = &hosts[0].fake;
        while !a
            .command_log()
            .iter()
            .any(|c| c[0].eq_ignore_ascii_case("blpop"))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut other = client.clone();
        other.set::<_, _, ()>("k", "v").await.unwrap();
        assert_eq!(other.get::<_, String>("k").await.unwrap(), "v");
        // The element arrives well after the response timeout.
        tokio::time::sleep(sim::world::RESPONSE_TIMEOUT * 15).await;
        let mut pusher = net.connect(a.addr()).await.unwrap();
        let auth = format!("AUTH {}\r\nLPUSH q x\r\n", sim::world::PASSWORD);
        pusher.write_all(auth.as_bytes()).await.unwrap();
        let mut reply = [0; 9];
        pusher.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"+OK\r\n:1\r\n");
        let got = tokio::time::timeout(Duration::from_secs(10), blpop)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(("q".to_owned(), "x".to_owned())));
        assert_eq!(a.list_len("q"), 0);
        assert_eq!(client.active_database(), first);
        while let Ok(e) = events.try_recv() {
            assert!(
                !matches!(
                    e,
                    Event::ActiveDatabaseChanged { .. } | Event::AllDatabasesUnhealthy
                ),
                "unexpected switch: {e:?}"
            );
        }
        client.close().await;
    });
}

/// Found by the simulation (seeds 10, 41, 9007): a `SET` whose reply was late (so it may
/// have been written) and whose replays then found nothing usable failed with a plain
/// error — "temporarily unavailable", or the last timeout — that reads as "not written".
/// It is `MayHaveBeenApplied` now, naming the database it may have been written on.
#[test]
fn a_replayed_set_that_may_have_been_written_never_fails_as_if_it_was_not() {
    use multidb_client::MultiDbError;
    use multidb_testkit::{Direction, Fault};
    use redis::AsyncCommands;
    use std::time::Duration;

    sim::world::paused(async {
        let net = multidb_testkit::SimNet::new();
        let (hosts, client) = sim::world::pair(&net).await;
        let first = client.active_database().unwrap();
        hosts[1].fake.inject(Fault::Down);
        // Written at once, answered long after the response timeout.
        net.set_latency(
            hosts[0].fake.addr(),
            Direction::FromHost,
            Duration::from_secs(2),
        );
        let mut con = client.clone();
        let err = con.set::<_, _, ()>("k", "v").await.unwrap_err();
        match MultiDbError::from_redis(&err) {
            Some(MultiDbError::MayHaveBeenApplied { id, .. }) => assert_eq!(*id, first),
            other => panic!("not MayHaveBeenApplied: {err} ({other:?})"),
        }
        assert_eq!(hosts[0].fake.string_value("k").as_deref(), Some(&b"v"[..]));
        client.close().await;
    });
}

/// The "no panic" invariant sees a panic that something caught (as tokio catches a task's).
#[test]
fn a_caught_panic_in_a_schedules_thread_is_recorded() {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sim::panics::reset();
                let caught = std::panic::catch_unwind(|| panic!("a task's bug"));
                assert!(caught.is_err());
                let panics = sim::panics::take();
                assert!(
                    panics.iter().any(|p| p.contains("a task's bug")),
                    "{panics:?}"
                );
            })
            .join()
            .unwrap();
    });
}

/// Each database's circuit breaker trips at its own threshold: the near one after 2
/// failures, the far one after 4, while the client-wide setting (1000) would trip neither.
#[test]
fn two_databases_trip_at_their_own_breaker_thresholds() {
    use multidb_client::{CircuitState, DatabaseId, MultiDbClient, MultiDbConfig};
    use multidb_testkit::Fault;
    use redis::AsyncCommands;
    use std::time::Duration;

    fn circuit(client: &MultiDbClient, id: DatabaseId) -> CircuitState {
        client
            .databases()
            .into_iter()
            .find(|d| d.id == id)
            .unwrap()
            .circuit
    }

    sim::world::paused(async {
        let net = multidb_testkit::SimNet::new();
        let hosts = sim::world::hosts(&net, 2).await;
        let config = MultiDbConfig::builder()
            .database(hosts[0].config(&net, 1.0).min_num_failures(2))
            .database(hosts[1].config(&net, 0.5).min_num_failures(4))
            .min_num_failures(1000)
            // Only commands judge: no probe on failure, no check before the test ends.
            .probe_on_failure(false)
            .health_check_interval(Duration::from_secs(3600))
            .retry_attempts(0)
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        client.initialize().await.unwrap();
        let ids: Vec<DatabaseId> = client.databases().iter().map(|d| d.id).collect();
        assert_eq!(client.databases()[1].breaker.min_num_failures, 4);
        let mut con = client.clone();
        let mut events = client.events();
        for (host, id, trips_at) in [(0, ids[0], 2), (1, ids[1], 4)] {
            // The switch away from a tripped database comes from the control task: await it.
            while client.active_database() != Some(id) {
                tokio::time::timeout(Duration::from_secs(5), events.recv())
                    .await
                    .expect("a switch to the next database")
                    .unwrap();
            }
            hosts[host].fake.inject(Fault::Down);
            for failure in 1..=trips_at {
                assert!(con.get::<_, Option<String>>("k").await.is_err());
                let expected = if failure < trips_at {
                    CircuitState::Closed
                } else {
                    CircuitState::Open
                };
                assert_eq!(
                    circuit(&client, id),
                    expected,
                    "{id} after {failure} failures"
                );
            }
        }
        client.close().await;
    });
}

/// The switch events a listener was given, until it has `n` of them (a real-time bound:
/// listeners run on a thread of their own).
fn switches_heard(
    heard: &std::sync::mpsc::Receiver<multidb_client::Event>,
    n: usize,
) -> Vec<multidb_client::Event> {
    let mut switches = Vec::new();
    while switches.len() < n {
        let event = heard
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the listener hears every switch");
        if matches!(event, multidb_client::Event::ActiveDatabaseChanged { .. }) {
            switches.push(event);
        }
    }
    switches
}

/// Fails the first member over and back, then closes the client.
async fn over_and_back(hosts: &[sim::world::Host], client: &multidb_client::MultiDbClient) {
    let mut events = client.events();
    let first = client.active_database();
    hosts[0].fake.inject(multidb_testkit::Fault::Down);
    // Any event (or a lag: receivers may be small here) means "look again".
    while client.active_database() == first {
        let _ = events.recv().await;
    }
    hosts[0].fake.recover();
    while client.active_database() != first {
        let _ = events.recv().await;
    }
    client.close().await;
}

/// The switches chain — each from the one before, the first at start — and end at `last`.
fn assert_chain(switches: &[multidb_client::Event], last: Option<multidb_client::DatabaseId>) {
    use multidb_client::Event;
    let mut active = None;
    for switch in switches {
        let Event::ActiveDatabaseChanged { from, to, .. } = switch else {
            panic!("not a switch: {switch:?}");
        };
        assert_eq!(*from, active, "{switches:?}");
        active = Some(*to);
    }
    assert_eq!(active, last, "{switches:?}");
}

/// Listeners get every switch, in order, as `events()` does; one that panics on every
/// event stops neither the others nor the failover.
#[test]
fn listeners_hear_every_switch_in_order_and_a_panicking_one_stops_nothing() {
    use multidb_client::{Event, MultiDbClient};
    let (tx, heard) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    sim::world::paused(async {
        let net = multidb_testkit::SimNet::new();
        let hosts = sim::world::hosts(&net, 2).await;
        let config = sim::world::builder(&net, &hosts, &[1.0, 0.5])
            .on_event(|_| panic!("a listener's bug"))
            .on_event(move |event| {
                let _ = tx.lock().unwrap().send(event.clone());
            })
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        let mut all = client.events();
        client.initialize().await.unwrap();
        over_and_back(&hosts, &client).await;
        let mut expected = Vec::new();
        while let Ok(event) = all.try_recv() {
            if matches!(event, Event::ActiveDatabaseChanged { .. }) {
                expected.push(event);
            }
        }
        assert!(
            expected.len() >= 3,
            "initial, failover and fallback: {expected:?}"
        );
        assert_eq!(switches_heard(&heard, expected.len()), expected);
        assert_eq!(client.dropped_listener_events(), 0);
    });
}

/// A listener stuck in its first call holds up no failover, and once it goes on it still
/// hears every switch, in order; the other events beyond its backlog were dropped and
/// counted.
#[test]
fn a_stuck_listener_stalls_no_failover_and_misses_no_switch() {
    use multidb_client::MultiDbClient;
    let (tx, heard) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate));
    sim::world::paused(async {
        let net = multidb_testkit::SimNet::new();
        let hosts = sim::world::hosts(&net, 2).await;
        let config = sim::world::builder(&net, &hosts, &[1.0, 0.5])
            .event_capacity(2)
            .on_event(move |event| {
                // The first call waits until the test lets it go.
                if let Some(gate) = gate.lock().unwrap().take() {
                    let _ = gate.recv();
                }
                let _ = tx.lock().unwrap().send(event.clone());
            })
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        client.initialize().await.unwrap();
        let first = client.active_database();
        // Failover and fallback happen while the listener is stuck.
        over_and_back(&hosts, &client).await;
        assert!(client.dropped_listener_events() > 0);
        release.send(()).unwrap();
        // Initial, failover, fallback: every switch, chained, ending where the client did.
        let heard = switches_heard(&heard, 3);
        assert_chain(&heard, first);
    });
}
