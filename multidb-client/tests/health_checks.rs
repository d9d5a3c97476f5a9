//! Which health checks a database runs: client-wide ones, its own, and replacements.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use multidb_client::{
    Database, DatabaseConfig, EchoCheck, HealthCheck, MultiDbClient, MultiDbConfig,
    MultiDbConfigBuilder, Unhealthy,
};
use multidb_testkit::FakeRedis;

/// Always fails, naming itself.
struct Refuses;

#[async_trait::async_trait]
impl HealthCheck<Database> for Refuses {
    async fn check(&self, _db: &Database) -> Result<(), Unhealthy> {
        Err(Unhealthy::new("refused by the test"))
    }

    #[allow(clippy::unnecessary_literal_bound)]
    fn name(&self) -> &str {
        "refuses"
    }
}

/// A client of `builder`'s databases, one probe per check, scheduled checks an hour apart
/// (every check is one the test caused), initialized.
async fn initialized(builder: MultiDbConfigBuilder) -> MultiDbClient {
    let config = builder
        .health_check_probes(1)
        .health_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    client
}

fn count(server: &FakeRedis, command: &str) -> usize {
    server
        .command_log()
        .iter()
        .filter(|c| c.first().is_some_and(|n| n.eq_ignore_ascii_case(command)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_s_own_check_runs_on_it_alone() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let client = initialized(
        MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_url(&a.url())
                    .unwrap()
                    .health_check(Arc::new(Refuses)),
            )
            .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5)),
    )
    .await;
    let dbs = client.databases();
    assert!(!dbs[0].healthy && dbs[1].healthy, "{dbs:?}");
    assert_eq!(client.active_database(), Some(dbs[1].id));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_client_wide_check_keeps_ping() {
    let a = FakeRedis::start().await.unwrap();
    let client = initialized(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_url(&a.url()).unwrap())
            .health_check(Arc::new(EchoCheck)),
    )
    .await;
    assert_eq!(
        (count(&a, "PING"), count(&a, "ECHO")),
        (1, 1),
        "{:?}",
        a.command_log()
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_checks_is_explicit_client_wide_and_per_database() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let client = initialized(
        MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_url(&a.url())
                    .unwrap()
                    .replace_health_checks(vec![Arc::new(EchoCheck)]),
            )
            .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5)),
    )
    .await;
    assert_eq!(
        (count(&a, "PING"), count(&a, "ECHO")),
        (0, 1),
        "{:?}",
        a.command_log()
    );
    assert_eq!(
        (count(&b, "PING"), count(&b, "ECHO")),
        (1, 0),
        "{:?}",
        b.command_log()
    );
    client.close().await;

    let c = FakeRedis::start().await.unwrap();
    let client = initialized(
        MultiDbConfig::builder()
            .database(DatabaseConfig::from_url(&c.url()).unwrap())
            .replace_health_checks(vec![Arc::new(EchoCheck)]),
    )
    .await;
    assert_eq!(
        (count(&c, "PING"), count(&c, "ECHO")),
        (0, 1),
        "{:?}",
        c.command_log()
    );
    client.close().await;
}

#[tokio::test]
async fn a_run_time_check_applies_to_every_database_over_its_own_plan() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let client = initialized(
        MultiDbConfig::builder()
            .database(
                DatabaseConfig::from_url(&a.url())
                    .unwrap()
                    .replace_health_checks(vec![Arc::new(EchoCheck)]),
            )
            .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5)),
    )
    .await;
    client.add_health_check(Arc::new(Refuses)).unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    // a replaced the client-wide checks: the run-time addition is one of them, so a keeps
    // passing; b now runs it too and fails.
    client.set_active_database(ids[0]).await.unwrap();
    let err = client.set_active_database(ids[1]).await.unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    client.close().await;
}

#[test]
fn an_empty_replacement_is_refused() {
    let err = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url("redis://127.0.0.1:1")
                .unwrap()
                .replace_health_checks(Vec::new()),
        )
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("replace_health_checks"), "{err}");
    let err = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url("redis://127.0.0.1:1").unwrap())
        .replace_health_checks(Vec::new())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("replace_health_checks"), "{err}");
}
