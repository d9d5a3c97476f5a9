//! Every knob of the configuration, redis-py's names in Rust style, with `Duration`s.

use std::time::Duration;

use multidb_client::{
    DatabaseConfig, HealthPolicy, InitialHealthCheck, MultiDbClient, MultiDbConfig,
};
use multidb_testkit::FakeRedis;
use redis::AsyncCommands;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let east = FakeRedis::start().await?;
    let west = FakeRedis::start().await?;

    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&east.url())?
                .weight(1.0)
                .grace_period(Duration::from_secs(30))
                .response_timeout(Some(Duration::from_millis(250))),
        )
        .database(
            // The far region has a breaker of its own: it tolerates more failures (its
            // link is noisier) before traffic leaves it.
            DatabaseConfig::from_url(&west.url())?
                .weight(0.8)
                .min_num_failures(20)
                .failure_rate_threshold(0.8),
        )
        .health_check_interval(Duration::from_secs(10))
        .health_check_probes(3)
        .health_check_probes_delay(Duration::from_secs(1))
        .health_check_timeout(Duration::from_secs(3))
        .health_check_policy(HealthPolicy::All)
        .initial_health_check(InitialHealthCheck::OneAvailable)
        .failover_attempts(3)
        .failover_delay(Duration::from_secs(1))
        .auto_fallback_interval(Some(Duration::from_secs(120)))
        .min_num_failures(5)
        .failure_rate_threshold(0.5)
        .failures_detection_window(Duration::from_secs(60))
        .retry_attempts(5)
        .retry_backoff_base(Duration::from_millis(20))
        .build()?;
    println!("{config:#?}");

    let client = MultiDbClient::new(config);
    client.initialize().await?;
    let mut con = client.clone();
    con.set::<_, _, ()>("k", "v").await?;
    for db in client.databases() {
        println!(
            "{} {} weight={} healthy={} active={} trips after {} failures",
            db.id, db.endpoint, db.weight, db.healthy, db.active, db.breaker.min_num_failures
        );
    }
    client.close().await;
    Ok(())
}
