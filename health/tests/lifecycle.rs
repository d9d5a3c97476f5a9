//! Targets come and go at run time, and no task outlives its target or the monitor.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::sync::Arc;
use std::time::Duration;

use multidb_health::{HealthCheck, HealthMonitor, MonitorError, ProbeConfig, TargetConfig};
use scripted::{Scripted, Step, on_demand_only};

fn busy() -> TargetConfig {
    TargetConfig::builder()
        .interval(Duration::from_millis(100))
        .initial_delay(Some(Duration::ZERO))
        .probe(ProbeConfig::builder().probes(1).build().expect("valid"))
        .build()
        .expect("valid")
}

#[test]
fn monitor_is_send_sync_and_clone() {
    fn assert_traits<M: Send + Sync + Clone + Default + 'static>() {}
    assert_traits::<HealthMonitor<String, ()>>();
    assert_traits::<HealthMonitor<u32, dyn std::any::Any + Send + Sync>>();
}

#[test]
fn add_target_outside_runtime_fails_with_no_runtime() {
    let monitor: HealthMonitor<&str, ()> = HealthMonitor::new();
    let check = Scripted::always(Step::pass());
    assert_eq!(
        monitor.add_target("a", Arc::new(()), check.boxed(), TargetConfig::default()),
        Err(MonitorError::NoRuntime)
    );
    assert!(monitor.targets().is_empty());
}

#[tokio::test(start_paused = true)]
async fn targets_are_added_and_removed_at_run_time() {
    let monitor = HealthMonitor::new();
    let a = Scripted::always(Step::pass());
    let b = Scripted::always(Step::pass());
    monitor
        .add_target("a", Arc::new(()), a.boxed(), busy())
        .unwrap();
    assert_eq!(monitor.targets(), ["a"]);
    let mut events = monitor.subscribe();
    assert_eq!(events.recv().await.unwrap().target, "a");

    monitor
        .add_target("b", Arc::new(()), b.boxed(), busy())
        .unwrap();
    let mut targets = monitor.targets();
    targets.sort_unstable();
    assert_eq!(targets, ["a", "b"]);
    assert_eq!(monitor.task_count(), 2);
    assert!(monitor.check_now(&"b").await.unwrap().healthy);

    assert_eq!(
        monitor.add_target("a", Arc::new(()), a.boxed(), busy()),
        Err(MonitorError::DuplicateTarget {
            target: "\"a\"".into()
        })
    );
    assert_eq!(
        monitor.add_target("c", Arc::new(()), Vec::new(), busy()),
        Err(MonitorError::NoChecks {
            target: "\"c\"".into()
        })
    );

    let mut watch_a = monitor.watch(&"a").unwrap();
    assert!(monitor.remove_target(&"a"));
    assert!(!monitor.remove_target(&"a"));
    assert_eq!(monitor.targets(), ["b"]);
    assert_eq!(monitor.status(&"a"), None);
    assert!(monitor.watch(&"a").is_none());
    // The watch closes when the removed target's task has dropped its state.
    while watch_a.changed().await.is_ok() {}
    assert_eq!(monitor.task_count(), 1);
    let calls = a.calls();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(a.calls(), calls);
    assert!(b.calls() > 10);

    // The key is free again.
    monitor
        .add_target("a", Arc::new(()), a.boxed(), busy())
        .unwrap();
    assert_eq!(monitor.task_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_every_task_and_rejects_new_work() {
    let monitor = HealthMonitor::new();
    let checks: Vec<Arc<Scripted>> = (0..3).map(|_| Scripted::always(Step::pass())).collect();
    for (key, check) in ["a", "b", "c"].into_iter().zip(&checks) {
        monitor
            .add_target(key, Arc::new(()), check.boxed(), busy())
            .unwrap();
    }
    // A removed target's task must be stopped by shutdown too.
    assert!(monitor.remove_target(&"c"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(checks[0].calls() > 5);

    monitor.shutdown().await;
    assert_eq!(monitor.task_count(), 0);
    let calls: Vec<u32> = checks.iter().map(|c| c.calls()).collect();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(checks.iter().map(|c| c.calls()).collect::<Vec<_>>(), calls);

    assert_eq!(
        monitor.add_target("d", Arc::new(()), checks[0].boxed(), busy()),
        Err(MonitorError::ShutDown)
    );
    assert_eq!(monitor.check_now(&"a").await, Err(MonitorError::ShutDown));
    assert!(!monitor.request_check(&"a"));
    assert!(monitor.targets().is_empty());
    monitor.shutdown().await;
    assert_eq!(monitor.task_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_check_now_in_flight() {
    let check = Scripted::always(Step::pass().after(Duration::from_millis(400)));
    let monitor = HealthMonitor::new();
    monitor
        .add_target(
            "a",
            Arc::new(()),
            check.boxed(),
            on_demand_only().build().unwrap(),
        )
        .unwrap();
    let asker = monitor.clone();
    let waiting = tokio::spawn(async move { asker.check_now(&"a").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    monitor.shutdown().await;
    assert_eq!(waiting.await.unwrap(), Err(MonitorError::ShutDown));
}

#[tokio::test(start_paused = true)]
async fn dropping_last_handle_stops_tasks() {
    let check = Scripted::always(Step::pass());
    let subject = Arc::new(());
    let monitor = HealthMonitor::new();
    let checks: Vec<Arc<dyn HealthCheck<()>>> = check.boxed();
    monitor
        .add_target("a", Arc::clone(&subject), checks, busy())
        .unwrap();
    let mut watch = monitor.watch(&"a").unwrap();
    let clone = monitor.clone();
    drop(monitor);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(check.calls() > 5, "a live clone keeps the target checked");

    drop(clone);
    while watch.changed().await.is_ok() {}
    assert_eq!(Arc::strong_count(&subject), 1);
    let calls = check.calls();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(check.calls(), calls);
}

#[tokio::test(start_paused = true)]
async fn huge_durations_do_not_panic() {
    let check = Scripted::always(Step::pass());
    let huge = ProbeConfig::builder()
        .probes(2)
        .probe_delay(Duration::ZERO)
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    let config = TargetConfig::builder()
        .interval(Duration::MAX)
        .jitter(Duration::from_secs(u64::MAX / 2))
        .probe(huge.clone())
        .on_demand(huge)
        .min_probe_interval(Duration::MAX)
        .build()
        .unwrap();
    let monitor = HealthMonitor::new();
    monitor
        .add_target("a", Arc::new(()), check.boxed(), config)
        .unwrap();
    let mut events = monitor.subscribe();
    assert!(monitor.check_now(&"a").await.unwrap().healthy);
    events.recv().await.unwrap();
    // check_now spends no rate-limit permit; the one request it allows spends the only one.
    assert!(monitor.request_check(&"a"));
    events.recv().await.unwrap();
    assert!(!monitor.request_check(&"a"));
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(check.calls(), 4);
    monitor.shutdown().await;
}

/// Remembers which targets it was told were removed; panics when told about `"boom"`.
#[derive(Default)]
struct Forgetful {
    removed: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl HealthCheck<String> for Forgetful {
    async fn check(&self, _target: &String) -> Result<(), multidb_health::Unhealthy> {
        Ok(())
    }

    fn removed(&self, target: &String) {
        assert!(target != "boom", "forgetting boom");
        self.removed
            .lock()
            .expect("not poisoned")
            .push(target.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn each_check_of_a_removed_target_is_told_once_and_a_panic_there_is_contained() {
    let monitor = HealthMonitor::new();
    let check = Arc::new(Forgetful::default());
    for key in ["a", "boom", "b"] {
        monitor
            .add_target(
                key,
                Arc::new(key.to_owned()),
                vec![check.clone() as Arc<dyn HealthCheck<String>>],
                on_demand_only().build().unwrap(),
            )
            .unwrap();
    }
    assert!(monitor.remove_target(&"a"));
    assert!(monitor.remove_target(&"boom"));
    assert!(!monitor.remove_target(&"a"));
    assert_eq!(*check.removed.lock().expect("not poisoned"), ["a"]);
    // The monitor goes on after the panic.
    assert!(monitor.check_now(&"b").await.unwrap().healthy);
    assert!(monitor.remove_target(&"b"));
    assert_eq!(*check.removed.lock().expect("not poisoned"), ["a", "b"]);
}
