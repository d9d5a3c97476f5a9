//! The bookkeeping every call shares: time, lapsed pins, and folding one call's steps into
//! a single net [`Decision`].

use std::fmt;
use std::time::Duration;

use crate::{Decision, EngineError, SwitchReason};

use super::{Change, FailoverEngine};

impl<Id: Clone + Eq + fmt::Debug> FailoverEngine<Id> {
    /// Time never goes backwards inside the engine: an earlier `now` counts as the latest.
    pub(super) fn observe(&mut self, now: Duration) -> Duration {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// Starts a call: notes the time and processes a pin that has lapsed since.
    pub(super) fn begin(&mut self, now: Duration) -> (Duration, Change<Id>) {
        let now = self.observe(now);
        let mut change = Change::new();
        if self.pinned_until.is_some_and(|until| until <= now) {
            self.end_pin(&mut change, now, SwitchReason::ForceExpired);
        }
        (now, change)
    }

    /// Ends the pin and runs normal selection, as when it expires: if the active database
    /// is available, a stable ungated candidate that outranks it; otherwise the failover
    /// choice.
    pub(super) fn end_pin(&mut self, change: &mut Change<Id>, now: Duration, reason: SwitchReason) {
        self.pinned_until = None;
        let to = if self.active_available() {
            self.candidates.outranking(self.active_pos(), now)
        } else {
            self.candidates.failover_choice(now)
        };
        if let Some(to) = to {
            self.switch(change, to, reason);
        }
    }

    pub(super) fn switch(&mut self, change: &mut Change<Id>, to: usize, reason: SwitchReason) {
        if !change.captured {
            change.captured = true;
            change.from = self.active().cloned();
        }
        self.active = Some(to);
        self.manual = reason == SwitchReason::Manual;
        change.reason = Some(reason);
    }

    /// Ends a call: updates the outage clock and reports the net change.
    pub(super) fn finish(&mut self, change: Change<Id>, now: Duration) -> Option<Decision<Id>> {
        if self.initialized {
            if self.active_available() {
                self.outage_since = None;
            } else {
                self.outage_since.get_or_insert(now);
            }
        }
        let reason = change.reason?;
        let from = change.from;
        let to = self.active()?;
        (from.as_ref() != Some(to)).then(|| Decision {
            from,
            to: to.clone(),
            reason,
        })
    }

    pub(super) fn may_switch(&self) -> bool {
        self.initialized && self.pinned_until.is_none()
    }

    pub(super) fn active_available(&self) -> bool {
        self.active
            .and_then(|p| self.candidates.list.get(p))
            .is_some_and(|c| c.available)
    }

    /// Only called when `active_available()` holds, so the active position exists.
    pub(super) fn active_pos(&self) -> usize {
        self.active.unwrap_or_default()
    }

    pub(super) fn check_target(&self, id: &Id) -> Result<usize, EngineError<Id>> {
        let pos = self
            .candidates
            .position(id)
            .ok_or_else(|| EngineError::UnknownCandidate(id.clone()))?;
        if !self.initialized {
            return Err(EngineError::NotInitialized);
        }
        if !self.candidates.list[pos].available {
            return Err(EngineError::Unavailable(id.clone()));
        }
        Ok(pos)
    }
}
