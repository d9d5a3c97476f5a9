//! [`MultiDbClient`]: the handle applications hold.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use multidb_failover::EngineError;
use tokio::sync::broadcast;

use crate::config::{DatabaseConfig, MultiDbConfig};
use crate::control::Inner;
use crate::error::{ConfigError, MultiDbError};
use crate::event::{DatabaseId, DatabaseInfo, Event};

/// A Redis client over several databases, always using the healthiest, highest-weighted
/// one and moving between them by itself.
///
/// Cheap to clone (clones share everything); `Send + Sync`; implements
/// `redis::aio::ConnectionLike`, so every `redis::AsyncCommands` method, `redis::cmd(..)`,
/// `redis::pipe()` and scripts work on it unchanged.
#[derive(Clone)]
pub struct MultiDbClient {
    pub(crate) inner: Arc<Inner>,
    pub(crate) local: crate::command::Local,
}

impl fmt::Debug for MultiDbClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiDbClient")
            .field("active", &self.active_database())
            .field("databases", &self.databases())
            .finish()
    }
}

impl MultiDbClient {
    /// A client over `urls`, with one weight per URL and every other setting default.
    /// Validates; does no I/O (call [`Self::initialize`], or just send a command).
    ///
    /// # Errors
    /// A [`ConfigError`]: no URL, URLs and weights of different lengths, a bad URL or
    /// weight, duplicate endpoints.
    pub fn from_urls<U, W>(urls: U, weights: W) -> Result<Self, ConfigError>
    where
        U: IntoIterator,
        U::Item: AsRef<str>,
        W: IntoIterator<Item = f64>,
    {
        Ok(Self::new(MultiDbConfig::from_urls(urls, weights)?))
    }

    /// A client with a full configuration. Does no I/O.
    pub fn new(config: MultiDbConfig) -> Self {
        MultiDbClient {
            inner: Arc::new(Inner::new(config)),
            local: crate::command::Local::default(),
        }
    }

    /// Health-checks every database, applies the initial policy, picks the active database
    /// and starts background health checks. Idempotent: concurrent and repeated calls
    /// initialize once. A failed call may be retried.
    ///
    /// # Errors
    /// [`MultiDbError::InitialHealthCheckFailed`] (naming each database that failed and
    /// why) when the initial policy is not met; [`MultiDbError::Closed`] after
    /// [`Self::close`]. Needs a tokio runtime.
    pub async fn initialize(&self) -> Result<(), MultiDbError> {
        self.inner.initialize().await
    }

    /// A snapshot of every database.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        let active = self.active_database();
        self.inner
            .lock()
            .members
            .values()
            .map(|db| db.info(Some(db.id) == active))
            .collect()
    }

    /// The database commands go to now (`None` before initialization).
    pub fn active_database(&self) -> Option<DatabaseId> {
        self.inner.active.load().as_ref().map(|db| db.id)
    }

    /// Makes `id` the active database after a fresh health check. The choice sticks until
    /// the next automatic failover away from it (auto-fallback does not undo it).
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`], or [`MultiDbError::UnhealthyDatabase`] when its
    /// health check fails or its circuit is open.
    pub async fn set_active_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.switch(id, None).await
    }

    /// Makes `id` the active database and pins it for `duration`: no automatic switch of
    /// any kind until then, even if it fails; then normal selection resumes.
    ///
    /// # Errors
    /// As [`Self::set_active_database`].
    pub async fn force_active_database(
        &self,
        id: DatabaseId,
        duration: Duration,
    ) -> Result<(), MultiDbError> {
        self.switch(id, Some(duration)).await
    }

    async fn switch(&self, id: DatabaseId, pin: Option<Duration>) -> Result<(), MultiDbError> {
        self.inner.initialize().await?;
        let db = self.inner.member(id)?;
        // A fresh check, never a cached result: the application asked for this database now.
        if let Err(reason) = self.inner.probe(&db).await {
            return Err(MultiDbError::UnhealthyDatabase {
                id,
                endpoint: db.endpoint.clone(),
                reason,
            });
        }
        let now = self.inner.now();
        let mut state = self.inner.lock();
        let result = match pin {
            None => state.engine.switch_to(&id, now),
            Some(duration) => state.engine.force(&id, duration, now),
        };
        match result {
            Ok(decision) => {
                self.inner.settle(&mut state, decision);
                Ok(())
            }
            Err(EngineError::UnknownCandidate(_)) => Err(MultiDbError::UnknownDatabase { id }),
            Err(e) => Err(MultiDbError::UnhealthyDatabase {
                id,
                endpoint: db.endpoint.clone(),
                reason: format!("{e} (circuit {:?})", db.circuit.state()),
            }),
        }
    }

    /// Adds a database at run time: it is health-checked first and becomes active if it
    /// outranks the active one. Returns its id.
    ///
    /// # Errors
    /// [`MultiDbError::Config`] for a bad weight or an endpoint already present.
    pub async fn add_database(&self, config: DatabaseConfig) -> Result<DatabaseId, MultiDbError> {
        self.inner.initialize().await?;
        if !(config.weight.is_finite() && config.weight > 0.0) {
            return Err(ConfigError::InvalidWeight {
                endpoint: config.endpoint.to_string(),
                value: config.weight,
            }
            .into());
        }
        if self
            .inner
            .lock()
            .members
            .values()
            .any(|db| db.endpoint == config.endpoint)
        {
            return Err(ConfigError::DuplicateEndpoint {
                endpoint: config.endpoint.to_string(),
            }
            .into());
        }
        let db = self.inner.create_member(config)?;
        let status = self.inner.monitor.check_now(&db.id).await;
        let healthy = status.as_ref().is_ok_and(|s| s.healthy);
        db.healthy.store(healthy, Ordering::Release);
        if !healthy {
            db.circuit.trip();
        }
        let now = self.inner.now();
        let mut state = self.inner.lock();
        state.members.insert(db.id, db.clone());
        let decision = state
            .engine
            .add(db.id, db.weight(), db.config.grace_period, healthy, now)
            .ok()
            .flatten();
        self.inner.publish(Event::DatabaseAdded { database: db.id });
        tracing::info!(database = %db.id, endpoint = %db.endpoint, healthy, "database added");
        self.inner.settle(&mut state, decision);
        Ok(db.id)
    }

    /// Removes a database. If it is the active one, traffic switches first, then it is
    /// closed.
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`].
    pub async fn remove_database(&self, id: DatabaseId) -> Result<(), MultiDbError> {
        self.inner.initialize().await?;
        let now = self.inner.now();
        let db = {
            let mut state = self.inner.lock();
            let decision = state
                .engine
                .remove(&id, now)
                .map_err(|_| MultiDbError::UnknownDatabase { id })?;
            self.inner.settle(&mut state, decision);
            let db = state.members.remove(&id);
            if state.engine.active().is_none() {
                self.inner.set_active(None);
            }
            db
        };
        self.inner.monitor.remove_target(&id);
        if let Some(db) = db {
            db.close();
        }
        self.inner.publish(Event::DatabaseRemoved { database: id });
        tracing::info!(database = %id, "database removed");
        Ok(())
    }

    /// Changes a database's weight; traffic moves at once if that changes the best choice
    /// among stably healthy databases.
    ///
    /// # Errors
    /// [`MultiDbError::UnknownDatabase`], or [`MultiDbError::Config`] for a weight that is
    /// not finite and > 0.
    pub fn update_database_weight(&self, id: DatabaseId, weight: f64) -> Result<(), MultiDbError> {
        let db = self.inner.member(id)?;
        if !(weight.is_finite() && weight > 0.0) {
            return Err(ConfigError::InvalidWeight {
                endpoint: db.endpoint.to_string(),
                value: weight,
            }
            .into());
        }
        let now = self.inner.now();
        let mut state = self.inner.lock();
        let decision = state
            .engine
            .set_weight(&id, weight, now)
            .map_err(|_| MultiDbError::UnknownDatabase { id })?;
        db.set_weight(weight);
        self.inner.settle(&mut state, decision);
        Ok(())
    }

    /// Adds a health check that every database runs from now on, on top of the configured
    /// ones (all must pass). Databases' schedules restart.
    ///
    /// # Errors
    /// [`MultiDbError::Config`] if a database could not be registered again with the
    /// health monitor (e.g. after [`Self::close`]).
    pub fn add_health_check(
        &self,
        check: Arc<dyn crate::HealthCheck<crate::Database>>,
    ) -> Result<(), MultiDbError> {
        self.inner.add_check(check)
    }

    /// Replaces the strategy that picks the active database among the healthy ones; it
    /// applies from the next decision on.
    pub fn set_failover_strategy(&self, strategy: Arc<dyn crate::FailoverStrategy<DatabaseId>>) {
        self.inner.lock().engine.set_strategy(strategy);
    }

    /// Every switch, circuit transition, health change, database added or removed and
    /// resubscription, from now on. A receiver that falls behind loses the oldest events.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events()
    }

    /// Stops every background task and closes every member connection. Commands then fail
    /// with [`MultiDbError::Closed`]. Idempotent.
    pub async fn close(&self) {
        self.inner.close().await;
    }
}
