//! Every invalid configuration is rejected with the variant and message naming the field.

use std::time::Duration;

use multidb_circuit::{CircuitConfig, CircuitConfigBuilder, ConfigError, MAX_HALF_OPEN};

fn rejected(builder: CircuitConfigBuilder, field: &str) -> ConfigError {
    let err = builder.build().expect_err("config should be rejected");
    let message = err.to_string();
    assert!(message.contains(field), "{message:?} does not name {field}");
    assert!(message.starts_with(char::is_lowercase), "{message}");
    assert!(!message.ends_with('.'), "{message}");
    err
}

#[test]
fn defaults_match_redis_py() {
    let c = CircuitConfig::default();
    assert_eq!(c.failure_rate_threshold().to_bits(), 0.10f64.to_bits());
    assert_eq!(c.min_num_failures(), 1000);
    assert_eq!(c.window(), Duration::from_secs(2));
    assert_eq!(c.buckets(), 10);
    assert_eq!(c.grace_period(), Duration::from_secs(60));
    assert_eq!(c.half_open_max_calls(), 1);
    assert_eq!(c.success_threshold(), 1);
    assert_eq!(CircuitConfig::builder().build(), Ok(c));
}

#[test]
fn rate_nan_zero_negative_and_above_one_are_rejected() {
    for value in [f64::NAN, 0.0, -0.5, 1.000_001, f64::INFINITY] {
        let err = rejected(
            CircuitConfig::builder().failure_rate_threshold(value),
            "failure_rate_threshold",
        );
        let ConfigError::FailureRateThreshold { value: got } = err else {
            panic!("wrong variant {err:?}");
        };
        assert_eq!(got.to_bits(), value.to_bits());
    }
    assert!(
        rejected(
            CircuitConfig::builder().failure_rate_threshold(f64::NAN),
            "NaN"
        )
        .to_string()
        .contains("NaN")
    );
}

#[test]
fn rate_of_one_and_tiny_rates_are_accepted() {
    for value in [1.0, f64::MIN_POSITIVE, 0.5] {
        let c = CircuitConfig::builder()
            .failure_rate_threshold(value)
            .build();
        assert_eq!(c.map(|c| c.failure_rate_threshold()), Ok(value));
    }
}

#[test]
fn zero_min_num_failures_is_rejected() {
    let err = rejected(
        CircuitConfig::builder().min_num_failures(0),
        "min_num_failures",
    );
    assert_eq!(err, ConfigError::MinNumFailures { value: 0 });
}

#[test]
fn zero_window_is_rejected() {
    let err = rejected(CircuitConfig::builder().window(Duration::ZERO), "window");
    assert_eq!(
        err,
        ConfigError::Window {
            value: Duration::ZERO
        }
    );
}

#[test]
fn zero_and_too_many_buckets_are_rejected() {
    for value in [0, 1001, u32::MAX] {
        let err = rejected(
            CircuitConfig::builder()
                .window(Duration::from_secs(3600))
                .buckets(value),
            "buckets",
        );
        assert_eq!(err, ConfigError::Buckets { value });
    }
}

#[test]
fn buckets_narrower_than_a_millisecond_are_rejected() {
    let window = Duration::from_millis(999);
    let err = rejected(
        CircuitConfig::builder().window(window).buckets(1000),
        "buckets",
    );
    assert_eq!(
        err,
        ConfigError::BucketWidth {
            window,
            buckets: 1000
        }
    );
    let ok = CircuitConfig::builder()
        .window(Duration::from_secs(1))
        .buckets(1000)
        .build();
    assert!(ok.is_ok());
}

#[test]
fn half_open_max_calls_out_of_range_is_rejected() {
    for value in [0, MAX_HALF_OPEN + 1] {
        let err = rejected(
            CircuitConfig::builder().half_open_max_calls(value),
            "half_open_max_calls",
        );
        assert_eq!(err, ConfigError::HalfOpenMaxCalls { value });
    }
}

#[test]
fn success_threshold_out_of_range_is_rejected() {
    for value in [0, MAX_HALF_OPEN + 1] {
        let err = rejected(
            CircuitConfig::builder().success_threshold(value),
            "success_threshold",
        );
        assert_eq!(err, ConfigError::SuccessThreshold { value });
    }
}

#[test]
fn zero_grace_period_is_accepted() {
    let c = CircuitConfig::builder()
        .grace_period(Duration::ZERO)
        .build();
    assert_eq!(c.map(|c| c.grace_period()), Ok(Duration::ZERO));
}
