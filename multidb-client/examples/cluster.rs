//! Two Redis Clusters as members (feature `cluster`): each member is a whole cluster, and
//! the client fails over between them. Starts two 3-master clusters of real `redis-server`
//! processes on loopback through the testkit (needs `redis-server` installed).
//!
//! `cargo run -p multidb-client --features cluster --example cluster`

#[cfg(feature = "cluster")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig};
    use multidb_testkit::RedisCluster;
    use redis::AsyncCommands;

    let east = RedisCluster::start(3)?;
    let west = RedisCluster::start(3)?;
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_cluster_urls(east.urls())?.name("east"))
        .database(
            DatabaseConfig::from_cluster_urls(west.urls())?
                .name("west")
                .weight(0.5),
        )
        .build()?;
    let client = MultiDbClient::new(config);
    client.initialize().await?;

    let mut con = client.clone();
    for i in 0..10 {
        con.set::<_, _, ()>(format!("user:{i}"), i).await?; // spread over the masters
    }
    let v: i64 = con.get("user:7").await?;
    println!(
        "read user:7 = {v} from {:?}",
        client.databases()[0].endpoint
    );
    client.close().await;
    Ok(())
}

#[cfg(not(feature = "cluster"))]
fn main() {
    eprintln!("this example needs the `cluster` feature: --features cluster");
}
