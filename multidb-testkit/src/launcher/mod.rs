//! Launchers for real `redis-server` processes: single servers, Sentinel-monitored pairs and
//! Redis Clusters, each optionally with TLS, a password or an ACL user.
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
//!
//! The launcher drives its processes over its own tiny control connection: TCP, or for a
//! TLS-only process a unix socket in its temp dir (so the launcher needs no TLS client), and
//! logged in as the ACL user or with the password the process requires. Every control
//! connection is named `multidb-testkit-control`, so [`RedisServer::connected_clients`] can
//! count only what the code under test opened.

mod builder;
mod clients;
mod cluster;
mod config;
mod control;
mod credentials;
mod error;
mod poll;
mod ports;
mod sentinel;
mod server;
mod signal;
mod tempdir;
mod tls;

pub use builder::RedisServerBuilder;
pub use clients::ClientInfo;
pub use cluster::{RedisCluster, RedisClusterBuilder};
pub use error::LaunchError;
pub use sentinel::{RedisSentinel, RedisSentinelBuilder};
pub use server::RedisServer;
pub use tls::TlsMaterial;
