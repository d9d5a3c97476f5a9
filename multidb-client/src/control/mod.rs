//! The control plane: the state behind a client, and the background task that turns health
//! results and circuit transitions into failover decisions.
//!
//! Commands never take the lock here. They read the active database from an `ArcSwap`; the
//! control plane replaces it when the failover engine decides, then wakes commands that wait
//! for a switch. Every decision is applied in one place ([`Inner::apply`]), under the engine
//! lock, so events come out in the order the decisions were made.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use multidb_circuit::{State as CircuitState, Transition};
use multidb_failover::{Decision, EngineConfig, FailoverEngine, Status, Unavailability};
use multidb_health::{HealthEvent, HealthMonitor, HealthStatus, ProbeConfig, TargetConfig};
use tokio::sync::{Notify, OnceCell, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::checks::PingCheck;
use crate::config::{DatabaseConfig, MultiDbConfig};
use crate::error::{ConfigError, FailedDatabase, MultiDbError};
use crate::event::{DatabaseId, Event};
use crate::member::{Database, TokioClock};
use crate::retry::RetryBudget;
use crate::{HealthCheck, SwitchReason};

/// What the engine lock guards.
pub(crate) struct State {
    pub(crate) engine: FailoverEngine<DatabaseId>,
    pub(crate) members: BTreeMap<DatabaseId, Arc<Database>>,
    all_down_announced: bool,
    control: Option<JoinHandle<()>>,
}

/// Everything behind a [`crate::MultiDbClient`] handle.
pub(crate) struct Inner {
    pub(crate) config: MultiDbConfig,
    origin: tokio::time::Instant,
    /// The database commands go to. Changed only through [`Inner::set_active`].
    pub(crate) active: ArcSwapOption<Database>,
    /// Changes whenever `active` does: a client clone checks it (one atomic load) to know
    /// its cached database is still the active one.
    pub(crate) active_epoch: AtomicU64,
    state: Mutex<State>,
    pub(crate) monitor: HealthMonitor<DatabaseId, Database>,
    events: broadcast::Sender<Event>,
    /// Woken after every switch, so retries waiting for one go at once.
    pub(crate) switched: Notify,
    initialized: OnceCell<()>,
    closed: AtomicBool,
    next_id: AtomicU32,
    circuit_tx: mpsc::UnboundedSender<(DatabaseId, Transition)>,
    circuit_rx: Mutex<Option<mpsc::UnboundedReceiver<(DatabaseId, Transition)>>>,
    pub(crate) budget: RetryBudget,
    /// The health checks every database runs; more may be added at run time.
    checks: Mutex<Vec<Arc<dyn HealthCheck<Database>>>>,
}

impl Inner {
    pub(crate) fn new(config: MultiDbConfig) -> Self {
        let engine = new_engine(&config);
        let (events, _) = broadcast::channel(config.event_capacity);
        let (circuit_tx, circuit_rx) = mpsc::unbounded_channel();
        let budget = RetryBudget::new(&config.retry, crate::retry::BUDGET_WINDOW);
        Inner {
            origin: tokio::time::Instant::now(),
            active: ArcSwapOption::empty(),
            active_epoch: AtomicU64::new(0),
            state: Mutex::new(State {
                engine,
                members: BTreeMap::new(),
                all_down_announced: false,
                control: None,
            }),
            monitor: HealthMonitor::new(),
            events,
            switched: Notify::new(),
            initialized: OnceCell::new(),
            closed: AtomicBool::new(false),
            next_id: AtomicU32::new(1),
            circuit_tx,
            circuit_rx: Mutex::new(Some(circuit_rx)),
            budget,
            checks: Mutex::new(if config.health.checks.is_empty() {
                vec![Arc::new(PingCheck)]
            } else {
                config.health.checks.clone()
            }),
            config,
        }
    }

    /// Time on the engine's clock: tokio time since the client was made.
    pub(crate) fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The breakers' clock.
    pub(crate) fn clock(&self) -> TokioClock {
        TokioClock::new(self.origin)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the engine half-updated in a way
        // that matters more than refusing all further work would.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(crate) fn publish(&self, event: Event) {
        // No receiver is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    pub(crate) fn member(&self, id: DatabaseId) -> Result<Arc<Database>, MultiDbError> {
        self.lock()
            .members
            .get(&id)
            .cloned()
            .ok_or(MultiDbError::UnknownDatabase { id })
    }

    // ---- initialization -------------------------------------------------------------

    pub(crate) async fn initialize(self: &Arc<Self>) -> Result<(), MultiDbError> {
        if self.is_closed() {
            return Err(MultiDbError::Closed);
        }
        self.initialized
            .get_or_try_init(|| self.clone().initialize_once())
            .await
            .map(|&()| ())
    }

    async fn initialize_once(self: Arc<Self>) -> Result<(), MultiDbError> {
        let mut created = Vec::new();
        for config in self.config.databases.clone() {
            match self.create_member(config) {
                Ok(db) => created.push(db),
                Err(e) => {
                    self.discard(&created);
                    return Err(e);
                }
            }
        }
        let results =
            futures_util::future::join_all(created.iter().map(|db| self.monitor.check_now(&db.id)))
                .await;
        let now = self.now();
        let mut failed = Vec::new();
        {
            let mut state = self.lock();
            for (db, result) in created.iter().zip(results) {
                let status = result.map_err(|e| e.to_string());
                let healthy = status.as_ref().is_ok_and(|s| s.healthy);
                db.healthy.store(healthy, Ordering::Release);
                if !healthy {
                    failed.push(FailedDatabase {
                        id: db.id,
                        endpoint: db.endpoint.clone(),
                        reason: reason_of(&status),
                    });
                }
                // Known-unique ids and validated weights: the engine cannot refuse them.
                let _ = state
                    .engine
                    .add(db.id, db.weight(), db.config.grace_period, healthy, now);
                state.members.insert(db.id, db.clone());
            }
            if let Ok(decision) = state.engine.initialize(self.config.failover.initial, now) {
                self.apply(&mut state, &decision);
            } else {
                state.members.clear();
                // A fresh engine for the next attempt.
                state.engine = new_engine(&self.config);
                drop(state);
                self.discard(&created);
                return Err(MultiDbError::InitialHealthCheckFailed {
                    policy: self.config.failover.initial,
                    failed,
                });
            }
            for db in &created {
                if db.is_healthy() {
                    continue;
                }
                // Known to the breaker as unusable until a probe says otherwise.
                db.circuit.trip();
            }
        }
        let rx = self
            .circuit_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let health_rx = self.monitor.subscribe();
        if let Some(rx) = rx {
            let task = tokio::spawn(control_loop(Arc::downgrade(&self), health_rx, rx));
            self.lock().control = Some(task);
        }
        Ok(())
    }

    /// Makes a member: its connection, breaker, listener and health target.
    pub(crate) fn create_member(
        &self,
        config: DatabaseConfig,
    ) -> Result<Arc<Database>, MultiDbError> {
        let id = DatabaseId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let db = Arc::new(Database::new(
            id,
            config,
            &self.config.circuit,
            self.clock(),
        )?);
        let tx = self.circuit_tx.clone();
        db.circuit.on_transition(move |t: &Transition| {
            let _ = tx.send((id, t.clone()));
        });
        let checks = self.checks();
        self.monitor
            .add_target(id, db.clone(), checks, self.target_config(&db)?)
            .map_err(|e| {
                MultiDbError::Config(ConfigError::invalid(
                    "health",
                    e.to_string(),
                    "a valid health target",
                ))
            })?;
        Ok(db)
    }

    fn target_config(&self, db: &Database) -> Result<TargetConfig, MultiDbError> {
        let h = &self.config.health;
        let invalid = |e: &dyn std::fmt::Display| {
            MultiDbError::Config(ConfigError::InvalidValue {
                field: "health_check",
                value: e.to_string(),
                expected: "a valid health-check configuration",
            })
        };
        let probe = ProbeConfig::builder()
            .probes(h.probes)
            .probe_delay(h.probes_delay)
            .timeout(h.timeout)
            .policy(h.policy)
            .build()
            .map_err(|e| invalid(&e))?;
        let on_demand = ProbeConfig::builder()
            .probes(1)
            .timeout(db.response_timeout().unwrap_or(h.timeout).min(h.timeout))
            .policy(h.policy)
            .build()
            .map_err(|e| invalid(&e))?;
        TargetConfig::builder()
            .interval(h.interval)
            .probe(probe)
            .on_demand(on_demand)
            .min_probe_interval(h.min_probe_interval)
            .build()
            .map_err(|e| invalid(&e))
    }

    /// The health checks every database runs.
    fn checks(&self) -> Vec<Arc<dyn HealthCheck<Database>>> {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds a health check to every database, now and to those added later.
    pub(crate) fn add_check(
        &self,
        check: Arc<dyn HealthCheck<Database>>,
    ) -> Result<(), MultiDbError> {
        let checks = {
            let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
            checks.push(check);
            checks.clone()
        };
        let members: Vec<_> = self.lock().members.values().cloned().collect();
        for db in members {
            // The monitor fixes a target's checks when it is added: add it again.
            self.monitor.remove_target(&db.id);
            self.monitor
                .add_target(db.id, db.clone(), checks.clone(), self.target_config(&db)?)
                .map_err(|e| {
                    MultiDbError::Config(ConfigError::invalid(
                        "health_check",
                        e.to_string(),
                        "a valid health target",
                    ))
                })?;
        }
        Ok(())
    }

    /// Runs every health check of a database once, now, bounded by the on-demand timeout.
    pub(crate) async fn probe(&self, db: &Database) -> Result<(), String> {
        let h = &self.config.health;
        let timeout = db.response_timeout().unwrap_or(h.timeout).min(h.timeout);
        for check in self.checks() {
            match tokio::time::timeout(timeout, check.check(db)).await {
                Ok(Ok(())) => {}
                Ok(Err(unhealthy)) => return Err(unhealthy.reason().to_owned()),
                Err(_) => return Err(format!("{}: timed out after {timeout:?}", check.name())),
            }
        }
        Ok(())
    }

    fn discard(&self, created: &[Arc<Database>]) {
        for db in created {
            self.monitor.remove_target(&db.id);
            db.evict();
        }
    }

    // ---- decisions ------------------------------------------------------------------

    /// Makes `db` the active database; returns the one it replaces.
    pub(crate) fn set_active(&self, db: Option<Arc<Database>>) -> Option<Arc<Database>> {
        let old = self.active.swap(db);
        self.active_epoch.fetch_add(1, Ordering::AcqRel);
        old
    }

    /// Applies a decision of the engine: swap the active database, fail the old one's
    /// in-flight commands fast, publish the event, wake waiting retries.
    pub(crate) fn apply(&self, state: &mut State, decision: &Decision<DatabaseId>) {
        let Some(to) = state.members.get(&decision.to).cloned() else {
            return;
        };
        let old = self.set_active(Some(to));
        if let Some(old) = old.filter(|o| o.id != decision.to) {
            old.evict();
        }
        match decision.reason {
            SwitchReason::AutoFallback | SwitchReason::Initial | SwitchReason::Recovered => {
                tracing::info!(from = ?decision.from, to = %decision.to, reason = ?decision.reason, "active database changed");
            }
            _ => {
                tracing::warn!(from = ?decision.from, to = %decision.to, reason = ?decision.reason, "active database changed");
            }
        }
        #[cfg(feature = "metrics")]
        metrics::counter!(
            "redis.client.geofailover.failovers",
            "from" => decision.from.map_or_else(String::new, |f| f.to_string()),
            "to" => decision.to.to_string(),
            "reason" => decision.reason.as_str(),
        )
        .increment(1);
        self.publish(Event::ActiveDatabaseChanged {
            from: decision.from,
            to: decision.to,
            reason: decision.reason,
        });
        state.all_down_announced = false;
        self.switched.notify_waiters();
    }

    /// Applies an optional decision and announces when no database is left.
    pub(crate) fn settle(&self, state: &mut State, decision: Option<Decision<DatabaseId>>) {
        if let Some(d) = decision {
            self.apply(state, &d);
        }
        let status = state.engine.status(self.now());
        let down = matches!(
            status,
            Status::TemporarilyUnavailable { .. } | Status::NoValidDatabase { .. }
        );
        if down && !state.all_down_announced {
            state.all_down_announced = true;
            tracing::warn!("no healthy database: commands fail fast until one recovers");
            self.publish(Event::AllDatabasesUnhealthy);
            // Retries waiting for a switch should learn now that none is coming.
            self.switched.notify_waiters();
        } else if !down {
            state.all_down_announced = false;
        }
    }

    /// The error for a command when the engine has no usable database, or `None` when it
    /// has one (a switch is under way or done).
    pub(crate) fn unavailable_error(&self) -> Option<MultiDbError> {
        let state = self.lock();
        match state.engine.status(self.now()) {
            Status::TemporarilyUnavailable { unavailable_for } => {
                Some(MultiDbError::TemporarilyUnavailable {
                    unavailable_for,
                    last_healthy: SystemTime::now().checked_sub(unavailable_for),
                })
            }
            Status::NoValidDatabase { unavailable_for } => Some(MultiDbError::NoValidDatabase {
                unavailable_for,
                last_healthy: SystemTime::now().checked_sub(unavailable_for),
            }),
            Status::Uninitialized if state.members.is_empty() && self.initialized.initialized() => {
                Some(MultiDbError::NoDatabases)
            }
            _ => None,
        }
    }

    fn on_health(&self, event: &HealthEvent<DatabaseId>) {
        let Some(db) = self.lock().members.get(&event.target).cloned() else {
            return;
        };
        let healthy = event.status.healthy;
        db.healthy.store(healthy, Ordering::Release);
        if healthy {
            db.suspect.store(false, Ordering::Release);
            // A passing check (all its probes) is the run of successes that closes a
            // breaker; the engine's grace period then guards against flapping.
            if db.circuit.state() != CircuitState::Closed {
                db.circuit.force_closed();
            }
        } else if db.circuit.state() != CircuitState::Open {
            db.circuit.trip();
        }
        let now = self.now();
        let mut state = self.lock();
        let available = healthy && db.circuit.state() == CircuitState::Closed;
        let decision = state
            .engine
            .set_available(&db.id, available, Unavailability::HealthCheckFailed, now)
            .ok()
            .flatten();
        self.settle(&mut state, decision);
        drop(state);
        // Announced once the engine knows: a listener acting on it finds the state agreeing.
        if event.changed {
            if healthy {
                tracing::info!(database = %db.id, endpoint = %db.endpoint, "database healthy");
            } else {
                let reason = event.status.reason.as_ref().map(|r| r.reason().to_owned());
                tracing::warn!(database = %db.id, endpoint = %db.endpoint, reason = ?reason, "database unhealthy");
            }
            self.publish(Event::HealthChanged {
                database: db.id,
                healthy,
            });
        }
    }

    fn on_circuit(&self, id: DatabaseId, transition: &Transition) {
        let Some(db) = self.lock().members.get(&id).cloned() else {
            return;
        };
        if transition.to == CircuitState::Open {
            tracing::warn!(database = %id, endpoint = %db.endpoint, from = ?transition.from, reason = ?transition.reason, "circuit opened");
        } else {
            tracing::info!(database = %id, endpoint = %db.endpoint, from = ?transition.from, to = ?transition.to, "circuit state changed");
        }
        self.publish(Event::CircuitStateChanged {
            database: id,
            from: transition.from,
            to: transition.to,
        });
        let available = transition.to == CircuitState::Closed && db.is_healthy();
        if transition.to == CircuitState::Open {
            // The breaker saw real traffic fail: confirm with a probe.
            self.monitor.request_check(&id);
        }
        let now = self.now();
        let mut state = self.lock();
        let decision = state
            .engine
            .set_available(&id, available, Unavailability::CircuitOpen, now)
            .ok()
            .flatten();
        self.settle(&mut state, decision);
    }

    fn on_tick(&self) {
        let now = self.now();
        let mut state = self.lock();
        let decision = state.engine.tick(now);
        self.settle(&mut state, decision);
    }

    fn resync(&self) {
        let members: Vec<_> = self.lock().members.values().cloned().collect();
        for db in members {
            if let Some(status) = self.monitor.status(&db.id) {
                self.on_health(&HealthEvent {
                    target: db.id,
                    status,
                    changed: false,
                });
            }
        }
    }

    // ---- shutdown -------------------------------------------------------------------

    pub(crate) async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (task, members) = {
            let mut state = self.lock();
            let members: Vec<_> = std::mem::take(&mut state.members).into_values().collect();
            (state.control.take(), members)
        };
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        // Release every member now (not when the last handle goes): their connections close
        // with them.
        for db in &members {
            self.monitor.remove_target(&db.id);
        }
        self.monitor.shutdown().await;
        self.set_active(None);
        for db in members {
            db.close();
        }
        self.switched.notify_waiters();
    }
}

fn new_engine(config: &MultiDbConfig) -> FailoverEngine<DatabaseId> {
    let mut engine = FailoverEngine::new(EngineConfig {
        auto_fallback_interval: config.failover.auto_fallback_interval,
        failover_attempts: config.failover.attempts,
        failover_delay: config.failover.delay,
    });
    if let Some(strategy) = &config.failover.strategy {
        engine.set_strategy(strategy.clone());
    }
    engine
}

fn reason_of(status: &Result<HealthStatus, String>) -> String {
    match status {
        Ok(s) => s
            .reason
            .as_ref()
            .map_or_else(|| "unhealthy".to_owned(), |r| r.reason().to_owned()),
        Err(e) => e.clone(),
    }
}

/// The background task: health results, circuit transitions and engine deadlines in, and
/// decisions out. Holds only a weak reference, so dropping every client handle ends it
/// (the health monitor goes with the client, closing the health channel); `close()` aborts it.
async fn control_loop(
    inner: std::sync::Weak<Inner>,
    mut health: broadcast::Receiver<HealthEvent<DatabaseId>>,
    mut circuits: mpsc::UnboundedReceiver<(DatabaseId, Transition)>,
) {
    loop {
        let Some(this) = inner.upgrade() else { return };
        if this.is_closed() {
            return;
        }
        let deadline = {
            let state = this.lock();
            state.engine.next_deadline(this.now())
        }
        .map(|at| this.origin + at);
        drop(this);
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = health.recv() => {
                let Some(this) = inner.upgrade() else { return };
                match event {
                    Ok(event) => this.on_health(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => this.resync(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            signal = circuits.recv() => {
                let Some(this) = inner.upgrade() else { return };
                match signal {
                    Some((id, transition)) => this.on_circuit(id, &transition),
                    None => return,
                }
            }
            () = sleep => {
                let Some(this) = inner.upgrade() else { return };
                this.on_tick();
            }
        }
    }
}
