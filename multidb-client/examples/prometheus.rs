//! The client's metrics through `metrics-exporter-prometheus` (feature `metrics`): the
//! recorder is installed first (the client registers its handles when a database is added),
//! some traffic runs, the primary goes down, and the scrape shows the operation durations,
//! errors, connections and the failover, under their OpenTelemetry names.
//!
//! `cargo run -p multidb-client --features metrics --example prometheus`

use metrics_exporter_prometheus::PrometheusBuilder;
use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Histogram buckets (seconds) instead of the default summaries.
    let scrape = PrometheusBuilder::new()
        .set_buckets(&[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0])?
        .install_recorder()?;

    let primary = FakeRedis::start().await?;
    let standby = FakeRedis::start().await?;
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&primary.url())?)
        .database(DatabaseConfig::from_url(&standby.url())?.weight(0.5))
        // Every command timed into db.client.operation.duration (off by default).
        .operation_duration_metric(true)
        .build()?;
    let client = MultiDbClient::new(config);
    let mut events = client.events();
    client.initialize().await?;
    let mut con = client.clone();
    for i in 0..100 {
        con.set::<_, _, ()>("k", i).await?;
    }
    // An error reply the application sees: counted under redis.client.errors.
    let _ = redis::cmd("NOSUCHCOMMAND")
        .query_async::<()>(&mut con)
        .await;

    primary.inject(Fault::Down);
    primary.drop_connections();
    con.set::<_, _, ()>("k", "after").await?; // lands on the standby
    while !matches!(events.recv().await?, Event::ActiveDatabaseChanged { .. }) {}

    // What a Prometheus server would scrape from /metrics.
    print!("{}", scrape.render());
    client.close().await;
    Ok(())
}
