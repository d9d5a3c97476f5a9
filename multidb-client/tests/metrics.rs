//! The client's metrics (feature `metrics`), under their OpenTelemetry names and labels.
//! One recorder serves every test of this binary (a process has one); each test reads only
//! the series labelled with its own servers' ports.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::next_event;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

/// A value as gathered across snapshots.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

type Series = (CompositeKey, Value);

/// Every series recorded so far. A snapshot of the recorder drains it (counters and gauges
/// to 0, histograms emptied) and every test of this binary shares the one recorder, so each
/// snapshot is added here and tests read this instead.
fn snapshot() -> Vec<Series> {
    static RECORDER: OnceLock<(Snapshotter, Mutex<Vec<Series>>)> = OnceLock::new();
    let (snapshotter, store) = RECORDER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        (snapshotter, Mutex::new(Vec::new()))
    });
    let mut store = store.lock().unwrap();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let value = match value {
            DebugValue::Counter(n) => Value::Counter(n),
            DebugValue::Gauge(v) => Value::Gauge(v.into_inner()),
            DebugValue::Histogram(vs) => Value::Histogram(vs.into_iter().map(|v| v.0).collect()),
        };
        match (store.iter_mut().find(|(k, _)| *k == key), value) {
            (Some((_, Value::Counter(old))), Value::Counter(n)) => *old += n,
            (Some((_, Value::Gauge(old))), Value::Gauge(v)) => *old += v,
            (Some((_, Value::Histogram(old))), Value::Histogram(vs)) => old.extend(vs),
            (_, value) => store.push((key, value)),
        }
    }
    store.clone()
}

fn label(key: &CompositeKey, name: &str) -> Option<String> {
    key.key()
        .labels()
        .find(|l| l.key() == name)
        .map(|l| l.value().to_owned())
}

/// The series named `name` whose `server.port` is `port`.
fn series<'a>(all: &'a [Series], name: &str, port: u16) -> Vec<&'a Series> {
    all.iter()
        .filter(|(key, _)| {
            key.key().name() == name && label(key, "server.port") == Some(port.to_string())
        })
        .collect()
}

fn histogram_len(value: &Value) -> usize {
    match value {
        Value::Histogram(values) => values.len(),
        other => panic!("not a histogram: {other:?}"),
    }
}

/// Waits (yielding, bounded by [`common::GUARD`]) until a series named `name` for `port`
/// exists, and returns every series then.
async fn until_series(name: &str, port: u16) -> Vec<Series> {
    let wait = async {
        loop {
            let all = snapshot();
            if !series(&all, name, port).is_empty() {
                return all;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(common::GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} series for port {port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_connections_are_measured_with_their_labels() {
    // First: handles registered before the recorder is installed record nothing.
    let _ = snapshot();
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .operation_duration_metric(true)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let mut con = client.clone();
    for i in 0..10 {
        let () = con.set("k", i).await.unwrap();
    }
    // An error reply reaches the application: counted, categorized.
    let err = redis::cmd("NOSUCHCOMMAND")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(err.code().is_some(), "{err}");
    // The server drops the connection: counted closed by the server, made again.
    a.drop_connections();
    let () = con.set("k", 11).await.unwrap();

    let all = until_series("redis.client.connection.closed", a.addr().port()).await;
    let durations = series(&all, "db.client.operation.duration", a.addr().port());
    let ok: Vec<_> = durations
        .iter()
        .filter(|(k, _)| label(k, "multidb.outcome").as_deref() == Some("ok"))
        .collect();
    assert!(!ok.is_empty(), "{durations:?}");
    let (key, value) = *ok[0];
    assert!(histogram_len(value) >= 10, "{value:?}");
    assert_eq!(label(key, "db.system.name").as_deref(), Some("redis"));
    assert_eq!(label(key, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(label(key, "db.namespace").as_deref(), Some("0"));
    assert_eq!(label(key, "multidb.database.id").as_deref(), Some("1"));
    assert_eq!(
        label(key, "redis.client.operation.retry_attempts").as_deref(),
        Some("0")
    );
    assert!(
        durations
            .iter()
            .any(|(k, _)| label(k, "multidb.outcome").as_deref() == Some("error")),
        "the error reply is timed as an error: {durations:?}"
    );
    let errors = series(&all, "redis.client.errors", a.addr().port());
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (key, value) = errors[0];
    assert_eq!(*value, Value::Counter(1));
    assert_eq!(
        label(key, "redis.client.errors.category").as_deref(),
        Some("server")
    );
    assert_eq!(label(key, "error.type").as_deref(), Some("ERR"));

    let created = series(&all, "db.client.connection.create_time", a.addr().port());
    assert!(
        !created.is_empty() && histogram_len(&created[0].1) >= 1,
        "{created:?}"
    );
    let closed = series(&all, "redis.client.connection.closed", a.addr().port());
    assert!(
        closed.iter().any(|(k, _)| {
            label(k, "redis.client.connection.close.reason").as_deref() == Some("server")
        }),
        "{closed:?}"
    );
    let count = series(&all, "db.client.connection.count", a.addr().port());
    assert_eq!(count.len(), 1, "{count:?}");
    assert_eq!(count[0].0.kind(), MetricKind::Gauge);
    assert!(
        matches!(count[0].1, Value::Gauge(v) if v >= 1.0),
        "{count:?}"
    );
    assert!(
        series(&all, "db.client.operation.duration", b.addr().port())
            .iter()
            .all(|(_, v)| histogram_len(v) == 0),
        "nothing was sent to the standby"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_duration_knob_commands_are_not_timed_but_errors_are_counted() {
    // First: handles registered before the recorder is installed record nothing.
    let _ = snapshot();
    let a = FakeRedis::start().await.unwrap();
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", 1).await.unwrap();
    let _ = redis::cmd("NOSUCHCOMMAND")
        .query_async::<()>(&mut con)
        .await;
    let all = snapshot();
    assert!(
        series(&all, "db.client.operation.duration", a.addr().port()).is_empty(),
        "timed without the knob"
    );
    let errors = series(&all, "redis.client.errors", a.addr().port());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1, Value::Counter(1));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_attempt_past_its_timeout_is_counted() {
    // First: handles registered before the recorder is installed record nothing.
    let _ = snapshot();
    let healthy = FakeRedis::start().await.unwrap();
    let silent = FakeRedis::start().await.unwrap();
    silent.inject(Fault::Blackhole);
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&healthy.url()).unwrap())
        .database(
            DatabaseConfig::from_url(&silent.url())
                .unwrap()
                .weight(0.5)
                .connection_timeout(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let all = until_series("db.client.connection.timeouts", silent.addr().port()).await;
    let timeouts = series(&all, "db.client.connection.timeouts", silent.addr().port());
    assert!(
        matches!(timeouts[0].1, Value::Counter(n) if n >= 1),
        "{timeouts:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_counts_once_with_redis_pys_attributes_and_the_initial_choice_does_not() {
    // First: handles registered before the recorder is installed record nothing.
    let _ = snapshot();
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let mut events = client.events();
    a.inject(Fault::Down);
    a.drop_connections();
    let mut con = client.clone();
    let _ = redis::cmd("PING").query_async::<()>(&mut con).await;
    next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;

    let counted: Vec<_> = snapshot()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == "redis.client.geofailover.failovers"
                && label(key, "db.client.geofailover.fail_from") == Some(format!("{}/1", a.addr()))
        })
        .collect();
    // One failover, from a to b, automatic; the initial choice is not a failover.
    assert_eq!(counted.len(), 1, "{counted:?}");
    let (key, value) = &counted[0];
    assert_eq!(*value, Value::Counter(1));
    let a_label = format!("{}/1", a.addr());
    let b_label = format!("{}/0.5", b.addr());
    assert_eq!(label(key, "db.client.geofailover.fail_from"), Some(a_label));
    assert_eq!(label(key, "db.client.geofailover.fail_to"), Some(b_label));
    assert_eq!(
        label(key, "db.client.geofailover.reason").as_deref(),
        Some("automatic")
    );

    // Back by hand: a manual failover, from b to a.
    a.recover();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    client.set_active_database(ids[0]).await.unwrap();
    let manual: Vec<_> = snapshot()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == "redis.client.geofailover.failovers"
                && label(key, "db.client.geofailover.reason").as_deref() == Some("manual")
        })
        .collect();
    assert_eq!(manual.len(), 1, "{manual:?}");
    let (key, value) = &manual[0];
    assert_eq!(*value, Value::Counter(1));
    assert_eq!(
        label(key, "db.client.geofailover.fail_from"),
        Some(format!("{}/0.5", b.addr()))
    );
    client.close().await;
}

/// A pool member's checkout is the wait for a connection, per command.
#[cfg(feature = "deadpool")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_checkout_is_measured_as_connection_wait_time() {
    // First: handles registered before the recorder is installed record nothing.
    let _ = snapshot();
    let a = FakeRedis::start().await.unwrap();
    let pool = deadpool_redis::Config::from_url(a.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_pool(pool))
            .build()
            .unwrap(),
    );
    client.initialize().await.unwrap();
    let pool_name = client.databases()[0].endpoint.to_string();
    let mut con = client.clone();
    for i in 0..5 {
        let () = con.set("k", i).await.unwrap();
    }
    let waits = || {
        snapshot()
            .iter()
            .filter(|(key, _)| {
                key.key().name() == "db.client.connection.wait_time"
                    && label(key, "server.address") == Some(pool_name.clone())
            })
            .map(|(_, v)| histogram_len(v))
            .sum::<usize>()
    };
    // Recorded before each command returns: no wait needed.
    let waits = waits();
    assert_eq!(waits, 5, "one checkout timed per command");
    client.close().await;
}
