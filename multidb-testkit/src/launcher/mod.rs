//! Launchers for real `redis-server` processes: single servers (optionally with a password
//! or TLS), and Redis Clusters.
//!
//! Integration tests, benches and chaos soaks need the real thing to kill, pause and restart.
//! Every server listens on 127.0.0.1 only, on a port drawn for it (so parallel tests never
//! share one), runs in a private temp dir with persistence off, and is killed and cleaned up
//! when its handle drops, also when a test panics.
//!
//! The binary is the builder's [`RedisServerBuilder::binary`], else the environment variable
//! `MULTIDB_REDIS_SERVER`, else `redis-server` on `PATH`. A missing binary is an error
//! ([`LaunchError::NotInstalled`]) that says how to install it; nothing is skipped silently.
//!
//! The API is blocking. Starting a server takes milliseconds, a cluster a few seconds; from
//! async tests call it directly (it blocks the runtime thread that long) or via
//! `tokio::task::spawn_blocking`.

mod builder;
mod cluster;
mod control;
mod error;
mod poll;
mod ports;
mod sentinel;
mod server;
mod signal;
mod tempdir;
mod tls;

pub use builder::RedisServerBuilder;
pub use cluster::RedisCluster;
pub use error::LaunchError;
pub use sentinel::RedisSentinel;
pub use server::RedisServer;
pub use tls::TlsMaterial;
