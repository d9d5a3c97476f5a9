//! No wait without a bound: pinned commands have the member's response timeout, and
//! nothing waits on a database that failed, even with `response_timeout(None)`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{GUARD, switch_to};
use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError, SwitchReason};
use multidb_testkit::{FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;

fn lost(err: &redis::RedisError) -> Option<&str> {
    match MultiDbError::from_redis(err) {
        Some(MultiDbError::PinnedDatabaseLost { reason, .. }) => Some(reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_command_to_a_paused_only_database_ends_with_its_response_timeout() {
    let server = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([server.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut pinned = client.pinned().await.unwrap();
    pinned.set::<_, _, ()>("k", "v").await.unwrap();
    server.pause().unwrap();
    // One database: no switch can wake it; its own bound (500 ms by default) ends it.
    let err = tokio::time::timeout(GUARD, pinned.get::<_, String>("k"))
        .await
        .expect("the pinned command hung")
        .unwrap_err();
    let reason = lost(&err).unwrap_or_else(|| panic!("{err}"));
    assert!(reason.contains("no reply within 500ms"), "{reason}");
    assert!(pinned.is_lost());
    server.resume().unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_command_in_flight_runs_to_its_reply_across_a_routine_switch() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut pinned = client.pinned().await.unwrap();
    // Blocks for 1 s on the server (past the response timeout: its block time counts).
    let waiting = tokio::spawn(async move {
        let popped = pinned.blpop::<_, Option<(String, String)>>("q", 1.0).await;
        (popped, pinned)
    });
    let mut events = client.events();
    client.set_active_database(ids[1]).await.unwrap();
    assert_eq!(
        switch_to(&mut events, "the manual switch", ids[1]).await.1,
        SwitchReason::Manual
    );
    let (popped, mut pinned) = tokio::time::timeout(GUARD, waiting).await.unwrap().unwrap();
    assert_eq!(popped.unwrap(), None, "the server's own nil reply");
    // The next command learns that its database is no longer the active one.
    let err = pinned.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        lost(&err).is_some_and(|r| r.contains("no longer the active")),
        "{err}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_response_timeout_every_command_in_flight_returns_once_the_database_fails_over() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(a.addr()).await.unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&proxy.url())
                .unwrap()
                .response_timeout(None),
        )
        .database(
            DatabaseConfig::from_url(&b.url())
                .unwrap()
                .weight(0.5)
                .response_timeout(None),
        )
        .health_check_interval(Duration::from_millis(100))
        .health_check_timeout(Duration::from_millis(300))
        .health_check_probes(1)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut con = client.clone();
    con.set::<_, _, ()>("k", "v").await.unwrap();
    let mut events = client.events();
    proxy.inject(ProxyFault::Blackhole);
    // In flight on the blackholed database, with no timeout of their own.
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = client.clone();
            tokio::spawn(async move { con.get::<_, Option<String>>("k").await })
        })
        .collect();
    let mut con = client.clone();
    let incr = tokio::spawn(async move { con.incr::<_, _, i64>("n", 1).await });
    let (_, reason) = switch_to(&mut events, "the failover", ids[1]).await;
    assert_eq!(reason, SwitchReason::HealthCheckFailed);
    for read in reads {
        let got = tokio::time::timeout(GUARD, read)
            .await
            .expect("a read hung after the failover")
            .unwrap();
        // Replayed on the other database (a read), where `k` was never written.
        assert_eq!(got.unwrap(), None);
    }
    let err = tokio::time::timeout(GUARD, incr)
        .await
        .expect("the INCR hung after the failover")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            MultiDbError::from_redis(&err),
            Some(MultiDbError::MayHaveBeenApplied { .. })
        ),
        "{err}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_request_to_a_silent_database_has_a_deadline_even_without_a_response_timeout()
 {
    let server = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&proxy.url())
                .unwrap()
                .response_timeout(None)
                .connection_timeout(Duration::from_millis(300)),
        )
        .health_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let sub = client.pubsub().await.unwrap();
    sub.subscribe("before").await.unwrap();
    proxy.inject(ProxyFault::Blackhole);
    // Its confirmation is due within the connection timeout; past it the connection counts
    // as lost and the request is kept, to be made once a database answers again.
    tokio::time::timeout(GUARD, sub.subscribe("after"))
        .await
        .expect("the subscribe request hung")
        .unwrap();
    assert_eq!(sub.channels(), ["after", "before"]);
    client.close().await;
}
