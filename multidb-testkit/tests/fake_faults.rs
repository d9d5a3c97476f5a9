//! How each injected fault looks to redis-rs.

use std::time::{Duration, Instant};

use multidb_testkit::{FakeRedis, Fault};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncCommands, AsyncConnectionConfig, ErrorKind, RedisResult, ServerErrorKind};

async fn connect(fake: &FakeRedis) -> RedisResult<MultiplexedConnection> {
    redis::Client::open(fake.url())?
        .get_multiplexed_async_connection()
        .await
}

async fn get(con: &mut MultiplexedConnection) -> RedisResult<Option<String>> {
    con.get("k").await
}

#[tokio::test]
async fn down_refuses_connects_drops_connections_and_recover_reopens_the_same_port() {
    let fake = FakeRedis::start().await.expect("start");
    let addr = fake.addr();
    let mut con = connect(&fake).await.expect("connect");
    fake.inject(Fault::Down);
    assert_eq!(fake.connection_count(), 0);
    let err = connect(&fake).await.expect_err("refused");
    assert!(err.is_connection_refusal(), "{err:?}");
    let err = get(&mut con).await.expect_err("dropped");
    assert!(err.is_connection_dropped(), "{err:?}");

    fake.recover();
    assert_eq!(fake.addr(), addr);
    let mut con = connect(&fake).await.expect("connect after recover");
    assert_eq!(get(&mut con).await.expect("get"), None);
}

#[tokio::test]
async fn blackhole_makes_commands_time_out() {
    let fake = FakeRedis::start().await.expect("start");
    let client = redis::Client::open(fake.url()).expect("url");
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_millis(50)));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect");
    fake.inject(Fault::Blackhole);
    let err = get(&mut con).await.expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");
    let data_commands = fake.data_command_count();
    assert!(data_commands >= 1, "the request was read");
    // New connections are accepted but their handshake is never answered either.
    let config = config.set_connection_timeout(Some(Duration::from_millis(50)));
    let err = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn reset_on_accept_drops_new_connections_only() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = connect(&fake).await.expect("connect");
    fake.inject(Fault::ResetOnAccept);
    let err = connect(&fake).await.expect_err("reset");
    assert!(err.is_io_error(), "{err:?}");
    assert_eq!(get(&mut con).await.expect("old connection works"), None);
    assert_eq!(fake.accepted_count(), 2);
}

#[tokio::test]
async fn loading_error_reply_is_busy_loading_and_setup_still_succeeds() {
    let fake = FakeRedis::start().await.expect("start");
    fake.inject(Fault::ErrorReply(
        "LOADING Redis is loading the dataset in memory".into(),
    ));
    let mut con = connect(&fake).await.expect("setup commands are not failed");
    let err = get(&mut con).await.expect_err("loading");
    assert_eq!(err.kind(), ErrorKind::Server(ServerErrorKind::BusyLoading));
    let _: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .expect("ping still answers");
}

#[tokio::test]
async fn garbage_replies_are_parse_errors() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = connect(&fake).await.expect("connect");
    fake.inject(Fault::Garbage);
    let err = get(&mut con).await.expect_err("garbage");
    assert_eq!(err.kind(), ErrorKind::Parse, "{err:?}");
}

#[tokio::test]
async fn latency_delays_replies_by_at_least_the_fixed_part() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = connect(&fake).await.expect("connect");
    let fixed = Duration::from_millis(30);
    fake.inject(Fault::Latency {
        fixed,
        jitter: Duration::from_millis(5),
    });
    let started = Instant::now();
    assert_eq!(get(&mut con).await.expect("get"), None);
    assert!(started.elapsed() >= fixed);
}

#[tokio::test]
async fn fail_every_nth_closes_the_connection_on_the_nth_data_command() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = connect(&fake).await.expect("connect");
    fake.inject(Fault::FailEveryNth(2));
    assert_eq!(get(&mut con).await.expect("first"), None);
    let err = get(&mut con).await.expect_err("second");
    assert!(err.is_connection_dropped(), "{err:?}");
}

#[tokio::test]
async fn connection_manager_reconnects_after_drop_and_after_down_recovers() {
    let fake = FakeRedis::start().await.expect("start");
    let client = redis::Client::open(fake.url()).expect("url");
    let config = ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(5))
        .set_number_of_retries(3);
    let mut manager: ConnectionManager = client
        .get_connection_manager_with_config(config)
        .await
        .expect("connect");
    let () = manager.set("k", "v").await.expect("set");

    fake.drop_connections();
    let err = manager
        .get::<_, Option<String>>("k")
        .await
        .expect_err("dropped");
    assert!(err.is_connection_dropped(), "{err:?}");
    assert_eq!(
        manager
            .get::<_, Option<String>>("k")
            .await
            .expect("reconnected"),
        Some("v".into())
    );

    fake.inject(Fault::Down);
    assert!(
        manager
            .get::<_, Option<String>>("k")
            .await
            .expect_err("down")
            .is_io_error()
    );
    fake.recover();
    // The manager reconnects in the background with backoff; each attempt awaits it.
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(value) = manager.get::<_, Option<String>>("k").await {
            recovered = Some(value);
            break;
        }
    }
    assert_eq!(recovered, Some(Some("v".into())));
}

#[tokio::test]
async fn shutdown_and_dropping_the_last_handle_close_the_port() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = connect(&fake).await.expect("connect");
    let clone = fake.clone();
    fake.shutdown().await;
    clone.shutdown().await;
    assert!(
        connect(&fake)
            .await
            .expect_err("refused")
            .is_connection_refusal()
    );
    assert!(
        get(&mut con)
            .await
            .expect_err("closed")
            .is_connection_dropped()
    );

    let other = FakeRedis::start().await.expect("start");
    let url = other.url();
    drop(other);
    let err = redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect_err("refused");
    assert!(err.is_connection_refusal());
}

#[tokio::test]
async fn faults_are_listed_replaced_and_cleared() {
    let fake = FakeRedis::start().await.expect("start");
    fake.inject(Fault::ErrorReply("LOADING a".into()));
    fake.inject(Fault::FailEveryNth(3));
    fake.inject(Fault::ErrorReply("LOADING b".into()));
    assert_eq!(
        fake.faults(),
        vec![
            Fault::FailEveryNth(3),
            Fault::ErrorReply("LOADING b".into())
        ]
    );
    fake.recover();
    assert!(fake.faults().is_empty());
    assert!(format!("{fake:?}").contains("FakeRedis"));
}
