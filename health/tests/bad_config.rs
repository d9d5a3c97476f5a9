//! Builders reject values the engine cannot work with, naming the field and the value.

use std::time::Duration;

use multidb_health::{ConfigError, ProbeConfig, ProbePolicy, TargetConfig};

#[test]
fn defaults_match_documented_values() {
    let probe = ProbeConfig::default();
    assert_eq!(probe.probes(), 3);
    assert_eq!(probe.probe_delay(), Duration::from_millis(500));
    assert_eq!(probe.timeout(), Duration::from_secs(3));
    assert_eq!(probe.policy(), ProbePolicy::All);

    let target = TargetConfig::default();
    assert_eq!(target.interval(), Duration::from_secs(5));
    assert_eq!(target.jitter(), Duration::from_millis(500));
    assert_eq!(target.probe(), &probe);
    assert_eq!(target.on_demand().probes(), 1);
    assert_eq!(target.on_demand().timeout(), Duration::from_millis(500));
    assert_eq!(target.min_probe_interval(), Duration::from_millis(100));
    assert_eq!(target.initial_delay(), None);
    assert_eq!(TargetConfig::builder().build().unwrap(), target);
}

#[test]
fn zero_probes_is_rejected() {
    let err = ProbeConfig::builder().probes(0).build().unwrap_err();
    assert_eq!(err, ConfigError::ZeroProbes { value: 0 });
    assert_eq!(err.to_string(), "probes must be at least 1, got 0");
}

#[test]
fn zero_timeout_is_rejected() {
    let err = ProbeConfig::builder()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timeout must be greater than zero, got 0ns"
    );
}

#[test]
fn zero_interval_is_rejected() {
    let err = TargetConfig::builder()
        .interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::ZeroDuration {
            field: "interval",
            value: Duration::ZERO
        }
    );
}

#[test]
fn jitter_not_below_interval_is_rejected() {
    let err = TargetConfig::builder()
        .interval(Duration::from_secs(1))
        .jitter(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "jitter must be less than interval (1s), got 1s"
    );
}
