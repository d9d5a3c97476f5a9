//! What counts as a failure, and what is replayed, against fake servers with injected faults.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::next_event;
use multidb_client::{
    DatabaseConfig, Event, MultiDbClient, MultiDbConfig, MultiDbError, SwitchReason,
};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

async fn pair(
    tune: impl FnOnce(multidb_client::MultiDbConfigBuilder) -> multidb_client::MultiDbConfigBuilder,
) -> (FakeRedis, FakeRedis, MultiDbClient) {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let builder = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5));
    let client = MultiDbClient::new(tune(builder).build().unwrap());
    client.initialize().await.unwrap();
    (a, b, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_replies_are_failures_that_open_the_circuit_and_are_retried_elsewhere() {
    let (a, b, client) = pair(|c| c.min_num_failures(5).failure_rate_threshold(0.5)).await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    a.inject(Fault::ErrorReply(
        "LOADING Redis is loading the dataset in memory".into(),
    ));
    let mut con = client.clone();
    for i in 0..20 {
        let () = con.set(format!("k{i}"), i).await.unwrap();
    }
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        e,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::CircuitOpened
        }
    );
    assert_eq!(
        b.keyspace_len(),
        20,
        "every write landed on the secondary in the end"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_like_wrongtype_reach_the_application_and_never_trip_the_circuit() {
    let (a, _b, client) = pair(|c| c.min_num_failures(5).failure_rate_threshold(0.5)).await;
    let active = client.active_database();
    a.inject(Fault::ErrorReply(
        "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
    ));
    let mut con = client.clone();
    for _ in 0..50 {
        let err = con.get::<_, Option<String>>("k").await.unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    }
    assert_eq!(client.active_database(), active);
    assert_eq!(
        client.databases()[0].circuit,
        multidb_client::CircuitState::Closed
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_idempotent_command_that_may_have_applied_is_not_replayed() {
    // Scheduled checks an hour apart and a failure threshold out of reach: the only thing
    // under test is the replay decision.
    let (a, b, client) = pair(|c| {
        c.health_check_interval(Duration::from_secs(3600))
            .probe_on_failure(false)
    })
    .await;
    a.inject(Fault::FailEveryNth(1));
    let mut con = client.clone();
    let err = con.incr::<_, _, i64>("counter", 1).await.unwrap_err();
    let Some(MultiDbError::MayHaveBeenApplied { .. }) = MultiDbError::from_redis(&err) else {
        panic!("expected MayHaveBeenApplied, got {err}");
    };
    assert!(err.to_string().contains("may have been applied"), "{err}");
    assert_eq!(
        b.data_command_count(),
        0,
        "INCR was not replayed on the other database"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_non_idempotent_opts_into_replaying_them() {
    let (a, _b, client) = pair(|c| {
        c.health_check_interval(Duration::from_secs(3600))
            .retry_non_idempotent(true)
            .retry_backoff_base(Duration::from_millis(1))
    })
    .await;
    a.inject(Fault::FailEveryNth(2));
    let mut con = client.clone();
    let mut ok = 0;
    for _ in 0..6 {
        if con.incr::<_, _, i64>("counter", 1).await.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 6, "every INCR was retried until it succeeded");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_interrupted_mid_flight_are_replayed() {
    let (a, _b, client) = pair(|c| {
        c.health_check_interval(Duration::from_secs(3600))
            .retry_backoff_base(Duration::from_millis(1))
    })
    .await;
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    a.inject(Fault::FailEveryNth(2));
    for _ in 0..6 {
        let v: Option<String> = con.get("k").await.unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
    client.close().await;
}
