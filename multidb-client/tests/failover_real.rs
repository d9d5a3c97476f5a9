//! Failover against real `redis-server` processes started by the testkit.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{GUARD, next_event, run_load};
use multidb_client::{
    DatabaseConfig, Event, MultiDbClient, MultiDbConfig, MultiDbError, SwitchReason,
};
use multidb_testkit::RedisServer;
use redis::AsyncCommands;

fn keys_on(server: &RedisServer) -> usize {
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("DBSIZE").query(&mut con).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_server_under_load_moves_traffic_with_no_errors() {
    let mut primary = RedisServer::start().unwrap();
    let secondary = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([primary.url(), secondary.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    assert_eq!(client.active_database(), Some(ids[0]));
    let mut events = client.events();

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let load = {
        let client = client.clone();
        tokio::spawn(async move { run_load(&client, 16, 400, started_tx, 50).await })
    };
    started_rx.await.unwrap();
    primary.kill();

    let switch = next_event(&mut events, "a failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    let Event::ActiveDatabaseChanged { from, to, reason } = switch else {
        unreachable!()
    };
    assert_eq!((from, to), (Some(ids[0]), ids[1]));
    assert!(
        matches!(
            reason,
            SwitchReason::CircuitOpened | SwitchReason::HealthCheckFailed
        ),
        "{reason:?}"
    );
    let (report, errors) = tokio::time::timeout(GUARD, load).await.unwrap().unwrap();
    assert_eq!(
        report.errors, 0,
        "errors reached the application: {errors:?}"
    );
    assert_eq!(report.ok + report.lost_writes, 16 * 400);
    assert!(keys_on(&secondary) > 0, "no write landed on the secondary");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_primary_gets_traffic_back_after_grace_and_fallback_interval() {
    let mut primary = RedisServer::start().unwrap();
    let secondary = RedisServer::start().unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&primary.url())
                .unwrap()
                .grace_period(Duration::from_millis(300)),
        )
        .database(
            DatabaseConfig::from_url(&secondary.url())
                .unwrap()
                .weight(0.5),
        )
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes_delay(Duration::from_millis(10))
        .auto_fallback_interval(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();

    primary.kill();
    // A command on the dead primary is what detects it here.
    let mut con = client.clone();
    let _: Result<(), _> = con.set("k", 1).await;
    next_event(
        &mut events,
        "failover to the secondary",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
    )
    .await;
    primary.restart().unwrap();
    let back = next_event(
        &mut events,
        "fallback to the primary",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[0]),
    )
    .await;
    assert!(matches!(
        back,
        Event::ActiveDatabaseChanged {
            reason: SwitchReason::AutoFallback,
            ..
        }
    ));
    let v: Option<i64> = con.get("k").await.unwrap();
    assert_eq!(
        v, None,
        "the restarted primary is empty: the read went there"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_active_server_fails_over_through_the_failure_probe() {
    let primary = RedisServer::start().unwrap();
    let secondary = RedisServer::start().unwrap();
    // Scheduled checks are an hour apart and no stall watchdog runs: only probe-confirmed
    // detection can switch.
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&primary.url()).unwrap())
        .database(
            DatabaseConfig::from_url(&secondary.url())
                .unwrap()
                .weight(0.5),
        )
        .health_check_interval(Duration::from_secs(3600))
        .stall_tolerance(None)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();

    primary.pause().unwrap();
    let mut con = client.clone();
    // Idempotent: replayed on the secondary once the probe confirms the primary is gone.
    let () = con.set("paused", "yes").await.unwrap();
    let switch = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        switch,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::HealthCheckFailed
        }
    );
    assert_eq!(keys_on(&secondary), 1);
    primary.resume().unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_server_down_commands_fail_fast_and_recover_by_themselves() {
    let mut a = RedisServer::start().unwrap();
    let mut b = RedisServer::start().unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let mut events = client.events();
    a.kill();
    b.kill();
    next_event(&mut events, "all unhealthy", |e| {
        matches!(e, Event::AllDatabasesUnhealthy)
    })
    .await;
    let mut con = client.clone();
    let err = con.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        matches!(
            MultiDbError::from_redis(&err),
            Some(MultiDbError::TemporarilyUnavailable { .. })
        ),
        "{err}"
    );
    assert!(err.is_io_error(), "retryable for the application: {err}");

    b.restart().unwrap();
    next_event(&mut events, "recovery", |e| {
        matches!(e, Event::HealthChanged { healthy: true, .. })
    })
    .await;
    let () = con.set("k", "v").await.unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_initialize_calls_initialize_once() {
    let a = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    let mut events = client.events();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.initialize().await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    client.initialize().await.unwrap();
    let mut initial = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(
            e,
            Event::ActiveDatabaseChanged {
                reason: SwitchReason::Initial,
                ..
            }
        ) {
            initial += 1;
        }
    }
    assert_eq!(initial, 1);
    client.close().await;
}
