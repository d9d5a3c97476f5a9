//! Members joining and leaving at run time, weights, and health checks added at run time.

use std::sync::Arc;

use super::Controller;
use crate::config::DatabaseConfig;
use crate::error::{ConfigError, MultiDbError};
use crate::event::{DatabaseId, Event};
use crate::member::Database;

impl Controller {
    /// Adds a database: a full, fresh health check first; it becomes active if it outranks
    /// the active one. Returns its id.
    pub(crate) async fn join(
        self: &Arc<Self>,
        config: DatabaseConfig,
    ) -> Result<DatabaseId, MultiDbError> {
        self.initialize().await?;
        config.validate()?;
        #[cfg(feature = "lag-aware")]
        config.validate_rest_transport(self.config.health.lag_aware.as_ref())?;
        {
            let mut state = self.lock();
            let taken = state
                .members
                .values()
                .any(|db| db.endpoint == config.endpoint)
                || !state.joining.insert(config.endpoint.clone());
            if taken {
                return Err(ConfigError::DuplicateEndpoint {
                    endpoint: config.endpoint.to_string(),
                }
                .into());
            }
        }
        let endpoint = config.endpoint.clone();
        let result = self.join_reserved(config).await;
        self.lock().joining.remove(&endpoint);
        result
    }

    async fn join_reserved(
        self: &Arc<Self>,
        config: DatabaseConfig,
    ) -> Result<DatabaseId, MultiDbError> {
        let db = self.create_member(&config)?;
        let (status, lag) =
            futures_util::future::join(self.monitor.check_fresh(&db.id), self.lag_of(db.id)).await;
        let healthy = status.as_ref().is_ok_and(|s| s.healthy);
        let lagging = lag.is_some_and(|l| l.is_err());
        let now = self.now();
        let mut state = self.lock();
        if self.router.is_closed() {
            drop(state);
            self.discard(&[db]);
            return Err(MultiDbError::Closed);
        }
        let decision = state.admit(&db, healthy, lagging, now);
        self.publish(Event::DatabaseAdded { database: db.id });
        tracing::info!(database = %db.id, endpoint = %db.endpoint, healthy, "database added");
        self.settle(&mut state, decision);
        drop(state);
        self.reschedule();
        Ok(db.id)
    }

    /// Removes a database: if it is the active one, traffic switches first; then it is
    /// closed.
    pub(crate) async fn leave(self: &Arc<Self>, id: DatabaseId) -> Result<(), MultiDbError> {
        self.initialize().await?;
        let now = self.now();
        let db = {
            let mut state = self.lock();
            let decision = state
                .engine
                .remove(&id, now)
                .map_err(|_| MultiDbError::UnknownDatabase { id })?;
            self.settle(&mut state, decision);
            let db = state.members.remove(&id);
            if state.engine.active().is_none() {
                self.router.set_active(None);
            }
            // Availability again, now that the member table lost it.
            self.settle(&mut state, None);
            db
        };
        self.monitor.remove_target(&id);
        self.gates.remove_target(&id);
        if let Some(db) = db {
            db.close();
        }
        self.publish(Event::DatabaseRemoved { database: id });
        tracing::info!(database = %id, "database removed");
        self.reschedule();
        Ok(())
    }

    /// Changes a database's weight; traffic moves at once if that changes the best choice.
    pub(crate) fn set_weight(&self, id: DatabaseId, weight: f64) -> Result<(), MultiDbError> {
        let db = self.member(id)?;
        crate::config::validate_weight(&db.endpoint, weight)?;
        let now = self.now();
        let mut state = self.lock();
        let decision = state
            .engine
            .set_weight(&id, weight, now)
            .map_err(|_| MultiDbError::UnknownDatabase { id })?;
        db.set_weight(weight);
        self.settle(&mut state, decision);
        drop(state);
        self.reschedule();
        Ok(())
    }

    /// Adds a health check every database runs from now on (and those added later).
    pub(crate) fn add_check(
        &self,
        check: Arc<dyn crate::HealthCheck<Database>>,
    ) -> Result<(), MultiDbError> {
        self.lock().checks.push(check);
        for db in self.members() {
            let checks = self.checks_for(&db);
            self.monitor
                .set_checks(&db.id, checks)
                .map_err(|e| match e {
                    multidb_health::MonitorError::ShutDown => MultiDbError::Closed,
                    e => MultiDbError::Config(ConfigError::invalid(
                        "health_check",
                        e.to_string(),
                        "a registered database",
                    )),
                })?;
        }
        Ok(())
    }
}
