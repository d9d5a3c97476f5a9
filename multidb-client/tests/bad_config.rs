//! Every invalid configuration gives its own `ConfigError`, naming the field and value.
#![allow(clippy::unwrap_used)]

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use multidb_client::{ConfigError, DatabaseConfig, HeartbeatConfig, MultiDbClient, MultiDbConfig};

fn db() -> DatabaseConfig {
    DatabaseConfig::from_url("redis://127.0.0.1:6379/0").unwrap()
}

fn field_of(err: &ConfigError) -> &'static str {
    match err {
        ConfigError::InvalidValue { field, .. }
        | ConfigError::Circuit { field, .. }
        | ConfigError::HealthCheck { field, .. } => field,
        ConfigError::ProbeScheduleTooLong { .. } => "health_check_probes_delay",
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
        ("failures_detection_window", || {
            MultiDbConfig::builder()
                .database(db())
                .failures_detection_window(Duration::from_millis(5))
                .build()
        }),
        ("health_check_probes_delay", || {
            MultiDbConfig::builder()
                .database(db())
                .health_check_probes_delay(Duration::from_secs(2))
                .build()
        }),
        ("grace_period", || {
            MultiDbConfig::builder()
                .database(db().grace_period(Duration::MAX))
                .build()
        }),
        ("replay_up_to", || {
            MultiDbConfig::builder()
                .database(db())
                .replay_up_to(multidb_client::CommandCategory::Admin)
                .build()
        }),
        ("replay_up_to", || {
            MultiDbConfig::builder()
                .database(db())
                .replay_up_to(multidb_client::CommandCategory::Never)
                .build()
        }),
        ("blocking_connections", || {
            MultiDbConfig::builder()
                .database(db())
                .blocking_connections(0)
                .build()
        }),
        ("blocking_connections", || {
            MultiDbConfig::builder()
                .database(db())
                .blocking_connections(10_001)
                .build()
        }),
        ("pubsub_buffer", || {
            MultiDbConfig::builder()
                .database(db())
                .pubsub_buffer(0)
                .build()
        }),
        ("replication_heartbeat.lag_bound", || {
            one_db()
                .replication_heartbeat(Some(HeartbeatConfig::new(Duration::ZERO)))
                .build()
        }),
        ("replication_heartbeat.interval", || {
            one_db()
                .replication_heartbeat(Some(
                    HeartbeatConfig::new(Duration::from_secs(1)).interval(Duration::ZERO),
                ))
                .build()
        }),
        ("replication_heartbeat.interval", || {
            // The default interval, health_check_interval (5 s), is not shorter than 5 s.
            one_db()
                .replication_heartbeat(Some(HeartbeatConfig::new(Duration::from_secs(5))))
                .build()
        }),
        ("replication_heartbeat.lag_bound", || {
            one_db()
                .replication_heartbeat(Some(
                    HeartbeatConfig::new(Duration::MAX).interval(Duration::from_secs(1)),
                ))
                .build()
        }),
        ("replication_heartbeat.lag_bound", || {
            one_db()
                .replication_heartbeat(Some(
                    HeartbeatConfig::new(Duration::from_secs(1001))
                        .interval(Duration::from_secs(1)),
                ))
                .build()
        }),
        // REST credentials over plain http.
        #[cfg(feature = "lag-aware")]
        ("url", || {
            let check = multidb_client::LagAwareCheck::builder()
                .basic_auth("monitor", "pw")
                .build()
                .unwrap();
            MultiDbConfig::builder()
                .lag_aware_check(check)
                .database(db().health_check_url("http://rest.example:9443"))
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
        // Raw reserved characters in credentials: refused, saying to percent-encode.
        ("redis://u:hunter2/x@h:1/0", "url"),
        ("redis://u:hunter2?x@h:1", "url"),
        ("redis://u:hunter2#x@h:1", "url"),
        ("redis://:@hunter2?@h", "url"),
        ("unix://u:hunter2@/tmp/r.sock", "url"),
        ("unix:///tmp/r.sock?pass=hunter2&db=x", "url"),
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

/// The raw reserved-character forms above, as a cluster seed and as a Sentinel URL (the
/// first or a later one), and a Sentinel master name that names nothing.
#[cfg(all(feature = "cluster", feature = "sentinel"))]
#[test]
fn each_bad_cluster_seed_and_sentinel_url_is_rejected_without_showing_its_password() {
    let good = "redis://127.0.0.1:26379";
    for url in [
        "redis://u:hunter2/x@h:1/0",
        "redis://u:hunter2?x@h:1",
        "redis://u:hunter2#x@h:1",
        "redis://:@hunter2?@h",
        "redis://u:hunter2@h:1/notadb",
        "http://u:hunter2@h:1",
    ] {
        let field = if url.starts_with("http:") {
            "scheme"
        } else {
            "url"
        };
        let errors = [
            DatabaseConfig::from_cluster_urls([url]).expect_err(url),
            DatabaseConfig::from_cluster_urls([good, url]).expect_err(url),
            DatabaseConfig::from_sentinel([url], "mymaster").expect_err(url),
            DatabaseConfig::from_sentinel([good, url], "mymaster").expect_err(url),
        ];
        for err in errors {
            assert_eq!(field_of(&err), field, "{url}: {err}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        }
    }
    for name in ["", " ", "my master", "m\n"] {
        let err = DatabaseConfig::from_sentinel([good], name).expect_err(name);
        assert_eq!(field_of(&err), "master_name", "{name:?}: {err}");
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

/// A builder with one database, every other setting default.
fn one_db() -> multidb_client::MultiDbConfigBuilder {
    MultiDbConfig::builder().database(db())
}

#[test]
fn window_too_narrow_for_the_circuit_buckets_is_refused_saying_the_minimum() {
    for window in [Duration::from_millis(5), Duration::from_nanos(9_999_999)] {
        let err = one_db()
            .failures_detection_window(window)
            .build()
            .unwrap_err();
        let ConfigError::Circuit { field, value, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*field, "failures_detection_window");
        assert_eq!(*value, format!("{window:?}"));
        let text = err.to_string();
        assert!(
            text.starts_with("failures_detection_window must be at least 10ms"),
            "{text}"
        );
        let source = err.source().expect("the circuit's error is kept");
        assert!(
            source
                .downcast_ref::<multidb_circuit::ConfigError>()
                .is_some(),
            "{source:?}"
        );
    }
}

#[test]
fn circuit_and_health_engine_refusals_keep_their_source() {
    type Case = (
        &'static str,
        &'static str,
        fn() -> Result<MultiDbConfig, ConfigError>,
    );
    let cases: &[Case] = &[
        ("circuit", "failures_detection_window", || {
            one_db().failures_detection_window(Duration::ZERO).build()
        }),
        ("circuit", "failure_rate_threshold", || {
            one_db().failure_rate_threshold(f64::NAN).build()
        }),
        ("circuit", "min_num_failures", || {
            one_db().min_num_failures(0).build()
        }),
        ("health", "health_check_probes", || {
            one_db().health_check_probes(0).build()
        }),
        ("health", "health_check_timeout", || {
            one_db().health_check_timeout(Duration::ZERO).build()
        }),
        ("health", "health_check_interval", || {
            one_db().health_check_interval(Duration::ZERO).build()
        }),
    ];
    for (engine, field, make) in cases {
        let err = make().expect_err(field);
        assert_eq!(field_of(&err), *field, "{err}");
        let source = err.source().unwrap_or_else(|| panic!("{field}: no source"));
        let kept = match *engine {
            "circuit" => {
                matches!(err, ConfigError::Circuit { .. })
                    && source
                        .downcast_ref::<multidb_circuit::ConfigError>()
                        .is_some()
            }
            _ => {
                matches!(err, ConfigError::HealthCheck { .. })
                    && source
                        .downcast_ref::<multidb_health::ConfigError>()
                        .is_some()
            }
        };
        assert!(kept, "{field}: {err:?}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn probe_schedule_that_cannot_fit_its_timeout_is_refused_with_the_budget() {
    // 3 probes 2 s apart pause 4 s: a 3 s check would always time out.
    let err = one_db()
        .health_check_probes(3)
        .health_check_probes_delay(Duration::from_secs(2))
        .health_check_timeout(Duration::from_secs(3))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::ProbeScheduleTooLong {
            probes: 3,
            delay: Duration::from_secs(2),
            timeout: Duration::from_secs(3),
        }
    );
    let text = err.to_string();
    assert!(text.starts_with("health_check_probes_delay 2s"), "{text}");
    assert!(
        text.contains("pause 4s") && text.contains("health_check_timeout 3s"),
        "{text}"
    );
    // Pauses exactly as long as the timeout leave no time for the probes either.
    let err = one_db()
        .health_check_probes_delay(Duration::from_millis(1500))
        .build()
        .unwrap_err();
    assert_eq!(field_of(&err), "health_check_probes_delay", "{err}");
}

#[test]
fn durations_above_one_hundred_years_are_refused_naming_the_field() {
    type Case = (
        &'static str,
        fn(Duration) -> Result<MultiDbConfig, ConfigError>,
    );
    let cases: &[Case] = &[
        ("grace_period", |d| {
            MultiDbConfig::builder()
                .database(db().grace_period(d))
                .build()
        }),
        ("response_timeout", |d| {
            MultiDbConfig::builder()
                .database(db().response_timeout(Some(d)))
                .build()
        }),
        ("connection_timeout", |d| {
            MultiDbConfig::builder()
                .database(db().connection_timeout(d))
                .build()
        }),
        ("health_check_interval", |d| {
            one_db().health_check_interval(d).build()
        }),
        ("health_check_timeout", |d| {
            one_db().health_check_timeout(d).build()
        }),
        ("health_check_probes_delay", |d| {
            one_db().health_check_probes_delay(d).build()
        }),
        ("min_probe_interval", |d| {
            one_db().min_probe_interval(d).build()
        }),
        ("failures_detection_window", |d| {
            one_db().failures_detection_window(d).build()
        }),
        ("failover_delay", |d| one_db().failover_delay(d).build()),
        ("auto_fallback_interval", |d| {
            one_db().auto_fallback_interval(Some(d)).build()
        }),
        ("retry_backoff_base", |d| {
            one_db().retry_backoff_base(d).retry_backoff_cap(d).build()
        }),
        ("retry_backoff_cap", |d| {
            one_db().retry_backoff_cap(d).build()
        }),
    ];
    let too_long = [
        MultiDbConfig::MAX_DURATION + Duration::from_nanos(1),
        Duration::MAX,
    ];
    for (field, make) in cases {
        for d in too_long {
            let err = make(d).expect_err(field);
            let ConfigError::InvalidValue {
                field: got,
                value,
                expected,
            } = &err
            else {
                panic!("{field}: {err:?}");
            };
            assert_eq!((*got, *expected), (*field, "at most 100 years"), "{err}");
            assert_eq!(*value, format!("{d:?}"));
        }
    }
}

#[test]
fn failover_budget_above_one_hundred_years_is_refused() {
    let year = Duration::from_secs(365 * 24 * 60 * 60);
    let err = one_db()
        .failover_delay(year * 11)
        .failover_attempts(10)
        .build()
        .unwrap_err();
    assert_eq!(field_of(&err), "failover_delay", "{err}");
    assert!(err.to_string().contains("× 10 failover_attempts"), "{err}");
    let err = one_db()
        .failover_delay(Duration::from_secs(u64::MAX / 2))
        .failover_attempts(3)
        .build()
        .unwrap_err();
    assert_eq!(field_of(&err), "failover_delay", "{err}");
    assert!(
        one_db()
            .failover_delay(year * 10)
            .failover_attempts(10)
            .build()
            .is_ok()
    );
}

#[test]
fn defaults_and_sensible_edge_values_build() {
    type Case = (&'static str, fn() -> Result<MultiDbConfig, ConfigError>);
    let cases: &[Case] = &[
        ("defaults", || one_db().build()),
        ("3 probes 500ms apart in 3s, window 2s", || {
            one_db()
                .health_check_probes(3)
                .health_check_probes_delay(Duration::from_millis(500))
                .health_check_timeout(Duration::from_secs(3))
                .failures_detection_window(Duration::from_secs(2))
                .build()
        }),
        ("pauses just under the timeout", || {
            one_db()
                .health_check_probes_delay(Duration::from_millis(1499))
                .build()
        }),
        ("one probe needs no pause", || {
            one_db()
                .health_check_probes(1)
                .health_check_probes_delay(Duration::from_secs(60))
                .health_check_timeout(Duration::from_millis(1))
                .build()
        }),
        ("shortest window", || {
            one_db()
                .failures_detection_window(MultiDbConfig::MIN_FAILURES_DETECTION_WINDOW)
                .build()
        }),
        ("every duration at its maximum", || {
            MultiDbConfig::builder()
                .database(
                    db().grace_period(MultiDbConfig::MAX_DURATION)
                        .response_timeout(Some(MultiDbConfig::MAX_DURATION))
                        .connection_timeout(MultiDbConfig::MAX_DURATION),
                )
                .health_check_interval(MultiDbConfig::MAX_DURATION)
                .health_check_timeout(MultiDbConfig::MAX_DURATION)
                .min_probe_interval(MultiDbConfig::MAX_DURATION)
                .failures_detection_window(MultiDbConfig::MAX_DURATION)
                .failover_delay(MultiDbConfig::MAX_DURATION)
                .failover_attempts(1)
                .auto_fallback_interval(Some(MultiDbConfig::MAX_DURATION))
                .retry_backoff_cap(MultiDbConfig::MAX_DURATION)
                .build()
        }),
        (
            "a heartbeat bound of 1000 intervals, and one just over the interval",
            || {
                one_db()
                    .replication_heartbeat(Some(
                        HeartbeatConfig::new(Duration::from_secs(1000))
                            .interval(Duration::from_secs(1)),
                    ))
                    .build()?;
                one_db()
                    .replication_heartbeat(Some(HeartbeatConfig::new(
                        Duration::from_secs(5) + Duration::from_nanos(1),
                    )))
                    .build()
            },
        ),
        ("no response timeout, no auto-fallback", || {
            MultiDbConfig::builder()
                .database(db().response_timeout(None).grace_period(Duration::ZERO))
                .auto_fallback_interval(None)
                .build()
        }),
    ];
    for (name, make) in cases {
        if let Err(err) = make() {
            panic!("{name}: {err}");
        }
    }
}

/// An application connection for configs that are never used.
#[derive(Clone)]
struct Unused;

impl redis::aio::ConnectionLike for Unused {
    fn req_packed_command<'a>(
        &'a mut self,
        _: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(std::future::pending())
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        _: &'a redis::Pipeline,
        _: usize,
        _: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(std::future::pending())
    }
    fn get_db(&self) -> i64 {
        0
    }
}

/// A transport that opens nothing: only its place in a config matters here.
struct NoStreams;

#[async_trait::async_trait]
impl multidb_client::transport::Transport for NoStreams {
    async fn connect(
        &self,
        _to: multidb_client::transport::Address<'_>,
    ) -> std::io::Result<Box<dyn multidb_client::transport::Stream>> {
        Err(std::io::Error::other("no streams here"))
    }
}

/// A setting that cannot apply to a kind of member is refused at `build()`, naming the
/// field; `#insecure` and bad certificates are refused at `build()` for every kind.
#[test]
#[allow(clippy::too_many_lines)] // one table
fn settings_a_member_kind_cannot_apply_are_refused_at_build() {
    let app = || DatabaseConfig::from_connection(Unused);
    let mut cases: Vec<(&str, DatabaseConfig, &str)> = vec![
        ("app + password", app().password("pw"), "password"),
        ("app + username", app().username("u"), "username"),
        (
            "app + protocol",
            app().protocol(multidb_client::Protocol::Resp3),
            "protocol",
        ),
        (
            "url + pubsub_client",
            DatabaseConfig::from_url("redis://127.0.0.1:1")
                .unwrap()
                .pubsub_client(redis::Client::open("redis://127.0.0.1:1").unwrap()),
            "pubsub_client",
        ),
        (
            "url + pinned_connections",
            DatabaseConfig::from_url("redis://127.0.0.1:1")
                .unwrap()
                .pinned_connections(|| async { Ok::<_, redis::RedisError>(Unused) }),
            "pinned_connections",
        ),
        (
            "app + transport",
            app().transport(Arc::new(NoStreams)),
            "transport",
        ),
    ];
    #[cfg(feature = "cluster")]
    cases.push((
        "cluster + transport",
        DatabaseConfig::from_cluster_urls(["redis://127.0.0.1:1"])
            .unwrap()
            .transport(Arc::new(NoStreams)),
        "transport",
    ));
    #[cfg(feature = "deadpool")]
    {
        let pool = || {
            let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:1")
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .unwrap();
            DatabaseConfig::from_pool(pool)
        };
        cases.extend([
            ("pool + password", pool().password("pw"), "password"),
            ("pool + username", pool().username("u"), "username"),
            (
                "pool + protocol",
                pool().protocol(multidb_client::Protocol::Resp3),
                "protocol",
            ),
        ]);
        #[cfg(feature = "tls")]
        cases.push((
            "pool + CA",
            pool().tls_root_cert(b"not used".to_vec()),
            "tls_root_cert",
        ));
    }
    #[cfg(feature = "tls")]
    {
        let tls = |url: &str| DatabaseConfig::from_url(url).unwrap();
        cases.extend([
            (
                "url #insecure",
                tls("rediss://127.0.0.1:1/#insecure"),
                "url",
            ),
            (
                "url bad CA",
                tls("rediss://127.0.0.1:1").tls_root_cert(b"not a certificate".to_vec()),
                "tls_root_cert",
            ),
            (
                "plain url + CA",
                tls("redis://127.0.0.1:1").tls_root_cert(b"not used".to_vec()),
                "tls_root_cert",
            ),
            (
                "app + CA",
                app().tls_root_cert(b"not used".to_vec()),
                "tls_root_cert",
            ),
            (
                "app + client cert",
                app().tls_client_cert(b"c".to_vec(), b"k".to_vec()),
                "tls_client_cert",
            ),
        ]);
    }
    #[cfg(all(feature = "tls", feature = "cluster"))]
    cases.extend([
        (
            "cluster #insecure",
            DatabaseConfig::from_cluster_urls(["rediss://127.0.0.1:1/#insecure"]).unwrap(),
            "url",
        ),
        (
            "cluster bad CA",
            DatabaseConfig::from_cluster_urls(["rediss://127.0.0.1:1"])
                .unwrap()
                .tls_root_cert(b"not a certificate".to_vec()),
            "tls_root_cert",
        ),
    ]);
    #[cfg(feature = "cluster")]
    cases.extend([
        (
            "cluster db 1",
            DatabaseConfig::from_cluster_urls(["redis://127.0.0.1:1/1"]).unwrap(),
            "url",
        ),
        (
            "cluster unix seed",
            DatabaseConfig::from_cluster_urls(["unix:///tmp/r.sock"]).unwrap(),
            "url",
        ),
        (
            "cluster seeds with different passwords",
            DatabaseConfig::from_cluster_urls(["redis://:a@127.0.0.1:1", "redis://:b@127.0.0.1:2"])
                .unwrap(),
            "url",
        ),
    ]);
    #[cfg(all(feature = "tls", feature = "sentinel"))]
    cases.extend([
        (
            "sentinel #insecure",
            DatabaseConfig::from_sentinel(["rediss://127.0.0.1:1/#insecure"], "m").unwrap(),
            "url",
        ),
        (
            "sentinel bad CA",
            DatabaseConfig::from_sentinel(["rediss://127.0.0.1:1"], "m")
                .unwrap()
                .tls_root_cert(b"not a certificate".to_vec()),
            "tls_root_cert",
        ),
    ]);
    let mut wrong = Vec::new();
    for (what, db, field) in cases {
        match MultiDbConfig::builder().database(db).build() {
            Ok(_) => wrong.push(format!("{what}: built")),
            Err(e) if field_of(&e) != field => {
                wrong.push(format!("{what}: {} ({e})", field_of(&e)));
            }
            Err(e) => assert!(!e.to_string().contains("pw"), "{what}: {e}"),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
