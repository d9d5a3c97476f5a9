//! Bring your own connection: any `redis::aio::ConnectionLike + Clone + Send + Sync`, such as
//! a `redis::aio::ConnectionManager` you configured yourself, can be a member.

use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig};
use multidb_testkit::FakeRedis;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let primary = FakeRedis::start().await?;
    let standby = FakeRedis::start().await?;

    let manager = ConnectionManager::new_with_config(
        redis::Client::open(primary.url())?,
        ConnectionManagerConfig::new().set_number_of_retries(1),
    )
    .await?;
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_connection(manager).name("primary (own manager)"))
        .database(DatabaseConfig::from_url(&standby.url())?.weight(0.5))
        .build()?;
    let client = MultiDbClient::new(config);
    client.initialize().await?;

    let mut con = client.clone();
    con.set::<_, _, ()>("owner", "application").await?;
    let owner: String = con.get("owner").await?;
    println!(
        "read back {owner:?} through {:?}",
        client.databases()[0].endpoint
    );
    client.close().await;
    Ok(())
}
