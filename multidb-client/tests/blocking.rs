//! The blocking client against real `redis-server` processes, from plain threads.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use multidb_client::blocking::MultiDbClient;
use multidb_client::{DatabaseConfig, Event, MultiDbConfig, MultiDbError, SwitchReason};
use multidb_testkit::RedisServer;
use redis::{Commands, ConnectionLike as _};
use tokio::sync::broadcast;

fn dbsize(server: &RedisServer) -> usize {
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("DBSIZE").query(&mut con).unwrap()
}

/// Awaits an event from a plain thread (with the shared guard timeout).
fn wait_for(
    events: &mut broadcast::Receiver<Event>,
    what: &str,
    pred: impl FnMut(&Event) -> bool,
) -> Event {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(common::next_event(events, what, pred))
}

fn two_servers() -> (RedisServer, RedisServer, MultiDbClient) {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
    client.initialize().unwrap();
    (a, b, client)
}

#[test]
fn is_clone_send_sync() {
    fn assert<T: Clone + Send + Sync + 'static>() {}
    assert::<MultiDbClient>();
}

#[test]
fn killing_the_active_server_under_threaded_load_moves_traffic_with_no_errors() {
    const THREADS: usize = 16;
    const PER_THREAD: usize = 400;
    let (mut primary, secondary, client) = two_servers();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    assert_eq!(client.active_database(), Some(ids[0]));
    let mut events = client.events();

    let (started_tx, started_rx) = mpsc::channel();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let mut con = client.clone();
            let started = (t == 0).then(|| started_tx.clone());
            thread::spawn(move || {
                let (mut ok, mut lost_writes, mut errors) = (0, 0, Vec::new());
                for i in 0..PER_THREAD {
                    let key = format!("load:{t}:{i}");
                    let got: redis::RedisResult<Option<usize>> =
                        con.set::<_, _, ()>(&key, i).and_then(|()| con.get(&key));
                    match got {
                        Ok(Some(v)) if v == i => ok += 1,
                        // Written to the server that then died; read from the next one.
                        Ok(_) => lost_writes += 1,
                        Err(e) => errors.push(format!("{key}: {e}")),
                    }
                    if i == 49
                        && let Some(started) = &started
                    {
                        started.send(()).unwrap();
                    }
                }
                (ok, lost_writes, errors)
            })
        })
        .collect();
    started_rx.recv_timeout(common::GUARD).unwrap();
    primary.kill();

    let switch = wait_for(&mut events, "a failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    });
    let Event::ActiveDatabaseChanged { from, to, reason } = switch else {
        unreachable!()
    };
    assert_eq!((from, to), (Some(ids[0]), ids[1]));
    assert!(
        matches!(
            reason,
            SwitchReason::CircuitOpened | SwitchReason::HealthCheckFailed
        ),
        "{reason:?}"
    );
    let (mut ok, mut lost_writes, mut errors) = (0, 0, Vec::new());
    for w in workers {
        let (o, l, e) = w.join().unwrap();
        ok += o;
        lost_writes += l;
        errors.extend(e);
    }
    assert!(
        errors.is_empty(),
        "errors reached the application: {errors:?}"
    );
    assert_eq!(ok + lost_writes, THREADS * PER_THREAD);
    assert!(dbsize(&secondary) > 0, "no write landed on the secondary");
    client.close().unwrap();
}

#[test]
fn management_calls_work_and_commands_follow_them() {
    let (a, b, client) = two_servers();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    let mut con = client.clone();

    client.set_active_database(ids[1]).unwrap();
    assert_eq!(client.active_database(), Some(ids[1]));
    let e = wait_for(&mut events, "manual switch", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    });
    assert_eq!(
        e,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::Manual
        }
    );
    let () = con.set("on", "b").unwrap();
    assert_eq!((dbsize(&a), dbsize(&b)), (0, 1));

    client
        .force_active_database(ids[0], Duration::from_secs(60))
        .unwrap();
    let () = con.set("on", "a").unwrap();
    assert_eq!(dbsize(&a), 1);

    client.update_database_weight(ids[1], 2.0).unwrap();
    assert!(
        client
            .databases()
            .iter()
            .any(|d| d.id == ids[1] && (d.weight - 2.0).abs() < f64::EPSILON)
    );
    assert!(matches!(
        client.update_database_weight(ids[1], f64::NAN),
        Err(MultiDbError::Config(_))
    ));

    let c = RedisServer::start().unwrap();
    let added = client
        .add_database(DatabaseConfig::from_url(&c.url()).unwrap().weight(0.1))
        .unwrap();
    assert_eq!(client.databases().len(), 3);
    wait_for(&mut events, "database added", |e| {
        *e == Event::DatabaseAdded { database: added }
    });
    client.remove_database(added).unwrap();
    assert_eq!(client.databases().len(), 2);
    assert!(matches!(
        client.remove_database(added),
        Err(MultiDbError::UnknownDatabase { id }) if id == added
    ));
    client.close().unwrap();
}

#[test]
fn pipelines_atomic_pipelines_and_raw_packed_requests_work() {
    let (_a, _b, client) = two_servers();
    let mut con = client.clone();

    let (x, y): (i64, i64) = redis::pipe()
        .set("x", 1)
        .ignore()
        .incr("x", 1)
        .incr("y", 5)
        .query(&mut con)
        .unwrap();
    assert_eq!((x, y), (2, 5));
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .incr("x", 1)
        .incr("y", 1)
        .query(&mut con)
        .unwrap();
    assert_eq!((x, y), (3, 6));

    // Bytes as a caller of the raw trait methods would pass them.
    let ping = redis::cmd("PING").get_packed_command();
    assert_eq!(
        con.req_packed_command(&ping).unwrap(),
        redis::Value::SimpleString("PONG".into())
    );
    let mut tx = redis::pipe();
    tx.atomic().incr("x", 10);
    let packed = tx.get_packed_pipeline();
    let all = con.req_packed_commands(&packed, 0, 3).unwrap();
    assert_eq!(
        all,
        [
            redis::Value::Okay,
            redis::Value::SimpleString("QUEUED".into()),
            redis::Value::Array(vec![redis::Value::Int(13)]),
        ]
    );
    let err = con.req_packed_command(b"PING\r\n").unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::Client);
    assert!(con.check_connection());
    assert_eq!(con.get_db(), 0);

    // Server errors are answers, passed through as such.
    let err = con.lpush::<_, _, i64>("x", 1).unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    client.close().unwrap();
}

#[test]
fn close_fails_every_clone_and_is_idempotent() {
    let (_a, _b, client) = two_servers();
    let id = client.active_database().unwrap();
    let mut clone = client.clone();
    assert!(clone.is_open());
    client.close().unwrap();
    client.close().unwrap();
    assert!(!clone.is_open());
    let err = clone.get::<_, Option<String>>("k").unwrap_err();
    assert!(
        matches!(MultiDbError::from_redis(&err), Some(MultiDbError::Closed)),
        "{err}"
    );
    assert!(matches!(clone.initialize(), Err(MultiDbError::Closed)));
    assert!(matches!(
        clone.set_active_database(id),
        Err(MultiDbError::Closed)
    ));
}

#[test]
fn runs_on_a_callers_runtime_and_leaves_it_running_after_close() {
    let a = RedisServer::start().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .build()
        .unwrap();
    let mut client = MultiDbClient::with_handle(config, runtime.handle().clone());
    let () = client.set("k", "v").unwrap();
    assert_eq!(client.get::<_, String>("k").unwrap(), "v");
    client.close().unwrap();
    assert_eq!(
        runtime
            .block_on(async { tokio::spawn(async { 7 }).await })
            .unwrap(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_async_code_fail_instead_of_blocking_the_runtime() {
    let a = RedisServer::start().unwrap();
    let mut client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    assert!(matches!(
        client.initialize(),
        Err(MultiDbError::BlockingInAsyncContext {
            method: "initialize"
        })
    ));
    let err = client.set::<_, _, ()>("k", "v").unwrap_err();
    assert!(
        matches!(
            MultiDbError::from_redis(&err),
            Some(MultiDbError::BlockingInAsyncContext { .. })
        ),
        "{err}"
    );
    assert!(matches!(
        client.close(),
        Err(MultiDbError::BlockingInAsyncContext { .. })
    ));
    // The same client works from a thread outside any runtime; dropping the last clone
    // there closes it and shuts its runtime down.
    let worker = std::thread::spawn(move || {
        let () = client.set("k", "v").unwrap();
        client.get::<_, String>("k").unwrap()
    });
    let got = tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
    assert_eq!(got, "v");
}

#[test]
fn a_blpop_longer_than_the_response_timeout_waits_on_a_connection_of_its_own() {
    let (a, _b, client) = two_servers();
    let mut con = client.clone();
    // Twice the default 500 ms response timeout; nothing arrives: the server's nil.
    let none: Option<(String, String)> = con.blpop("empty", 1.0).unwrap();
    assert_eq!(none, None);
    // An element pushed while it waits is delivered.
    let waiter = {
        let mut con = client.clone();
        thread::spawn(move || con.blpop::<_, Option<(String, String)>>("q", 0.0))
    };
    a.wait_for_blocked_clients(1).unwrap();
    let mut direct = redis::Client::open(a.url())
        .unwrap()
        .get_connection()
        .unwrap();
    direct.lpush::<_, _, ()>("q", "x").unwrap();
    let got = waiter.join().unwrap().unwrap();
    assert_eq!(got, Some(("q".to_owned(), "x".to_owned())));
    client.close().unwrap();
}

#[test]
fn a_current_thread_runtime_nothing_drives_is_refused_and_a_driven_one_works() {
    let a = RedisServer::start().unwrap();
    let config = || {
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_url(&a.url()).unwrap())
            .build()
            .unwrap()
    };
    let runtime = std::sync::Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    // Nobody is inside its block_on: the client's tasks would never run.
    let client = MultiDbClient::with_handle(config(), runtime.handle().clone());
    assert!(
        matches!(
            client.initialize(),
            Err(MultiDbError::RuntimeNotDriven {
                method: "initialize"
            })
        ),
        "a call on an undriven runtime must fail, not hang"
    );
    // Driven by a thread of its own, the same runtime serves.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = {
        let runtime = runtime.clone();
        thread::spawn(move || runtime.block_on(async { stopped.await.ok() }))
    };
    let mut client = MultiDbClient::with_handle(config(), runtime.handle().clone());
    client.initialize().unwrap();
    let () = client.set("k", "v").unwrap();
    assert_eq!(client.get::<_, String>("k").unwrap(), "v");
    client.close().unwrap();
    stop.send(()).unwrap();
    driver.join().unwrap();
}

/// Answers `PING` and leaves every other command unanswered for ever: a connection the
/// client cannot time out (an application's own).
#[derive(Clone)]
struct Mute(mpsc::Sender<()>);

impl redis::aio::ConnectionLike for Mute {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        let ping = cmd
            .args_iter()
            .next()
            .is_some_and(|a| matches!(a, redis::Arg::Simple(b"PING")));
        if !ping {
            let _ = self.0.send(());
        }
        Box::pin(async move {
            if ping {
                Ok(redis::Value::SimpleString("PONG".into()))
            } else {
                std::future::pending().await
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        _pipeline: &'a redis::Pipeline,
        _offset: usize,
        _count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(std::future::pending())
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[test]
fn close_does_not_wait_for_a_call_that_never_ends() {
    let (sent, sent_rx) = mpsc::channel();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_connection(Mute(sent)))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config).unwrap();
    client.initialize().unwrap();
    let stuck = {
        let mut con = client.clone();
        thread::spawn(move || con.get::<_, Option<String>>("k"))
    };
    // The GET reached the connection, and waits there.
    sent_rx.recv_timeout(common::GUARD).unwrap();
    let (closed, closed_rx) = mpsc::channel();
    let closer = {
        let client = client.clone();
        thread::spawn(move || closed.send(client.close()).unwrap())
    };
    let result = closed_rx
        .recv_timeout(common::GUARD)
        .expect("close() waited for the call in flight");
    result.unwrap();
    closer.join().unwrap();
    drop(stuck); // still blocked on the application's connection: not ours to end
}

/// A synchronous application gets its failovers through a listener, no receiver to drive.
#[test]
fn a_listener_of_the_blocking_client_hears_its_failover() {
    let mut a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let (tx, heard) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .on_event(move |event| {
            if let Event::ActiveDatabaseChanged { to, reason, .. } = event {
                let _ = tx.lock().unwrap().send((*to, *reason));
            }
        })
        .build()
        .unwrap();
    let client = MultiDbClient::new(config).unwrap();
    client.initialize().unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let next = || heard.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(next(), (ids[0], SwitchReason::Initial));
    a.kill();
    let mut con = client.clone();
    let _ = con.set::<_, _, ()>("k", "v");
    let (to, _) = next();
    assert_eq!(to, ids[1]);
    client.close().unwrap();
}
