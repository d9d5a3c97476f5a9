//! Redis Cluster members: two real 3-master clusters, one fails, traffic moves, comes back.
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::next_event;
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig, SwitchReason};
use multidb_testkit::RedisCluster;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_every_master_of_the_active_cluster_moves_traffic_and_falls_back() {
    let mut east = RedisCluster::start(3).unwrap();
    let west = RedisCluster::start(3).unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_cluster_urls(east.urls())
                .unwrap()
                .grace_period(Duration::from_millis(300)),
        )
        .database(
            DatabaseConfig::from_cluster_urls(west.urls())
                .unwrap()
                .weight(0.5),
        )
        .health_check_interval(Duration::from_millis(200))
        .health_check_probes_delay(Duration::from_millis(10))
        .auto_fallback_interval(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    assert!(client.databases().iter().all(|d| d.healthy));
    let mut con = client.clone();
    // Keys spread over all three masters.
    for i in 0..30 {
        let () = con.set(format!("key{i}"), i).await.unwrap();
    }
    let mut events = client.events();

    east.kill_all();
    for i in 0..30 {
        let () = con.set(format!("key{i}"), i).await.unwrap();
    }
    let moved = next_event(
        &mut events,
        "failover to west",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
    )
    .await;
    assert!(matches!(
        moved,
        Event::ActiveDatabaseChanged {
            reason: SwitchReason::CircuitOpened | SwitchReason::HealthCheckFailed,
            ..
        }
    ));
    let v: i64 = con.get("key7").await.unwrap();
    assert_eq!(v, 7);

    east.restart_all().unwrap();
    let back = next_event(
        &mut events,
        "fallback to east",
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
    let () = con.set("after", 1).await.unwrap();
    client.close().await;
}

/// A TLS cluster with an ACL user: every node is reached over TLS as that user (the
/// nodes' own client lists show it), and `close()` leaves no connection open on any node.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_with_an_acl_user_is_reached_with_both_and_closed_fully() {
    let material = multidb_testkit::TlsMaterial::generate().unwrap();
    let cluster = {
        let material = material.clone();
        tokio::task::spawn_blocking(move || {
            RedisCluster::builder()
                .masters(3)
                .tls(material)
                .acl_user("app", "Pw/?#@:%&=9Zq")
                .start()
        })
        .await
        .unwrap()
        .unwrap()
    };
    let db = DatabaseConfig::from_cluster_urls(cluster.urls())
        .unwrap()
        .tls_root_cert(material.ca_cert_pem().as_bytes());
    let client = MultiDbClient::new(MultiDbConfig::builder().database(db).build().unwrap());
    client.initialize().await.unwrap();
    let mut con = client.clone();
    for i in 0..30 {
        let () = con.set(format!("key{i}"), i).await.unwrap();
    }
    tokio::task::block_in_place(|| {
        for node in cluster.nodes() {
            let clients: Vec<_> = node
                .client_list()
                .unwrap()
                .into_iter()
                .filter(|c| !c.is_infrastructure())
                .collect();
            assert!(!clients.is_empty(), "every master reached");
            assert!(clients.iter().all(|c| c.user == "app"), "{clients:?}");
        }
    });
    client.close().await;
    tokio::task::block_in_place(|| {
        for node in cluster.nodes() {
            node.wait_for_connected_clients(0).unwrap();
        }
    });
}

/// redis-py's `from_urls(urls, weights, client_class=RedisCluster)`: one cluster member per
/// URL, each URL a seed node; mismatched counts are refused.
#[tokio::test]
async fn from_cluster_urls_makes_one_cluster_member_per_url() {
    let dead = |_| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("redis://{}", listener.local_addr().unwrap())
    };
    let urls: Vec<String> = (0..2).map(dead).collect();
    let client = MultiDbClient::from_cluster_urls(&urls, [1.0, 0.5]).unwrap();
    let Err(multidb_client::MultiDbError::InitialHealthCheckFailed { failed, .. }) =
        client.initialize().await
    else {
        panic!("both clusters are down");
    };
    let shown: Vec<String> = failed.iter().map(|f| f.endpoint.to_string()).collect();
    let expected: Vec<String> = urls
        .iter()
        .map(|u| format!("cluster({}/0)", u.trim_start_matches("redis://")))
        .collect();
    assert_eq!(shown, expected);
    let err = MultiDbClient::from_cluster_urls([&urls[0]], [1.0, 2.0]).unwrap_err();
    assert_eq!(
        err,
        multidb_client::ConfigError::WeightCountMismatch {
            urls: 1,
            weights: 2
        }
    );
}

/// `pinned_for_key` on a cluster member: a dedicated connection to the key's master, so a
/// WATCH there sees another client's write and aborts the transaction, as on a URL member;
/// `close()` closes it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_connection_for_a_key_isolates_watch_on_the_slot_master() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap()
        .unwrap();
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_cluster_urls(cluster.urls()).unwrap())
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    let mut pinned = client.pinned_for_key("{user:1}:cart").await.unwrap();
    let () = redis::cmd("WATCH")
        .arg("{user:1}:cart")
        .query_async(&mut pinned)
        .await
        .unwrap();
    // Another user of the client writes the watched key between WATCH and EXEC.
    let mut other = client.clone();
    let () = other.set("{user:1}:cart", "changed").await.unwrap();
    let exec: Option<(String, i64)> = redis::pipe()
        .atomic()
        .set("{user:1}:cart", "mine")
        .incr("{user:1}:total", 1)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(exec, None, "the watched write aborted the transaction");
    let v: String = other.get("{user:1}:cart").await.unwrap();
    assert_eq!(v, "changed");

    // Without a conflict, the transaction runs; on the slot's master, with its siblings.
    let exec: Option<(String, i64)> = redis::pipe()
        .atomic()
        .set("{user:1}:cart", "mine")
        .incr("{user:1}:total", 1)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(exec, Some(("OK".to_owned(), 1)));
    let total: i64 = other.get("{user:1}:total").await.unwrap();
    assert_eq!(total, 1);

    client.close().await;
    tokio::task::block_in_place(|| {
        for node in cluster.nodes() {
            node.wait_for_connected_clients(0).unwrap();
        }
    });
}
