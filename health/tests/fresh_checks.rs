//! Fresh checks: a full check that starts after it is asked for, shared by the callers
//! waiting for it, never a recent result nor one already running.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::time::Duration;

use multidb_health::{MonitorError, ProbeConfig, TargetConfig, TargetConfigBuilder};
use scripted::{Scripted, Step, monitor_with, on_demand_only};
use tokio::time::Instant;

/// Scheduled (full) checks of 3 probes 100 ms apart; on demand, the default single probe.
fn three_probes() -> ProbeConfig {
    ProbeConfig::builder()
        .probes(3)
        .probe_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid")
}

fn full_config() -> TargetConfigBuilder {
    on_demand_only().probe(three_probes())
}

/// On-demand checks that can take seconds, for a check to be running when a test acts.
fn slow_on_demand() -> TargetConfigBuilder {
    full_config()
        .on_demand(
            ProbeConfig::builder()
                .probes(1)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("valid"),
        )
        .min_probe_interval(Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn fresh_check_runs_configured_probes_while_check_now_runs_one() {
    let check = Scripted::always(Step::pass());
    let config = full_config()
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);

    assert!(monitor.check_now(&"a").await.unwrap().healthy);
    assert_eq!(check.calls(), 1);

    let fresh = monitor.check_fresh(&"a").await.unwrap();
    assert!(fresh.healthy);
    assert_eq!(check.calls(), 4);
    assert_eq!(fresh.latency, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn fresh_check_honours_the_probe_policy() {
    let check = Scripted::new([Step::pass(), Step::fail("refused")], Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let fresh = monitor.check_fresh(&"a").await.unwrap();
    assert!(!fresh.healthy);
    assert_eq!(
        fresh.reason.unwrap().reason(),
        "scripted: 1 of 3 probes failed: refused"
    );
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn fresh_check_ignores_recent_result() {
    let check = Scripted::always(Step::pass());
    // The default min_probe_interval: 100 ms.
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let first = monitor.check_now(&"a").await.unwrap();
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(monitor.check_now(&"a").await.unwrap(), first);
    assert_eq!(check.calls(), 1);

    let called_at = Instant::now();
    let fresh = monitor.check_fresh(&"a").await.unwrap();
    assert_eq!(fresh.started_at, called_at);
    assert_eq!(check.calls(), 4);
    // Published, and the recent result from now on.
    assert_eq!(monitor.status(&"a"), Some(fresh.clone()));
    assert_eq!(monitor.check_now(&"a").await.unwrap(), fresh);
    assert_eq!(check.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn fresh_check_during_running_check_waits_for_it_then_runs_its_own() {
    // The running check passes after 300 ms; the target is down by the time it ends.
    let check = Scripted::new(
        [Step::pass().after(Duration::from_millis(300))],
        Step::fail("down"),
    );
    let monitor = monitor_with(&check, slow_on_demand().build().unwrap());
    let mut events = monitor.subscribe();
    assert!(monitor.request_check(&"a"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(check.calls(), 1);

    let called_at = Instant::now();
    let fresh = monitor.check_fresh(&"a").await.unwrap();
    let running = events.recv().await.unwrap().status;
    assert!(running.healthy);
    assert!(running.started_at < called_at);
    assert!(!fresh.healthy);
    assert!(fresh.started_at > called_at);
    assert!(fresh.started_at >= running.finished_at);
    assert_eq!(events.recv().await.unwrap().status, fresh);
    assert_eq!(check.max_running(), 1);
    // One probe for the running on-demand check, then the first failure ends the full one.
    assert_eq!(check.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_fresh_checks_share_one_check() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let (first, second) = tokio::join!(monitor.check_fresh(&"a"), monitor.check_fresh(&"a"));
    assert_eq!(first.unwrap(), second.unwrap());
    assert_eq!(check.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn fresh_checks_queued_behind_a_running_check_share_one_check() {
    let check = Scripted::new(
        [Step::pass().after(Duration::from_millis(300))],
        Step::pass(),
    );
    let monitor = monitor_with(&check, slow_on_demand().build().unwrap());
    assert!(monitor.request_check(&"a"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let called_at = Instant::now();
    let (first, second) = tokio::join!(monitor.check_fresh(&"a"), monitor.check_fresh(&"a"));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first, second);
    assert!(first.started_at > called_at);
    assert_eq!(check.calls(), 1 + 3);
}

#[tokio::test(start_paused = true)]
async fn pending_on_demand_request_is_answered_by_the_full_check() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let mut events = monitor.subscribe();
    // Both are waiting when the worker picks its next check.
    assert!(monitor.request_check(&"a"));
    let (now, fresh) = tokio::join!(monitor.check_now(&"a"), monitor.check_fresh(&"a"));
    let fresh = fresh.unwrap();
    assert_eq!(now.unwrap(), fresh);
    assert_eq!(check.calls(), 3);
    assert_eq!(events.recv().await.unwrap().status, fresh);
    assert!(events.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn request_while_fresh_check_is_queued_joins_it() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let (fresh, now) = tokio::join!(monitor.check_fresh(&"a"), async {
        assert!(!monitor.request_check(&"a"));
        monitor.check_now(&"a").await
    });
    assert_eq!(fresh.unwrap(), now.unwrap());
    assert_eq!(check.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn fresh_check_spends_no_rate_limit_permit() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    let mut events = monitor.subscribe();
    monitor.check_fresh(&"a").await.unwrap();
    events.recv().await.unwrap();
    assert!(monitor.request_check(&"a"));
    events.recv().await.unwrap();
    assert_eq!(check.calls(), 4);
    assert!(!monitor.request_check(&"a"));
}

#[tokio::test(start_paused = true)]
async fn fresh_check_keeps_the_schedule() {
    let check = Scripted::always(Step::pass());
    let added = Instant::now();
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(2))
        .jitter(Duration::ZERO)
        .probe(three_probes())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut events = monitor.subscribe();
    tokio::time::advance(Duration::from_secs(1)).await;
    let fresh = monitor.check_fresh(&"a").await.unwrap();
    assert_eq!(fresh.started_at - added, Duration::from_secs(1));
    assert_eq!(events.recv().await.unwrap().status, fresh);
    let scheduled = events.recv().await.unwrap().status;
    assert_eq!(scheduled.started_at - added, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn check_fresh_of_unknown_or_shut_down_target_fails() {
    let check = Scripted::always(Step::pass());
    let monitor = monitor_with(&check, full_config().build().unwrap());
    assert_eq!(
        monitor.check_fresh(&"b").await,
        Err(MonitorError::UnknownTarget {
            target: "\"b\"".into()
        })
    );
    monitor.shutdown().await;
    assert_eq!(monitor.check_fresh(&"a").await, Err(MonitorError::ShutDown));
}

#[tokio::test(start_paused = true)]
async fn check_fresh_fails_when_target_removed_while_waiting() {
    let check = Scripted::always(Step::pass().after(Duration::from_secs(10)));
    let monitor = monitor_with(&check, slow_on_demand().build().unwrap());
    assert!(monitor.request_check(&"a"));
    let asker = monitor.clone();
    let waiting = tokio::spawn(async move { asker.check_fresh(&"a").await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(check.calls(), 1);
    assert!(monitor.remove_target(&"a"));
    assert!(matches!(
        waiting.await.unwrap(),
        Err(MonitorError::UnknownTarget { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_check_fresh_waiting() {
    let check = Scripted::always(Step::pass().after(Duration::from_secs(10)));
    let monitor = monitor_with(&check, slow_on_demand().build().unwrap());
    assert!(monitor.request_check(&"a"));
    let asker = monitor.clone();
    let waiting = tokio::spawn(async move { asker.check_fresh(&"a").await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    monitor.shutdown().await;
    assert_eq!(waiting.await.unwrap(), Err(MonitorError::ShutDown));
}
