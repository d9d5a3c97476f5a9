//! Wire-level behaviour: framing across reads, inline commands, protocol errors, and the
//! handle types' thread-safety.

use std::fmt::Debug;

use multidb_testkit::{FakeRedis, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_exactly(stream: &mut TcpStream, len: usize) -> String {
    let mut reply = vec![0; len];
    stream.read_exact(&mut reply).await.expect("read");
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test]
async fn frames_split_across_writes_and_pipelined_in_one_are_all_answered() {
    let fake = FakeRedis::start().await.expect("start");
    let mut raw = TcpStream::connect(fake.addr()).await.expect("connect");
    raw.write_all(b"*1\r\n$4\r\nPI").await.expect("write");
    raw.flush().await.expect("flush");
    raw.write_all(b"NG\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\nPING\r\n")
        .await
        .expect("write");
    assert_eq!(
        read_exactly(&mut raw, 21).await,
        "+PONG\r\n$1\r\na\r\n+PONG\r\n"
    );
}

#[tokio::test]
async fn malformed_input_gets_a_protocol_error_and_a_closed_connection() {
    let fake = FakeRedis::start().await.expect("start");
    let mut raw = TcpStream::connect(fake.addr()).await.expect("connect");
    raw.write_all(b"*1\r\n*1\r\n$1\r\na\r\n")
        .await
        .expect("write");
    let mut reply = String::new();
    raw.read_to_string(&mut reply)
        .await
        .expect("read until close");
    assert_eq!(reply, "-ERR Protocol error: expected '$', got '*'\r\n");

    let mut other = TcpStream::connect(fake.addr()).await.expect("connect");
    other.write_all(b"PING\r\n").await.expect("write");
    assert_eq!(read_exactly(&mut other, 7).await, "+PONG\r\n");
}

#[tokio::test]
async fn hello_3_switches_the_connection_to_resp3() {
    let fake = FakeRedis::start().await.expect("start");
    let mut raw = TcpStream::connect(fake.addr()).await.expect("connect");
    raw.write_all(b"HELLO 3\r\nGET missing\r\nQUIT\r\n")
        .await
        .expect("write");
    let mut replies = String::new();
    raw.read_to_string(&mut replies)
        .await
        .expect("read until QUIT closes");
    assert!(replies.starts_with("%7\r\n"), "{replies}");
    assert!(replies.ends_with("_\r\n+OK\r\n"), "{replies}");
}

#[test]
fn handles_are_clone_send_sync_and_debug() {
    fn assert_handle<T: Clone + Send + Sync + Debug + 'static>() {}
    assert_handle::<FakeRedis>();
    assert_handle::<FaultProxy>();
}
