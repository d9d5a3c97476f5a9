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
    let mut pinned = client.pinned().await.unwrap();
    let () = pinned.set("p", "v").await.unwrap();
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
    drop(pinned);
}
