//! Read-only views of the engine's state.

use std::fmt;
use std::time::Duration;

use crate::{CandidateView, Status};

use super::FailoverEngine;

impl<Id: Clone + Eq + fmt::Debug> FailoverEngine<Id> {
    /// The active database: `None` before [`initialize`](Self::initialize) or after every
    /// candidate was removed. It stays set while unavailable (see [`status`](Self::status)).
    pub fn active(&self) -> Option<&Id> {
        self.active
            .and_then(|p| self.candidates.list.get(p))
            .map(|c| &c.id)
    }

    /// Whether there is a usable database at `now`, and if not, for how long there has not
    /// been one.
    pub fn status(&self, now: Duration) -> Status<Id> {
        if !self.initialized {
            return Status::Uninitialized;
        }
        match self.active.and_then(|p| self.candidates.list.get(p)) {
            Some(c) if c.available => Status::Active(c.id.clone()),
            _ => {
                let since = self.outage_since.unwrap_or(self.last_now);
                let unavailable_for = now.max(self.last_now).saturating_sub(since);
                if unavailable_for >= self.config.unavailability_budget() {
                    Status::NoValidDatabase { unavailable_for }
                } else {
                    Status::TemporarilyUnavailable { unavailable_for }
                }
            }
        }
    }

    /// The absolute time at which [`tick`](Self::tick) may next change something: the
    /// next auto-fallback check, a pin's expiry, or a grace period ending. May be `<= now`
    /// when a tick is overdue. `None` before initialization or when nothing is scheduled.
    pub fn next_deadline(&self, now: Duration) -> Option<Duration> {
        if !self.initialized {
            return None;
        }
        let now = now.max(self.last_now);
        [
            self.next_fallback,
            self.pinned_until,
            self.candidates.next_grace_end(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the current pin ends, if [`force`](Self::force) set one and neither
    /// [`release_force`](Self::release_force) nor the pinned database's unavailability
    /// ended it. A pin that has expired is reported until the next call processes it.
    pub fn pinned_until(&self) -> Option<Duration> {
        self.pinned_until
    }

    /// How many times the custom [`FailoverStrategy`](crate::FailoverStrategy) has panicked
    /// since the engine was created. A panic never leaves the engine: that one choice is
    /// made by [`WeightedStrategy`](crate::WeightedStrategy) among the same eligible
    /// candidates instead. The owner compares the count after a call to report it.
    pub fn strategy_panics(&self) -> u64 {
        self.candidates.strategy_panics()
    }

    /// The message of the custom strategy's last panic (its `&str` or `String` payload, else
    /// `"non-string panic payload"`); `None` if it never panicked.
    pub fn last_strategy_panic(&self) -> Option<&str> {
        self.candidates.last_strategy_panic()
    }

    /// Every candidate in insertion order. `stable` is computed against the latest `now`
    /// the engine was given.
    pub fn candidates(&self) -> impl Iterator<Item = CandidateView<'_, Id>> {
        (0..self.candidates.list.len()).filter_map(|i| self.candidates.view(i, self.last_now))
    }
}
