//! Arbitrary bytes never crash the fake, and a bad connection never affects another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use multidb_testkit::FakeRedis;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fragments that steer random input into the parser's and commands' interesting paths.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let tokens = [
        "*",
        "$",
        "\r\n",
        "\n",
        "*1\r\n",
        "*3\r\n",
        "$3\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "$999999999\r\n",
        "*1\r\n*1\r\n",
        ":1\r\n",
        "+OK\r\n",
        "SET",
        "GET",
        "HELLO",
        "3",
        "2",
        "AUTH",
        "MULTI",
        "EXEC",
        "WATCH",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "[a-",
        "*?",
        "EX",
        "-1",
        "99999999999999999999",
        "LPOP",
        "LRANGE",
        "-9223372036854775808",
        "INCRBY",
        "k",
        " ",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::sample::select(tokens.to_vec()).prop_map(|t| t.as_bytes().to_vec()),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

#[test]
fn arbitrary_bytes_never_crash_the_server_or_other_connections() {
    let panicked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&panicked);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flag.store(true, Ordering::SeqCst);
        default_hook(info);
    }));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fake = runtime.block_on(FakeRedis::start()).expect("start");
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&input(), |bytes| {
            runtime.block_on(async {
                let mut bad = TcpStream::connect(fake.addr()).await.expect("connect");
                // A bystander connection opened before the bad bytes arrive.
                let mut good = TcpStream::connect(fake.addr()).await.expect("connect");
                bad.write_all(&bytes).await.expect("write");
                bad.shutdown().await.expect("half-close");
                // The server closes once it has read our EOF, so this ends.
                let mut sink = Vec::new();
                let _ = bad.read_to_end(&mut sink).await;
                good.write_all(b"*2\r\n$4\r\nECHO\r\n$2\r\nok\r\n")
                    .await
                    .expect("write");
                let mut reply = [0; 8];
                good.read_exact(&mut reply)
                    .await
                    .expect("bystander answered");
                prop_assert_eq!(&reply, b"$2\r\nok\r\n");
                Ok(())
            })
        })
        .expect("property holds");
    runtime.block_on(fake.shutdown());
    assert!(!panicked.load(Ordering::SeqCst), "a server task panicked");
}
