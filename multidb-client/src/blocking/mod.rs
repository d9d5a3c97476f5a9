//! The blocking API: [`MultiDbClient`] for code without async.
//!
//! It wraps the async [`crate::MultiDbClient`] — same failover, same semantics, same
//! events — and runs each call to completion on a tokio runtime: by default a small
//! multi-thread runtime of its own (two workers for the background work; each calling
//! thread drives its own command), shared by every clone and shut down by
//! [`MultiDbClient::close`] or when the last clone is dropped; or a runtime the application
//! already has ([`MultiDbClient::with_handle`]).
//!
//! It implements the synchronous `redis::ConnectionLike`, so every `redis::Commands` method,
//! `redis::cmd(..).query(..)` and `redis::pipe()` work on it. Pipelines wrapped in
//! `MULTI`/`EXEC` (`redis::pipe().atomic()`) run as one transaction on one database and are
//! never replayed once they may have been applied.
//!
//! **Never call it from async code.** On a thread inside a tokio runtime every method
//! that would block fails with [`MultiDbError::BlockingInAsyncContext`] instead of stalling
//! that runtime or panicking. This includes `tokio::task::spawn_blocking` threads, which
//! tokio cannot tell apart from its workers: from async code use the async client
//! ([`MultiDbClient::async_client`]), or this one from a thread of your own.
//!
//! ```
//! use multidb_client::blocking::MultiDbClient;
//! use redis::Commands;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let a = multidb_testkit::RedisServer::start()?;
//! # let b = multidb_testkit::RedisServer::start()?;
//! # let (url_a, url_b) = (a.url(), b.url());
//! # /*
//! let (url_a, url_b) = ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0");
//! # */
//! let mut client = MultiDbClient::from_urls([url_a, url_b], [1.0, 0.5])?;
//! client.initialize()?;
//! let () = client.set("key", "value")?;
//! let v: String = client.get("key")?;
//! assert_eq!(v, "value");
//! client.close()?;
//! # Ok(())
//! # }
//! ```

pub(crate) mod command;
mod runtime;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::broadcast;

use crate::client::MultiDbClient as AsyncClient;
use crate::config::{DatabaseConfig, MultiDbConfig};
use crate::error::MultiDbError;
use crate::event::{DatabaseId, DatabaseInfo, Event};
use runtime::Shared;

/// A blocking Redis client over several databases: the async [`crate::MultiDbClient`]
/// driven on a runtime. See the [module docs](self).
///
/// Cheap to clone (clones share the client and the runtime); `Send + Sync`.
#[derive(Clone)]
pub struct MultiDbClient {
    shared: Arc<Shared>,
}

impl fmt::Debug for MultiDbClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::MultiDbClient")
            .field(&self.shared.client)
            .finish()
    }
}

impl MultiDbClient {
    /// A client over `urls`, one weight per URL, every other setting default, on a runtime
    /// of its own. Validates; does no I/O.
    ///
    /// # Errors
    /// [`MultiDbError::Config`] for a bad configuration (see
    /// [`crate::MultiDbClient::from_urls`]); [`MultiDbError::Redis`] if the runtime cannot
    /// be started (the OS refused threads).
    pub fn from_urls<U, W>(urls: U, weights: W) -> Result<Self, MultiDbError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Self::new(MultiDbConfig::from_urls(urls, weights)?)
    }

    /// A client over Redis Clusters, one per URL, on a runtime of its own (feature
    /// `cluster`; see [`crate::MultiDbClient::from_cluster_urls`]).
    ///
    /// # Errors
    /// As [`Self::from_urls`].
    #[cfg(feature = "cluster")]
    pub fn from_cluster_urls<U, W>(urls: U, weights: W) -> Result<Self, MultiDbError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Self::new(MultiDbConfig::from_cluster_urls(urls, weights)?)
    }

    /// A client with a full configuration, on a runtime of its own. Does no I/O.
    ///
    /// # Errors
    /// [`MultiDbError::Redis`] if the runtime cannot be started.
    pub fn new(config: MultiDbConfig) -> Result<Self, MultiDbError> {
        Ok(MultiDbClient {
            shared: Arc::new(Shared::owned(|| AsyncClient::new(config))?),
        })
    }

    /// A client with a full configuration on the application's runtime. The runtime must
    /// make progress without this client's help (a multi-thread runtime, or a
    /// current-thread one driven by another thread): on a current-thread runtime nothing
    /// drives, calls fail with [`MultiDbError::RuntimeNotDriven`] after 2 s instead of
    /// hanging. [`Self::close`] leaves the runtime running.
    pub fn with_handle(config: MultiDbConfig, handle: Handle) -> Self {
        MultiDbClient {
            shared: Arc::new(Shared::borrowed(handle, || AsyncClient::new(config))),
        }
    }

    /// The async client underneath (shares everything with this one), e.g. for
    /// [`crate::MultiDbClient::pinned`] or Pub/Sub from async code.
    pub fn async_client(&self) -> &AsyncClient {
        &self.shared.client
    }

    fn block_on<F: Future>(&self, method: &'static str, f: F) -> Result<F::Output, MultiDbError> {
        self.shared.block_on(method, f)
    }

    /// Health-checks every database and picks the active one; see
    /// [`crate::MultiDbClient::initialize`].
    ///
    /// # Errors
    /// As [`crate::MultiDbClient::initialize`], plus
    /// [`MultiDbError::BlockingInAsyncContext`].
    pub fn initialize(&self) -> Result<(), MultiDbError> {
        self.block_on("initialize", self.shared.client.initialize())?
    }

    /// A snapshot of every database.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.shared.client.databases()
    }

    /// The database commands go to now (`None` before initialization).
    pub fn active_database(&self) -> Option<DatabaseId> {
        self.shared.client.active_database()
    }

    /// Makes `id` the active database after a fresh health check; see
    /// [`crate::MultiDbClient::set_active_database`].
    ///
    /// # Errors
    /// As [`crate::MultiDbClient::set_active_database`], plus
    /// [`MultiDbError::BlockingInAsyncContext`].
    pub fn set_active_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.block_on(
            "set_active_database",
            self.shared.client.set_active_database(id),
        )?
    }

    /// Makes `id` the active database and pins it for `duration`; see
    /// [`crate::MultiDbClient::force_active_database`].
    ///
    /// # Errors
    /// As [`Self::set_active_database`].
    pub fn force_active_database(
        &self,
        id: DatabaseId,
        duration: Duration,
    ) -> Result<(), MultiDbError> {
        self.block_on(
            "force_active_database",
            self.shared.client.force_active_database(id, duration),
        )?
    }

    /// Adds a database at run time and returns its id; see
    /// [`crate::MultiDbClient::add_database`].
    ///
    /// # Errors
    /// As [`crate::MultiDbClient::add_database`], plus
    /// [`MultiDbError::BlockingInAsyncContext`].
    pub fn add_database(&self, config: DatabaseConfig) -> Result<DatabaseId, MultiDbError> {
        self.block_on("add_database", self.shared.client.add_database(config))?
    }

    /// Removes a database; see [`crate::MultiDbClient::remove_database`].
    ///
    /// # Errors
    /// As [`crate::MultiDbClient::remove_database`], plus
    /// [`MultiDbError::BlockingInAsyncContext`].
    pub fn remove_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.block_on("remove_database", self.shared.client.remove_database(id))?
    }

    /// Changes a database's weight; see [`crate::MultiDbClient::update_database_weight`].
    ///
    /// # Errors
    /// As [`crate::MultiDbClient::update_database_weight`].
    pub fn update_database_weight(&self, id: DatabaseId, weight: f64) -> Result<(), MultiDbError> {
        self.shared.client.update_database_weight(id, weight)
    }

    /// Every event from now on, on a `tokio::sync::broadcast` receiver: blocking code reads
    /// it with `blocking_recv()` (or polls `try_recv()`), async code with `recv().await`. A
    /// receiver that falls behind loses the oldest events and is told how many.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.shared.client.events()
    }

    /// Closes the client for every clone: background tasks stop, member connections close,
    /// commands then fail with [`MultiDbError::Closed`], and an owned runtime shuts down.
    /// Idempotent.
    ///
    /// # Errors
    /// [`MultiDbError::BlockingInAsyncContext`] (nothing is closed then).
    pub fn close(&self) -> Result<(), MultiDbError> {
        self.shared.close()
    }
}
