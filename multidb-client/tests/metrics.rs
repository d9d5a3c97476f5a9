//! The failover counter (feature `metrics`), under its OpenTelemetry name.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

mod common;

use common::next_event;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_counts_once_with_redis_pys_attributes_and_the_initial_choice_does_not() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let mut events = client.events();
    a.inject(Fault::Down);
    a.drop_connections();
    let mut con = client.clone();
    let _ = redis::cmd("PING").query_async::<()>(&mut con).await;
    next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;

    let counted: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "redis.client.geofailover.failovers")
        .collect();
    let label = |key: &metrics_util::CompositeKey, name: &str| {
        key.key()
            .labels()
            .find(|l| l.key() == name)
            .map(|l| l.value().to_owned())
    };
    // One failover, from a to b, automatic; the initial choice is not a failover.
    assert_eq!(counted.len(), 1, "{counted:?}");
    let (key, _, _, value) = &counted[0];
    assert!(matches!(value, DebugValue::Counter(1)), "{value:?}");
    let a_label = format!("{}/1", a.addr());
    let b_label = format!("{}/0.5", b.addr());
    assert_eq!(label(key, "db.client.geofailover.fail_from"), Some(a_label));
    assert_eq!(label(key, "db.client.geofailover.fail_to"), Some(b_label));
    assert_eq!(
        label(key, "db.client.geofailover.reason").as_deref(),
        Some("automatic")
    );

    // Back by hand: a manual failover, from b to a.
    a.recover();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    client.set_active_database(ids[0]).await.unwrap();
    let manual: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == "redis.client.geofailover.failovers"
                && label(key, "db.client.geofailover.reason").as_deref() == Some("manual")
        })
        .collect();
    assert_eq!(manual.len(), 1, "{manual:?}");
    let (key, _, _, value) = &manual[0];
    assert!(matches!(value, DebugValue::Counter(1)), "{value:?}");
    assert_eq!(
        label(key, "db.client.geofailover.fail_from"),
        Some(format!("{}/0.5", b.addr()))
    );
    client.close().await;
}
