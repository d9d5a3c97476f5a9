//! Fault-injection testkit for Redis clients: test how an application behaves when Redis
//! is down, silent, slow or answering errors, without leaving the test process.
//!
//! - [`FakeRedis`]: an in-process Redis server on a loopback port (RESP2 and RESP3, strings,
//!   hashes, lists, sets, expiry, transactions with `WATCH`, pub/sub) whose failures are a
//!   library call: [`FakeRedis::inject`] a [`Fault`], then [`FakeRedis::recover`].
//! - [`FaultProxy`]: a TCP proxy with network faults ([`ProxyFault`]) in front of any server,
//!   a real `redis-server` included.
//! - Launchers for real `redis-server` processes, for tests that need the real thing.
//! - [`FakeRestApi`]: a fake Redis Enterprise REST API (database list and availability with
//!   lag), for lag-aware health checks.
//!
//! # Example: an application under a fault
//!
//! ```
//! use multidb_testkit::{FakeRedis, Fault};
//! use redis::AsyncCommands;
//!
//! /// The application code under test: reads a greeting, retrying once on I/O errors.
//! async fn greeting(client: &redis::Client) -> Result<String, String> {
//!     let mut last_error = String::new();
//!     for _attempt in 0..2 {
//!         let attempt = async {
//!             let mut con = client.get_multiplexed_async_connection().await?;
//!             con.get::<_, Option<String>>("greeting").await
//!         };
//!         match attempt.await {
//!             Ok(value) => return Ok(value.unwrap_or_else(|| "hello".to_owned())),
//!             Err(e) if e.is_io_error() => last_error = format!("redis unavailable: {e}"),
//!             Err(e) => return Err(e.to_string()),
//!         }
//!     }
//!     Err(last_error)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeRedis::start().await?;
//! let client = redis::Client::open(fake.url())?;
//! assert_eq!(greeting(&client).await, Ok("hello".to_owned()));
//!
//! fake.inject(Fault::Down);
//! let error = greeting(&client).await.unwrap_err();
//! assert!(error.starts_with("redis unavailable"), "{error}");
//!
//! fake.recover();
//! assert_eq!(greeting(&client).await, Ok("hello".to_owned()));
//! # Ok(())
//! # }
//! ```
//!
//! Faults take effect when `inject` returns: after `Fault::Down` the very next connect is
//! refused. Nothing here sleeps to wait; tests can use `#[tokio::test(start_paused = true)]`
//! for TTLs, and short real timeouts for `Fault::Blackhole`.

mod fake;
#[doc(hidden)]
pub mod fuzzing;
mod launcher;
mod proxy;
mod rest;
mod sim;
mod sync;

pub use fake::*;
pub use launcher::*;
pub use proxy::*;
pub use rest::{Availability, BdbEndpoint, FakeRestApi};
pub use sim::{Direction, SimNet, SimStream};
