//! Turning what happened — a health result, a circuit transition, time passing — into
//! decisions of the failover engine, and applying them.
//!
//! **Grace period, as in redis-py, without its flapping**: a database whose health check
//! fails, or whose circuit opens, has its circuit held Open for its grace period; then the
//! circuit turns HalfOpen (the control task looks at that moment, so the state and its
//! event are on time) and a probe is asked for; a passing probe closes it and only then is
//! the database a candidate again. One exception keeps any database better than none: when
//! no database is usable, a passing check closes a circuit before its grace ends, so a 2 s
//! blip on every member is not a 60 s outage — and every unusable member is probed at once
//! and then every 500 ms (or `health_check_interval`, if shorter) until one serves, so that
//! recovery does not wait for the schedule either.

use std::sync::Arc;
use std::time::Duration;

use multidb_circuit::{State as CircuitState, Transition, TransitionReason};
use multidb_failover::{Decision, Status, Unavailability};
use multidb_health::HealthStatus;

use super::router::Availability;
use super::{Controller, State, is_failure, is_manual};
use crate::SwitchReason;
use crate::event::{DatabaseId, Event};
use crate::member::Database;

impl Controller {
    /// Applies an optional decision, reports a contained strategy panic, and publishes the
    /// resulting availability (announcing when no database is left).
    pub(super) fn settle(&self, state: &mut State, decision: Option<Decision<DatabaseId>>) {
        if let Some(d) = decision {
            self.apply(state, &d);
        }
        let panics = state.engine.strategy_panics();
        if panics > state.strategy_panics {
            state.strategy_panics = panics;
            let message = state
                .engine
                .last_strategy_panic()
                .unwrap_or_default()
                .to_owned();
            tracing::warn!(panics, message = %message, "failover strategy panicked: decided with the weighted strategy instead");
            self.publish(Event::CallbackPanicked {
                what: "failover strategy".to_owned(),
                message,
            });
        }
        let availability = if state.members.is_empty() {
            if self.initialized.initialized() {
                Availability::Empty
            } else {
                Availability::Uninitialized
            }
        } else {
            match state.engine.status(self.now()) {
                Status::Uninitialized => Availability::Uninitialized,
                Status::Active(_) => Availability::Serving,
                Status::TemporarilyUnavailable { unavailable_for }
                | Status::NoValidDatabase { unavailable_for } => {
                    let now = tokio::time::Instant::now();
                    Availability::Down {
                        since: now.checked_sub(unavailable_for).unwrap_or(self.origin),
                        budget: state.engine.config().unavailability_budget(),
                    }
                }
            }
        };
        let down = matches!(availability, Availability::Down { .. });
        self.router.set_availability(availability);
        if !down {
            state.recovery_probe_at = None;
        } else if state.recovery_probe_at.is_none() {
            // Probe every member at once, then on a short cadence, until one serves.
            state.recovery_probe_at = Some(self.now());
            self.reschedule();
        }
        if down && !state.all_down_announced {
            state.all_down_announced = true;
            tracing::warn!("no healthy database: commands fail fast until one recovers");
            self.publish(Event::AllDatabasesUnhealthy);
            // Nothing may wait on the database that failed last, whatever the timeouts.
            if let Some(active) = self.router.active() {
                active.evict(true);
            }
            // Retries waiting for a switch should learn now that none is coming.
            self.router.wake_waiters();
        } else if !down {
            state.all_down_announced = false;
        }
    }

    /// Applies a decision of the engine: swap the active database, fail the old one's
    /// in-flight commands fast, count and publish it, wake waiting retries.
    fn apply(&self, state: &State, decision: &Decision<DatabaseId>) {
        let Some(to) = state.members.get(&decision.to).cloned() else {
            return;
        };
        let old = self.router.set_active(Some(to.clone()));
        if let Some(old) = old.filter(|o| o.id != decision.to) {
            old.evict(is_failure(decision.reason));
        }
        let (from, to_id, reason) = (decision.from, decision.to, decision.reason);
        match reason {
            SwitchReason::AutoFallback | SwitchReason::Initial | SwitchReason::Recovered => {
                tracing::info!(from = ?from, to = %to_id, reason = %reason, "active database changed");
            }
            _ => {
                tracing::warn!(from = ?from, to = %to_id, reason = %reason, "active database changed");
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(from) = from.and_then(|f| state.members.get(&f)) {
            // redis-py's counter: only a change from one database to another counts.
            metrics::counter!(
                "redis.client.geofailover.failovers",
                "db.client.geofailover.fail_from" => from.metric_label(),
                "db.client.geofailover.fail_to" => to.metric_label(),
                "db.client.geofailover.reason" => if is_manual(reason) { "manual" } else { "automatic" },
            )
            .increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = is_manual;
        self.publish(Event::ActiveDatabaseChanged {
            from,
            to: to_id,
            reason,
        });
        self.router.wake_waiters();
    }

    /// A health result of `db`; `changed` when it flipped (the monitor says so), which is
    /// when it is announced.
    pub(super) fn on_health(&self, id: DatabaseId, status: &HealthStatus, changed: bool) {
        let healthy = status.healthy;
        let now = self.now();
        let mut state = self.lock();
        // A result for a database removed meanwhile is dropped.
        let Some(db) = state.members.get(&id).cloned() else {
            return;
        };
        db.set_healthy(healthy);
        if healthy {
            db.clear_suspect();
            match db.circuit.state() {
                CircuitState::HalfOpen => db.circuit.force_closed(),
                // Any database beats none: close before the grace period ends.
                CircuitState::Open if !matches!(state.engine.status(now), Status::Active(_)) => {
                    tracing::info!(database = %db.id, endpoint = %db.endpoint, "no database usable: closing a circuit before its grace period ends");
                    db.circuit.force_closed();
                }
                _ => {}
            }
        } else {
            // Held open for the grace period (a half-open circuit re-opens).
            db.circuit.trip();
            let reason = status
                .reason
                .as_ref()
                .map_or("no reason given", |r| r.reason());
            db.note_failure(format_args!("health check failed: {reason}"));
        }
        let available = healthy && db.circuit.state() == CircuitState::Closed;
        let decision = state
            .engine
            .set_available(&db.id, available, Unavailability::HealthCheckFailed, now)
            .ok()
            .flatten();
        self.settle(&mut state, decision);
        drop(state);
        // Announced once the engine knows: a listener acting on it finds the state agreeing.
        if changed {
            if healthy {
                tracing::info!(database = %db.id, endpoint = %db.endpoint, "database healthy");
            } else {
                let reason = status.reason.as_ref().map(|r| r.reason().to_owned());
                tracing::warn!(database = %db.id, endpoint = %db.endpoint, reason = ?reason, "database unhealthy");
            }
            self.publish(Event::HealthChanged {
                database: db.id,
                healthy,
            });
        }
    }

    /// A lag-check result of `db`: lag gates it from becoming active, never evicts it.
    pub(super) fn on_lag(&self, id: DatabaseId, status: &HealthStatus, changed: bool) {
        let lagging = !status.healthy;
        let now = self.now();
        let mut state = self.lock();
        let Some(db) = state.members.get(&id).cloned() else {
            return;
        };
        db.set_lagging(lagging);
        let decision = state.engine.set_gated(&db.id, lagging, now).ok().flatten();
        self.settle(&mut state, decision);
        drop(state);
        if changed {
            if lagging {
                let reason = status.reason.as_ref().map(|r| r.reason().to_owned());
                tracing::warn!(database = %db.id, endpoint = %db.endpoint, reason = ?reason, "database lagging: it is not made active while another is usable");
            } else {
                tracing::info!(database = %db.id, endpoint = %db.endpoint, "database caught up");
            }
            self.publish(Event::LagChanged {
                database: db.id,
                lagging,
            });
        }
    }

    /// A transition of `id`'s circuit breaker.
    pub(super) fn on_circuit(&self, id: DatabaseId, transition: &Transition) {
        let Ok(db) = self.member(id) else {
            return;
        };
        match transition.to {
            CircuitState::Open => {
                tracing::warn!(database = %id, endpoint = %db.endpoint, from = ?transition.from, reason = ?transition.reason, "circuit opened");
            }
            to => {
                tracing::info!(database = %id, endpoint = %db.endpoint, from = ?transition.from, to = ?to, "circuit state changed");
            }
        }
        self.publish(Event::CircuitStateChanged {
            database: id,
            from: transition.from,
            to: transition.to,
        });
        let traffic_failed = matches!(
            transition.reason,
            TransitionReason::ThresholdsCrossed | TransitionReason::HalfOpenFailed
        );
        if transition.to == CircuitState::HalfOpen
            || (transition.to == CircuitState::Open && traffic_failed)
        {
            // Traffic failed: confirm with a probe. Half-open: a probe decides.
            self.monitor.request_check(&id);
        }
        let available = transition.to == CircuitState::Closed && db.is_healthy();
        let now = self.now();
        let mut state = self.lock();
        let decision = state
            .engine
            .set_available(&id, available, Unavailability::CircuitOpen, now)
            .ok()
            .flatten();
        self.settle(&mut state, decision);
    }

    /// The watchdog found the active database `db` silent for `silent_for` with commands
    /// in flight, and its probe got no answer (`reason`): its circuit opens and traffic
    /// moves, as when its traffic trips the breaker — unless no other database is usable,
    /// where waiting beats failing every command (then `false`, and nothing happens).
    pub(super) fn on_stall(&self, db: &Arc<Database>, silent_for: Duration, reason: &str) -> bool {
        let now = self.now();
        let mut state = self.lock();
        if !state.is_member(db) || !self.router.is_active(db) {
            return true;
        }
        let elsewhere = state.members.values().any(|m| {
            m.id != db.id
                && m.is_healthy()
                && !m.is_lagging()
                && m.circuit.state() == CircuitState::Closed
        });
        if !elsewhere {
            return false;
        }
        tracing::warn!(database = %db.id, endpoint = %db.endpoint, ?silent_for, reason, "database stalled: failing over");
        db.note_failure(format_args!(
            "stalled: no reply for {silent_for:?} ({reason})"
        ));
        self.publish(Event::Stalled {
            database: db.id,
            silent_for,
        });
        db.mark_suspect();
        db.circuit.trip();
        let decision = state
            .engine
            .set_available(&db.id, false, Unavailability::CircuitOpen, now)
            .ok()
            .flatten();
        self.settle(&mut state, decision);
        true
    }

    /// Time passed: the engine's deadlines (fallback, pin expiry) and circuits whose grace
    /// period is over (looking at them makes them half-open, which is reported).
    pub(super) fn on_tick(&self) {
        let now = self.now();
        let (members, recover) = {
            let mut state = self.lock();
            let decision = state.engine.tick(now);
            self.settle(&mut state, decision);
            let recover = state.recovery_probe_at.is_some_and(|at| at <= now);
            if recover {
                let every = self
                    .config
                    .health
                    .interval
                    .min(super::RECOVERY_PROBE_INTERVAL);
                state.recovery_probe_at = Some(now.saturating_add(every));
            }
            (state.members.values().cloned().collect::<Vec<_>>(), recover)
        };
        for db in members {
            if db.circuit.half_open_at().is_some_and(|at| at <= now) {
                let _ = db.circuit.state();
            }
            let usable = db.is_healthy() && db.circuit.state() == CircuitState::Closed;
            if recover && !usable {
                self.monitor.request_check(&db.id);
            }
        }
    }

    /// The next moment `on_tick` has something to do, on the engine's clock.
    pub(super) fn next_deadline(&self) -> Option<std::time::Duration> {
        let state = self.lock();
        let circuits = state
            .members
            .values()
            .filter_map(|db| db.circuit.half_open_at());
        state
            .engine
            .next_deadline(self.now())
            .into_iter()
            .chain(circuits)
            .chain(state.recovery_probe_at)
            .min()
    }

    /// Replays every member's last health result (after the health channel lagged).
    pub(super) fn resync(&self) {
        for db in self.members() {
            if let Some(status) = self.monitor.status(&db.id) {
                self.on_health(db.id, &status, false);
            }
            if let Some(status) = self.gates.status(&db.id) {
                self.on_lag(db.id, &status, false);
            }
        }
    }
}
