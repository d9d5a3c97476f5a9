//! Transition reports and the listeners that receive them.
//!
//! Listeners are kept in an immutable shared list that is swapped on registration: a
//! transition clones the list handle (one atomic increment), releases the lock, and then
//! calls every listener. A listener may therefore register another listener or drive the
//! breaker without deadlocking.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::State;

/// Why the breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionReason {
    /// Closed -> Open: the failure window crossed both thresholds.
    ThresholdsCrossed,
    /// Closed or HalfOpen -> Open through [`trip`](crate::CircuitBreaker::trip).
    Tripped,
    /// Open -> HalfOpen: the grace period ended.
    GracePeriodElapsed,
    /// HalfOpen -> Closed: enough consecutive successes.
    HalfOpenSucceeded,
    /// HalfOpen -> Open: a trial call failed.
    HalfOpenFailed,
    /// Any -> Open (held) through [`force_open`](crate::CircuitBreaker::force_open).
    ForcedOpen,
    /// Open or HalfOpen -> Closed through [`force_closed`](crate::CircuitBreaker::force_closed).
    ForcedClosed,
    /// Open or HalfOpen -> Closed through [`reset`](crate::CircuitBreaker::reset).
    Reset,
}

/// One state change, as reported to listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// What caused it.
    pub reason: TransitionReason,
    /// The breaker clock's time when it happened.
    pub at: Duration,
}

type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Listeners {
    list: RwLock<Arc<[Listener]>>,
}

impl Listeners {
    pub(crate) fn add(&self, listener: Listener) {
        // The lock only guards a pointer swap; a panic cannot leave it inconsistent.
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = list.to_vec();
        next.push(listener);
        *list = next.into();
    }

    pub(crate) fn notify(&self, transition: &Transition) {
        let list = Arc::clone(&self.list.read().unwrap_or_else(PoisonError::into_inner));
        for listener in list.iter() {
            listener(transition);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listener(s)", self.len())
    }
}
