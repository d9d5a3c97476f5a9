//! Start and end: `initialize()`, making members, `close()`.
//!
//! `close()` may race `initialize()` and `add_database()`: it marks the router closed
//! before it takes the state lock, and both check that mark under the lock before they
//! insert a member or start the control task, so whatever they made is either closed by
//! `close()` or discarded by themselves. Nothing is left open.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use multidb_health::{HealthStatus, MonitorError};

use super::{Controller, new_engine};
use super::{task, watchdog};
use crate::checks::Caught;
use crate::config::DatabaseConfig;
use crate::error::{ConfigError, FailedDatabase, MultiDbError};
use crate::event::DatabaseId;
use crate::member::{CheckPlan, Database};

impl Controller {
    /// Health-checks every database, applies the initial policy, picks the active database
    /// and starts the control task. Concurrent and repeated calls initialize once; a
    /// failed call may be retried.
    pub(crate) async fn initialize(self: &Arc<Self>) -> Result<(), MultiDbError> {
        if self.router.is_closed() {
            return Err(MultiDbError::Closed);
        }
        self.initialized
            .get_or_try_init(|| self.clone().initialize_once())
            .await
            .map(|&()| ())
    }

    async fn initialize_once(self: Arc<Self>) -> Result<(), MultiDbError> {
        let mut created = Vec::new();
        for config in &self.config.databases {
            match self.create_member(config) {
                Ok(db) => created.push(db),
                Err(e) => {
                    self.discard(&created);
                    return Err(e);
                }
            }
        }
        // Full, fresh checks: the configured probes, delay and policy.
        let results = futures_util::future::join_all(
            created.iter().map(|db| self.monitor.check_fresh(&db.id)),
        );
        let lags = futures_util::future::join_all(created.iter().map(|db| self.lag_of(db.id)));
        let (results, lags) = futures_util::future::join(results, lags).await;
        let now = self.now();
        let mut state = self.lock();
        if self.router.is_closed() {
            drop(state);
            self.discard(&created);
            return Err(MultiDbError::Closed);
        }
        let mut failed = Vec::new();
        for ((db, result), lag) in created.iter().zip(results).zip(lags) {
            let healthy = result.as_ref().is_ok_and(|s| s.healthy);
            if !healthy {
                failed.push(FailedDatabase {
                    id: db.id,
                    endpoint: db.endpoint.clone(),
                    reason: reason_of(&result),
                });
            }
            // Before initialize the engine decides nothing.
            let _ = state.admit(db, healthy, lag.is_some_and(|l| l.is_err()), now);
        }
        let Ok(decision) = state.engine.initialize(self.config.failover.initial, now) else {
            state.members.clear();
            // A fresh engine for the next attempt.
            state.engine = new_engine(&self.config);
            drop(state);
            self.discard(&created);
            return Err(MultiDbError::InitialHealthCheckFailed {
                policy: self.config.failover.initial,
                failed,
            });
        };
        let rx = self
            .circuit_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            state.task = Some(task::spawn(
                Arc::downgrade(&self),
                self.reschedule.clone(),
                self.monitor.subscribe(),
                self.gates.subscribe(),
                rx,
            ));
            state.watchdog = self.config.health.stall_tolerance.map(|tolerance| {
                watchdog::spawn(
                    Arc::downgrade(&self),
                    tolerance,
                    self.config.health.interval,
                )
            });
            state.heartbeat_writer = self.heartbeat.clone().map(|heartbeat| {
                let controller = Arc::downgrade(&self);
                crate::heartbeat::spawn_writer(heartbeat, move || {
                    let this = controller.upgrade()?;
                    (!this.router.is_closed()).then(|| this.members())
                })
            });
        }
        self.settle(&mut state, Some(decision));
        Ok(())
    }

    /// Makes a member: its connection, breaker, listener and health target.
    pub(super) fn create_member(
        &self,
        config: &DatabaseConfig,
    ) -> Result<Arc<Database>, MultiDbError> {
        let id = DatabaseId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let circuit = self.config.circuit_config(config)?;
        let target = self.config.target_config(config)?;
        let (plan, lag_gate) = self.check_plan(config);
        let db = Arc::new(
            Database::new(
                id,
                config.endpoint.clone(),
                config.weight,
                config.spec.clone(),
                plan,
                circuit,
                self.clock(),
            )?
            .with_blocking_connections(self.config.blocking_connections)
            .with_operation_durations(self.config.operation_duration_metric),
        );
        let tx = self.circuit_tx.clone();
        db.circuit.on_transition(move |t| {
            let _ = tx.send((id, t.clone()));
        });
        // Lag gates: the lag-aware check and the heartbeat's, one verdict together.
        let gates: Vec<_> = lag_gate
            .into_iter()
            .chain(self.heartbeat.as_ref().map(|h| h.gate_for(id)))
            .map(|gate| Caught::wrap(gate, self.events.clone()))
            .collect();
        if !gates.is_empty() {
            self.gates
                .add_target(id, db.clone(), gates, target.clone())
                .map_err(monitor_error)?;
        }
        let added = self
            .monitor
            .add_target(id, db.clone(), self.checks_for(&db), target);
        if let Err(e) = added {
            self.gates.remove_target(&id);
            return Err(monitor_error(e));
        }
        Ok(db)
    }

    /// The health checks `db` runs: its own plan over the client-wide ones, each caught so
    /// that a panic is announced.
    pub(super) fn checks_for(&self, db: &Database) -> Vec<Arc<dyn crate::HealthCheck<Database>>> {
        let client_wide = self.lock().checks.clone();
        db.checks
            .resolve(&client_wide)
            .into_iter()
            .map(|check| Caught::wrap(check, self.events.clone()))
            .collect()
    }

    /// The checks of a new member, and its lag-aware gate: the lag check gates (on its own
    /// monitor), or with `evict_on_lag` is one more check. The heartbeat's gate is added
    /// once the member exists.
    fn check_plan(
        &self,
        config: &DatabaseConfig,
    ) -> (CheckPlan, Option<Arc<dyn crate::HealthCheck<Database>>>) {
        let plan = config.checks.clone();
        let gate = self.lag_check(config);
        #[cfg(feature = "lag-aware")]
        if self.config.health.evict_on_lag {
            let mut plan = plan;
            plan.added.extend(gate);
            return (plan, None);
        }
        (plan, gate)
    }

    /// The lag-aware check of a database with a `health_check_url`: its own settings or
    /// the client-wide ones.
    #[cfg(feature = "lag-aware")]
    fn lag_check(&self, config: &DatabaseConfig) -> Option<Arc<dyn crate::HealthCheck<Database>>> {
        config.spec.health_check_url.as_ref()?;
        let check = config
            .lag_aware
            .clone()
            .or_else(|| self.config.health.lag_aware.clone())
            .unwrap_or_default();
        Some(Arc::new(check))
    }

    #[cfg(not(feature = "lag-aware"))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)] // as the feature's version
    fn lag_check(&self, _config: &DatabaseConfig) -> Option<Arc<dyn crate::HealthCheck<Database>>> {
        // build() refuses a health_check_url without the feature.
        None
    }

    /// A fresh lag check of `id`: `None` when it has none, else whether it lags (and why).
    pub(super) async fn lag_of(&self, id: DatabaseId) -> Option<Result<(), String>> {
        self.gates.checks(&id)?;
        Some(match self.gates.check_fresh(&id).await {
            Ok(status) if status.healthy => Ok(()),
            Ok(status) => Err(status
                .reason
                .map_or_else(|| "lagging".to_owned(), |r| r.reason().to_owned())),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Undoes `create_member` for members never inserted.
    pub(super) fn discard(&self, created: &[Arc<Database>]) {
        for db in created {
            self.monitor.remove_target(&db.id);
            self.gates.remove_target(&db.id);
            db.close();
        }
    }

    /// Stops the control task and every health check, and closes every member. Commands
    /// then fail with [`MultiDbError::Closed`]. Idempotent.
    pub(crate) async fn close(&self) {
        if self.router.close() {
            return;
        }
        let (tasks, members) = {
            let mut state = self.lock();
            let members: Vec<_> = std::mem::take(&mut state.members).into_values().collect();
            (
                [
                    state.task.take(),
                    state.watchdog.take(),
                    state.heartbeat_writer.take(),
                ],
                members,
            )
        };
        for task in tasks.into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        for db in &members {
            self.monitor.remove_target(&db.id);
            self.gates.remove_target(&db.id);
        }
        self.monitor.shutdown().await;
        self.gates.shutdown().await;
        self.router.set_active(None);
        for db in members {
            db.close();
        }
        self.router.wake_waiters();
        // The listeners get every event so far, then their thread ends.
        self.events.close();
    }
}

fn reason_of(result: &Result<HealthStatus, MonitorError>) -> String {
    match result {
        Ok(s) => s
            .reason
            .as_ref()
            .map_or_else(|| "unhealthy".to_owned(), |r| r.reason().to_owned()),
        Err(e) => e.to_string(),
    }
}

fn monitor_error(e: MonitorError) -> MultiDbError {
    match e {
        MonitorError::ShutDown => MultiDbError::Closed,
        e => MultiDbError::Config(ConfigError::invalid(
            "health",
            e.to_string(),
            "a valid health target",
        )),
    }
}
