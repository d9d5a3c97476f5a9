//! Custom health checks and failover strategies, given at build time or added at run time.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::next_event;
use multidb_client::{
    CandidateView, Database, DatabaseConfig, DatabaseId, Event, FailoverStrategy, HealthCheck,
    MultiDbClient, MultiDbConfig, SwitchReason, Unhealthy,
};
use multidb_testkit::FakeRedis;

/// Fails for the database named "east" while `down` is set.
struct Maintenance {
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl HealthCheck<Database> for Maintenance {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        if db.endpoint().as_str() == "east" && self.down.load(Ordering::SeqCst) {
            Err(Unhealthy::new("east is in maintenance"))
        } else {
            Ok(())
        }
    }
}

/// Prefers the lowest weight: the opposite of the default.
struct Cheapest;

impl FailoverStrategy<DatabaseId> for Cheapest {
    fn select<'a>(&self, eligible: &[CandidateView<'a, DatabaseId>]) -> Option<&'a DatabaseId> {
        eligible
            .iter()
            .min_by(|a, b| a.weight.total_cmp(&b.weight))
            .map(|c| c.id)
    }
}

async fn fakes() -> (FakeRedis, FakeRedis, MultiDbConfig) {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap().name("east"))
        .database(
            DatabaseConfig::from_url(&b.url())
                .unwrap()
                .name("west")
                .weight(0.5),
        )
        .health_check_interval(Duration::from_millis(50))
        .health_check_probes(1)
        .build()
        .unwrap();
    (a, b, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_added_at_run_time_takes_part_in_failover() {
    let (_a, _b, config) = fakes().await;
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    let down = Arc::new(AtomicBool::new(true));
    client
        .add_health_check(Arc::new(Maintenance { down: down.clone() }))
        .unwrap();
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        e,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::HealthCheckFailed
        }
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_strategy_from_the_builder_picks_the_initial_database() {
    let (a, b, _) = fakes().await;
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .failover_strategy(Arc::new(Cheapest))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    assert_eq!(client.active_database(), Some(client.databases()[1].id));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_set_at_run_time_decides_the_next_switch() {
    let (_a, _b, config) = fakes().await;
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    client.set_failover_strategy(Arc::new(Cheapest));
    // A weight change re-evaluates the choice: under the new strategy the lighter one wins.
    client.update_database_weight(ids[0], 2.0).unwrap();
    assert_eq!(client.active_database(), Some(ids[1]));
    client.close().await;
}
