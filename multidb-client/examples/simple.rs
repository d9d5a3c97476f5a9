//! The simplest use: two databases by URL, weights, commands as with any redis connection.
//!
//! Runs against two in-process fake servers; pass real URLs to use yours:
//! `cargo run -p multidb-client --example simple -- redis://host1:6379 redis://host2:6379`

use multidb_client::MultiDbClient;
use multidb_testkit::FakeRedis;
use redis::AsyncCommands;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    let _fakes = if urls.is_empty() {
        let fakes = vec![FakeRedis::start().await?, FakeRedis::start().await?];
        urls = fakes.iter().map(FakeRedis::url).collect();
        fakes
    } else {
        Vec::new()
    };
    let weights = (0..urls.len()).map(|i| 1.0 / (i as f64 + 1.0));

    let client = MultiDbClient::from_urls(&urls, weights)?;
    client.initialize().await?;

    let mut con = client.clone();
    con.set::<_, _, ()>("greeting", "hello from the active database")
        .await?;
    let greeting: String = con.get("greeting").await?;
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .incr("n", 1)
        .incr("n", 1)
        .query_async(&mut con)
        .await?;
    println!("{greeting}; counter went {a} -> {b}");
    println!("active database: {:?}", client.active_database());
    client.close().await;
    Ok(())
}
