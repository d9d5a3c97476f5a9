//! Stall detection on simulated members and network, in paused time: a database silent for
//! longer than the stall tolerance with commands in flight is probed on a connection of its
//! own and failed over when that probe gets no answer either; shorter pauses, a latency
//! spike and a far database are not stalls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "sim/world.rs"]
mod world;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use multidb_client::{DatabaseId, Event, MultiDbClient, MultiDbConfig, SwitchReason};
use multidb_testkit::{Direction, SimNet};
use redis::AsyncCommands;
use tokio::time::Instant;
use world::Host;

const MS: Duration = Duration::from_millis(1);
/// The default stall tolerance.
const TOLERANCE: Duration = Duration::from_millis(125);
/// Commands time out only after this: what moves traffic within it is the watchdog.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Two members, weights 1.0 and 0.5, with default stall detection, responses bounded by
/// [`RESPONSE_TIMEOUT`] and no scheduled health check during a test; initialized.
async fn pair(net: &SimNet) -> (Vec<Host>, MultiDbClient, Vec<DatabaseId>) {
    let hosts = world::hosts(net, 2).await;
    let config = MultiDbConfig::builder()
        .database(
            hosts[0]
                .config(net, 1.0)
                .response_timeout(Some(RESPONSE_TIMEOUT)),
        )
        .database(
            hosts[1]
                .config(net, 0.5)
                .response_timeout(Some(RESPONSE_TIMEOUT)),
        )
        .health_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids = client.databases().iter().map(|d| d.id).collect();
    (hosts, client, ids)
}

/// What the load saw.
#[derive(Default)]
struct Load {
    ok: usize,
    errors: Vec<String>,
    /// The longest any SET + GET took.
    slowest: Duration,
}

/// `tasks` tasks of SET + GET until `stop`.
fn load(
    client: &MultiDbClient,
    tasks: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Load>> {
    (0..tasks)
        .map(|t| {
            let mut con = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Load::default();
                let mut i = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{t}:{i}");
                    let started = Instant::now();
                    let done: redis::RedisResult<u64> = async {
                        con.set::<_, _, ()>(&key, i).await?;
                        con.get(&key).await
                    }
                    .await;
                    seen.slowest = seen.slowest.max(started.elapsed());
                    match done {
                        Ok(v) if v == i => seen.ok += 1,
                        Ok(v) => seen.errors.push(format!("{key}: read {v}")),
                        Err(e) => seen.errors.push(format!("{key}: {e}")),
                    }
                    i += 1;
                    tokio::time::sleep(MS).await;
                }
                seen
            })
        })
        .collect()
}

async fn finish(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<Load>>) -> Load {
    stop.store(true, Ordering::Relaxed);
    let mut all = Load::default();
    for task in tasks {
        let seen = task.await.unwrap();
        all.ok += seen.ok;
        all.errors.extend(seen.errors);
        all.slowest = all.slowest.max(seen.slowest);
    }
    all
}

/// `PING`s the host received: the watchdog's probes (and its first `PING` at start).
fn pings(host: &Host) -> u64 {
    host.fake.count_of("ping")
}

fn switches_and_stalls(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if matches!(
            e,
            Event::ActiveDatabaseChanged { .. }
                | Event::Stalled { .. }
                | Event::AllDatabasesUnhealthy
        ) {
            seen.push(e);
        }
    }
    seen
}

#[test]
fn a_stall_past_the_tolerance_fails_over_in_about_twice_it_and_loses_nothing() {
    world::paused(async {
        let net = SimNet::new();
        let (hosts, client, ids) = pair(&net).await;
        let mut events = client.events();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = load(&client, 4, &stop);
        tokio::time::sleep(MS * 200).await;
        // A paused server: it gets nothing, so it answers nothing.
        let stalled_at = Instant::now();
        net.partition(hosts[0].fake.addr(), Direction::ToHost);
        while client.active_database() == Some(ids[0]) {
            tokio::time::sleep(MS).await;
            assert!(stalled_at.elapsed() < RESPONSE_TIMEOUT, "no failover");
        }
        let moved_after = stalled_at.elapsed();
        tokio::time::sleep(MS * 200).await;
        let seen = finish(&stop, tasks).await;
        assert_eq!(seen.errors, Vec::<String>::new());
        assert!(seen.ok > 100, "{} operations", seen.ok);
        // Silent for a tolerance (seen up to a fifth late), then a probe of a tolerance.
        assert!(
            moved_after <= TOLERANCE * 2 + TOLERANCE / 5 + MS * 5,
            "moved after {moved_after:?}"
        );
        assert!(moved_after >= TOLERANCE * 2, "moved after {moved_after:?}");
        // The commands caught in the stall went to the other database at once.
        assert!(seen.slowest < TOLERANCE * 3, "slowest {:?}", seen.slowest);
        let events = switches_and_stalls(&mut events);
        assert!(
            matches!(events[0], Event::Stalled { database, silent_for } if database == ids[0] && silent_for >= TOLERANCE),
            "{events:?}"
        );
        assert_eq!(
            events[1],
            Event::ActiveDatabaseChanged {
                from: Some(ids[0]),
                to: ids[1],
                reason: SwitchReason::CircuitOpened
            }
        );
        net.heal_all();
        client.close().await;
    });
}

#[test]
fn a_pause_shorter_than_the_tolerance_never_probes_and_one_shorter_than_twice_never_fails_over() {
    world::paused(async {
        let net = SimNet::new();
        let (hosts, client, ids) = pair(&net).await;
        let mut events = client.events();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = load(&client, 4, &stop);
        tokio::time::sleep(MS * 200).await;
        let a = hosts[0].fake.addr();
        let before = pings(&hosts[0]);
        // Requests held (a server paused for 100 ms), then replies held.
        for direction in [Direction::ToHost, Direction::FromHost, Direction::Both] {
            net.partition(a, direction);
            tokio::time::sleep(MS * 100).await;
            net.heal(a);
            tokio::time::sleep(MS * 300).await;
        }
        // A 100 ms latency spike on the path.
        net.set_latency(a, Direction::FromHost, MS * 100);
        tokio::time::sleep(MS * 500).await;
        net.set_latency(a, Direction::FromHost, Duration::ZERO);
        tokio::time::sleep(MS * 300).await;
        assert_eq!(
            pings(&hosts[0]),
            before,
            "a pause under the tolerance probed"
        );
        // 200 ms: probed, alive by the time the probe's bound is up.
        net.partition(a, Direction::ToHost);
        tokio::time::sleep(MS * 200).await;
        net.heal(a);
        tokio::time::sleep(MS * 300).await;
        assert_eq!(pings(&hosts[0]), before + 1, "one probe for a 200 ms pause");
        let seen = finish(&stop, tasks).await;
        assert_eq!(seen.errors, Vec::<String>::new());
        assert_eq!(client.active_database(), Some(ids[0]));
        assert_eq!(switches_and_stalls(&mut events), Vec::<Event>::new());
        client.close().await;
    });
}

#[test]
fn a_far_database_is_not_a_stalled_one() {
    world::paused(async {
        let net = SimNet::new();
        let hosts = world::hosts(&net, 2).await;
        // 300 ms round trips to the heavier member, from the start.
        for direction in [Direction::ToHost, Direction::FromHost] {
            net.set_latency(hosts[0].fake.addr(), direction, MS * 150);
        }
        let config = MultiDbConfig::builder()
            .database(
                hosts[0]
                    .config(&net, 1.0)
                    .response_timeout(Some(RESPONSE_TIMEOUT))
                    .connection_timeout(Duration::from_secs(5)),
            )
            .database(hosts[1].config(&net, 0.5))
            .health_check_interval(Duration::from_secs(3600))
            .health_check_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        client.initialize().await.unwrap();
        let far = client.active_database().unwrap();
        let mut events = client.events();
        // One command at a time: each is silent for a whole round trip.
        let mut con = client.clone();
        for i in 0..20_u32 {
            con.set::<_, _, ()>("k", i).await.unwrap();
        }
        assert_eq!(client.active_database(), Some(far));
        assert_eq!(switches_and_stalls(&mut events), Vec::<Event>::new());
        client.close().await;
    });
}

#[test]
fn stall_detection_turned_off_waits_for_the_response_timeout() {
    world::paused(async {
        let net = SimNet::new();
        let hosts = world::hosts(&net, 2).await;
        let config = MultiDbConfig::builder()
            .database(hosts[0].config(&net, 1.0).response_timeout(Some(MS * 800)))
            .database(hosts[1].config(&net, 0.5))
            .health_check_interval(Duration::from_secs(3600))
            .stall_tolerance(None)
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        client.initialize().await.unwrap();
        let first = client.active_database();
        let pings_before = pings(&hosts[0]);
        net.partition(hosts[0].fake.addr(), Direction::ToHost);
        let started = Instant::now();
        let mut con = client.clone();
        con.set::<_, _, ()>("k", 1).await.unwrap();
        assert!(started.elapsed() >= MS * 800, "{:?}", started.elapsed());
        assert_ne!(client.active_database(), first);
        // No watchdog PING ever reached the host (the probe after the timeout could not).
        assert_eq!(pings(&hosts[0]), pings_before);
        net.heal_all();
        client.close().await;
    });
}

#[test]
fn a_stall_with_nowhere_to_go_fails_nothing_over_and_its_commands_finish_after_it() {
    world::paused(async {
        let net = SimNet::new();
        let hosts = world::hosts(&net, 1).await;
        let config = MultiDbConfig::builder()
            .database(
                hosts[0]
                    .config(&net, 1.0)
                    .response_timeout(Some(RESPONSE_TIMEOUT)),
            )
            .health_check_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        let client = MultiDbClient::new(config);
        client.initialize().await.unwrap();
        let only = client.active_database();
        let mut events = client.events();
        tokio::time::sleep(MS * 200).await;
        net.partition(hosts[0].fake.addr(), Direction::ToHost);
        let mut con = client.clone();
        let set = tokio::spawn(async move { con.set::<_, _, ()>("k", 1).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!set.is_finished());
        net.heal_all();
        tokio::time::timeout(RESPONSE_TIMEOUT, set)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(client.active_database(), only);
        assert_eq!(switches_and_stalls(&mut events), Vec::<Event>::new());
        client.close().await;
    });
}
