//! Redis Cluster members: two real 3-master clusters, one fails, traffic moves, comes back.
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
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
    let err = client.pinned().await.unwrap_err();
    assert!(
        matches!(
            err,
            multidb_client::MultiDbError::Config(multidb_client::ConfigError::InvalidValue {
                field: "pinned",
                ..
            })
        ),
        "pinned() would share the cluster connection: {err}"
    );
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

/// Eight tasks of SET/GET through the loss of every master of the active cluster: traffic
/// moves to the other cluster and no command fails. Commands the dying cluster could not
/// route came back as `MOVED` (redis-rs found no connection to the slot's master and asked
/// a random node); they are known not to have run and are retried. Runs
/// `MULTIDB_CLUSTER_RUNS` times (default 3; the acceptance ran 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_see_no_error_when_every_master_of_the_active_cluster_dies() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let runs: usize = std::env::var("MULTIDB_CLUSTER_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let mut failed = Vec::new();
    for run in 0..runs {
        let start = || tokio::task::spawn_blocking(|| RedisCluster::start(3));
        let (east, west) = tokio::join!(start(), start());
        let (mut east, west) = (east.unwrap().unwrap(), west.unwrap().unwrap());
        let client = east_then_west(&east, &west, MultiDbConfig::builder()).await;
        let west_id = client.databases()[1].id;
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(tokio::sync::Notify::new());
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let (mut con, stop) = (client.clone(), stop.clone());
                let (done, progress) = (done.clone(), progress.clone());
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("k{t}-{}", i % 64);
                        if let Err(e) = con.set::<_, _, ()>(&key, i).await {
                            errors.push(format!("SET {e}"));
                        }
                        if let Err(e) = con.get::<_, Option<u64>>(&key).await {
                            errors.push(format!("GET {e}"));
                        }
                        i += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                        progress.notify_waiters();
                    }
                    errors
                })
            })
            .collect();
        let at_least = |n: u64| {
            let (done, progress) = (done.clone(), progress.clone());
            async move {
                loop {
                    let woken = progress.notified();
                    if done.load(Ordering::Relaxed) >= n {
                        return;
                    }
                    woken.await;
                }
            }
        };
        tokio::time::timeout(common::GUARD, at_least(400))
            .await
            .unwrap();
        let mut events = client.events();
        tokio::task::block_in_place(|| east.kill_all());
        next_event(
            &mut events,
            "failover to west",
            |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == west_id),
        )
        .await;
        let now = done.load(Ordering::Relaxed);
        tokio::time::timeout(common::GUARD, at_least(now + 400))
            .await
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            failed.extend(
                task.await
                    .unwrap()
                    .into_iter()
                    .map(|e| format!("run {run}: {e}")),
            );
        }
        client.close().await;
    }
    assert!(failed.is_empty(), "{} errors: {failed:?}", failed.len());
}

/// A cluster with one master down is a failed member (some slots cannot be served): its
/// health check fails and traffic moves to the other cluster, where every key is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_one_master_down_counts_as_failed() {
    let start = || tokio::task::spawn_blocking(|| RedisCluster::start(3));
    let (east, west) = tokio::join!(start(), start());
    let (mut east, west) = (east.unwrap().unwrap(), west.unwrap().unwrap());
    let checks = MultiDbConfig::builder()
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes(1);
    let client = east_then_west(&east, &west, checks).await;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let (mut events, mut health) = (client.events(), client.events());
    tokio::task::block_in_place(|| east.nodes_mut()[1].kill());
    next_event(
        &mut health,
        "east unhealthy",
        |e| matches!(e, Event::HealthChanged { database, healthy: false } if *database == ids[0]),
    )
    .await;
    next_event(
        &mut events,
        "failover to west",
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
    )
    .await;
    let mut con = client.clone();
    for i in 0..30 {
        let () = con.set(format!("key{i}"), i).await.unwrap();
    }
    client.close().await;
}

/// A dead replica fails nothing: the cluster's health is its masters'. Health checks run
/// every 100 ms for the seconds it takes the cluster to flag the replica failed; none
/// finds the member unhealthy, and traffic stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replica_never_fails_a_healthy_cluster_over() {
    let east = tokio::task::spawn_blocking(|| {
        RedisCluster::builder()
            .masters(3)
            .replicas_per_master(1)
            .start()
    });
    let west = tokio::task::spawn_blocking(|| RedisCluster::start(3));
    let (east, west) = tokio::join!(east, west);
    let (mut east, west) = (east.unwrap().unwrap(), west.unwrap().unwrap());
    let checks = MultiDbConfig::builder()
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes(1);
    let client = east_then_west(&east, &west, checks).await;
    let east_id = client.databases()[0].id;
    let mut events = client.events();
    let mut con = client.clone();
    let () = con.set("before", 1).await.unwrap();
    let replica = east.replicas_of(0)[0].addr();
    tokio::task::block_in_place(|| {
        east.replicas_of_mut(0)[0].kill();
        east.wait_for_failed(replica).unwrap();
    });
    let () = con.set("after", 1).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if matches!(
            e,
            Event::HealthChanged { healthy: false, .. } | Event::ActiveDatabaseChanged { .. }
        ) {
            seen.push(e);
        }
    }
    assert!(
        seen.is_empty(),
        "the dead replica failed the cluster: {seen:?}"
    );
    assert_eq!(client.active_database(), Some(east_id));
    client.close().await;
}

/// An initialized client over two clusters: `east` (weight 1) active, `west` (0.5) the
/// standby, with `settings`' other settings.
async fn east_then_west(
    east: &RedisCluster,
    west: &RedisCluster,
    settings: multidb_client::MultiDbConfigBuilder,
) -> MultiDbClient {
    let client = MultiDbClient::new(
        settings
            .database(DatabaseConfig::from_cluster_urls(east.urls()).unwrap())
            .database(
                DatabaseConfig::from_cluster_urls(west.urls())
                    .unwrap()
                    .weight(0.5),
            )
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    client
}

/// The next `n` payloads the subscriber receives, in any order.
async fn payloads(messages: &mut multidb_client::Messages, n: usize) -> Vec<String> {
    use futures_util::StreamExt as _;
    let mut got = Vec::new();
    for _ in 0..n {
        let msg = tokio::time::timeout(common::GUARD, messages.next())
            .await
            .expect("a message in time")
            .expect("the stream goes on");
        got.push(msg.get_payload::<String>().unwrap());
    }
    got.sort();
    got
}

/// Publishes one message on a channel, a pattern's channel and a sharded channel.
async fn publish_three(con: &mut MultiDbClient, tag: &str) {
    for (command, channel, prefix) in [
        ("PUBLISH", "orders", "o"),
        ("PUBLISH", "audit.x", "p"),
        ("SPUBLISH", "{shard}1", "s"),
    ] {
        let _: i64 = redis::cmd(command)
            .arg(channel)
            .arg(format!("{prefix}-{tag}"))
            .query_async(con)
            .await
            .unwrap();
    }
}

/// A subscriber on a cluster member gets channels, patterns and sharded channels (on the
/// slot's owner), and follows a failover to the other cluster like a URL member's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_subscribers_follow_a_failover_with_channels_patterns_and_sharded_channels() {
    let start = || tokio::task::spawn_blocking(|| RedisCluster::start(3));
    let (east, west) = tokio::join!(start(), start());
    let (mut east, west) = (east.unwrap().unwrap(), west.unwrap().unwrap());
    let checks = MultiDbConfig::builder()
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes(1);
    let client = east_then_west(&east, &west, checks).await;
    let west_id = client.databases()[1].id;
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    sub.psubscribe("audit.*").await.unwrap();
    sub.ssubscribe("{shard}1").await.unwrap();
    let mut messages = sub.on_message();
    let mut con = client.clone();
    publish_three(&mut con, "before").await;
    assert_eq!(
        payloads(&mut messages, 3).await,
        ["o-before", "p-before", "s-before"]
    );

    tokio::task::block_in_place(|| east.kill_all());
    next_event(
        &mut events,
        "the subscriber on west",
        |e| matches!(e, Event::Resubscribed { database, .. } if *database == west_id),
    )
    .await;
    publish_three(&mut con, "after").await;
    assert_eq!(
        payloads(&mut messages, 3).await,
        ["o-after", "p-after", "s-after"]
    );
    client.close().await;
}

/// One range of `CLUSTER SLOTS`: start, end, and the master's ip, port, id and extras.
type SlotsEntry = (i64, i64, (String, i64, String, redis::Value));

/// A sharded subscription follows its slot when the slot moves to another master of the
/// same cluster (the old owner tells the subscriber with a `sunsubscribe`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_subscription_follows_its_slot_to_another_master() {
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
    let mut sub = client.pubsub().await.unwrap();
    sub.ssubscribe("{shard}1").await.unwrap();
    let mut messages = sub.on_message();
    let mut con = client.clone();
    let spublish = async |con: &mut MultiDbClient, payload: &str| {
        let _: i64 = redis::cmd("SPUBLISH")
            .arg("{shard}1")
            .arg(payload)
            .query_async(con)
            .await
            .unwrap();
    };
    spublish(&mut con, "before").await;
    assert_eq!(payloads(&mut messages, 1).await, ["before"]);
    let mut events = client.events();

    // Hand the (empty) slot to a master that does not own it, telling every node.
    tokio::task::block_in_place(|| {
        let direct = |url: &str| redis::Client::open(url).unwrap().get_connection().unwrap();
        let urls = cluster.urls();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg("{shard}1")
            .query(&mut direct(&urls[0]))
            .unwrap();
        let owner_of = |url: &str| -> bool {
            let slots: Vec<SlotsEntry> = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query(&mut direct(url))
                .unwrap();
            let port: i64 = url.rsplit(':').next().unwrap().parse().unwrap();
            slots
                .iter()
                .any(|(s, e, (_, p, _, _))| (*s..=*e).contains(&slot) && *p == port)
        };
        let target = urls.iter().find(|u| !owner_of(u)).unwrap();
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut direct(target))
            .unwrap();
        // The new owner first, as a reshard does: a redirect never points back.
        let mut order: Vec<&String> = urls.iter().filter(|u| *u == target).collect();
        order.extend(urls.iter().filter(|u| *u != target));
        for url in order {
            let () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("NODE")
                .arg(&id)
                .query(&mut direct(url))
                .unwrap();
        }
    });
    // Published once the subscription is in place again: what was published in between
    // is lost, as the event's docs say.
    next_event(
        &mut events,
        "the channel subscribed again",
        // Subscribed again on the new owner; or, should the cluster client's slot map
        // still send it to the old one, by a new subscription connection.
        |e| {
            matches!(e, Event::ShardedChannelMoved { channel, .. } if channel == "{shard}1")
                || matches!(e, Event::Resubscribed { .. })
        },
    )
    .await;
    spublish(&mut con, "after").await;
    assert_eq!(payloads(&mut messages, 1).await, ["after"]);
    client.close().await;
}
