//! The replication heartbeat against fake servers, with the test as the replication link:
//! it copies a writer's heartbeat key to another fake, and stops copying to make that one
//! fall behind. (Against real replication: `heartbeat_real.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{next_event, switch_to};
use multidb_client::{
    DatabaseConfig, DatabaseId, Event, HeartbeatConfig, MultiDbClient, MultiDbConfig, SwitchReason,
};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;
use tokio::sync::broadcast;

const INTERVAL: Duration = Duration::from_millis(50);
const BOUND: Duration = Duration::from_millis(500);

/// A client over `servers` (weights 1, 1/2, …), heartbeats every 50 ms with a 500 ms lag
/// bound, lag checked every 50 ms, auto-fallback every 100 ms. Not initialized.
fn client(servers: &[&FakeRedis]) -> MultiDbClient {
    let mut builder = MultiDbConfig::builder()
        .health_check_interval(INTERVAL)
        .health_check_probes(1)
        .auto_fallback_interval(Some(Duration::from_millis(100)))
        .replication_heartbeat(Some(HeartbeatConfig::new(BOUND).interval(INTERVAL)));
    for (i, server) in servers.iter().enumerate() {
        builder = builder.database(
            DatabaseConfig::from_url(&server.url())
                .unwrap()
                .weight(1.0 / (i as f64 + 1.0)),
        );
    }
    MultiDbClient::new(builder.build().unwrap())
}

fn ids(client: &MultiDbClient) -> Vec<DatabaseId> {
    client.databases().iter().map(|d| d.id).collect()
}

/// A [`client`] over two servers, initialized, with its events from before initialization
/// and the two databases' ids.
async fn initialized(
    servers: &[&FakeRedis; 2],
) -> (MultiDbClient, broadcast::Receiver<Event>, [DatabaseId; 2]) {
    let client = client(servers);
    let events = client.events();
    client.initialize().await.unwrap();
    let [first, second] = ids(&client)[..] else {
        panic!("two databases");
    };
    (client, events, [first, second])
}

fn lagging(client: &MultiDbClient, id: DatabaseId) -> bool {
    client.databases().iter().any(|d| d.id == id && d.lagging)
}

fn lag_of(id: DatabaseId, lags: bool) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::LagChanged { database, lagging } if *database == id && *lagging == lags)
}

/// The test's replication link: copies `writer`'s heartbeat key from `from` to `to` every
/// 20 ms while it is up.
struct Link {
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    fn start(from: &FakeRedis, to: &FakeRedis, writer: DatabaseId) -> Link {
        let up = Arc::new(AtomicBool::new(true));
        let (from, to) = (
            redis::Client::open(from.url()).unwrap(),
            redis::Client::open(to.url()).unwrap(),
        );
        let suffix = format!(":{}", writer.get());
        let task = tokio::spawn({
            let up = up.clone();
            async move {
                let mut from = from.get_multiplexed_async_connection().await.unwrap();
                let mut to = to.get_multiplexed_async_connection().await.unwrap();
                let mut every = tokio::time::interval(Duration::from_millis(20));
                loop {
                    every.tick().await;
                    if !up.load(Ordering::Acquire) {
                        continue;
                    }
                    let keys: Vec<String> = from.keys("multidb:hb:*").await.unwrap_or_default();
                    for key in keys.iter().filter(|k| k.ends_with(&suffix)) {
                        if let Ok(Some(value)) = from.get::<_, Option<String>>(key).await {
                            let _: redis::RedisResult<()> = redis::cmd("SET")
                                .arg(key)
                                .arg(value)
                                .arg("PX")
                                .arg(60_000)
                                .query_async(&mut to)
                                .await;
                        }
                    }
                }
            }
        });
        Link { up, task }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_whose_replication_stops_is_gated_until_it_catches_up() {
    let (a, b) = (
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    );
    let (client, mut events, [first, second]) = initialized(&[&a, &b]).await;
    assert_eq!(client.active_database(), Some(first));
    let (a_to_b, b_to_a) = (Link::start(&a, &b, first), Link::start(&b, &a, second));
    if lagging(&client, second) {
        // Caught lagging before its link copied anything: wait until it shows up to date.
        next_event(
            &mut events,
            "the second to catch up first",
            lag_of(second, false),
        )
        .await;
    }

    a_to_b.set_up(false);
    next_event(&mut events, "the second lagging", lag_of(second, true)).await;
    // It stays lagging while its link is down: nothing can bring it up to date.
    assert!(lagging(&client, second));
    // Gated: outranking the active database does not make it active, nor may it be
    // switched to by hand.
    client.update_database_weight(second, 2.0).unwrap();
    assert_eq!(client.active_database(), Some(first));
    let refused = client.set_active_database(second).await.unwrap_err();
    assert!(refused.to_string().contains("lagging"), "{refused}");
    assert!(
        refused.to_string().contains("heartbeat"),
        "the reason says which check: {refused}"
    );

    a_to_b.set_up(true);
    next_event(&mut events, "the second caught up", lag_of(second, false)).await;
    let (from, reason) = switch_to(&mut events, "fallback to the caught-up second", second).await;
    assert_eq!((from, reason), (Some(first), SwitchReason::AutoFallback));
    drop(b_to_a);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refusing_heartbeats_with_readonly_is_no_writer_and_stays_healthy() {
    let (a, replica) = (
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    );
    // The fake refuses every data command, reads too; a real replica answers reads (see
    // heartbeat_real.rs). PING still passes.
    replica.inject(Fault::ErrorReply(
        "READONLY You can't write against a read only replica.".to_owned(),
    ));
    let (client, mut events, [first, second]) = initialized(&[&a, &replica]).await;
    // The replica cannot read the first's heartbeats: a typed reason, so it is gated.
    next_event(&mut events, "the replica gated", lag_of(second, true)).await;
    // Its READONLY refusals are no failure: healthy, circuit closed, never evicted.
    let info = client.databases();
    let replica_info = info.iter().find(|d| d.id == second).unwrap();
    assert!(replica_info.healthy, "{replica_info:?}");
    assert_eq!(replica_info.circuit, multidb_client::CircuitState::Closed);
    // Nor is it a writer: the first, which never sees a heartbeat of the replica, has no
    // writer elsewhere and so no lag verdict — a fresh check (a manual switch runs one)
    // passes.
    client.set_active_database(first).await.unwrap();
    assert!(!lagging(&client, first));
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, Event::LagChanged { database, lagging: true } if database == first)
                && !matches!(event, Event::HealthChanged { healthy: false, .. }),
            "{event:?}"
        );
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_servers_never_see_each_others_heartbeats_so_both_lag_and_none_is_evicted() {
    let (a, b) = (
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    );
    let (client, mut events, [first, second]) = initialized(&[&a, &b]).await;
    let mut lagging_now = std::collections::BTreeSet::new();
    while lagging_now.len() < 2 {
        if let Event::LagChanged { database, .. } = next_event(&mut events, "both lagging", |e| {
            matches!(e, Event::LagChanged { lagging: true, .. })
        })
        .await
        {
            lagging_now.insert(database);
        }
    }
    assert_eq!(lagging_now, [first, second].into());
    assert_eq!(client.active_database(), Some(first), "lag does not evict");
    // The status shows how far behind each one is, past the bound.
    for db in client.status().databases {
        assert!(db.lagging, "{db:?}");
        assert!(db.lag.is_some_and(|lag| lag > BOUND), "{db:?}");
    }
    // Each server holds this client's heartbeat key, expiring.
    let mut con = redis::Client::open(a.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = con.keys("multidb:hb:*").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(&format!(":{}", first.get())), "{keys:?}");
    let ttl: i64 = con.pttl(&keys[0]).await.unwrap();
    assert!(ttl > 0, "{ttl}");
    client.close().await;
}
