//! Every invalid configuration gives its own `ConfigError`, naming the field and value.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use multidb_client::{ConfigError, DatabaseConfig, MultiDbClient, MultiDbConfig};

fn db() -> DatabaseConfig {
    DatabaseConfig::from_url("redis://127.0.0.1:6379/0").unwrap()
}

fn field_of(err: &ConfigError) -> &'static str {
    match err {
        ConfigError::InvalidValue { field, .. } => field,
        ConfigError::InvalidWeight { .. } => "weight",
        ConfigError::NoDatabases => "databases",
        ConfigError::DuplicateEndpoint { .. } => "duplicate",
        ConfigError::WeightCountMismatch { .. } => "weights",
        ConfigError::InvalidUrl { .. } => "url",
        ConfigError::UnsupportedScheme { .. } => "scheme",
        ConfigError::TlsNotEnabled { .. } => "tls",
        _ => "other",
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one table
fn each_bad_builder_value_is_rejected_with_its_field() {
    type Case = (&'static str, fn() -> Result<MultiDbConfig, ConfigError>);
    let cases: &[Case] = &[
        ("databases", || MultiDbConfig::builder().build()),
        ("weight", || {
            MultiDbConfig::builder()
                .database(db().weight(f64::NAN))
                .build()
        }),
        ("weight", || {
            MultiDbConfig::builder().database(db().weight(-1.0)).build()
        }),
        ("weight", || {
            MultiDbConfig::builder().database(db().weight(0.0)).build()
        }),
        ("weight", || {
            MultiDbConfig::builder()
                .database(db().weight(f64::INFINITY))
                .build()
        }),
        ("duplicate", || {
            MultiDbConfig::builder()
                .database(db())
                .database(db())
                .build()
        }),
        ("health_check_probes", || {
            MultiDbConfig::builder()
                .database(db())
                .health_check_probes(0)
                .build()
        }),
        ("health_check_interval", || {
            MultiDbConfig::builder()
                .database(db())
                .health_check_interval(Duration::ZERO)
                .build()
        }),
        ("health_check_timeout", || {
            MultiDbConfig::builder()
                .database(db())
                .health_check_timeout(Duration::ZERO)
                .build()
        }),
        ("failure_rate_threshold", || {
            MultiDbConfig::builder()
                .database(db())
                .failure_rate_threshold(0.0)
                .build()
        }),
        ("failure_rate_threshold", || {
            MultiDbConfig::builder()
                .database(db())
                .failure_rate_threshold(1.5)
                .build()
        }),
        ("failure_rate_threshold", || {
            MultiDbConfig::builder()
                .database(db())
                .failure_rate_threshold(f64::NAN)
                .build()
        }),
        ("min_num_failures", || {
            MultiDbConfig::builder()
                .database(db())
                .min_num_failures(0)
                .build()
        }),
        ("failures_detection_window", || {
            MultiDbConfig::builder()
                .database(db())
                .failures_detection_window(Duration::ZERO)
                .build()
        }),
        ("failover_attempts", || {
            MultiDbConfig::builder()
                .database(db())
                .failover_attempts(0)
                .build()
        }),
        ("auto_fallback_interval", || {
            MultiDbConfig::builder()
                .database(db())
                .auto_fallback_interval(Some(Duration::ZERO))
                .build()
        }),
        ("retry_budget_ratio", || {
            MultiDbConfig::builder()
                .database(db())
                .retry_budget_ratio(-0.1)
                .build()
        }),
        ("retry_backoff_base", || {
            MultiDbConfig::builder()
                .database(db())
                .retry_backoff_base(Duration::ZERO)
                .build()
        }),
        ("retry_backoff_cap", || {
            MultiDbConfig::builder()
                .database(db())
                .retry_backoff_cap(Duration::from_nanos(1))
                .build()
        }),
        ("min_probe_interval", || {
            MultiDbConfig::builder()
                .database(db())
                .min_probe_interval(Duration::ZERO)
                .build()
        }),
        ("event_capacity", || {
            MultiDbConfig::builder()
                .database(db())
                .event_capacity(0)
                .build()
        }),
        ("response_timeout", || {
            MultiDbConfig::builder()
                .database(db().response_timeout(Some(Duration::ZERO)))
                .build()
        }),
        ("connection_timeout", || {
            MultiDbConfig::builder()
                .database(db().connection_timeout(Duration::ZERO))
                .build()
        }),
        ("url", || {
            MultiDbConfig::builder()
                .database(db().health_check_url("ftp://x"))
                .build()
        }),
    ];
    for (field, make) in cases {
        let err = make().expect_err(field);
        assert_eq!(field_of(&err), *field, "{err}");
        let text = err.to_string();
        assert!(
            text.chars().next().unwrap().is_lowercase() && !text.ends_with('.'),
            "{text}"
        );
    }
}

#[test]
fn each_bad_url_is_rejected_without_showing_its_password() {
    let mut cases = vec![
        ("http://u:hunter2@h:1", "scheme"),
        ("redis://u:hunter2@h:1/notadb", "url"),
        ("no scheme hunter2", "url"),
        ("redis://u:hunter2@h:1/0?protocol=9", "url"),
    ];
    if cfg!(not(feature = "tls")) {
        cases.push(("rediss://u:hunter2@h:1", "tls"));
    }
    for (url, field) in cases {
        let err = DatabaseConfig::from_url(url).expect_err(url);
        assert_eq!(field_of(&err), field, "{url}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[test]
fn from_urls_needs_one_weight_per_url() {
    let err = MultiDbClient::from_urls(["redis://127.0.0.1:1"], [1.0, 2.0]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::WeightCountMismatch {
            urls: 1,
            weights: 2
        }
    );
    let err = MultiDbClient::from_urls(Vec::<String>::new(), []).unwrap_err();
    assert_eq!(err, ConfigError::NoDatabases);
}
