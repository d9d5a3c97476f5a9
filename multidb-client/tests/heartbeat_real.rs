//! The replication heartbeat against real replication: a `redis-server` master and a
//! replica that follows it through a fault proxy, so the test can stop its replication
//! while it still answers reads, and let it catch up again.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{GUARD, next_event, switch_to};
use multidb_client::{
    CircuitState, DatabaseConfig, DatabaseId, Event, HeartbeatConfig, MultiDbClient, MultiDbConfig,
    SwitchReason,
};
use multidb_testkit::{FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

async fn connect(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Makes `replica` follow the master behind `link`, and waits (bounded, never sleeping:
/// `WAIT` blocks on the master until the replica acknowledged) until it is in sync.
async fn follow(replica: &RedisServer, link: &FaultProxy, master: &RedisServer) {
    let mut con = connect(replica).await;
    let () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(link.addr().port())
        .query_async(&mut con)
        .await
        .unwrap();
    let mut master = connect(master).await;
    let synced = async {
        loop {
            let () = master.set("heartbeat-test:sync", 1).await.unwrap();
            let acked: i64 = redis::cmd("WAIT")
                .arg(1)
                .arg(100)
                .query_async(&mut master)
                .await
                .unwrap();
            if acked == 1 {
                return;
            }
        }
    };
    tokio::time::timeout(GUARD, synced)
        .await
        .expect("the replica did not sync within the guard");
}

fn lagging(client: &MultiDbClient, id: DatabaseId) -> bool {
    client.databases().iter().any(|d| d.id == id && d.lagging)
}

fn lag_of(id: DatabaseId, lags: bool) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::LagChanged { database, lagging } if *database == id && *lagging == lags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_replication_stops_is_gated_while_the_master_serves_and_catches_up() {
    let master = RedisServer::start().unwrap();
    let replica = RedisServer::start().unwrap();
    let link = FaultProxy::start(master.addr()).await.unwrap();
    follow(&replica, &link, &master).await;

    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&master.url()).unwrap())
        .database(
            DatabaseConfig::from_url(&replica.url())
                .unwrap()
                .weight(0.5),
        )
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes(1)
        .auto_fallback_interval(Some(Duration::from_millis(200)))
        .replication_heartbeat(Some(
            HeartbeatConfig::new(Duration::from_secs(1)).interval(Duration::from_millis(100)),
        ))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let mut events = client.events();
    let mut seen = client.events();
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let [primary, secondary] = ids[..] else {
        panic!("two databases");
    };
    assert_eq!(client.active_database(), Some(primary));
    if lagging(&client, secondary) {
        // Judged before the first heartbeats replicated: wait until it shows them.
        next_event(
            &mut events,
            "the replica up to date",
            lag_of(secondary, false),
        )
        .await;
    }

    // Replication stops; the replica still answers reads, so its view of the master's
    // heartbeats freezes and ages.
    link.inject(ProxyFault::Blackhole);
    next_event(&mut events, "the replica lagging", lag_of(secondary, true)).await;
    assert!(
        lagging(&client, secondary),
        "nothing can bring it up to date"
    );
    // Gated while the master is usable: outranking it is not enough, nor is asking.
    client.update_database_weight(secondary, 2.0).unwrap();
    assert_eq!(client.active_database(), Some(primary));
    let refused = client.set_active_database(secondary).await.unwrap_err();
    assert!(refused.to_string().contains("lagging"), "{refused}");
    assert!(refused.to_string().contains("heartbeat"), "{refused}");

    // Replication resumes: the replica reconnects through the proxy and catches up.
    link.recover();
    link.drop_connections();
    next_event(
        &mut events,
        "the replica caught up",
        lag_of(secondary, false),
    )
    .await;
    let (from, reason) = switch_to(&mut events, "fallback to the replica", secondary).await;
    assert_eq!((from, reason), (Some(primary), SwitchReason::AutoFallback));

    // Heartbeats are written on the master only: the replica refuses them (READONLY), and
    // holds the master's by replication, a sequence number with a TTL.
    let (mut on_master, mut on_replica) = (connect(&master).await, connect(&replica).await);
    let keys: Vec<String> = on_master.keys("multidb:hb:*").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].ends_with(&format!(":{}", primary.get())),
        "{keys:?}"
    );
    let replicated: Option<u64> = on_replica.get(&keys[0]).await.unwrap();
    assert!(replicated.is_some_and(|n| n > 0), "{replicated:?}");
    let ttl: i64 = on_master.pttl(&keys[0]).await.unwrap();
    assert!(ttl > 0, "{ttl}");

    // The refusals were no failure: the replica stayed healthy, its circuit closed; and
    // the master, with no writer elsewhere, never had a lag verdict.
    let replica_info = client
        .databases()
        .into_iter()
        .find(|d| d.id == secondary)
        .unwrap();
    assert!(replica_info.healthy, "{replica_info:?}");
    assert_eq!(replica_info.circuit, CircuitState::Closed);
    while let Ok(event) = seen.try_recv() {
        assert!(
            !matches!(event, Event::HealthChanged { healthy: false, .. })
                && !matches!(event, Event::LagChanged { database, lagging: true } if database == primary)
                && !matches!(event, Event::CircuitStateChanged { .. }),
            "{event:?}"
        );
    }
    client.close().await;
}
