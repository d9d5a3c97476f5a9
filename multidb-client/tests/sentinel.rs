//! Sentinel members against real processes: a master, a replica and one Sentinel.
#![cfg(feature = "sentinel")]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::next_event;
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, RedisSentinel};
use redis::AsyncCommands;

async fn start() -> (RedisSentinel, FakeRedis, MultiDbClient) {
    let ha = tokio::task::spawn_blocking(|| RedisSentinel::start("mymaster"))
        .await
        .unwrap()
        .unwrap();
    let other = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_sentinel([ha.sentinel_url()], "mymaster").unwrap())
        .database(DatabaseConfig::from_url(&other.url()).unwrap().weight(0.5))
        .health_check_probes(1)
        .health_check_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    (ha, other, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_the_master_the_sentinel_names() {
    let (ha, other, client) = start().await;
    let info = &client.databases()[0];
    assert!(info.active && info.healthy, "{info:?}");
    assert!(
        info.endpoint.as_str().starts_with("sentinel(mymaster@"),
        "{info:?}"
    );
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    let v: String = con.get("k").await.unwrap();
    assert_eq!(v, "v");

    let master = redis::Client::open(ha.master().url()).unwrap();
    let mut direct = master.get_multiplexed_async_connection().await.unwrap();
    let on_master: Option<String> = direct.get("k").await.unwrap();
    assert_eq!(on_master.as_deref(), Some("v"));
    assert_eq!(other.keyspace_len(), 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_whole_ha_pair_fails_over_to_the_other_member() {
    let (mut ha, other, client) = start().await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    ha.kill_data_nodes();
    let e = next_event(&mut events, "failover away from the sentinel member", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    let Event::ActiveDatabaseChanged { from, to, .. } = e else {
        unreachable!()
    };
    assert_eq!((from, to), (Some(ids[0]), ids[1]));
    let mut con = client.clone();
    let () = con.set("after", 1).await.unwrap();
    assert_eq!(other.keyspace_len(), 1);
    client.close().await;
}

/// A Sentinel pair and an initialized client whose one member it is, checked every 100 ms.
async fn sentinel_member_alone() -> (RedisSentinel, MultiDbClient) {
    let ha = tokio::task::spawn_blocking(|| RedisSentinel::start("mymaster"))
        .await
        .unwrap()
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_sentinel([ha.sentinel_url()], "mymaster").unwrap())
        .health_check_probes(1)
        .health_check_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    (ha, client)
}

/// The next message of `messages`, failing the test (not hanging) after [`common::GUARD`].
async fn next_payload(messages: &mut multidb_client::Messages) -> String {
    use futures_util::StreamExt as _;
    let msg = tokio::time::timeout(common::GUARD, messages.next())
        .await
        .expect("a message in time")
        .expect("the message stream goes on");
    msg.get_payload().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_inside_the_pair_is_followed_by_commands_and_subscribers() {
    let (mut ha, client) = sentinel_member_alone().await;
    let id = client.databases()[0].id;
    let mut con = client.clone();
    let () = con.set("k", "before").await.unwrap();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("news").await.unwrap();
    let mut messages = sub.on_message();
    let published: i64 = con.publish("news", "before").await.unwrap();
    assert_eq!(published, 1);
    assert_eq!(next_payload(&mut messages).await, "before");

    let mut events = client.events();
    let mut resubscriptions = client.events();
    ha.master_mut().kill();
    let health = |healthy: bool| move |e: &Event| matches!(e, Event::HealthChanged { database, healthy: h } if *database == id && *h == healthy);
    next_event(&mut events, "the member unhealthy", health(false)).await;
    // The Sentinel promotes the replica; the member's next check finds it.
    next_event(&mut events, "the member healthy again", health(true)).await;
    let () = con.set("k", "after").await.unwrap();

    let promoted = redis::Client::open(ha.replica().url()).unwrap();
    let mut direct = promoted.get_multiplexed_async_connection().await.unwrap();
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut direct).await.unwrap();
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec())),
        "the replica was promoted"
    );
    let v: String = direct.get("k").await.unwrap();
    assert_eq!(v, "after", "the write went to the promoted replica");

    // The subscriber lost its connection with the master and re-subscribes on the
    // promoted replica.
    next_event(&mut resubscriptions, "the subscriber back", |e| {
        matches!(e, Event::Resubscribed { .. })
    })
    .await;
    let published: i64 = con.publish("news", "after").await.unwrap();
    assert_eq!(published, 1, "one subscriber on the promoted replica");
    assert_eq!(next_payload(&mut messages).await, "after");
    client.close().await;
}

/// A pinned connection is to the master the Sentinels named when it was taken: across a
/// promotion its next command fails with `PinnedDatabaseLost` (its WATCH would be gone),
/// never lands silently on the new master; a new pinned connection goes to the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_connection_across_a_promotion_is_lost_never_moved() {
    let (mut ha, client) = sentinel_member_alone().await;
    let id = client.databases()[0].id;
    let mut pinned = client.pinned().await.unwrap();
    let () = redis::cmd("WATCH")
        .arg("k")
        .query_async(&mut pinned)
        .await
        .unwrap();

    let mut events = client.events();
    ha.master_mut().kill();
    let health = |healthy: bool| move |e: &Event| matches!(e, Event::HealthChanged { database, healthy: h } if *database == id && *h == healthy);
    next_event(&mut events, "the member unhealthy", health(false)).await;
    next_event(&mut events, "the member healthy again", health(true)).await;

    let err = redis::cmd("MULTI")
        .query_async::<()>(&mut pinned)
        .await
        .expect_err("the pinned master is gone");
    assert!(
        matches!(
            multidb_client::MultiDbError::from_redis(&err),
            Some(multidb_client::MultiDbError::PinnedDatabaseLost { .. })
        ),
        "{err:?}"
    );
    let mut again = client.pinned().await.unwrap();
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut again).await.unwrap();
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    let () = again.set("k", "new master").await.unwrap();
    let mut direct = redis::Client::open(ha.replica().url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let v: String = direct.get("k").await.unwrap();
    assert_eq!(
        v, "new master",
        "the new pinned connection is on the promoted replica"
    );
    client.close().await;
}

/// TLS everywhere and an ACL user: the Sentinels are asked over TLS as that user, and the
/// master is reached over TLS as that user, on the URL's db — as the servers' own client
/// lists show. `close()` then leaves no connection open on the master or the Sentinel.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_sentinel_set_with_an_acl_user_is_reached_with_both_and_closed_fully() {
    const PASSWORD: &str = "Pw/?#@:%&=9Zq";
    let material = multidb_testkit::TlsMaterial::generate().unwrap();
    let ha = {
        let material = material.clone();
        tokio::task::spawn_blocking(move || {
            RedisSentinel::builder("mymaster")
                .tls(material)
                .acl_user("app", PASSWORD)
                .start()
        })
        .await
        .unwrap()
        .unwrap()
    };
    assert!(ha.sentinel_url().starts_with("rediss://app:"));
    let db = DatabaseConfig::from_sentinel([format!("{}/2", ha.sentinel_url())], "mymaster")
        .unwrap()
        .tls_root_cert(material.ca_cert_pem().as_bytes());
    let client = MultiDbClient::new(MultiDbConfig::builder().database(db).build().unwrap());
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    let mut pinned = client.pinned().await.unwrap();
    let v: String = pinned.get("k").await.unwrap();
    assert_eq!(v, "v");
    let sub = client.pubsub().await.unwrap();
    sub.subscribe("news").await.unwrap();

    let ours = |server: &multidb_testkit::RedisServer| {
        server
            .client_list()
            .unwrap()
            .into_iter()
            .filter(|c| !c.is_infrastructure())
            .collect::<Vec<_>>()
    };
    let clients = tokio::task::block_in_place(|| ours(ha.master()));
    // Its shared connection, the pinned one and the subscriber's, over TLS only (the
    // master has no plain port) as the ACL user; commands on db 2.
    assert!(clients.len() >= 3, "{clients:?}");
    assert!(clients.iter().all(|c| c.user == "app"), "{clients:?}");
    assert!(
        clients.iter().any(|c| c.db == 2 && c.cmd == "set"),
        "{clients:?}"
    );

    drop((pinned, sub));
    client.close().await;
    tokio::task::block_in_place(|| {
        ha.master().wait_for_connected_clients(0).unwrap();
        assert_eq!(ha.sentinel_connected_clients().unwrap(), 0);
    });
}

/// `close()` leaves no connection of a plain Sentinel member open either, pinned and
/// blocking connections included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_no_connection_of_a_sentinel_member_open() {
    let (ha, other, client) = start().await;
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    let _pinned = client.pinned().await.unwrap();
    let popped: Option<(String, String)> = con.blpop("q", 0.05).await.unwrap();
    assert_eq!(popped, None);
    assert!(tokio::task::block_in_place(|| ha.master().connected_clients().unwrap()) >= 2);
    client.close().await;
    tokio::task::block_in_place(|| ha.master().wait_for_connected_clients(0).unwrap());
    drop(other);
}
