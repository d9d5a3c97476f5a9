//! The control plane: the [`Controller`], sole owner of everything that decides where
//! commands go.
//!
//! It alone holds the failover engine, the member table, the client-wide health checks and
//! the control task, and alone writes the [`Router`] (the active database, its epoch, the
//! availability), members' health flags and circuit trips. Every operation is one method —
//! join, leave, switch, force, release, re-weight, add a check, and the control task's
//! health, circuit and tick steps — and every decision of the engine is applied in one
//! place ([`Controller::settle`]), under the state lock, so events come out in the order the
//! decisions were made. The command, pinned and Pub/Sub paths read the router and report
//! outcomes through it; `MultiDbClient` forwards its management calls here.
//!
//! The module is split by concern: `lifecycle` (initialize, close, making members),
//! `membership` (add, remove, weights, checks), `switching` (manual and forced switches),
//! `decisions` (applying the engine's decisions, health, circuit and stall steps), `task`
//! (the background task), `watchdog` (stall detection) and `router` (the read-only view).

mod decisions;
mod lifecycle;
mod membership;
mod router;
mod subscribers;
mod switching;
mod task;
mod watchdog;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use multidb_circuit::Transition;
use multidb_failover::{EngineConfig, FailoverEngine};
use multidb_health::HealthMonitor;
use tokio::sync::{Notify, OnceCell, broadcast, mpsc};
use tokio::task::JoinHandle;

pub(crate) use router::Router;
pub(crate) use subscribers::Placement;

use crate::checks::PingCheck;
use crate::config::MultiDbConfig;
use crate::endpoint::Endpoint;
use crate::error::MultiDbError;
use crate::event::{DatabaseId, DatabaseInfo, Event};
use crate::heartbeat::Heartbeat;
use crate::listeners::EventBus;
use crate::member::{Database, TokioClock};
use crate::outcome::OutcomePolicy;
use crate::retry::RetryBudget;
use crate::{HealthCheck, SwitchReason};

/// While no database is usable, every unusable member is probed this often (or every
/// `health_check_interval`, if shorter): recovery must not wait for the schedule.
const RECOVERY_PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// What the state lock guards.
struct State {
    engine: FailoverEngine<DatabaseId>,
    members: BTreeMap<DatabaseId, Arc<Database>>,
    /// Endpoints of databases being added: a concurrent addition of one is refused.
    joining: HashSet<Endpoint>,
    /// The client-wide health checks (a database's own plan applies over them).
    checks: Vec<Arc<dyn HealthCheck<Database>>>,
    all_down_announced: bool,
    /// While no database is usable: when every unusable member is probed next.
    recovery_probe_at: Option<Duration>,
    /// Strategy panics the engine had contained when last looked at.
    strategy_panics: u64,
    task: Option<JoinHandle<()>>,
    /// The stall watchdog, when stall detection is on.
    watchdog: Option<JoinHandle<()>>,
    /// The replication heartbeat's writer, when the heartbeat is on.
    heartbeat_writer: Option<JoinHandle<()>>,
}

impl State {
    /// Whether `db` is a member now (not removed, nor replaced by a namesake).
    fn is_member(&self, db: &Arc<Database>) -> bool {
        self.members.get(&db.id).is_some_and(|m| Arc::ptr_eq(m, db))
    }

    /// Admits a checked member: in the table, to the engine (gated first when it lags, so
    /// a lagging newcomer is never switched to), its circuit open when it failed. The
    /// circuit holds the grace period, so the engine adds none of its own.
    fn admit(
        &mut self,
        db: &Arc<Database>,
        healthy: bool,
        lagging: bool,
        now: Duration,
    ) -> Option<multidb_failover::Decision<DatabaseId>> {
        db.set_healthy(healthy);
        db.set_lagging(lagging);
        if !healthy {
            db.circuit.trip();
        }
        self.members.insert(db.id, db.clone());
        // Known-unique ids and validated weights: the engine cannot refuse them.
        if !lagging {
            return self
                .engine
                .add(db.id, db.weight(), Duration::ZERO, healthy, now)
                .ok()
                .flatten();
        }
        let _ = self
            .engine
            .add(db.id, db.weight(), Duration::ZERO, false, now);
        let _ = self.engine.set_gated(&db.id, true, now);
        self.engine
            .set_available(
                &db.id,
                healthy,
                multidb_failover::Unavailability::HealthCheckFailed,
                now,
            )
            .ok()
            .flatten()
    }
}

/// See the module docs.
pub(crate) struct Controller {
    config: MultiDbConfig,
    origin: tokio::time::Instant,
    router: Router,
    outcomes: OutcomePolicy,
    state: Mutex<State>,
    monitor: HealthMonitor<DatabaseId, Database>,
    /// Checks that only gate a database from becoming active (replication lag).
    gates: HealthMonitor<DatabaseId, Database>,
    /// The replication heartbeat, when it is on: its lag checks run among the gates.
    heartbeat: Option<Arc<Heartbeat>>,
    events: EventBus,
    /// Scripts seen loaded, to load again where `EVALSHA` finds them missing.
    scripts: crate::scripts::ScriptCache,
    initialized: OnceCell<()>,
    next_id: AtomicU32,
    /// Wakes the control task after an operation that may have moved its next deadline.
    reschedule: Arc<Notify>,
    circuit_tx: mpsc::UnboundedSender<(DatabaseId, Transition)>,
    circuit_rx: Mutex<Option<mpsc::UnboundedReceiver<(DatabaseId, Transition)>>>,
}

impl Controller {
    pub(crate) fn new(config: MultiDbConfig) -> Self {
        let origin = tokio::time::Instant::now();
        let engine = new_engine(&config);
        let events = EventBus::new(config.event_capacity, &config.listeners);
        let (circuit_tx, circuit_rx) = mpsc::unbounded_channel();
        let monitor = HealthMonitor::new();
        let router = Router::new(
            RetryBudget::new(&config.retry, crate::retry::BUDGET_WINDOW),
            config.health.probe_on_failure,
            monitor.clone(),
            events.clone(),
        );
        // `build()` checked the heartbeat's settings: a config is never made without it.
        let heartbeat = config
            .heartbeat_settings()
            .ok()
            .flatten()
            .map(Heartbeat::new);
        let ping: Arc<dyn HealthCheck<Database>> = Arc::new(PingCheck);
        let checks = config.health.checks.resolve(&[ping]);
        Controller {
            outcomes: OutcomePolicy::new(config.circuit.busy_errors_are_failures),
            origin,
            router,
            state: Mutex::new(State {
                engine,
                members: BTreeMap::new(),
                joining: HashSet::new(),
                checks,
                all_down_announced: false,
                recovery_probe_at: None,
                strategy_panics: 0,
                task: None,
                watchdog: None,
                heartbeat_writer: None,
            }),
            monitor,
            gates: HealthMonitor::new(),
            heartbeat,
            events,
            scripts: crate::scripts::ScriptCache::default(),
            initialized: OnceCell::new(),
            next_id: AtomicU32::new(1),
            reschedule: Arc::new(Notify::new()),
            circuit_tx,
            circuit_rx: Mutex::new(Some(circuit_rx)),
            config,
        }
    }

    /// The configuration the client was made with.
    #[inline]
    pub(crate) fn config(&self) -> &MultiDbConfig {
        &self.config
    }

    /// The read-only view the command paths use.
    #[inline]
    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    /// The scripts seen loaded through this client.
    pub(crate) fn scripts(&self) -> &crate::scripts::ScriptCache {
        &self.scripts
    }

    /// The one outcome policy every path classifies and reports through.
    #[inline]
    pub(crate) fn outcomes(&self) -> &OutcomePolicy {
        &self.outcomes
    }

    /// Time on the engine's clock: tokio time since the client was made.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn clock(&self) -> TokioClock {
        TokioClock::new(self.origin)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every step leaves the state whole before it can panic (the engine contains the
        // strategy's panics); recover the data if something ever did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, event: Event) {
        self.events.send(event);
    }

    /// Tells the control task to look at its deadlines again.
    fn reschedule(&self) {
        self.reschedule.notify_one();
    }

    /// Events the `on_event` listeners never got: their backlog was full.
    pub(crate) fn dropped_listener_events(&self) -> u64 {
        self.events.dropped()
    }

    /// A receiver of every event from now on.
    pub(crate) fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A member by id.
    pub(crate) fn member(&self, id: DatabaseId) -> Result<Arc<Database>, MultiDbError> {
        self.lock()
            .members
            .get(&id)
            .cloned()
            .ok_or(MultiDbError::UnknownDatabase { id })
    }

    /// Every member, in id order.
    pub(crate) fn members(&self) -> Vec<Arc<Database>> {
        self.lock().members.values().cloned().collect()
    }

    /// A snapshot of every database.
    pub(crate) fn databases(&self) -> Vec<DatabaseInfo> {
        let active = self.router.active_id();
        self.lock()
            .members
            .values()
            .map(|db| db.info(Some(db.id) == active))
            .collect()
    }

    pub(crate) fn status(&self) -> crate::ClientStatus {
        let active = self.router.active_id();
        let members: Vec<_> = self.lock().members.values().cloned().collect();
        crate::ClientStatus {
            active,
            databases: members
                .iter()
                .map(|db| {
                    let mut status = db.status(Some(db.id) == active);
                    status.lag = self.heartbeat.as_ref().and_then(|h| h.lag_of(db.id));
                    status
                })
                .collect(),
        }
    }

    /// Replaces the strategy that picks the active database; it applies from the next
    /// decision.
    pub(crate) fn set_strategy(&self, strategy: Arc<dyn crate::FailoverStrategy<DatabaseId>>) {
        self.lock().engine.set_strategy(strategy);
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

/// Whether a switch left a database because it failed (its commands in flight are then
/// failed and its connection closed), not for a routine reason.
fn is_failure(reason: SwitchReason) -> bool {
    matches!(
        reason,
        SwitchReason::CircuitOpened
            | SwitchReason::HealthCheckFailed
            | SwitchReason::ForcedDatabaseFailed
    )
}

/// Whether a switch was asked for by the application (redis-py's `manual` failover
/// reason) rather than made by the client on its own (`automatic`).
fn is_manual(reason: SwitchReason) -> bool {
    matches!(
        reason,
        SwitchReason::Manual
            | SwitchReason::Forced
            | SwitchReason::ForceReleased
            | SwitchReason::DatabaseAdded
            | SwitchReason::DatabaseRemoved
            | SwitchReason::WeightChanged
    )
}
