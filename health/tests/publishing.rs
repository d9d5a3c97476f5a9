//! What a check reports and how results reach the owner: policies, timeout, panics,
//! watch and broadcast, the `changed` flag.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::sync::Arc;
use std::time::Duration;

use multidb_health::{HealthCheck, HealthMonitor, ProbeConfig, ProbePolicy, TargetConfig};
use scripted::{Scripted, Step, monitor_with, on_demand_only};

fn probing(policy: ProbePolicy) -> TargetConfig {
    on_demand_only()
        .on_demand(
            ProbeConfig::builder()
                .probes(3)
                .probe_delay(Duration::from_millis(100))
                .timeout(Duration::from_secs(5))
                .policy(policy)
                .build()
                .expect("valid"),
        )
        .build()
        .expect("valid")
}

#[tokio::test(start_paused = true)]
async fn all_policy_fails_at_first_failed_probe() {
    let check = Scripted::new([Step::pass(), Step::fail("refused")], Step::pass());
    let monitor = monitor_with(&check, probing(ProbePolicy::All));
    let status = monitor.check_now(&"a").await.unwrap();
    assert!(!status.healthy);
    assert_eq!(
        status.reason.unwrap().reason(),
        "scripted: 1 of 3 probes failed: refused"
    );
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn majority_policy_passes_with_two_of_three() {
    let check = Scripted::new([Step::fail("refused"), Step::pass()], Step::pass());
    let monitor = monitor_with(&check, probing(ProbePolicy::Majority));
    let status = monitor.check_now(&"a").await.unwrap();
    assert!(status.healthy);
    assert_eq!(status.reason, None);
    assert_eq!(check.calls(), 3);
    // Two probes 100 ms apart after the first.
    assert_eq!(status.latency, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn majority_policy_fails_once_two_of_three_failed() {
    let check = Scripted::new([Step::fail("refused"), Step::fail("reset")], Step::pass());
    let monitor = monitor_with(&check, probing(ProbePolicy::Majority));
    let status = monitor.check_now(&"a").await.unwrap();
    assert_eq!(
        status.reason.unwrap().reason(),
        "scripted: 2 of 3 probes failed: reset"
    );
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn any_policy_passes_at_first_passing_probe() {
    let check = Scripted::new([Step::fail("refused"), Step::pass()], Step::fail("x"));
    let monitor = monitor_with(&check, probing(ProbePolicy::Any));
    assert!(monitor.check_now(&"a").await.unwrap().healthy);
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn every_health_check_must_pass() {
    let ping = Scripted::named("ping", Step::pass());
    let lag = Scripted::named("lag", Step::fail("lag 9000 ms"));
    let monitor = HealthMonitor::new();
    let checks: Vec<Arc<dyn HealthCheck<()>>> = vec![ping.clone(), lag.clone()];
    monitor
        .add_target("a", Arc::new(()), checks, probing(ProbePolicy::All))
        .unwrap();
    let status = monitor.check_now(&"a").await.unwrap();
    assert_eq!(
        status.reason.unwrap().reason(),
        "lag: 1 of 3 probes failed: lag 9000 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn whole_check_is_bounded_by_timeout() {
    // 3 probes of 400 ms, 500 ms apart, would take 2.2 s: the 1 s timeout cuts them off.
    let check = Scripted::always(Step::pass().after(Duration::from_millis(400)));
    let config = on_demand_only()
        .on_demand(
            ProbeConfig::builder()
                .probes(3)
                .probe_delay(Duration::from_millis(500))
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let status = monitor.check_now(&"a").await.unwrap();
    assert!(!status.healthy);
    assert_eq!(
        status.reason.unwrap().reason(),
        "scripted: timed out after 1s"
    );
    assert_eq!(status.latency, Duration::from_secs(1));
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn hanging_check_times_out_with_default_on_demand_timeout() {
    let check = Scripted::always(Step::pass().after(Duration::from_secs(3600)));
    let monitor = monitor_with(&check, on_demand_only().build().unwrap());
    let status = monitor.check_now(&"a").await.unwrap();
    assert_eq!(
        status.reason.unwrap().reason(),
        "scripted: timed out after 500ms"
    );
}

#[tokio::test(start_paused = true)]
async fn panicking_check_is_unhealthy_and_monitor_keeps_working() {
    let check = Scripted::new([Step::panic()], Step::pass());
    let config = on_demand_only()
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let status = monitor.check_now(&"a").await.unwrap();
    assert!(!status.healthy);
    assert_eq!(
        status.reason.unwrap().reason(),
        "scripted: 1 of 1 probes failed: panicked: scripted panic"
    );
    assert_eq!(monitor.task_count(), 1);
    assert!(monitor.check_now(&"a").await.unwrap().healthy);
}

#[tokio::test(start_paused = true)]
async fn watch_and_broadcast_both_see_each_result() {
    let check = Scripted::new([Step::fail("refused")], Step::pass());
    let config = on_demand_only()
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut watch = monitor.watch(&"a").unwrap();
    let mut events = monitor.subscribe();
    assert_eq!(*watch.borrow_and_update(), None);
    assert_eq!(monitor.status(&"a"), None);

    let first = monitor.check_now(&"a").await.unwrap();
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), Some(first.clone()));
    let event = events.recv().await.unwrap();
    assert_eq!((event.target, &event.status), ("a", &first));
    assert_eq!(monitor.status(&"a"), Some(first));

    let second = monitor.check_now(&"a").await.unwrap();
    assert!(second.healthy);
    assert_eq!(*watch.borrow_and_update(), Some(second.clone()));
    assert_eq!(events.recv().await.unwrap().status, second);
}

#[tokio::test(start_paused = true)]
async fn changed_is_set_on_first_result_and_on_flips_only() {
    let check = Scripted::new(
        [
            Step::pass(),
            Step::pass(),
            Step::fail("refused"),
            Step::fail("refused"),
            Step::pass(),
        ],
        Step::pass(),
    );
    let config = on_demand_only()
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut events = monitor.subscribe();
    for _ in 0..5 {
        monitor.check_now(&"a").await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        let event = events.recv().await.unwrap();
        seen.push((event.status.healthy, event.changed));
    }
    assert_eq!(
        seen,
        [
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (true, true)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn scheduled_results_are_published_without_asking() {
    let check = Scripted::always(Step::pass());
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(1))
        .probe(ProbeConfig::builder().probes(1).build().unwrap())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut events = monitor.subscribe();
    for _ in 0..3 {
        let event = events.recv().await.unwrap();
        assert!(event.status.healthy);
    }
    assert_eq!(check.calls(), 3);
}
