//! `MultiDbClient::status()`: what an SRE reads off a status endpoint, on real servers.
#![allow(clippy::unwrap_used)]

mod common;

use common::next_event;
use multidb_client::{CircuitState, ConnectionState, Event, MultiDbClient};
use multidb_testkit::RedisServer;
use redis::AsyncCommands;

const SECRET: &str = "st4tus-Secret-Zq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_the_status_shows_why_without_the_password() {
    let mut primary = RedisServer::builder().password(SECRET).start().unwrap();
    let secondary = RedisServer::start().unwrap();
    assert!(
        primary.url().contains(SECRET),
        "the URL carries the password"
    );
    let client = MultiDbClient::from_urls([primary.url(), secondary.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();

    // One task: its commands run on few threads, so some are timed (one in 64 per thread).
    let mut con = client.clone();
    for i in 0..512 {
        let () = con.set("k", i).await.unwrap();
    }
    let before = client.status();
    assert_eq!(before.active, Some(ids[0]));
    let a = &before.databases[0];
    assert!(a.active && a.healthy, "{a:?}");
    assert_eq!(a.circuit, CircuitState::Closed);
    assert_eq!(a.connection, ConnectionState::Connected);
    assert_eq!(a.last_failure, None, "nothing failed yet");
    assert!(a.window.successes >= 1, "{:?}", a.window);
    let latency = a.latency.expect("commands were timed");
    assert!(latency.samples >= 512 / 64 / 2, "{latency:?}");
    assert!(latency.p50 <= latency.p99);
    let b = &before.databases[1];
    assert!(!b.active && b.healthy && b.latency.is_none(), "{b:?}");

    let mut events = client.events();
    primary.kill();
    // The command may fail over or fail; the status is what this test is about.
    let _ = con.get::<_, Option<i64>>("k").await;
    next_event(&mut events, "the failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;

    let after = client.status();
    assert_eq!(after.active, Some(ids[1]));
    let a = &after.databases[0];
    assert!(!a.active, "{a:?}");
    let failure = a.last_failure.as_ref().expect("the kill is recorded");
    assert!(!failure.reason.is_empty());
    assert!(failure.ago < common::GUARD, "{failure:?}");
    let shown = format!("{after:?}");
    assert!(shown.contains(&failure.reason));
    assert!(!shown.contains(SECRET), "password in the status: {shown}");
    #[cfg(feature = "serde")]
    {
        let json = serde_json::to_string(&after).unwrap();
        assert!(json.contains("\"last_failure\":{"), "{json}");
        assert!(json.contains("\"circuit\":\""), "{json}");
        assert!(!json.contains(SECRET), "password in the JSON: {json}");
    }
    client.close().await;
    let closed = client.status();
    assert!(
        closed.active.is_none() && closed.databases.is_empty(),
        "{closed:?}"
    );
}
