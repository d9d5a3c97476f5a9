//! One `trace` span per command, with its operation and database; nothing at `info`.
#![allow(clippy::unwrap_used)]

mod common;

use common::Captured;
use multidb_client::MultiDbClient;
use multidb_testkit::FakeRedis;
use redis::AsyncCommands;
use tracing_subscriber::fmt::format::FmtSpan;

/// What `level` shows of one SET and one pipeline through a client on this thread.
async fn shown_at(level: tracing::Level) -> String {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let a = FakeRedis::start().await.unwrap();
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", 1).await.unwrap();
    let _: (i64,) = redis::pipe().get("k").query_async(&mut con).await.unwrap();
    client.close().await;
    logs.text()
}

#[tokio::test(flavor = "current_thread")]
async fn each_command_has_a_trace_span_with_its_operation_and_database() {
    let shown = shown_at(tracing::Level::TRACE).await;
    let spans: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("redis.command") && l.contains("close"))
        .collect();
    assert!(
        spans
            .iter()
            .any(|l| l.contains("db.operation.name=\"SET\"") && l.contains("multidb.database.id=1")),
        "{shown}"
    );
    assert!(
        spans
            .iter()
            .any(|l| l.contains("db.operation.name=\"PIPELINE\"")),
        "{shown}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn no_command_span_below_trace() {
    let shown = shown_at(tracing::Level::DEBUG).await;
    assert!(!shown.contains("redis.command"), "{shown}");
}
