//! Watching the client: every switch, circuit transition and health change as an event,
//! through `events()` (a broadcast receiver) or an `on_event` listener (a callback on a
//! thread of its own, as redis-py's dispatcher). Here the primary goes down and comes back;
//! the events tell the story, and the listener logs each failover.

use std::time::Duration;

use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let primary = FakeRedis::start().await?;
    let standby = FakeRedis::start().await?;
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&primary.url())?.grace_period(Duration::from_millis(200)),
        )
        .database(DatabaseConfig::from_url(&standby.url())?.weight(0.5))
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes_delay(Duration::from_millis(10))
        .auto_fallback_interval(Some(Duration::from_millis(200)))
        // A listener that logs failovers; a slow or panicking one would delay nothing.
        .on_event(|event| {
            if let Event::ActiveDatabaseChanged { from, to, reason } = event {
                eprintln!("listener: traffic moves from {from:?} to {to} ({reason:?})");
            }
        })
        .build()?;
    let client = MultiDbClient::new(config);
    let mut events = client.events();
    client.initialize().await?;
    let primary_id = client.databases()[0].id;

    primary.inject(Fault::Down);
    primary.drop_connections();
    let mut con = client.clone();
    con.set::<_, _, ()>("k", "v").await?; // lands on the standby
    primary.recover();

    // Print events until traffic is back on the primary (bounded, never hangs).
    let story = async {
        while let Ok(event) = events.recv().await {
            println!("{event:?}");
            if matches!(event, Event::ActiveDatabaseChanged { to, .. } if to == primary_id)
                && client.active_database() == Some(primary_id)
                && con.get::<_, Option<String>>("k").await.is_ok()
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), story).await?;
    client.close().await;
    Ok(())
}
