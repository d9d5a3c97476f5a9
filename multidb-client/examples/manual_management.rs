//! Managing databases by hand: switch, pin for a while, add, re-weight, remove.

use std::time::Duration;

use multidb_client::{DatabaseConfig, MultiDbClient};
use multidb_testkit::FakeRedis;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = FakeRedis::start().await?;
    let b = FakeRedis::start().await?;
    let c = FakeRedis::start().await?;
    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5])?;
    client.initialize().await?;
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();

    client.set_active_database(ids[1]).await?;
    println!("after set_active_database: {:?}", client.active_database());

    client
        .force_active_database(ids[0], Duration::from_secs(60))
        .await?;
    println!("pinned for 60 s: {:?}", client.active_database());

    let new = client
        .add_database(DatabaseConfig::from_url(&c.url())?.weight(0.6))
        .await?;
    client.update_database_weight(new, 0.9)?;
    client.remove_database(ids[1]).await?;
    for db in client.databases() {
        println!(
            "{} {} weight={} active={}",
            db.id, db.endpoint, db.weight, db.active
        );
    }
    client.close().await;
    Ok(())
}
