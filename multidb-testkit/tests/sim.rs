//! The simulated network: what crosses a link, when, and what its faults do — on paused
//! time, with a fake server as the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use multidb_testkit::{Direction, FakeRedis, Fault, SimNet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout};

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 10, last], 6379))
}

async fn ping(stream: &mut multidb_testkit::SimStream) -> std::io::Result<[u8; 7]> {
    stream.write_all(b"PING\r\n").await?;
    let mut reply = [0; 7];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

#[tokio::test(start_paused = true)]
async fn latency_delays_each_way_and_keeps_bytes_in_order() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(1))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut stream = net.connect(fake.addr()).await.unwrap();
    net.set_latency(fake.addr(), Direction::ToHost, Duration::from_millis(30));
    net.set_latency(fake.addr(), Direction::FromHost, Duration::from_millis(20));
    let started = Instant::now();
    stream.write_all(b"SET k 1\r\nGET k\r\n").await.unwrap();
    let mut reply = [0; 12];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"+OK\r\n$1\r\n1\r\n");
    assert_eq!(started.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn a_one_way_partition_holds_replies_until_it_heals() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(2))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut stream = net.connect(fake.addr()).await.unwrap();
    net.partition(fake.addr(), Direction::FromHost);
    stream.write_all(b"INCR n\r\n").await.unwrap();
    let mut reply = [0; 4];
    assert!(
        timeout(Duration::from_secs(10), stream.read_exact(&mut reply))
            .await
            .is_err(),
        "a reply crossed the partition"
    );
    // The host ran the command: only its reply is held.
    assert_eq!(fake.data_command_count(), 1);
    // A new connection cannot be made across it either.
    assert!(
        timeout(Duration::from_secs(10), net.connect(fake.addr()))
            .await
            .is_err()
    );
    net.heal(fake.addr());
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b":1\r\n");
}

#[tokio::test(start_paused = true)]
async fn down_refuses_connects_and_reset_breaks_open_streams() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(3))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut stream = net.connect(fake.addr()).await.unwrap();
    assert_eq!(&ping(&mut stream).await.unwrap(), b"+PONG\r\n");
    net.reset(fake.addr());
    assert_eq!(
        ping(&mut stream).await.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    fake.inject(Fault::Down);
    assert_eq!(
        net.connect(fake.addr()).await.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    fake.recover();
    let mut again = net.connect(fake.addr()).await.unwrap();
    assert_eq!(&ping(&mut again).await.unwrap(), b"+PONG\r\n");
    fake.shutdown().await;
    assert_eq!(fake.connection_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_closed_client_end_is_seen_by_the_host() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(4))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut stream = net.connect(fake.addr()).await.unwrap();
    ping(&mut stream).await.unwrap();
    assert_eq!(fake.connection_count(), 1);
    drop(stream);
    until(|| fake.connection_count() == 0).await;
}

/// Waits until `done` holds, looking again every simulated millisecond (the fake's tasks
/// run in between); fails past a simulated second.
async fn until(done: impl Fn() -> bool) {
    timeout(Duration::from_secs(1), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the condition never came true");
}

/// Reads exactly `expected.len()` bytes and compares.
async fn expect(stream: &mut multidb_testkit::SimStream, expected: &[u8]) {
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

#[tokio::test(start_paused = true)]
async fn blpop_waits_for_a_push_and_holds_the_requests_after_it() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(5))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut waiter = net.connect(fake.addr()).await.unwrap();
    let mut pusher = net.connect(fake.addr()).await.unwrap();
    let started = Instant::now();
    waiter.write_all(b"BLPOP q 0\r\nPING\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    pusher.write_all(b"RPUSH q a b\r\n").await.unwrap();
    expect(&mut pusher, b":2\r\n").await;
    expect(&mut waiter, b"*2\r\n$1\r\nq\r\n$1\r\na\r\n+PONG\r\n").await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    pusher.write_all(b"LLEN q\r\n").await.unwrap();
    expect(&mut pusher, b":1\r\n").await;
}

#[tokio::test(start_paused = true)]
async fn blpop_times_out_with_a_nil_and_never_blocks_in_a_transaction() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(6))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut stream = net.connect(fake.addr()).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"BRPOP q 1.5\r\n").await.unwrap();
    expect(&mut stream, b"*-1\r\n").await;
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    stream
        .write_all(b"MULTI\r\nBLPOP q 0\r\nEXEC\r\n")
        .await
        .unwrap();
    expect(&mut stream, b"+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n").await;
}

#[tokio::test(start_paused = true)]
async fn a_blocked_client_that_goes_takes_nothing() {
    let net = SimNet::new();
    let fake = FakeRedis::builder()
        .bind(addr(7))
        .network(&net)
        .start()
        .await
        .unwrap();
    let mut waiter = net.connect(fake.addr()).await.unwrap();
    waiter.write_all(b"BLPOP q 0\r\n").await.unwrap();
    until(|| fake.command_count() == 1).await;
    drop(waiter);
    until(|| fake.connection_count() == 0).await;
    let mut pusher = net.connect(fake.addr()).await.unwrap();
    pusher.write_all(b"RPUSH q a\r\nLLEN q\r\n").await.unwrap();
    expect(&mut pusher, b":1\r\n:1\r\n").await;
}
