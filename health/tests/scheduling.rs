//! When scheduled checks run: interval, jitter, initial delay, and never two at once.

#[allow(dead_code, reason = "each test file uses part of the helper")]
mod scripted;

use std::time::Duration;

use multidb_health::{ProbeConfig, TargetConfig};
use scripted::{Scripted, Step, monitor_with};
use tokio::time::Instant;

fn one_probe() -> ProbeConfig {
    ProbeConfig::builder().probes(1).build().expect("valid")
}

#[tokio::test(start_paused = true)]
async fn scheduled_checks_stay_within_interval_plus_minus_jitter() {
    let check = Scripted::always(Step::pass().after(Duration::from_millis(30)));
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(1))
        .jitter(Duration::from_millis(200))
        .initial_delay(Some(Duration::ZERO))
        .probe(one_probe())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut events = monitor.subscribe();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(events.recv().await.unwrap().status);
    }
    let waits: Vec<Duration> = statuses
        .windows(2)
        .map(|pair| pair[1].started_at - pair[0].finished_at)
        .collect();
    for wait in &waits {
        assert!(
            (Duration::from_millis(800)..=Duration::from_millis(1200)).contains(wait),
            "wait {wait:?} outside 1s ± 200ms"
        );
    }
    // With 59 waits drawn from a 400 ms range, equal waits everywhere would mean no jitter.
    assert!(waits.iter().any(|wait| *wait != waits[0]));
}

#[tokio::test(start_paused = true)]
async fn zero_jitter_gives_exact_interval() {
    let check = Scripted::always(Step::pass());
    let added = Instant::now();
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(2))
        .jitter(Duration::ZERO)
        .probe(one_probe())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut events = monitor.subscribe();
    for n in 1..=3 {
        let status = events.recv().await.unwrap().status;
        assert_eq!(status.started_at - added, Duration::from_secs(2 * n));
    }
}

#[tokio::test(start_paused = true)]
async fn initial_delay_sets_first_check() {
    let check = Scripted::always(Step::pass());
    let added = Instant::now();
    let config = TargetConfig::builder()
        .interval(Duration::from_secs(60))
        .initial_delay(Some(Duration::from_millis(250)))
        .probe(one_probe())
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let status = monitor.subscribe().recv().await.unwrap().status;
    assert_eq!(status.started_at - added, Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn checks_of_one_target_never_overlap() {
    // Each probe takes 700 ms, longer than the interval, while on-demand requests keep coming.
    let check = Scripted::always(Step::pass().after(Duration::from_millis(700)));
    let slow = ProbeConfig::builder()
        .probes(1)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let config = TargetConfig::builder()
        .interval(Duration::from_millis(500))
        .jitter(Duration::from_millis(100))
        .initial_delay(Some(Duration::ZERO))
        .probe(slow.clone())
        .on_demand(slow)
        .min_probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let monitor = monitor_with(&check, config);
    let mut joins = Vec::new();
    for _ in 0..40 {
        monitor.request_check(&"a");
        let asker = monitor.clone();
        joins.push(tokio::spawn(async move { asker.check_now(&"a").await }));
        tokio::time::sleep(Duration::from_millis(130)).await;
    }
    for join in joins {
        assert!(join.await.unwrap().unwrap().healthy);
    }
    assert!(check.calls() >= 5, "only {} checks ran", check.calls());
    assert_eq!(check.max_running(), 1);
    let starts = check.starts();
    assert!(
        starts
            .windows(2)
            .all(|pair| pair[1] - pair[0] >= Duration::from_millis(700))
    );
}
