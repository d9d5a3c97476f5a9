//! The router: the read-only view of the control plane that the command, pinned, blocking
//! and Pub/Sub paths use.
//!
//! The paths need to know where commands go (the active database, and an epoch that tells a
//! cached copy is still current), to wait for a switch, to learn why nothing is usable, and
//! to report what they saw. They never decide anything: only the [`super::Controller`]
//! writes here (its writers are `pub(super)`), so every change of the active database is
//! one decision of the failover engine, applied in one place.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use multidb_health::HealthMonitor;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use crate::error::MultiDbError;
use crate::event::{DatabaseId, Event};
use crate::listeners::EventBus;
use crate::member::Database;
use crate::outcome::Reports;
use crate::retry::RetryBudget;

/// Whether commands have a database to go to, as the controller last decided.
#[derive(Clone, Debug)]
pub(super) enum Availability {
    /// Not initialized yet (or a failed `initialize()`, which may be retried).
    Uninitialized,
    /// The active database is usable.
    Serving,
    /// No database is usable since `since`; after `budget` the error turns permanent.
    Down { since: Instant, budget: Duration },
    /// Every database was removed.
    Empty,
    /// The control task ended while the client was open: nothing can fail over any more.
    Stopped { reason: String },
}

/// See the module docs.
pub(crate) struct Router {
    /// The database commands go to.
    active: ArcSwapOption<Database>,
    /// Changes whenever `active` does: a client clone checks it (one atomic load) to know
    /// its cached database is still the active one.
    epoch: AtomicU64,
    /// Woken after every switch and when no switch is coming, so waiting retries go at once.
    switched: Notify,
    availability: Mutex<Availability>,
    closed: AtomicBool,
    budget: RetryBudget,
    probe_on_failure: bool,
    /// Only for on-demand probes of a database a path saw fail.
    monitor: HealthMonitor<DatabaseId, Database>,
    events: EventBus,
    subscribers: super::subscribers::Subscribers,
    /// When the active database last changed: a `PUBLISH` waits for subscribers only
    /// shortly after.
    switched_at: Mutex<Instant>,
}

impl Router {
    pub(super) fn new(
        budget: RetryBudget,
        probe_on_failure: bool,
        monitor: HealthMonitor<DatabaseId, Database>,
        events: EventBus,
    ) -> Self {
        Router {
            active: ArcSwapOption::empty(),
            epoch: AtomicU64::new(0),
            switched: Notify::new(),
            availability: Mutex::new(Availability::Uninitialized),
            closed: AtomicBool::new(false),
            budget,
            probe_on_failure,
            monitor,
            events,
            subscribers: super::subscribers::Subscribers::default(),
            switched_at: Mutex::new(Instant::now()),
        }
    }

    /// Where the client's subscribers are: they report there, a `PUBLISH` waits on it.
    pub(crate) fn subscribers(&self) -> &super::subscribers::Subscribers {
        &self.subscribers
    }

    /// Before a `PUBLISH`: waits until the client's subscribers are subscribed on the
    /// active database, for at most the active database's connection timeout after the
    /// switch to it — so a subscriber that cannot follow delays publishes once, not forever.
    pub(crate) async fn before_publish(&self) {
        if !self.subscribers.any() {
            return;
        }
        let Some(active) = self.active() else {
            return;
        };
        let switched_at = *self
            .switched_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(until) = switched_at.checked_add(active.spec.connection_timeout) else {
            return;
        };
        self.subscribers.caught_up(|| self.active_id(), until).await;
    }

    // ---- reading ---------------------------------------------------------------------

    /// The database commands go to now.
    #[inline]
    pub(crate) fn active(&self) -> Option<Arc<Database>> {
        self.active.load_full()
    }

    /// Its id.
    #[inline]
    pub(crate) fn active_id(&self) -> Option<DatabaseId> {
        self.active.load().as_ref().map(|db| db.id)
    }

    /// Whether `db` is the active database (by identity: a removed and re-added endpoint
    /// is another database).
    #[inline]
    pub(crate) fn is_active(&self, db: &Database) -> bool {
        self.active
            .load()
            .as_ref()
            .is_some_and(|a| std::ptr::eq(a.as_ref(), db))
    }

    /// Changes with every switch.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Resolves at the next switch (or when the controller learns none is coming). Create
    /// it before reading the state it waits on.
    #[inline]
    pub(crate) fn switched(&self) -> Notified<'_> {
        self.switched.notified()
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waits out a retry's backoff `delay`, or until the next switch, whichever comes
    /// first; not at all when `db` is no longer the active database.
    pub(crate) async fn backoff_or_switch(&self, db: &Database, delay: std::time::Duration) {
        let switched = std::pin::pin!(self.switched());
        if self.is_active(db) {
            tokio::select! {
                biased;
                () = switched => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// The retry budget every command draws from.
    #[inline]
    pub(crate) fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The error for a command when there is no usable database, or `None` when there is
    /// one (or a switch is under way).
    pub(crate) fn unavailable_error(&self) -> Option<MultiDbError> {
        if self.is_closed() {
            return Some(MultiDbError::Closed);
        }
        let availability = self.lock().clone();
        match availability {
            Availability::Uninitialized | Availability::Serving => None,
            Availability::Empty => Some(MultiDbError::NoDatabases),
            Availability::Stopped { reason } => Some(MultiDbError::ControlPlaneStopped { reason }),
            Availability::Down { since, budget } => {
                let unavailable_for = since.elapsed();
                let last_healthy = SystemTime::now().checked_sub(unavailable_for);
                Some(if unavailable_for >= budget {
                    MultiDbError::NoValidDatabase {
                        unavailable_for,
                        last_healthy,
                    }
                } else {
                    MultiDbError::TemporarilyUnavailable {
                        unavailable_for,
                        last_healthy,
                    }
                })
            }
        }
    }

    // ---- reporting -------------------------------------------------------------------

    /// Asks for an on-demand probe of `id`, if probing on failure is on.
    pub(crate) fn request_probe(&self, id: DatabaseId) {
        if self.probe_on_failure {
            self.monitor.request_check(&id);
        }
    }

    /// Publishes an event a path is the source of (a Pub/Sub resubscription).
    pub(crate) fn announce(&self, event: Event) {
        self.events.send(event);
    }

    // ---- writing: the controller only ----------------------------------------------

    /// Makes `db` the active database; returns the one it replaces.
    pub(super) fn set_active(&self, db: Option<Arc<Database>>) -> Option<Arc<Database>> {
        *self
            .switched_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let old = self.active.swap(db);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        old
    }

    pub(super) fn set_availability(&self, availability: Availability) {
        *self.lock() = availability;
    }

    /// Wakes everything waiting for a switch.
    pub(super) fn wake_waiters(&self) {
        self.switched.notify_waiters();
    }

    /// Marks the client closed; whether it already was.
    pub(super) fn close(&self) -> bool {
        self.closed.swap(true, Ordering::AcqRel)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Availability> {
        // Plain data, written whole: a panic elsewhere cannot leave it half-made.
        self.availability
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reports for Router {
    /// A path saw `db` fail at the connection level: its commands arm the eviction signal
    /// from now on, and (probe-confirmed detection) it is probed at once, rate-limited, so
    /// that a failed probe fails over.
    fn report_failure(&self, db: &Database) {
        db.mark_suspect();
        self.request_probe(db.id);
    }
}
