//! The control task: health results, circuit transitions and deadlines in, decisions out.
//!
//! It holds only a weak reference to the controller, so dropping every client handle ends
//! it; `close()` aborts it. Each step runs under `catch_unwind`: the engine already contains
//! a panicking strategy and the health engine a panicking check, so a panic here would be a
//! bug of ours — logged, announced, and survived, because a control task that dies leaves
//! the client on a database nobody watches. Should the task end anyway while the client is
//! open (its runtime shut down, say), its guard marks the router stopped: commands then fail
//! with [`crate::MultiDbError::ControlPlaneStopped`] instead of going on silently.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use multidb_circuit::Transition;
use multidb_health::HealthEvent;
use tokio::sync::{Notify, broadcast, mpsc};

use super::Controller;
use super::router::Availability;
use crate::event::{DatabaseId, Event};

/// Spawns the task. Its guard exists from now on, polled or not: a runtime that ends
/// before the task first runs still marks the router stopped.
pub(super) fn spawn(
    controller: Weak<Controller>,
    reschedule: Arc<Notify>,
    health: broadcast::Receiver<HealthEvent<DatabaseId>>,
    gates: broadcast::Receiver<HealthEvent<DatabaseId>>,
    circuits: mpsc::UnboundedReceiver<(DatabaseId, Transition)>,
) -> tokio::task::JoinHandle<()> {
    let guard = StopGuard(controller.clone());
    tokio::spawn(async move {
        let _guard = guard;
        run(controller, reschedule, health, gates, circuits).await;
    })
}

async fn run(
    controller: Weak<Controller>,
    reschedule: Arc<Notify>,
    mut health: broadcast::Receiver<HealthEvent<DatabaseId>>,
    mut gates: broadcast::Receiver<HealthEvent<DatabaseId>>,
    mut circuits: mpsc::UnboundedReceiver<(DatabaseId, Transition)>,
) {
    loop {
        let Some(this) = controller.upgrade() else {
            return;
        };
        if this.router.is_closed() {
            return;
        }
        let deadline = this.next_deadline().map(|at| this.clock().instant_at(at));
        drop(this);
        let sleep = crate::member::sleep_until(deadline);
        // Biased: the same inputs give the same steps, so a seeded simulation replays.
        let step: Step = tokio::select! {
            biased;
            event = health.recv() => match event {
                Ok(event) => Step::Health(event),
                Err(broadcast::error::RecvError::Lagged(_)) => Step::Resync,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            event = gates.recv() => match event {
                Ok(event) => Step::Gate(event),
                Err(broadcast::error::RecvError::Lagged(_)) => Step::Resync,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            signal = circuits.recv() => match signal {
                Some((id, transition)) => Step::Circuit(id, transition),
                None => return,
            },
            () = sleep => Step::Tick,
            () = reschedule.notified() => continue,
        };
        let Some(this) = controller.upgrade() else {
            return;
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| this.step(step))) {
            let message = crate::event::panic_message(&*panic).to_owned();
            tracing::error!(message = %message, "control step panicked; the control task carries on");
            this.publish(Event::CallbackPanicked {
                what: "control task".to_owned(),
                message,
            });
        }
    }
}

enum Step {
    Health(HealthEvent<DatabaseId>),
    Gate(HealthEvent<DatabaseId>),
    Resync,
    Circuit(DatabaseId, Transition),
    Tick,
}

impl Controller {
    fn step(&self, step: Step) {
        match step {
            Step::Health(event) => self.on_health(event.target, &event.status, event.changed),
            Step::Gate(event) => self.on_lag(event.target, &event.status, event.changed),
            Step::Resync => self.resync(),
            Step::Circuit(id, transition) => self.on_circuit(id, &transition),
            Step::Tick => self.on_tick(),
        }
    }
}

/// Marks the router stopped if the task ends while the client is open.
struct StopGuard(Weak<Controller>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let Some(this) = self.0.upgrade() else {
            return;
        };
        if this.router.is_closed() {
            return;
        }
        let reason = if std::thread::panicking() {
            "it panicked"
        } else {
            "its runtime stopped it"
        };
        tracing::error!(
            reason,
            "the control task ended while the client is open: no failover is possible"
        );
        this.router.set_availability(Availability::Stopped {
            reason: reason.to_owned(),
        });
        this.router.set_active(None);
        this.router.wake_waiters();
    }
}
