//! Every kind of member keeps the same promises as a URL member: commands bounded by the
//! response timeout and ended when their database fails, and `close()` releasing every
//! connection the client holds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::next_event;
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::FakeRedis;
use redis::AsyncCommands;
use tokio::sync::Notify;

/// An application's connection that goes silent on demand (its own connection has no
/// timeout), and counts the clones of it alive.
#[derive(Clone)]
struct Silenceable {
    con: redis::aio::MultiplexedConnection,
    silent: Arc<AtomicBool>,
    /// Told when a command meets silence.
    swallowed: Arc<Notify>,
    alive: Arc<()>,
}

impl Silenceable {
    async fn to(server: &FakeRedis) -> Self {
        let con = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Silenceable {
            con,
            silent: Arc::default(),
            swallowed: Arc::default(),
            alive: Arc::default(),
        }
    }
}

impl redis::aio::ConnectionLike for Silenceable {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        if self.silent.load(Ordering::Acquire) {
            self.swallowed.notify_one();
            return Box::pin(std::future::pending());
        }
        self.con.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        if self.silent.load(Ordering::Acquire) {
            self.swallowed.notify_one();
            return Box::pin(std::future::pending());
        }
        self.con.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn fast_checks() -> multidb_client::MultiDbConfigBuilder {
    MultiDbConfig::builder()
        .health_check_probes(1)
        .health_check_interval(Duration::from_millis(100))
        .health_check_timeout(Duration::from_millis(200))
}

/// With no response timeout and a connection of its own that never answers, a command in
/// flight on an application's connection ends when the client fails over: it is replayed
/// (a read) on the other database instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_application_connection_is_woken_by_the_failover() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let app = Silenceable::to(&a).await;
    let (silent, swallowed) = (app.silent.clone(), app.swallowed.clone());
    let client = MultiDbClient::new(
        fast_checks()
            .database(DatabaseConfig::from_connection(app).response_timeout(None))
            .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    let mut events = client.events();
    let mut con = client.clone();
    let () = con.set("k", "on a").await.unwrap();

    silent.store(true, Ordering::Release);
    let get = tokio::spawn(async move { con.get::<_, Option<String>>("k").await });
    swallowed.notified().await;
    next_event(&mut events, "failover to b", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    let got = tokio::time::timeout(common::GUARD, get)
        .await
        .expect("the GET in flight ended with the failover")
        .unwrap();
    assert_eq!(got.unwrap(), None, "replayed on b, which never saw the SET");
    client.close().await;
}

/// The member's response timeout bounds an application's connection whatever its own
/// settings: a silent one fails the command within it, as a URL member would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_timeout_bounds_an_application_connection() {
    let a = FakeRedis::start().await.unwrap();
    let app = Silenceable::to(&a).await;
    let silent = app.silent.clone();
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_connection(app)
                    .response_timeout(Some(Duration::from_millis(100))),
            )
            // The command's own bound alone: no retry, no probe that could fail the member.
            .retry_attempts(0)
            .probe_on_failure(false)
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    silent.store(true, Ordering::Release);
    let mut con = client.clone();
    let err = tokio::time::timeout(common::GUARD, con.get::<_, Option<String>>("k"))
        .await
        .expect("bounded by the response timeout")
        .unwrap_err();
    assert!(err.to_string().contains("response timeout"), "{err}");
    client.close().await;
}

/// `close()` drops every clone of an application's connection that the client holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_releases_every_clone_of_an_application_connection() {
    let a = FakeRedis::start().await.unwrap();
    let app = Silenceable::to(&a).await;
    let alive = app.alive.clone();
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_connection(app))
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    assert!(
        Arc::strong_count(&alive) > 1,
        "the client holds the connection"
    );

    client.close().await;
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "only the test's own handle is left"
    );
    assert!(con.get::<_, Option<String>>("k").await.is_err());
}

/// Members backed by a deadpool-redis pool (redis-py's `from_pool`).
#[cfg(feature = "deadpool")]
mod pool {
    use super::*;
    use multidb_testkit::{Fault, RedisServer};

    fn pool(url: &str, size: usize) -> deadpool_redis::Pool {
        let mut config = deadpool_redis::Config::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig::new(size));
        config
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .unwrap()
    }

    /// Waits (yielding, bounded) until `server` has no connection open.
    async fn all_closed(server: &FakeRedis) -> usize {
        let wait = async {
            while server.connection_count() > 0 {
                tokio::task::yield_now().await;
            }
        };
        let _ = tokio::time::timeout(common::GUARD, wait).await;
        server.connection_count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pool_member_fails_over_and_back_and_close_closes_the_pool() {
        let a = FakeRedis::start().await.unwrap();
        let b = FakeRedis::start().await.unwrap();
        let client = MultiDbClient::new(
            fast_checks()
                .database(
                    DatabaseConfig::from_pool(pool(&a.url(), 4))
                        .grace_period(Duration::from_millis(200)),
                )
                .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
                .auto_fallback_interval(Some(Duration::from_millis(100)))
                .build()
                .unwrap(),
        );
        client.initialize().await.unwrap();
        let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
        assert!(client.databases()[0].endpoint.as_str().starts_with("pool#"));
        let mut con = client.clone();
        let () = con.set("k1", 1).await.unwrap();
        assert_eq!((a.keyspace_len(), b.keyspace_len()), (1, 0));

        let mut events = client.events();
        a.inject(Fault::Down);
        let () = con.set("k2", 2).await.unwrap();
        next_event(
            &mut events,
            "failover to b",
            |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[1]),
        )
        .await;
        assert_eq!(b.keyspace_len(), 1, "the write went to b");

        a.recover();
        next_event(
            &mut events,
            "fallback to the pool",
            |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == ids[0]),
        )
        .await;
        let () = con.set("k3", 3).await.unwrap();
        assert_eq!(a.keyspace_len(), 2, "back on the pool's server");

        client.close().await;
        assert_eq!(all_closed(&a).await, 0, "close() closed the pool");
        assert!(con.get::<_, Option<i64>>("k1").await.is_err());
    }

    /// A blocking command on a pool member waits its block time on top of the response
    /// timeout, as on a URL member: `BLPOP q 0.6` with a 200 ms response timeout answers
    /// nil after its block time instead of timing out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocking_command_on_a_pool_member_gets_its_block_time() {
        let server = RedisServer::start().unwrap();
        // The pool's own connections set no timeout of their own: the member's bounds.
        let manager = deadpool_redis::Manager::new_with_config(
            server.url(),
            redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .unwrap();
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(2)
            .build()
            .unwrap();
        let client = MultiDbClient::new(
            MultiDbConfig::builder()
                .database(
                    DatabaseConfig::from_pool(pool)
                        .response_timeout(Some(Duration::from_millis(200))),
                )
                .build()
                .unwrap(),
        );
        client.initialize().await.unwrap();
        let mut con = client.clone();
        let popped: Option<(String, String)> = con.blpop("q", 0.6).await.unwrap();
        assert_eq!(
            popped, None,
            "the block time ran out, not the response timeout"
        );
        client.close().await;
    }

    /// The pool's size bounds the connections, whatever the concurrency.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_size_bounds_the_connections() {
        let a = FakeRedis::start().await.unwrap();
        let client = MultiDbClient::new(
            MultiDbConfig::builder()
                .database(DatabaseConfig::from_pool(pool(&a.url(), 2)))
                .build()
                .unwrap(),
        );
        client.initialize().await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let mut con = client.clone();
                tokio::spawn(async move {
                    for j in 0..20 {
                        let () = con.set(format!("k{i}-{j}"), j).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(a.keyspace_len(), 16 * 20);
        assert!(
            a.accepted_count() <= 2,
            "{} connections",
            a.accepted_count()
        );
        client.close().await;
    }

    /// A pinned connection on a pool member is one connection checked out: a WATCH on it
    /// sees a write another user of the client makes through another pool connection, and
    /// `close()` closes it while it is still held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pinned_connection_holds_one_pool_connection_and_isolates_watch() {
        let server = RedisServer::start().unwrap();
        let client = MultiDbClient::new(
            MultiDbConfig::builder()
                .database(DatabaseConfig::from_pool(pool(&server.url(), 4)))
                .build()
                .unwrap(),
        );
        client.initialize().await.unwrap();
        let mut pinned = client.pinned().await.unwrap();
        let ran = common::watched_transaction_ran(&mut pinned, &mut client.clone(), "k").await;
        assert!(!ran, "the watched write aborted the transaction");

        // close() takes the held connection back: no socket left, the pinned one is lost.
        client.close().await;
        tokio::task::block_in_place(|| server.wait_for_connected_clients(0).unwrap());
        assert!(pinned.get::<_, Option<String>>("k").await.is_err());
    }
}
