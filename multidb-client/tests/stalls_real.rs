//! Stalls and transient trouble on real `redis-server` processes, with default settings: a
//! stopped server is failed over by the stall watchdog with no error surfaced; trouble
//! shorter than the tolerance — a server busy for 100 ms, every client connection killed, a
//! 60 ms latency spike — and a blocking command past it switch nothing and surface no
//! error. (The failover bench's transient suite runs the longer cases, up to 200 ms, on a
//! machine it has to itself: here tests run side by side and a starved process may see
//! any pause longer.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{GUARD, next_event};
use multidb_client::{Event, MultiDbClient, SwitchReason};
use multidb_testkit::{FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;

/// What a load task reports for a write it did not read back.
const NOT_FOUND: &str = "not found";

/// `tasks` tasks of SET + GET until `stop`; the round trips that read their write, and the
/// errors they met.
fn load(
    client: &MultiDbClient,
    tasks: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(usize, Vec<String>)>> {
    (0..tasks)
        .map(|t| {
            let mut con = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut ok, mut errors) = (0, Vec::new());
                let mut i = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{t}:{i}");
                    let done: redis::RedisResult<Option<u64>> = async {
                        con.set::<_, _, ()>(&key, i).await?;
                        con.get(&key).await
                    }
                    .await;
                    match done {
                        Ok(Some(v)) if v == i => ok += 1,
                        // Written on a database failed over from (these servers do not
                        // replicate), or lost.
                        Ok(None) => errors.push(format!("{key}: {NOT_FOUND}")),
                        Ok(Some(v)) => errors.push(format!("{key}: read {v}")),
                        Err(e) => errors.push(format!("{key}: {e}")),
                    }
                    i += 1;
                }
                (ok, errors)
            })
        })
        .collect()
}

async fn finish(
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<(usize, Vec<String>)>>,
) -> (usize, Vec<String>) {
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors) = (0, Vec::new());
    for task in tasks {
        let (o, e) = tokio::time::timeout(GUARD, task).await.unwrap().unwrap();
        ok += o;
        errors.extend(e);
    }
    (ok, errors)
}

/// Waits until the load has made `n` more round trips through the client (it is running).
async fn progress(client: &MultiDbClient, n: usize) {
    let mut con = client.clone();
    for _ in 0..n {
        let _: Option<String> = tokio::time::timeout(GUARD, con.get("progress"))
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_under_load_is_failed_over_by_the_watchdog_with_no_errors() {
    let primary = RedisServer::start().unwrap();
    let secondary = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([primary.url(), secondary.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&client, 16, &stop);
    progress(&client, 50).await;

    primary.pause().unwrap();
    let stalled = next_event(&mut events, "a stall", |e| {
        matches!(
            e,
            Event::Stalled { .. } | Event::ActiveDatabaseChanged { .. }
        )
    })
    .await;
    assert!(
        matches!(stalled, Event::Stalled { database, .. } if database == ids[0]),
        "{stalled:?}"
    );
    let switch = next_event(&mut events, "the failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        switch,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::CircuitOpened
        }
    );
    progress(&client, 50).await;
    let (ok, errors) = finish(&stop, tasks).await;
    // Writes acknowledged by the stopped server are not on the other one: no replication.
    let errors: Vec<_> = errors
        .into_iter()
        .filter(|e| !e.ends_with(NOT_FOUND))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
    assert!(ok > 0);
    primary.resume().unwrap();
    client.close().await;
}

/// Runs `trouble` while 4 tasks of load run on the client over `proxy`'s server; returns
/// the errors they met and the switches and stalls the client announced.
async fn under_load<F: std::future::Future<Output = ()>>(
    client: &MultiDbClient,
    trouble: F,
) -> (Vec<String>, Vec<Event>) {
    let mut events = client.events();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(client, 4, &stop);
    progress(client, 20).await;
    trouble.await;
    progress(client, 20).await;
    let (_, errors) = finish(&stop, tasks).await;
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if matches!(
            e,
            Event::ActiveDatabaseChanged { .. }
                | Event::Stalled { .. }
                | Event::AllDatabasesUnhealthy
        ) {
            seen.push(e);
        }
    }
    (errors, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_trouble_shorter_than_the_tolerance_switches_nothing() {
    let primary = RedisServer::builder()
        .arg("enable-debug-command", "yes")
        .start()
        .unwrap();
    let secondary = RedisServer::start().unwrap();
    let proxy = FaultProxy::start(primary.addr()).await.unwrap();
    let client = MultiDbClient::from_urls([proxy.url(), secondary.url()], [1.0, 0.5]).unwrap();
    client.initialize().await.unwrap();
    let admin = redis::Client::open(primary.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();

    let (errors, events) = under_load(&client, async {
        let () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("0.1")
            .query_async(&mut admin)
            .await
            .unwrap();
    })
    .await;
    assert_eq!((errors, events), (vec![], vec![]), "DEBUG SLEEP 0.1");

    let (errors, events) = under_load(&client, async {
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(killed > 0);
    })
    .await;
    assert_eq!(
        (errors, events),
        (vec![], vec![]),
        "CLIENT KILL TYPE normal"
    );

    let (errors, events) = under_load(&client, async {
        let busy = "local t0 = redis.call('TIME') \
                    local start = t0[1] * 1000000 + t0[2] \
                    while true do \
                      local t = redis.call('TIME') \
                      if t[1] * 1000000 + t[2] - start > 100000 then return 1 end \
                    end";
        let () = redis::cmd("EVAL")
            .arg(busy)
            .arg(0)
            .query_async(&mut admin)
            .await
            .map(|_: i64| ())
            .unwrap();
    })
    .await;
    assert_eq!((errors, events), (vec![], vec![]), "100 ms Lua busy loop");

    let (errors, events) = under_load(&client, async {
        proxy.inject(ProxyFault::Latency {
            fixed: Duration::from_millis(60),
            jitter: Duration::ZERO,
        });
        progress(&client, 5).await;
        proxy.recover();
    })
    .await;
    assert_eq!((errors, events), (vec![], vec![]), "60 ms latency spike");

    let (errors, events) = under_load(&client, async {
        let mut con = client.clone();
        let got: Option<(String, String)> = con.blpop("q", 3.0).await.unwrap();
        assert_eq!(got, None);
    })
    .await;
    assert_eq!((errors, events), (vec![], vec![]), "BLPOP q 3");
    client.close().await;
    proxy.shutdown().await;
}
