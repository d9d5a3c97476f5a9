//! Switches the application asks for: manual (sticky), forced (pinned for a while), and
//! ending a force early.
//!
//! A manual or forced switch runs a full, fresh health check of the target through the
//! health engine (the configured probes, delay and policy; never an older result). A
//! target with a lag check must pass it too (a lagging database is refused). A
//! passing check is the operator's evidence that the database serves again: it closes the
//! target's circuit even inside its grace period, and is published like any other result.

use std::sync::Arc;
use std::time::Duration;

use multidb_circuit::State as CircuitState;
use multidb_failover::{EngineError, Unavailability};

use super::Controller;
use crate::error::MultiDbError;
use crate::event::DatabaseId;

impl Controller {
    /// Makes `id` active after a fresh check; with `pin`, pinned for that long.
    pub(crate) async fn switch(
        self: &Arc<Self>,
        id: DatabaseId,
        pin: Option<Duration>,
    ) -> Result<(), MultiDbError> {
        self.initialize().await?;
        let db = self.member(id)?;
        let unhealthy = |reason: String| MultiDbError::UnhealthyDatabase {
            id,
            endpoint: db.endpoint.clone(),
            reason,
        };
        let (status, lag) =
            futures_util::future::join(self.monitor.check_fresh(&id), self.lag_of(id)).await;
        let status = status.map_err(|e| unhealthy(e.to_string()))?;
        if let Some(Err(reason)) = lag {
            return Err(unhealthy(format!("lagging: {reason}")));
        }
        if !status.healthy {
            let reason = status.reason.as_ref().map_or_else(
                || "health check failed".to_owned(),
                |r| r.reason().to_owned(),
            );
            return Err(unhealthy(reason));
        }
        let now = self.now();
        let mut state = self.lock();
        if !state.is_member(&db) {
            return Err(MultiDbError::UnknownDatabase { id });
        }
        db.set_healthy(true);
        db.clear_suspect();
        if db.circuit.state() != CircuitState::Closed {
            db.circuit.force_closed();
        }
        let recovered = state
            .engine
            .set_available(&id, true, Unavailability::HealthCheckFailed, now)
            .ok()
            .flatten();
        self.settle(&mut state, recovered);
        let result = match pin {
            None => state.engine.switch_to(&id, now),
            Some(duration) => state.engine.force(&id, duration, now),
        };
        let outcome = match result {
            Ok(decision) => {
                self.settle(&mut state, decision);
                Ok(())
            }
            Err(EngineError::UnknownCandidate(_)) => Err(MultiDbError::UnknownDatabase { id }),
            Err(e) => Err(unhealthy(format!("{e} (circuit {:?})", db.circuit.state()))),
        };
        drop(state);
        self.reschedule();
        outcome
    }

    /// Ends a force early: normal selection resumes now, as at its expiry.
    pub(crate) async fn release_forced(self: &Arc<Self>) -> Result<(), MultiDbError> {
        self.initialize().await?;
        let now = self.now();
        let mut state = self.lock();
        let decision = state.engine.release_force(now);
        self.settle(&mut state, decision);
        drop(state);
        self.reschedule();
        Ok(())
    }
}
