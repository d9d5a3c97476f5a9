//! Manual database management against real servers: every call and its error paths.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{next_event, switch_to};
use multidb_client::{
    ConfigError, DatabaseConfig, Event, MultiDbClient, MultiDbConfig, MultiDbError, SwitchReason,
};
use multidb_testkit::RedisServer;

async fn two_servers() -> (RedisServer, RedisServer, MultiDbClient) {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    (a, b, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_active_database_switches_and_sticks_and_refuses_unhealthy_ones() {
    let (_a, mut b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    client.set_active_database(ids[1]).await.unwrap();
    assert_eq!(client.active_database(), Some(ids[1]));
    let e = next_event(&mut events, "manual switch", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        e,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::Manual
        }
    );
    let info = client.databases();
    assert!(info[1].active && !info[0].active);

    client.set_active_database(ids[0]).await.unwrap();
    b.kill();
    let err = client.set_active_database(ids[1]).await.unwrap_err();
    assert!(
        matches!(err, MultiDbError::UnhealthyDatabase { id, .. } if id == ids[1]),
        "{err}"
    );
    assert_eq!(client.active_database(), Some(ids[0]));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_active_database_pins_then_expires_back_to_the_best() {
    let (_a, _b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    client
        .force_active_database(ids[1], Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(client.active_database(), Some(ids[1]));
    let back = next_event(
        &mut events,
        "pin expiry",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[0]),
    )
    .await;
    assert!(matches!(
        back,
        Event::ActiveDatabaseChanged {
            reason: SwitchReason::ForceExpired,
            ..
        }
    ));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_and_reweight_databases_at_run_time() {
    let (_a, _b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();

    let c = RedisServer::start().unwrap();
    let id = client
        .add_database(DatabaseConfig::from_url(&c.url()).unwrap().weight(2.0))
        .await
        .unwrap();
    next_event(
        &mut events,
        "added",
        |e| matches!(e, Event::DatabaseAdded { database } if *database == id),
    )
    .await;
    assert_eq!(client.active_database(), Some(id), "it outranks the others");
    assert_eq!(client.databases().len(), 3);

    let dup = client
        .add_database(DatabaseConfig::from_url(&c.url()).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(
        dup,
        MultiDbError::Config(ConfigError::DuplicateEndpoint { .. })
    ));

    client.remove_database(id).await.unwrap();
    next_event(
        &mut events,
        "removed",
        |e| matches!(e, Event::DatabaseRemoved { database } if *database == id),
    )
    .await;
    assert_eq!(
        client.active_database(),
        Some(ids[0]),
        "switched before removal"
    );
    assert!(matches!(
        client.remove_database(id).await.unwrap_err(),
        MultiDbError::UnknownDatabase { .. }
    ));

    client.update_database_weight(ids[1], 5.0).unwrap();
    assert_eq!(client.active_database(), Some(ids[1]));
    assert!(matches!(
        client.update_database_weight(ids[1], f64::NAN).unwrap_err(),
        MultiDbError::Config(ConfigError::InvalidWeight { .. })
    ));
    assert!(matches!(
        client.update_database_weight(id, 1.0).unwrap_err(),
        MultiDbError::UnknownDatabase { .. }
    ));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_names_each_failed_database_when_the_policy_is_not_met() {
    let a = RedisServer::start().unwrap();
    let mut b = RedisServer::start().unwrap();
    let b_url = b.url();
    b.kill();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b_url).unwrap())
        .initial_health_check(multidb_client::InitialHealthCheck::AllAvailable)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let err = client.initialize().await.unwrap_err();
    let MultiDbError::InitialHealthCheckFailed { failed, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].endpoint.as_str(), format!("{}/0", b.addr()));
    assert!(err.to_string().contains(&b.addr().to_string()), "{err}");

    // The default policy (one available) starts anyway; the dead one joins later.
    let client = MultiDbClient::from_urls([a.url(), b_url], [1.0, 2.0]).unwrap();
    client.initialize().await.unwrap();
    let info = client.databases();
    assert!(info[0].active && !info[1].healthy);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_every_task_and_later_commands_fail() {
    use redis::AsyncCommands;
    let before = common::alive_tasks();
    let (_a, _b, client) = two_servers().await;
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    client.close().await;
    client.close().await;
    drop(con);
    // Our tasks are gone when close() returns; redis' per-connection tasks end as soon as
    // they are next polled, so give them the chance (bounded, no fixed sleep).
    let alive = common::tasks_back_to(before).await;
    assert_eq!(alive, before, "tasks left behind after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_after_close_report_closed() {
    use redis::AsyncCommands;
    let (_a, _b, client) = two_servers().await;
    let mut con = client.clone();
    client.close().await;
    let err = con.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        matches!(MultiDbError::from_redis(&err), Some(MultiDbError::Closed)),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_force_on_a_server_that_is_killed_ends_in_a_failover() {
    let (_a, mut b, client) = two_servers().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    client
        .force_active_database(ids[1], Duration::MAX)
        .await
        .unwrap();
    b.kill();
    let mut con = client.clone();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    assert_eq!(
        switch_to(&mut events, "failover off the forced database", ids[0]).await,
        (Some(ids[1]), SwitchReason::ForcedDatabaseFailed)
    );
    client.close().await;
}
