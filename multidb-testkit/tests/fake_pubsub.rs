//! Pub/Sub on the fake: RESP2 subscriber connections, RESP3 pushes on a normal connection,
//! patterns, sharded channels and the RESP2 subscribed-mode restriction.

use futures_util::StreamExt;
use multidb_testkit::FakeRedis;
use redis::{AsyncCommands, AsyncConnectionConfig, PushKind, Value, cmd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[tokio::test]
async fn resp2_pubsub_receives_channel_and_pattern_messages() {
    let fake = FakeRedis::start().await.expect("start");
    let client = redis::Client::open(fake.url()).expect("url");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe("news").await.expect("subscribe");
    pubsub.psubscribe("ne*").await.expect("psubscribe");

    assert_eq!(
        fake.publish("news", "hello").await,
        2,
        "one channel and one pattern subscription"
    );
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let receivers: i64 = publisher
        .publish("nest", "from a client")
        .await
        .expect("publish");
    assert_eq!(receivers, 1);

    let mut messages = pubsub.on_message();
    let mut got = Vec::new();
    for _ in 0..3 {
        let msg = messages.next().await.expect("message");
        got.push((
            msg.get_pattern::<Option<String>>().expect("pattern"),
            msg.get_channel_name().to_owned(),
            msg.get_payload::<String>().expect("payload"),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (None, "news".to_owned(), "hello".to_owned()),
            (
                Some("ne*".to_owned()),
                "nest".to_owned(),
                "from a client".to_owned()
            ),
            (
                Some("ne*".to_owned()),
                "news".to_owned(),
                "hello".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn resp3_pushes_arrive_and_normal_commands_still_work() {
    let fake = FakeRedis::start().await.expect("start");
    let client = redis::Client::open(format!("{}?protocol=resp3", fake.url())).expect("url");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new().set_push_sender(tx);
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect");
    con.subscribe("news").await.expect("subscribe");
    con.psubscribe("n*").await.expect("psubscribe");
    let subscribed = rx.recv().await.expect("push");
    assert_eq!(subscribed.kind, PushKind::Subscribe);

    let () = con
        .set("k", "v")
        .await
        .expect("set on a subscribed RESP3 connection");
    assert_eq!(fake.publish("news", "hello").await, 2);
    let _: i64 = cmd("SSUBSCRIBE")
        .arg("shard")
        .query_async(&mut con)
        .await
        .unwrap_or_default();
    let spublished: i64 = cmd("SPUBLISH")
        .arg("shard")
        .arg("s")
        .query_async(&mut con)
        .await
        .expect("spublish");
    assert_eq!(spublished, 1);

    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let push = rx.recv().await.expect("push");
        if matches!(
            push.kind,
            PushKind::Message | PushKind::PMessage | PushKind::SMessage
        ) {
            assert!(
                push.data.contains(&Value::BulkString(b"hello".to_vec()))
                    || push.data.contains(&Value::BulkString(b"s".to_vec()))
            );
            kinds.push(push.kind);
        }
    }
    assert_eq!(
        kinds,
        vec![PushKind::Message, PushKind::PMessage, PushKind::SMessage]
    );
    con.unsubscribe("news").await.expect("unsubscribe");
    assert_eq!(
        fake.publish("news", "again").await,
        1,
        "only the pattern is left"
    );
}

/// Sends raw bytes and reads until `expected` bytes have arrived.
async fn roundtrip(stream: &mut TcpStream, request: &[u8], expected: usize) -> String {
    stream.write_all(request).await.expect("write");
    let mut reply = vec![0; expected];
    stream.read_exact(&mut reply).await.expect("read");
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test]
async fn resp2_subscribed_connections_only_allow_pubsub_commands() {
    let fake = FakeRedis::start().await.expect("start");
    let mut raw = TcpStream::connect(fake.addr()).await.expect("connect");
    let subscribed = "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n";
    assert_eq!(
        roundtrip(&mut raw, b"SUBSCRIBE c\r\n", subscribed.len()).await,
        subscribed
    );
    let refused = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    assert_eq!(
        roundtrip(&mut raw, b"GET k\r\n", refused.len()).await,
        refused
    );
    let pong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    assert_eq!(roundtrip(&mut raw, b"PING\r\n", pong.len()).await, pong);
}
