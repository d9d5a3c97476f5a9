//! The failover counter (feature `metrics`), under its OpenTelemetry name.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

mod common;

use common::next_event;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_switch_counts_with_from_to_and_reason() {
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
    let reasons: Vec<String> = counted
        .iter()
        .filter_map(|(key, _, _, value)| {
            let reason = key
                .key()
                .labels()
                .find(|l| l.key() == "reason")?
                .value()
                .to_owned();
            matches!(value, DebugValue::Counter(1)).then_some(reason)
        })
        .collect();
    assert!(reasons.iter().any(|r| r == "initial"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r == "circuit_opened" || r == "health_check_failed"),
        "{reasons:?}"
    );
    client.close().await;
}
