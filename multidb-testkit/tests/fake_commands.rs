//! Every command the fake implements, driven by redis-rs over RESP2 and RESP3, through a
//! `MultiplexedConnection` and a `ConnectionManager`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use multidb_testkit::FakeRedis;
use redis::aio::ConnectionLike;
use redis::{AsyncCommands, ErrorKind, RedisResult, ServerErrorKind, Value, cmd, pipe};

fn resp3(url: &str) -> String {
    format!("{url}?protocol=resp3")
}

async fn multiplexed(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn manager(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("valid url");
    client.get_connection_manager().await.expect("connect")
}

/// Runs every command once and checks Redis' answers. Keys are prefixed so runs can share
/// a server.
async fn exercise(con: &mut (impl ConnectionLike + Send + Sync), p: &str) -> RedisResult<()> {
    strings(con, p).await?;
    collections(con, p).await?;
    pipelines_and_server(con, p).await
}

async fn strings(con: &mut (impl ConnectionLike + Send + Sync), p: &str) -> RedisResult<()> {
    let k = |name: &str| format!("{p}:{name}");
    let pong: String = cmd("PING").query_async(con).await?;
    assert_eq!(pong, "PONG");
    let echoed: String = cmd("ECHO").arg("hi").query_async(con).await?;
    assert_eq!(echoed, "hi");

    // Strings.
    let () = con.set(k("s"), "v").await?;
    assert_eq!(
        con.get::<_, Option<String>>(k("s")).await?,
        Some("v".into())
    );
    assert_eq!(con.get::<_, Option<String>>(k("missing")).await?, None);
    let nx: Option<String> = cmd("SET")
        .arg(k("s"))
        .arg("w")
        .arg("NX")
        .query_async(con)
        .await?;
    assert_eq!(nx, None);
    let xx_get: Option<String> = cmd("SET")
        .arg(k("s"))
        .arg("w")
        .arg("XX")
        .arg("GET")
        .query_async(con)
        .await?;
    assert_eq!(xx_get.as_deref(), Some("v"));
    let () = cmd("SET")
        .arg(k("s"))
        .arg("x")
        .arg("EX")
        .arg(100)
        .query_async(con)
        .await?;
    let ttl: i64 = con.ttl(k("s")).await?;
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let () = cmd("SET")
        .arg(k("s"))
        .arg("y")
        .arg("KEEPTTL")
        .query_async(con)
        .await?;
    assert!(con.pttl::<_, i64>(k("s")).await? > 90_000);
    let () = cmd("SET")
        .arg(k("s"))
        .arg("z")
        .arg("PX")
        .arg(50_000)
        .query_async(con)
        .await?;
    assert!(con.pttl::<_, i64>(k("s")).await? <= 50_000);
    assert_eq!(con.ttl::<_, i64>(k("missing")).await?, -2);
    let () = con.set(k("n"), 10).await?;
    assert_eq!(con.ttl::<_, i64>(k("n")).await?, -1);
    assert_eq!(con.incr::<_, _, i64>(k("n"), 1).await?, 11);
    assert_eq!(cmd("INCR").arg(k("n")).query_async::<i64>(con).await?, 12);
    assert_eq!(
        cmd("INCRBY")
            .arg(k("n"))
            .arg(5)
            .query_async::<i64>(con)
            .await?,
        17
    );
    assert_eq!(cmd("DECR").arg(k("n")).query_async::<i64>(con).await?, 16);
    let err = cmd("INCR")
        .arg(k("s"))
        .query_async::<i64>(con)
        .await
        .expect_err("not an integer");
    assert_eq!(
        err.kind(),
        ErrorKind::Server(ServerErrorKind::ResponseError)
    );
    let () = con.mset(&[(k("m1"), "1"), (k("m2"), "2")]).await?;
    let got: Vec<Option<String>> = con.mget(&[k("m1"), k("missing"), k("m2")]).await?;
    assert_eq!(got, vec![Some("1".into()), None, Some("2".into())]);
    assert_eq!(
        con.exists::<_, i64>(&[k("m1"), k("m2"), k("missing")])
            .await?,
        2
    );
    assert!(con.expire::<_, bool>(k("m1"), 100).await?);
    assert!(con.pexpire::<_, bool>(k("m2"), 100_000).await?);
    assert!((99..=100).contains(&con.ttl::<_, i64>(k("m1")).await?));
    assert_eq!(
        con.del::<_, i64>(&[k("m1"), k("m2"), k("missing")]).await?,
        2
    );

    Ok(())
}

async fn collections(con: &mut (impl ConnectionLike + Send + Sync), p: &str) -> RedisResult<()> {
    let k = |name: &str| format!("{p}:{name}");
    // Hashes.
    assert_eq!(
        con.hset_multiple::<_, _, _, ()>(k("h"), &[("a", "1"), ("b", "2")])
            .await?,
        ()
    );
    assert_eq!(
        con.hget::<_, _, Option<String>>(k("h"), "a").await?,
        Some("1".into())
    );
    let all: BTreeMap<String, String> = con.hgetall(k("h")).await?;
    assert_eq!(
        all,
        BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
    );
    assert_eq!(con.hdel::<_, _, i64>(k("h"), "a").await?, 1);
    let wrong = con
        .get::<_, Option<String>>(k("h"))
        .await
        .expect_err("wrong type");
    assert_eq!(wrong.code(), Some("WRONGTYPE"));

    // Lists.
    assert_eq!(con.rpush::<_, _, i64>(k("l"), &["b", "c"]).await?, 2);
    assert_eq!(con.lpush::<_, _, i64>(k("l"), "a").await?, 3);
    assert_eq!(
        con.lrange::<_, Vec<String>>(k("l"), 0, -1).await?,
        ["a", "b", "c"]
    );
    assert_eq!(con.llen::<_, i64>(k("l")).await?, 3);
    assert_eq!(
        con.lpop::<_, Option<String>>(k("l"), None).await?,
        Some("a".into())
    );
    assert_eq!(
        con.rpop::<_, Option<String>>(k("l"), None).await?,
        Some("c".into())
    );

    // Sets.
    assert_eq!(con.sadd::<_, _, i64>(k("set"), &["x", "y", "x"]).await?, 2);
    let members: BTreeSet<String> = con.smembers(k("set")).await?;
    assert_eq!(members, BTreeSet::from(["x".to_owned(), "y".to_owned()]));

    Ok(())
}

async fn pipelines_and_server(
    con: &mut (impl ConnectionLike + Send + Sync),
    p: &str,
) -> RedisResult<()> {
    let k = |name: &str| format!("{p}:{name}");
    // Pipelines (plain and atomic).
    let (incremented, missing): (i64, Option<String>) = pipe()
        .incr(k("p"), 2)
        .get(k("missing"))
        .query_async(con)
        .await?;
    assert_eq!((incremented, missing), (2, None));
    let (atomic,): (i64,) = pipe().atomic().incr(k("p"), 3).query_async(con).await?;
    assert_eq!(atomic, 5);

    // Server commands.
    let info: String = cmd("INFO").query_async(con).await?;
    assert!(info.contains("redis_version:"));
    assert!(cmd("DBSIZE").query_async::<i64>(con).await? > 0);
    let client_id: i64 = cmd("CLIENT").arg("ID").query_async(con).await?;
    assert!(client_id > 0);
    let list: String = cmd("CLIENT").arg("LIST").query_async(con).await?;
    assert!(list.contains(&format!("id={client_id} ")));
    Ok(())
}

#[tokio::test]
async fn every_command_works_over_resp2_and_resp3_multiplexed() {
    let fake = FakeRedis::start().await.expect("start");
    exercise(&mut multiplexed(&fake.url()).await, "resp2")
        .await
        .expect("resp2");
    exercise(&mut multiplexed(&resp3(&fake.url())).await, "resp3")
        .await
        .expect("resp3");
    assert!(
        fake.command_log()
            .iter()
            .any(|c| c[0] == "HELLO" && c[1] == "3")
    );
    assert!(
        fake.command_log()
            .iter()
            .any(|c| c[..3] == ["CLIENT", "SETINFO", "LIB-NAME"])
    );
}

#[tokio::test]
async fn every_command_works_through_a_connection_manager() {
    let fake = FakeRedis::start().await.expect("start");
    exercise(&mut manager(&fake.url()).await, "resp2")
        .await
        .expect("resp2");
    exercise(&mut manager(&resp3(&fake.url())).await, "resp3")
        .await
        .expect("resp3");
}

#[tokio::test]
async fn multi_exec_applies_and_watch_aborts_on_a_concurrent_write() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = multiplexed(&fake.url()).await;
    let mut other = multiplexed(&fake.url()).await;

    let () = cmd("WATCH")
        .arg("w")
        .query_async(&mut con)
        .await
        .expect("watch");
    let () = other.set("w", "changed").await.expect("set");
    let aborted: Option<(i64,)> = pipe()
        .atomic()
        .incr("counter", 1)
        .query_async(&mut con)
        .await
        .expect("exec");
    assert_eq!(
        aborted, None,
        "EXEC must return nil after a watched key changed"
    );
    assert_eq!(
        con.get::<_, Option<i64>>("counter").await.expect("get"),
        None
    );

    let () = cmd("WATCH")
        .arg("w")
        .query_async(&mut con)
        .await
        .expect("watch");
    let applied: Option<(i64, i64)> = pipe()
        .atomic()
        .incr("counter", 1)
        .incr("counter", 1)
        .query_async(&mut con)
        .await
        .expect("exec");
    assert_eq!(applied, Some((1, 2)));

    let discarded: Value = cmd("DISCARD")
        .query_async(&mut con)
        .await
        .unwrap_or(Value::Nil);
    assert_eq!(discarded, Value::Nil);
}

#[tokio::test]
async fn select_keeps_databases_apart_and_flush_clears_them() {
    let fake = FakeRedis::start().await.expect("start");
    let mut db0 = multiplexed(&fake.url()).await;
    let mut db1 = multiplexed(&format!("{}/1", fake.url())).await;
    let () = db0.set("k", "zero").await.expect("set");
    let () = db1.set("k", "one").await.expect("set");
    assert_eq!(db0.get::<_, String>("k").await.expect("get"), "zero");
    assert_eq!(db1.get::<_, String>("k").await.expect("get"), "one");
    assert_eq!(fake.keyspace_len(), 2);
    let () = cmd("FLUSHDB").query_async(&mut db1).await.expect("flushdb");
    assert_eq!(fake.keyspace_len(), 1);
    let () = cmd("FLUSHALL")
        .query_async(&mut db1)
        .await
        .expect("flushall");
    assert_eq!(fake.keyspace_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn keys_expire_on_tokio_time() {
    let fake = FakeRedis::start().await.expect("start");
    // No client timers: with paused time they could fire while a reply is on the wire.
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(None);
    let mut con = redis::Client::open(fake.url())
        .expect("url")
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect");
    let () = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(1_500)
        .query_async(&mut con)
        .await
        .expect("set");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        con.get::<_, Option<String>>("k").await.expect("get"),
        Some("v".into())
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(con.get::<_, Option<String>>("k").await.expect("get"), None);
}

#[tokio::test]
async fn unknown_commands_and_wrong_arity_get_redis_errors() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = multiplexed(&fake.url()).await;
    let err = cmd("FOO")
        .arg("bar")
        .query_async::<Value>(&mut con)
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some("unknown command 'FOO', with args beginning with: 'bar' ")
    );
    let err = cmd("GET")
        .query_async::<Value>(&mut con)
        .await
        .expect_err("arity");
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'get' command")
    );
    // The connection still works afterwards.
    assert_eq!(
        cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .expect("ping"),
        "PONG"
    );
}

#[tokio::test]
async fn password_is_required_and_checked() {
    let fake = FakeRedis::builder()
        .password("s3cret")
        .start()
        .await
        .expect("start");
    let url = format!("redis://:s3cret@{}", fake.addr());
    for url in [url.clone(), resp3(&url)] {
        let mut con = multiplexed(&url).await;
        assert_eq!(
            cmd("PING")
                .query_async::<String>(&mut con)
                .await
                .expect("ping"),
            "PONG"
        );
    }
    let err = redis::Client::open(fake.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await;
    // The handshake succeeds without AUTH, but commands are refused.
    let mut anonymous = err.expect("connect without auth");
    let err = cmd("GET")
        .arg("k")
        .query_async::<Value>(&mut anonymous)
        .await
        .expect_err("noauth");
    assert_eq!(err.code(), Some("NOAUTH"));
    let bad = format!("redis://:wrong@{}", fake.addr());
    let connect = |url: String| async move {
        redis::Client::open(url)
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect_err("wrong password")
    };
    // redis-rs maps a failed RESP2 AUTH to AuthenticationFailed but leaves HELLO's WRONGPASS
    // as a server error code (as with a real Redis).
    assert_eq!(
        connect(bad.clone()).await.kind(),
        ErrorKind::AuthenticationFailed
    );
    assert_eq!(connect(resp3(&bad)).await.code(), Some("WRONGPASS"));
    assert!(
        !fake
            .command_log()
            .concat()
            .iter()
            .any(|a| a.contains("s3cret"))
    );
}

#[tokio::test]
async fn counters_separate_setup_from_data_commands() {
    let fake = FakeRedis::start().await.expect("start");
    let mut con = multiplexed(&fake.url()).await;
    let before = fake.data_command_count();
    let () = con.set("k", "v").await.expect("set");
    let _: String = cmd("PING").query_async(&mut con).await.expect("ping");
    assert_eq!(fake.data_command_count(), before + 1);
    assert!(
        fake.command_count() >= fake.data_command_count() + 3,
        "CLIENT SETINFO x2 and PING"
    );
    assert_eq!(fake.connection_count(), 1);
    assert_eq!(fake.accepted_count(), 1);
    fake.clear_log();
    assert!(fake.command_log().is_empty());
}
