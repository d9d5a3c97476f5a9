//! On-demand checks: rate limit, joining a check in flight, reusing a recent result.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::time::Duration;

use multidb_health::{MonitorError, ProbeConfig};
use scripted::{Scripted, Step, monitor_with, on_demand_only};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn hundred_request_checks_start_one_probe() {
    let check = Scripted::always(Step::fail("refused"));
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    let mut events = monitor.subscribe();

    let started = (0..100).filter(|_| monitor.request_check(&"a")).count();
    assert_eq!(started, 1);
    events.recv().await.unwrap();
    assert_eq!(check.calls(), 1);

    // The check is over, but the 100 ms rate limit still holds.
    let started = (0..100).filter(|_| monitor.request_check(&"a")).count();
    assert_eq!(started, 0);
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(monitor.request_check(&"a"));
    events.recv().await.unwrap();
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failure_right_after_check_now_is_probed_at_once() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    let mut events = monitor.subscribe();
    monitor.check_now(&"a").await.unwrap();
    events.recv().await.unwrap();
    // check_now spent no rate-limit permit: the requested probe starts without waiting.
    assert!(monitor.request_check(&"a"));
    events.recv().await.unwrap();
    assert_eq!(check.calls(), 2);
    // ...and the rate limit holds for the requests after it.
    assert!(!monitor.request_check(&"a"));
}

#[tokio::test(start_paused = true)]
async fn failure_storm_costs_one_probe_per_min_probe_interval() {
    let check = Scripted::always(Step::fail("refused"));
    let config = on_demand_only()
        .min_probe_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    // A request every 10 ms for one second.
    for _ in 0..100 {
        monitor.request_check(&"a");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(check.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn check_now_joins_check_in_flight() {
    let check = Scripted::always(Step::pass().after(Duration::from_millis(300)));
    let config = on_demand_only()
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let requested_at = Instant::now();
    assert!(monitor.request_check(&"a"));
    assert!(!monitor.request_check(&"a"));
    let (first, second) = tokio::join!(monitor.check_now(&"a"), monitor.check_now(&"a"));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first, second);
    assert_eq!(first.started_at, requested_at);
    assert_eq!(check.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn check_now_reuses_result_younger_than_min_probe_interval() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    let first = monitor.check_now(&"a").await.unwrap();
    tokio::time::advance(Duration::from_millis(99)).await;
    assert_eq!(monitor.check_now(&"a").await.unwrap(), first);
    assert_eq!(check.calls(), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    let fresh = monitor.check_now(&"a").await.unwrap();
    assert!(fresh.started_at > first.started_at);
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn on_demand_checks_use_on_demand_config() {
    let check = Scripted::always(Step::pass());
    let config = on_demand_only()
        .on_demand(ProbeConfig::builder().probes(2).build().unwrap())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    monitor.check_now(&"a").await.unwrap();
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn check_now_of_unknown_target_fails() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    assert_eq!(
        monitor.check_now(&"b").await,
        Err(MonitorError::UnknownTarget {
            target: "\"b\"".into()
        })
    );
    assert!(!monitor.request_check(&"b"));
}

#[tokio::test(start_paused = true)]
async fn check_now_fails_when_target_removed_while_waiting() {
    let check = Scripted::always(Step::pass().after(Duration::from_secs(10)));
    let config = on_demand_only()
        .on_demand(
            ProbeConfig::builder()
                .probes(1)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let asker = monitor.clone();
    let waiting = tokio::spawn(async move { asker.check_now(&"a").await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(check.calls(), 1);
    assert!(monitor.remove_target(&"a"));
    assert!(matches!(
        waiting.await.unwrap(),
        Err(MonitorError::UnknownTarget { .. })
    ));
}
