//! The blocking client: the same client for synchronous code, with `redis::Commands`.

use multidb_client::blocking::MultiDbClient;
use redis::Commands;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Fake servers need a runtime of their own; a real application would pass real URLs.
    let fakes = tokio::runtime::Runtime::new()?;
    let (a, b) = fakes.block_on(async {
        Ok::<_, std::io::Error>((
            multidb_testkit::FakeRedis::start().await?,
            multidb_testkit::FakeRedis::start().await?,
        ))
    })?;

    let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5])?;
    client.initialize()?;
    let mut con = client.clone();
    con.set::<_, _, ()>("key", "value")?;
    let v: String = con.get("key")?;
    println!(
        "read back {v:?}; active database {:?}",
        client.active_database()
    );
    client.close()?;
    Ok(())
}
