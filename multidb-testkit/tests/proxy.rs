//! FaultProxy in front of a FakeRedis: pass-through and each network fault as redis-rs sees it.

use std::time::{Duration, Instant};

use multidb_testkit::{FakeRedis, FaultProxy, ProxyFault};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, RedisResult};

async fn setup() -> (FakeRedis, FaultProxy) {
    let fake = FakeRedis::start().await.expect("start fake");
    let proxy = FaultProxy::start(fake.addr()).await.expect("start proxy");
    (fake, proxy)
}

async fn connect(proxy: &FaultProxy) -> RedisResult<MultiplexedConnection> {
    // Generous timeouts: CI is loaded; the blackhole test shortens its own.
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    redis::Client::open(proxy.url())?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

#[tokio::test]
async fn traffic_passes_through_unchanged() {
    let (fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    let () = con.set("k", "v").await.expect("set");
    assert_eq!(con.get::<_, String>("k").await.expect("get"), "v");
    assert_eq!(fake.keyspace_len(), 1);
    assert_eq!(proxy.connection_count(), 1);
}

#[tokio::test]
async fn latency_is_added_to_replies() {
    let (_fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    let fixed = Duration::from_millis(30);
    proxy.inject(ProxyFault::Latency {
        fixed,
        jitter: Duration::ZERO,
    });
    let started = Instant::now();
    let _: Option<String> = con.get("k").await.expect("get");
    assert!(started.elapsed() >= fixed);
}

#[tokio::test]
async fn bandwidth_limit_slows_large_replies() {
    let (fake, proxy) = setup().await;
    let mut direct = redis::Client::open(fake.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let () = direct.set("big", "x".repeat(2_000)).await.expect("set");
    let mut con = connect(&proxy).await.expect("connect");
    con.set_response_timeout(Duration::from_secs(30));
    proxy.inject(ProxyFault::Bandwidth {
        bytes_per_sec: 20_000,
    });
    let started = Instant::now();
    let value: String = con.get("big").await.expect("get");
    assert_eq!(value.len(), 2_000);
    // 2 000 bytes at 20 000 B/s take at least 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn blackhole_times_out_and_recover_restores_new_connections() {
    let (_fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    con.set_response_timeout(Duration::from_millis(100));
    proxy.inject(ProxyFault::Blackhole);
    let err = con
        .get::<_, Option<String>>("k")
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");
    proxy.recover();
    let mut fresh = connect(&proxy).await.expect("connect after recover");
    assert_eq!(
        fresh.get::<_, Option<String>>("k").await.expect("get"),
        None
    );
}

#[tokio::test]
async fn a_one_way_blackhole_lets_requests_run_and_drops_their_replies() {
    let (fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    con.set_response_timeout(Duration::from_millis(100));
    proxy.inject(ProxyFault::BlackholeReplies);
    let err = con.set::<_, _, ()>("k", "v").await.expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");
    // It ran all the same.
    tokio::time::timeout(Duration::from_secs(10), async {
        while fake.string_value("k").is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the SET reached the server");
}

#[tokio::test]
async fn refuse_refuses_and_recover_reopens_the_same_port() {
    let (_fake, proxy) = setup().await;
    let addr = proxy.addr();
    proxy.inject(ProxyFault::Refuse);
    let err = connect(&proxy).await.expect_err("refused");
    assert!(err.is_connection_refusal(), "{err:?}");
    proxy.recover();
    assert_eq!(proxy.addr(), addr);
    let mut con = connect(&proxy).await.expect("connect after recover");
    assert_eq!(con.get::<_, Option<String>>("k").await.expect("get"), None);
}

#[tokio::test]
async fn drop_connections_drops_and_reset_on_accept_resets() {
    let (_fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    proxy.drop_connections();
    assert_eq!(proxy.connection_count(), 0);
    let err = con
        .get::<_, Option<String>>("k")
        .await
        .expect_err("dropped");
    assert!(err.is_connection_dropped(), "{err:?}");

    proxy.inject(ProxyFault::ResetOnAccept);
    assert!(connect(&proxy).await.expect_err("reset").is_io_error());
    proxy.recover();
    assert!(connect(&proxy).await.is_ok());
}

#[tokio::test]
async fn shutdown_closes_the_proxy() {
    let (_fake, proxy) = setup().await;
    let mut con = connect(&proxy).await.expect("connect");
    proxy.shutdown().await;
    proxy.shutdown().await;
    assert!(
        connect(&proxy)
            .await
            .expect_err("refused")
            .is_connection_refusal()
    );
    assert!(
        con.get::<_, Option<String>>("k")
            .await
            .expect_err("closed")
            .is_connection_dropped()
    );
    assert!(format!("{proxy:?}").contains("FaultProxy"));
}
