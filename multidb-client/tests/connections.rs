//! The member connections a URL member gets: one socket shared by every clone of the
//! client, made again once (not once per task) after the server dropped it, and closed by
//! `close()` and `remove_database()` even while clones still hold it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

/// Waits (yielding, bounded by [`common::GUARD`], never sleeping) until `server` has no
/// client connection open, and returns how many it has.
async fn connections_closed(server: &FakeRedis) -> usize {
    let wait = async {
        while server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    };
    let _ = tokio::time::timeout(common::GUARD, wait).await;
    server.connection_count()
}

/// Waits (yielding, bounded by [`common::GUARD`], never sleeping) until `server` has
/// accepted `n` connections, and returns how many it has accepted.
async fn accepted_reaches(server: &FakeRedis, n: u64) -> u64 {
    let wait = async {
        while server.accepted_count() < n {
            tokio::task::yield_now().await;
        }
    };
    let _ = tokio::time::timeout(common::GUARD, wait).await;
    server.accepted_count()
}

/// `n` clones of `client`, each having sent a SET and a GET at the same time.
async fn busy_clones(client: &MultiDbClient, n: usize) -> Vec<MultiDbClient> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let mut clone = client.clone();
            tokio::spawn(async move {
                let key = format!("k{i}");
                let () = clone.set(&key, i).await.unwrap();
                let v: usize = clone.get(&key).await.unwrap();
                assert_eq!(v, i);
                clone
            })
        })
        .collect();
    let mut clones = Vec::new();
    for task in tasks {
        clones.push(task.await.unwrap());
    }
    clones
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_socket_and_close_closes_it_while_clones_live() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let before = common::alive_tasks();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let mut clones = busy_clones(&client, 32).await;
    // Health checks and 32 concurrent clones: one connection to each member, and the
    // stall watchdog's own to the active one.
    assert_eq!(
        accepted_reaches(&a, 2).await,
        2,
        "one socket, and the watchdog's, to the active member"
    );
    assert_eq!(b.accepted_count(), 1, "one socket to the standby member");

    client.close().await;
    assert_eq!(connections_closed(&a).await, 0, "close() closed the socket");
    assert_eq!(connections_closed(&b).await, 0);
    let err = clones[0].get::<_, Option<String>>("k0").await.unwrap_err();
    assert!(
        matches!(MultiDbError::from_redis(&err), Some(MultiDbError::Closed)),
        "{err}"
    );
    assert_eq!(
        common::tasks_back_to(before).await,
        before,
        "no task left while clones live"
    );
    drop(clones);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_made_again_once_for_every_clone_without_an_error() {
    let a = FakeRedis::start().await.unwrap();
    // No stall watchdog: its connection would be made again on its own schedule.
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .stall_tolerance(None)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    drop(busy_clones(&client, 16).await);
    assert_eq!(a.accepted_count(), 1);

    a.drop_connections();
    assert_eq!(connections_closed(&a).await, 0);
    // Every clone sends again at once: one new socket, no error (busy_clones unwraps).
    let clones = busy_clones(&client, 16).await;
    assert_eq!(a.accepted_count(), 2, "one reconnect, not one per task");
    drop(clones);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_active_database_closes_its_socket_while_clones_hold_it() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let mut clones = busy_clones(&client, 8).await;
    let active = client.active_database().unwrap();

    client.remove_database(active).await.unwrap();
    assert_eq!(
        connections_closed(&a).await,
        0,
        "removed member's socket closed"
    );
    // The clones follow the switch on their next command.
    let () = clones[0].set("after", 1).await.unwrap();
    assert_eq!(b.keyspace_len(), 1, "`after` went to the new active member");
    // The watchdog opens its own connection to the new active member on its own schedule:
    // wait for it, then there is exactly that one beside the shared socket.
    assert_eq!(
        accepted_reaches(&b, 2).await,
        2,
        "one shared socket, and the watchdog's, to the new active member"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_closes_a_connection_left_half_made() {
    let healthy = FakeRedis::start().await.unwrap();
    let silent = FakeRedis::start().await.unwrap();
    silent.inject(Fault::Blackhole);
    // The health check gives up long before the connection attempt would: the attempt is
    // left half-made (socket open, handshake unanswered) inside the member.
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&healthy.url()).unwrap())
        .database(
            DatabaseConfig::from_url(&silent.url())
                .unwrap()
                .weight(0.5)
                .connection_timeout(Duration::from_secs(3600)),
        )
        .health_check_probes(1)
        .health_check_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    assert_eq!(silent.accepted_count(), 1);
    drop(client);
    assert_eq!(
        connections_closed(&silent).await,
        0,
        "the half-made connection was dropped with the client"
    );
    assert_eq!(connections_closed(&healthy).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_closes_a_pinned_connection_still_held() {
    let a = FakeRedis::start().await.unwrap();
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut pinned = client.pinned().await.unwrap();
    let () = pinned.set("k", "v").await.unwrap();
    assert_eq!(
        a.connection_count(),
        3,
        "the shared, the stall watchdog's and the pinned socket"
    );

    client.close().await;
    assert_eq!(
        connections_closed(&a).await,
        0,
        "the pinned socket closed too"
    );
    let err = pinned.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        matches!(
            MultiDbError::from_redis(&err),
            Some(MultiDbError::Closed | MultiDbError::PinnedDatabaseLost { .. })
        ),
        "{err}"
    );
}
