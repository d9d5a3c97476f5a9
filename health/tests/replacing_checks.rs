//! Replacing a target's health checks in place: from the next check on, with the same
//! watch, schedule and task.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::time::Duration;

use multidb_health::{MonitorError, ProbeConfig, TargetConfig};
use scripted::{Scripted, Step, monitor_with, on_demand_only};

#[tokio::test(start_paused = true)]
async fn set_checks_applies_from_next_check_and_running_one_keeps_old() {
    let old = Scripted::named("old", Step::pass().after(Duration::from_millis(300)));
    let new = Scripted::named("new", Step::fail("refused"));
    let config = on_demand_only()
        .on_demand(
            ProbeConfig::builder()
                .probes(1)
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        )
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&old, config);
    assert!(monitor.request_check(&"a"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(old.calls(), 1);

    monitor.set_checks(&"a", new.boxed()).unwrap();
    let names: Vec<String> = monitor
        .checks(&"a")
        .unwrap()
        .iter()
        .map(|check| check.name().to_owned())
        .collect();
    assert_eq!(names, ["new"]);

    // The running check joined here finishes with the old checks.
    assert!(monitor.check_now(&"a").await.unwrap().healthy);
    assert_eq!(new.calls(), 0);

    let next = monitor.check_now(&"a").await.unwrap();
    assert_eq!(
        next.reason.unwrap().reason(),
        "new: 1 of 1 probes failed: refused"
    );
    assert_eq!((old.calls(), new.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn set_checks_keeps_watch_schedule_and_task() {
    let old = Scripted::named("old", Step::pass());
    let new = Scripted::named("new", Step::fail("refused"));
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(1))
        .jitter(Duration::ZERO)
        .initial_delay(Some(Duration::ZERO))
        .probe(ProbeConfig::builder().probes(1).build().unwrap())
        .build()
        .unwrap();
    let monitor = monitor_with(&old, config);
    let mut watch = monitor.watch(&"a").unwrap();
    watch.changed().await.unwrap();
    let first = watch.borrow_and_update().clone().unwrap();
    assert!(first.healthy);
    assert_eq!(monitor.task_count(), 1);

    monitor.set_checks(&"a", new.boxed()).unwrap();
    watch.changed().await.unwrap();
    let second = watch.borrow_and_update().clone().unwrap();
    assert!(!second.healthy);
    assert_eq!(
        second.started_at - first.finished_at,
        Duration::from_secs(1)
    );
    assert_eq!(monitor.task_count(), 1);
    assert_eq!(monitor.targets(), ["a"]);
    assert_eq!((old.calls(), new.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn set_checks_rejects_empty_unknown_and_shut_down() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    assert_eq!(
        monitor.set_checks(&"a", Vec::new()),
        Err(MonitorError::NoChecks {
            target: "\"a\"".into()
        })
    );
    assert_eq!(monitor.checks(&"a").unwrap().len(), 1);
    assert_eq!(
        monitor.set_checks(&"b", check.boxed()),
        Err(MonitorError::UnknownTarget {
            target: "\"b\"".into()
        })
    );
    assert!(monitor.checks(&"b").is_none());
    monitor.shutdown().await;
    assert_eq!(
        monitor.set_checks(&"a", check.boxed()),
        Err(MonitorError::ShutDown)
    );
    assert!(monitor.checks(&"a").is_none());
}
