//! Replay by command category, known-not-applied retries, and blocking commands on the
//! main client — against real `redis-server` processes, the active one paused (SIGSTOP) or
//! killed.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{GUARD, switch_to};
use multidb_client::{
    CommandCategory, Database, DatabaseConfig, DatabaseId, HealthCheck, MultiDbClient,
    MultiDbConfig, MultiDbConfigBuilder, MultiDbError, Unhealthy,
};
use multidb_testkit::{FakeRedis, Fault, FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

/// Two real servers; `a` (weight 1) is active.
struct Pair {
    a: RedisServer,
    b: RedisServer,
    client: MultiDbClient,
    ids: Vec<DatabaseId>,
}

/// Both databases, scheduled checks an hour apart (every check is one a failure caused).
fn builder(a: &str, b: &str) -> MultiDbConfigBuilder {
    MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(a).unwrap())
        .database(DatabaseConfig::from_url(b).unwrap().weight(0.5))
        .health_check_interval(Duration::from_secs(3600))
        .health_check_probes(1)
}

async fn pair(configure: impl FnOnce(MultiDbConfigBuilder) -> MultiDbConfigBuilder) -> Pair {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let config = configure(builder(&a.url(), &b.url())).build().unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    assert_eq!(client.active_database(), Some(ids[0]));
    Pair { a, b, client, ids }
}

async fn direct(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits until `n` clients are blocked on `server` (the testkit's bounded poll of the
/// server's own report), without holding up the runtime's other worker.
fn until_blocked(server: &RedisServer, n: usize) {
    tokio::task::block_in_place(|| server.wait_for_blocked_clients(n)).unwrap();
}

type Popped = redis::RedisResult<Option<(String, String)>>;

/// `BLPOP key block` through the client, in a task of its own.
fn spawn_blpop(
    client: &MultiDbClient,
    key: impl Into<String>,
    block: f64,
) -> tokio::task::JoinHandle<Popped> {
    let mut con = client.clone();
    let key = key.into();
    tokio::spawn(async move { con.blpop(key, block).await })
}

/// Awaits a spawned command (failing, not hanging, after [`GUARD`]).
async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(GUARD, task).await.unwrap().unwrap()
}

fn typed(e: &redis::RedisError) -> &MultiDbError {
    MultiDbError::from_redis(e).unwrap_or_else(|| panic!("not a MultiDbError: {e}"))
}

// `a_blpop_past_the_response_timeout_…` lives in `simulation.rs`, on simulated time.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_blocking_commands_wait_side_by_side_with_plain_traffic() {
    let p = pair(|b| b).await;
    let waiters: Vec<_> = (0..8)
        .map(|i| {
            // Half wait forever (0), half with a block time.
            spawn_blpop(
                &p.client,
                format!("q{i}"),
                if i % 2 == 0 { 0.0 } else { 30.0 },
            )
        })
        .collect();
    until_blocked(&p.a, 8);
    let mut con = p.client.clone();
    for i in 0..200 {
        con.set::<_, _, ()>(format!("k{i}"), i).await.unwrap();
        assert_eq!(con.get::<_, i32>(format!("k{i}")).await.unwrap(), i);
    }
    let mut pusher = direct(&p.a).await;
    for i in 0..8 {
        pusher
            .lpush::<_, _, ()>(format!("q{i}"), format!("e{i}"))
            .await
            .unwrap();
    }
    for (i, waiter) in waiters.into_iter().enumerate() {
        let got = joined(waiter).await.unwrap();
        assert_eq!(got, Some((format!("q{i}"), format!("e{i}"))));
    }
    // XREAD BLOCK goes the same way and times out as the server says: nil.
    let none: Option<redis::Value> = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(600)
        .arg("STREAMS")
        .arg("s")
        .arg("$")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(none, None);
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blpop_whose_database_is_killed_fails_with_a_typed_error_and_is_not_replayed() {
    let mut p = pair(|b| b).await;
    let blpop = spawn_blpop(&p.client, "q", 0.0);
    until_blocked(&p.a, 1);
    let mut events = p.client.events();
    p.a.kill();
    let err = joined(blpop).await.unwrap_err();
    let e = typed(&err);
    assert!(
        matches!(e, MultiDbError::BlockingCommandInterrupted { id, .. } if *id == p.ids[0]),
        "{e:?}"
    );
    assert!(e.to_string().contains("may have been taken"), "{e}");
    switch_to(&mut events, "the failover", p.ids[1]).await;
    // Not replayed on the new database.
    assert_eq!(p.b.blocked_clients().unwrap(), 0);
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_blocking_connection_is_busy_the_next_waits_within_its_deadline_then_fails() {
    let p = pair(|b| b.blocking_connections(1)).await;
    let first = spawn_blpop(&p.client, "q", 0.0);
    until_blocked(&p.a, 1);
    let mut con = p.client.clone();
    let err = redis::cmd("BLPOP")
        .arg("r")
        .arg(0.1)
        .query_async::<Option<(String, String)>>(&mut con)
        .await
        .unwrap_err();
    assert!(
        matches!(
            typed(&err),
            MultiDbError::BlockingConnectionsExhausted { max: 1, .. }
        ),
        "{err}"
    );
    direct(&p.a)
        .await
        .lpush::<_, _, ()>("q", "x")
        .await
        .unwrap();
    let got = joined(first).await.unwrap();
    assert_eq!(got, Some(("q".to_owned(), "x".to_owned())));
    // The connection is free again, and reused.
    let none: Option<(String, String)> = redis::cmd("BLPOP")
        .arg("r")
        .arg(0.1)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(none, None);
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_is_refused_on_the_main_client_and_answers_on_a_pinned_connection() {
    let p = pair(|b| b).await;
    let mut con = p.client.clone();
    let err = redis::cmd("WAIT")
        .arg(0)
        .arg(100)
        .query_async::<i64>(&mut con)
        .await
        .unwrap_err();
    let e = typed(&err);
    assert!(
        matches!(e, MultiDbError::NeedsPinnedConnection { command: "WAIT" }),
        "{e:?}"
    );
    assert!(e.to_string().contains("pinned"), "{e}");
    let mut pinned = p.client.pinned().await.unwrap();
    pinned.set::<_, _, ()>("k", "v").await.unwrap();
    let replicas: i64 = redis::cmd("WAIT")
        .arg(0)
        .arg(100)
        .query_async(&mut pinned)
        .await
        .unwrap();
    assert_eq!(replicas, 0);
    p.client.close().await;
}

/// Healthy until armed; then its database (the one at `target`) fails every check. No
/// scheduled check runs during the test (an hour apart), so only a check caused by a
/// command's failure sees it armed.
struct FailsWhenArmed {
    armed: AtomicBool,
    target: String,
}

#[async_trait::async_trait]
impl HealthCheck<Database> for FailsWhenArmed {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        if self.armed.load(Ordering::SeqCst) && db.endpoint().as_str().starts_with(&self.target) {
            return Err(Unhealthy::new("armed by the test"));
        }
        Ok(())
    }

    #[allow(clippy::unnecessary_literal_bound)]
    fn name(&self) -> &str {
        "fails-when-armed"
    }
}

/// Two real servers, the active one (`a`) behind a proxy that blackholes new connections:
/// its connection cannot be made (200 ms connection timeout), and nothing of ours is sent.
/// Its health check fails once `check` is armed.
struct Unreachable {
    a: RedisServer,
    b: RedisServer,
    client: MultiDbClient,
    ids: Vec<DatabaseId>,
    check: Arc<FailsWhenArmed>,
    _proxy: FaultProxy,
}

async fn unreachable_first() -> Unreachable {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(a.addr()).await.unwrap();
    // The handshake gets no answer: the connection times out, and nothing of ours was sent.
    proxy.inject(ProxyFault::Blackhole);
    let check = Arc::new(FailsWhenArmed {
        armed: AtomicBool::new(false),
        target: proxy.addr().to_string(),
    });
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&proxy.url())
                .unwrap()
                .connection_timeout(Duration::from_millis(200)),
        )
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .replace_health_checks(vec![check.clone()])
        .health_check_interval(Duration::from_secs(3600))
        .health_check_probes(1)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    assert_eq!(client.active_database(), Some(ids[0]));
    Unreachable {
        a,
        b,
        client,
        ids,
        check,
        _proxy: proxy,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incr_whose_connection_could_not_be_made_in_time_is_retried_and_applied_once() {
    let Unreachable {
        a,
        b,
        client,
        ids,
        check,
        _proxy,
    } = unreachable_first().await;
    // The INCR goes to the proxied database (active), whose connection cannot be made in
    // time; the probe that failure causes fails it over, and the INCR, known not sent, is
    // retried there.
    check.armed.store(true, Ordering::SeqCst);
    let mut con = client.clone();
    let n: i64 = con.incr("n", 1).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(client.active_database(), Some(ids[1]));
    assert_eq!(direct(&b).await.get::<_, i64>("n").await.unwrap(), 1);
    assert!(!direct(&a).await.exists::<_, bool>("n").await.unwrap());
    client.close().await;
}

/// Sends each request to the paused active database at once and returns the results in
/// order.
async fn all_at_once(
    client: &MultiDbClient,
    requests: Vec<redis::Cmd>,
) -> Vec<redis::RedisResult<redis::Value>> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|cmd| {
            let mut con = client.clone();
            tokio::spawn(async move { cmd.query_async::<redis::Value>(&mut con).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(tokio::time::timeout(GUARD, task).await.unwrap().unwrap());
    }
    results
}

fn samples() -> Vec<(&'static str, redis::Cmd)> {
    let mut eval = redis::cmd("EVAL");
    eval.arg("return redis.call('INCR', KEYS[1])")
        .arg(1)
        .arg("e");
    vec![
        ("GET", redis::cmd("GET").arg("g").clone()),
        ("SET", redis::cmd("SET").arg("s").arg("v").clone()),
        (
            "SET NX",
            redis::cmd("SET").arg("nx").arg("v").arg("NX").clone(),
        ),
        ("SADD", redis::cmd("SADD").arg("set").arg("m").clone()),
        ("INCR", redis::cmd("INCR").arg("n").clone()),
        ("EVAL", eval),
        ("FLUSHALL", redis::cmd("FLUSHALL")),
    ]
}

/// Under a pause of the active database, every sample is sent to it at once; each one is
/// replayed on the other database or refused as its category and `replay_up_to` say.
async fn replay_under_pause(replay_up_to: CommandCategory) {
    let p = pair(|b| b.replay_up_to(replay_up_to)).await;
    let mut b = direct(&p.b).await;
    b.set::<_, _, ()>("g", "on b").await.unwrap();
    b.set::<_, _, ()>("keep", "1").await.unwrap();
    let mut events = p.client.events();
    p.a.pause().unwrap();
    let samples = samples();
    let results = all_at_once(&p.client, samples.iter().map(|(_, c)| c.clone()).collect()).await;
    switch_to(&mut events, "the failover", p.ids[1]).await;
    for ((name, cmd), result) in samples.iter().zip(&results) {
        let category = multidb_client::command_category(cmd);
        let replayable = category <= replay_up_to;
        match result {
            Ok(_) => assert!(replayable, "{name} ({category:?}) was replayed"),
            Err(e) => {
                assert!(!replayable, "{name} ({category:?}) was not replayed: {e}");
                assert!(
                    matches!(typed(e), MultiDbError::MayHaveBeenApplied { id, .. } if *id == p.ids[0]),
                    "{name}: {e}"
                );
            }
        }
    }
    // FLUSHALL never reached the second database.
    assert_eq!(b.get::<_, String>("keep").await.unwrap(), "1");
    assert_eq!(
        results[0].as_ref().unwrap(),
        &redis::Value::BulkString(b"on b".to_vec())
    );
    p.a.resume().unwrap();
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_pause_the_default_replays_reads_and_last_wins_writes_only() {
    replay_under_pause(CommandCategory::LastWins).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_pause_accumulating_replays_all_but_scripts_and_admin_commands() {
    replay_under_pause(CommandCategory::Accumulating).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_multi_exec_in_a_plain_pipeline_is_never_replayed() {
    let p = pair(|b| b.retry_non_idempotent(true)).await;
    let mut events = p.client.events();
    p.a.pause().unwrap();
    let mut con = p.client.clone();
    let err = redis::pipe()
        .cmd("MULTI")
        .incr("n", 1)
        .cmd("EXEC")
        .query_async::<redis::Value>(&mut con)
        .await
        .unwrap_err();
    assert!(
        matches!(typed(&err), MultiDbError::MayHaveBeenApplied { .. }),
        "{err}"
    );
    switch_to(&mut events, "the failover", p.ids[1]).await;
    assert!(!direct(&p.b).await.exists::<_, bool>("n").await.unwrap());
    p.a.resume().unwrap();
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incr_under_a_pause_is_never_applied_twice_without_the_application_being_told() {
    let p = pair(|b| b).await;
    let mut events = p.client.events();
    let (tx, mut started) = tokio::sync::mpsc::channel(8);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut con = p.client.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (mut acked, mut maybe) = (0u64, 0u64);
                for i in 0..300 {
                    if i == 20 {
                        let _ = tx.send(()).await;
                    }
                    match con.incr::<_, _, i64>("n", 1).await {
                        Ok(_) => acked += 1,
                        Err(e) => match MultiDbError::from_redis(&e) {
                            Some(MultiDbError::MayHaveBeenApplied { .. }) => maybe += 1,
                            _ => panic!("unexpected error: {e}"),
                        },
                    }
                }
                (acked, maybe)
            })
        })
        .collect();
    drop(tx);
    for _ in 0..8 {
        started.recv().await.unwrap();
    }
    p.a.pause().unwrap();
    switch_to(&mut events, "the failover", p.ids[1]).await;
    p.a.resume().unwrap();
    let (mut acked, mut maybe) = (0, 0);
    for task in tasks {
        let (a, m) = tokio::time::timeout(GUARD, task).await.unwrap().unwrap();
        acked += a;
        maybe += m;
    }
    let on_a: Option<u64> = direct(&p.a).await.get("n").await.unwrap();
    let on_b: Option<u64> = direct(&p.b).await.get("n").await.unwrap();
    let applied = on_a.unwrap_or(0) + on_b.unwrap_or(0);
    assert_eq!(acked + maybe, 8 * 300);
    assert!(
        acked <= applied && applied <= acked + maybe,
        "acknowledged {acked}, may have been applied {maybe}, applied {applied}"
    );
    assert!(maybe > 0, "the pause caught no INCR in flight");
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_evalsha_survives_a_switch_to_a_database_that_never_saw_the_script() {
    let p = pair(|b| b).await;
    let mut con = p.client.clone();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 42")
        .query_async(&mut con)
        .await
        .unwrap();
    p.client.set_active_database(p.ids[1]).await.unwrap();
    let v: i64 = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(0)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, 42);
    let on_b: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&sha)
        .query_async(&mut direct(&p.b).await)
        .await
        .unwrap();
    assert_eq!(on_b, vec![true]);
    // A script the client never saw loaded is still the server's NOSCRIPT.
    let err = redis::cmd("EVALSHA")
        .arg("0000000000000000000000000000000000000000")
        .arg(0)
        .query_async::<i64>(&mut con)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NOSCRIPT"), "{err}");
    p.client.close().await;
}

/// Waits (bounded) until the fake has been sent `n` data commands: it has no event to await.
async fn until_commands(fake: &FakeRedis, n: u64) {
    let poll = async {
        while fake.data_command_count() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(GUARD, poll)
        .await
        .unwrap_or_else(|_| panic!("{n} commands never arrived"));
}

/// A rejection proves the command did not run: it is retried (here on the same database,
/// the only healthy one) whether or not the rejection counts as a failure, and succeeds once
/// the database takes commands again; the database is never failed over for it when
/// rejections are not failures.
async fn rejected_then_recovered(reply: &str, busy_errors_are_failures: bool) {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = builder(&a.url(), &b.url())
        .busy_errors_are_failures(busy_errors_are_failures)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    a.inject(Fault::ErrorReply(reply.to_owned()));
    let before = a.data_command_count();
    let mut con = client.clone();
    let incr = tokio::spawn(async move { con.incr::<_, _, i64>("n", 1).await });
    until_commands(&a, before + 2).await;
    a.recover();
    let n = joined(incr).await.unwrap();
    assert_eq!(n, 1, "{reply}");
    assert_eq!(client.active_database(), Some(ids[0]), "{reply}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_incr_is_retried_until_its_database_takes_it_whether_or_not_rejections_are_failures()
 {
    for reply in [
        "LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica.",
        "MISCONF Redis is configured to save RDB snapshots",
        "BUSY Redis is busy running a script.",
    ] {
        rejected_then_recovered(reply, false).await;
        rejected_then_recovered(reply, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_with_a_blocking_command_waits_on_a_connection_of_its_own() {
    let p = pair(|b| b).await;
    let mut con = p.client.clone();
    con.set::<_, _, ()>("k", "v").await.unwrap();
    let mut pipelined = p.client.clone();
    let pipeline = tokio::spawn(async move {
        redis::pipe()
            .get("k")
            .cmd("BLPOP")
            .arg("q")
            .arg(0)
            .query_async::<(String, Option<(String, String)>)>(&mut pipelined)
            .await
    });
    until_blocked(&p.a, 1);
    // Nothing queues behind it.
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v");
    direct(&p.a)
        .await
        .lpush::<_, _, ()>("q", "x")
        .await
        .unwrap();
    let got = joined(pipeline).await.unwrap();
    assert_eq!(
        got,
        ("v".to_owned(), Some(("q".to_owned(), "x".to_owned())))
    );
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blpop_whose_database_stops_being_active_ends_with_the_typed_error() {
    let p = pair(|b| b).await;
    let blpop = spawn_blpop(&p.client, "q", 0.0);
    until_blocked(&p.a, 1);
    p.client.set_active_database(p.ids[1]).await.unwrap();
    let err = joined(blpop).await.unwrap_err();
    assert!(
        matches!(
            typed(&err),
            MultiDbError::BlockingCommandInterrupted { id, reason, .. }
                if *id == p.ids[0] && reason.contains("active")
        ),
        "{err}"
    );
    // Its connection was closed: the server no longer holds it blocked.
    until_blocked(&p.a, 0);
    p.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_command_known_not_sent_is_not_retried_on_another_database() {
    let Unreachable {
        b,
        client,
        ids,
        check,
        ..
    } = unreachable_first().await;
    let mut on_b = direct(&b).await;
    on_b.set::<_, _, ()>("keep", "1").await.unwrap();
    let mut events = client.events();
    check.armed.store(true, Ordering::SeqCst);
    let mut con = client.clone();
    // Sent to the proxied database, which fails over while it is retried: it is not sent
    // to the other one, and the application gets the original error.
    let err = redis::cmd("FLUSHALL")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(err.is_timeout() || err.is_io_error(), "{err}");
    assert!(MultiDbError::from_redis(&err).is_none(), "{err}");
    switch_to(&mut events, "the failover", ids[1]).await;
    assert_eq!(on_b.get::<_, String>("keep").await.unwrap(), "1");
    client.close().await;
}
