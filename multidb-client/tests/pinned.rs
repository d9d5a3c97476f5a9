//! Pinned connections and atomic pipelines against real `redis-server` processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{GUARD, next_event};
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::RedisServer;
use redis::AsyncCommands;

fn direct(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn dbsize(server: &RedisServer) -> usize {
    redis::cmd("DBSIZE").query(&mut direct(server)).unwrap()
}

async fn two_servers() -> (RedisServer, RedisServer, MultiDbClient) {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    (a, b, client)
}

fn lost(err: &redis::RedisError) -> bool {
    matches!(
        MultiDbError::from_redis(err),
        Some(MultiDbError::PinnedDatabaseLost { .. })
    )
}

#[test]
fn pinned_connection_is_send_and_sync() {
    fn assert<T: Send + Sync + 'static>() {}
    assert::<multidb_client::PinnedConnection>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_multi_exec_runs_on_one_dedicated_connection_and_sees_conflicts() {
    let (a, _b, client) = two_servers().await;
    let mut pinned = client.pinned().await.unwrap();
    assert_eq!(Some(pinned.database()), client.active_database());

    // A write by anyone else between WATCH and EXEC aborts the transaction: WATCH state
    // lives on the pinned connection, not on the client's shared one.
    let () = redis::cmd("WATCH")
        .arg("k")
        .query_async(&mut pinned)
        .await
        .unwrap();
    let () = redis::cmd("SET")
        .arg("k")
        .arg("other")
        .query(&mut direct(&a))
        .unwrap();
    let aborted: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr("k2", 1)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(aborted, None);

    let () = redis::cmd("WATCH")
        .arg("k")
        .query_async(&mut pinned)
        .await
        .unwrap();
    let current: String = pinned.get("k").await.unwrap();
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .set("k", format!("{current}+1"))
        .ignore()
        .incr("k2", 1)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let mut con = client.clone();
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "other+1");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_member_fails_the_pinned_transaction_and_nothing_runs_on_the_other() {
    let (mut a, b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    let mut pinned = client.pinned().await.unwrap();
    assert_eq!(pinned.database(), ids[0]);

    let () = redis::cmd("WATCH")
        .arg("k")
        .query_async(&mut pinned)
        .await
        .unwrap();
    let () = redis::cmd("MULTI").query_async(&mut pinned).await.unwrap();
    let queued: String = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(queued, "QUEUED");
    a.kill();

    let err = redis::cmd("EXEC")
        .query_async::<redis::Value>(&mut pinned)
        .await
        .unwrap_err();
    assert!(lost(&err), "{err}");
    assert!(err.is_io_error(), "retryable for the application: {err}");
    next_event(
        &mut events,
        "failover to the other member",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
    )
    .await;
    // Still lost after the client has moved on: never switched silently.
    let err = pinned.set::<_, _, ()>("k", "again").await.unwrap_err();
    assert!(lost(&err), "{err}");
    assert!(pinned.is_lost());
    assert_eq!(
        dbsize(&b),
        0,
        "part of the transaction ran on the other member"
    );

    // A new pinned connection lands on the new active member.
    let mut fresh = client.pinned().await.unwrap();
    assert_eq!(fresh.database(), ids[1]);
    let () = fresh.set("k", "v").await.unwrap();
    assert_eq!(dbsize(&b), 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_makes_the_pinned_connection_fail_instead_of_following() {
    let (a, b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut pinned = client.pinned().await.unwrap();
    let () = pinned.set("before", 1).await.unwrap();

    client
        .force_active_database(ids[1], Duration::from_secs(60))
        .await
        .unwrap();
    let err = pinned.set::<_, _, ()>("after", 1).await.unwrap_err();
    assert!(lost(&err), "{err}");
    assert!(err.to_string().contains("no longer the active"), "{err}");
    // Switching back does not revive it either.
    client
        .force_active_database(ids[0], Duration::from_secs(60))
        .await
        .unwrap();
    let err = pinned.get::<_, Option<i64>>("before").await.unwrap_err();
    assert!(lost(&err), "{err}");
    assert_eq!((dbsize(&a), dbsize(&b)), (1, 0));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blpop_waits_longer_than_the_response_timeout_on_a_pinned_connection() {
    let a = RedisServer::start().unwrap();
    // The members' default response timeout.
    let response_timeout = Duration::from_millis(500);
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut pinned = client.pinned().await.unwrap();

    // The server answers nil after its 1 s blocking timeout, twice the response timeout.
    let started = tokio::time::Instant::now();
    let popped: Option<(String, String)> = tokio::time::timeout(GUARD, pinned.blpop("empty", 1.0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(popped, None);
    assert!(started.elapsed() > response_timeout);

    // Through the client it waits as long too, on a connection of its own.
    let mut con = client.clone();
    let started = tokio::time::Instant::now();
    let popped: Option<(String, String)> = con.blpop("empty", 1.0).await.unwrap();
    assert_eq!(popped, None);
    assert!(started.elapsed() > response_timeout);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_member_pins_through_its_factory_and_never_shares_its_connection() {
    let a = RedisServer::start().unwrap();
    let redis_client = redis::Client::open(a.url()).unwrap();
    let manager = redis_client.get_connection_manager().await.unwrap();
    let without = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_connection(manager.clone()))
            .build()
            .unwrap(),
    );
    let err = without.pinned().await.unwrap_err();
    assert!(
        matches!(
            err,
            MultiDbError::Config(multidb_client::ConfigError::InvalidValue {
                field: "pinned",
                ..
            })
        ),
        "{err}"
    );
    without.close().await;

    let factory_client = redis_client.clone();
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_connection(manager).pinned_connections(move || {
                    let c = factory_client.clone();
                    async move { c.get_multiplexed_async_connection().await }
                }),
            )
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    let mut pinned = client.pinned().await.unwrap();
    let ran = common::watched_transaction_ran(&mut pinned, &mut client.clone(), "k").await;
    assert!(!ran, "WATCH lives on the pinned connection's own");
    client.close().await;
    let err = pinned.get::<_, String>("k").await.unwrap_err();
    assert!(lost(&err), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_pipeline_that_may_have_applied_is_not_replayed_on_the_other_member() {
    let (a, b, client) = two_servers().await;
    let mut events = client.events();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    // The pipeline reaches a server that stops answering: it will run it once resumed.
    a.pause().unwrap();
    let mut con = client.clone();
    let result: redis::RedisResult<(i64,)> = redis::pipe()
        .atomic()
        .incr("n", 1)
        .query_async(&mut con)
        .await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            MultiDbError::from_redis(&err),
            Some(MultiDbError::MayHaveBeenApplied { .. })
        ),
        "{err}"
    );
    next_event(
        &mut events,
        "failover",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
    )
    .await;
    assert_eq!(
        dbsize(&b),
        0,
        "the transaction was replayed on the other member"
    );
    a.resume().unwrap();
    let n: i64 = redis::cmd("GET").arg("n").query(&mut direct(&a)).unwrap();
    assert_eq!(n, 1, "applied exactly once, where it was sent");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_pipeline_after_the_member_died_is_applied_at_most_once() {
    let (mut a, b, client) = two_servers().await;
    let mut con = client.clone();
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .incr("n", 1)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    a.kill();
    let result: redis::RedisResult<(i64,)> = redis::pipe()
        .atomic()
        .incr("n", 1)
        .query_async(&mut con)
        .await;
    let on_b: Option<i64> = redis::cmd("GET").arg("n").query(&mut direct(&b)).unwrap();
    match result {
        // Refused before sending: retried once on the other member.
        Ok((n,)) => assert_eq!((n, on_b), (1, Some(1))),
        // Sent on a connection that then broke: reported, never replayed.
        Err(err) => {
            assert!(
                matches!(
                    MultiDbError::from_redis(&err),
                    Some(MultiDbError::MayHaveBeenApplied { .. })
                ),
                "{err}"
            );
            assert_eq!(on_b, None);
        }
    }
    client.close().await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_connection_to_a_tls_member_uses_its_certificates() {
    let material = multidb_testkit::TlsMaterial::generate().unwrap();
    let server = RedisServer::builder()
        .tls(material.clone())
        .start()
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&server.url())
                .unwrap()
                .tls_root_cert(material.ca_cert_pem().as_bytes()),
        )
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let mut pinned = client.pinned().await.unwrap();
    let () = redis::cmd("WATCH")
        .arg("k")
        .query_async(&mut pinned)
        .await
        .unwrap();
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .incr("k", 1)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(n, 1);
    client.close().await;
}
