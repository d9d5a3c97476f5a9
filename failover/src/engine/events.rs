//! Events in, decisions out: one method per thing that can happen to the engine.

use std::fmt;
use std::time::Duration;

use crate::candidates::Candidate;
use crate::{Decision, EngineError, InitialError, InitialPolicy, SwitchReason, Unavailability};

use super::{FailoverEngine, check_weight, next_multiple};

impl<Id: Clone + Eq + fmt::Debug> FailoverEngine<Id> {
    /// Adds a candidate, ungated. One added as available is stable at once (the caller has
    /// just checked it). Once initialized, switches to it ([`SwitchReason::DatabaseAdded`])
    /// if it outranks the active database, or if the active one is unavailable and it is
    /// available — unless a pin holds or the active database was chosen manually.
    ///
    /// # Errors
    /// [`EngineError::InvalidWeight`] unless `weight` is finite and greater than zero;
    /// [`EngineError::DuplicateCandidate`] if `id` is already a candidate.
    pub fn add(
        &mut self,
        id: Id,
        weight: f64,
        grace_period: Duration,
        available: bool,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        check_weight(&id, weight)?;
        if self.candidates.position(&id).is_some() {
            return Err(EngineError::DuplicateCandidate(id));
        }
        let (now, mut change) = self.begin(now);
        let added = self.candidates.list.len();
        self.candidates.list.push(Candidate {
            id,
            weight,
            grace_period,
            available,
            stable_at: now,
            gated: false,
        });
        if self.may_switch() {
            if self.active_available() {
                if !self.manual && self.candidates.outranking(self.active_pos(), now) == Some(added)
                {
                    self.switch(&mut change, added, SwitchReason::DatabaseAdded);
                }
            } else if let Some(to) = self.candidates.failover_choice(now) {
                self.switch(&mut change, to, SwitchReason::DatabaseAdded);
            }
        }
        Ok(self.finish(change, now))
    }

    /// Removes a candidate. Removing the active database switches to the best eligible one
    /// ([`SwitchReason::DatabaseRemoved`]) — the failover choice (ungated before gated), or
    /// if none is available, the best of the rest (ungated first) so the client still has a
    /// target — and ends a pin on it. Removing the last
    /// candidate leaves no active database (no decision: there is nothing to switch to).
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`] if `id` is not a candidate.
    pub fn remove(
        &mut self,
        id: &Id,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let Some(pos) = self.candidates.position(id) else {
            return Err(EngineError::UnknownCandidate(id.clone()));
        };
        let (now, mut change) = self.begin(now);
        let removed = self.candidates.list.remove(pos);
        match self.active {
            Some(a) if a == pos => {
                if !change.captured {
                    change.captured = true;
                    change.from = Some(removed.id);
                }
                self.active = None;
                self.manual = false;
                self.pinned_until = None;
                let next = self
                    .candidates
                    .failover_choice(now)
                    .or_else(|| self.candidates.best_of_all(now));
                if let Some(to) = next {
                    self.switch(&mut change, to, SwitchReason::DatabaseRemoved);
                }
            }
            Some(a) if a > pos => self.active = Some(a - 1),
            _ => {}
        }
        Ok(self.finish(change, now))
    }

    /// Changes a candidate's weight, then re-evaluates: if another eligible database is now
    /// the best, switches to it ([`SwitchReason::WeightChanged`]) — unless a pin holds or
    /// the active database was chosen manually. A gated candidate is not eligible while the
    /// active database is available.
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`] if `id` is not a candidate;
    /// [`EngineError::InvalidWeight`] unless `weight` is finite and greater than zero.
    pub fn set_weight(
        &mut self,
        id: &Id,
        weight: f64,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let Some(pos) = self.candidates.position(id) else {
            return Err(EngineError::UnknownCandidate(id.clone()));
        };
        check_weight(id, weight)?;
        let (now, mut change) = self.begin(now);
        self.candidates.list[pos].weight = weight;
        if self.may_switch() {
            let to = if self.active_available() {
                if self.manual {
                    None
                } else {
                    self.candidates.outranking(self.active_pos(), now)
                }
            } else {
                self.candidates.failover_choice(now)
            };
            if let Some(to) = to {
                self.switch(&mut change, to, SwitchReason::WeightChanged);
            }
        }
        Ok(self.finish(change, now))
    }

    /// Records that a candidate became available or unavailable (`cause` says why; it is
    /// ignored when `available`). A candidate that turns available becomes stable after its
    /// grace period (at once before [`initialize`](Self::initialize)).
    ///
    /// If the active database becomes unavailable, switches at once to the best stable
    /// available ungated candidate, else the best available ungated one, else the same
    /// among the gated ones (any database beats none), with the reason from `cause`; if
    /// none is available, nothing changes and [`status`](Self::status) reports the outage.
    /// If it was pinned by [`force`](Self::force), the pin ends at once and the failover is
    /// reported as [`SwitchReason::ForcedDatabaseFailed`] (with nothing to fail over to, the
    /// pin still ends). A candidate that becomes available while the active one is not is
    /// switched to ([`SwitchReason::Recovered`]); if it is the active one, its status simply
    /// returns to [`Status::Active`](crate::Status::Active).
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`] if `id` is not a candidate.
    pub fn set_available(
        &mut self,
        id: &Id,
        available: bool,
        cause: Unavailability,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let Some(pos) = self.candidates.position(id) else {
            return Err(EngineError::UnknownCandidate(id.clone()));
        };
        let (now, mut change) = self.begin(now);
        let initialized = self.initialized;
        let candidate = &mut self.candidates.list[pos];
        if candidate.available != available {
            candidate.available = available;
            candidate.stable_at = if initialized {
                now.saturating_add(candidate.grace_period)
            } else {
                now
            };
            // A pin holds a working database in place; it is no reason to stay on a dead one.
            let forced_failed =
                !available && self.pinned_until.is_some() && self.active == Some(pos);
            let reason = if forced_failed {
                self.pinned_until = None;
                SwitchReason::ForcedDatabaseFailed
            } else if available {
                SwitchReason::Recovered
            } else {
                cause.into()
            };
            if self.may_switch()
                && !self.active_available()
                && let Some(to) = self.candidates.failover_choice(now)
            {
                self.switch(&mut change, to, reason);
            }
        }
        Ok(self.finish(change, now))
    }

    /// Gates or ungates a candidate. A gated candidate is available as far as serving goes —
    /// it may stay active — but must not *become* active while an ungated alternative
    /// exists: failover, recovery, fallback, additions, weight changes, removal, pin ends
    /// and [`initialize`](Self::initialize) pick it only when no ungated candidate is
    /// available (any database beats none). Use it for a database that answers but lags
    /// behind (Redis Enterprise replication lag). Candidates start ungated; grace periods
    /// run as usual while gated.
    ///
    /// Gating never moves traffic by itself: gating the active database returns no
    /// decision, and it stays active until it becomes unavailable, an operator switches or
    /// forces another, or a move that happens anyway (auto-fallback, a weight change, an
    /// addition, a pin ending) finds an ungated candidate that outranks it. Ungating while
    /// the active database works does not switch either: auto-fallback handles it, as for
    /// a newly stable candidate. If the active database is unavailable, the failover choice
    /// runs again and switches as when a candidate recovers ([`SwitchReason::Recovered`]).
    /// (With the default strategy the engine has already failed over to any available
    /// candidate, gated or not, so this matters only for a strategy that refused all of
    /// them.)
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`] if `id` is not a candidate.
    pub fn set_gated(
        &mut self,
        id: &Id,
        gated: bool,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let Some(pos) = self.candidates.position(id) else {
            return Err(EngineError::UnknownCandidate(id.clone()));
        };
        let (now, mut change) = self.begin(now);
        let candidate = &mut self.candidates.list[pos];
        if candidate.gated != gated {
            candidate.gated = gated;
            if self.may_switch()
                && !self.active_available()
                && let Some(to) = self.candidates.failover_choice(now)
            {
                self.switch(&mut change, to, SwitchReason::Recovered);
            }
        }
        Ok(self.finish(change, now))
    }

    /// Lets time pass: processes an expired pin (normal selection,
    /// [`SwitchReason::ForceExpired`] if it picks another database) and a due auto-fallback
    /// check ([`SwitchReason::AutoFallback`] if a stable available ungated candidate
    /// outranks the active one, unless it was chosen manually; the active one competes
    /// whether gated or not). Call it at
    /// [`next_deadline`](Self::next_deadline); extra calls are harmless.
    pub fn tick(&mut self, now: Duration) -> Option<Decision<Id>> {
        let (now, mut change) = self.begin(now);
        if let (Some(due), Some(interval)) = (self.next_fallback, self.config.fallback_interval())
            && now >= due
        {
            self.next_fallback = next_multiple(self.fallback_origin, interval, due, now);
            if self.may_switch()
                && self.active_available()
                && !self.manual
                && let Some(to) = self.candidates.outranking(self.active_pos(), now)
            {
                self.switch(&mut change, to, SwitchReason::AutoFallback);
            }
        }
        self.finish(change, now)
    }

    /// Manually switches to `id` ([`SwitchReason::Manual`]; no decision if it is already
    /// active). The choice sticks: auto-fallback, weight changes and additions do not move
    /// away from it, only its unavailability does. Ends any pin. A gated `id` is accepted:
    /// the operator decides (a client that gates on replication lag refuses lagging targets
    /// itself, before calling this).
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`], [`EngineError::NotInitialized`], or
    /// [`EngineError::Unavailable`] if `id` is not available.
    pub fn switch_to(
        &mut self,
        id: &Id,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let pos = self.check_target(id)?;
        let (now, mut change) = self.begin(now);
        self.pinned_until = None;
        self.manual = true;
        if self.active != Some(pos) {
            self.switch(&mut change, pos, SwitchReason::Manual);
        }
        Ok(self.finish(change, now))
    }

    /// Forces `id` to be active ([`SwitchReason::Forced`]) and pins it until
    /// `now + duration` (saturating: `Duration::MAX` pins until the end of time). While it
    /// is pinned and available, no automatic switch happens: auto-fallback, weight changes
    /// and additions leave it alone. If it becomes unavailable the pin ends at once and the
    /// engine fails over ([`SwitchReason::ForcedDatabaseFailed`], see
    /// [`set_available`](Self::set_available)). At expiry normal selection resumes
    /// ([`SwitchReason::ForceExpired`]). A new force replaces the pin;
    /// [`release_force`](Self::release_force), removing the pinned database or
    /// [`switch_to`](Self::switch_to) ends it. As with `switch_to`, a gated `id` is
    /// accepted: the operator decides.
    ///
    /// # Errors
    /// [`EngineError::UnknownCandidate`], [`EngineError::NotInitialized`], or
    /// [`EngineError::Unavailable`] if `id` is not available.
    pub fn force(
        &mut self,
        id: &Id,
        duration: Duration,
        now: Duration,
    ) -> Result<Option<Decision<Id>>, EngineError<Id>> {
        let pos = self.check_target(id)?;
        let (now, mut change) = self.begin(now);
        self.pinned_until = Some(now.saturating_add(duration));
        if self.active == Some(pos) {
            self.manual = false;
        } else {
            self.switch(&mut change, pos, SwitchReason::Forced);
        }
        Ok(self.finish(change, now))
    }

    /// Ends a [`force`](Self::force) pin early. Normal selection then runs exactly as at
    /// expiry — a stable available ungated candidate that outranks the active database, or, if the
    /// active one is unavailable, the failover choice — and switches with
    /// [`SwitchReason::ForceReleased`] if it picks another database. Afterwards the active
    /// database is chosen automatically (not sticky like [`switch_to`](Self::switch_to)).
    ///
    /// Without a pin this does nothing and returns `None`. A pin that already lapsed by
    /// `now` is processed as its expiry ([`SwitchReason::ForceExpired`]), as in any call.
    pub fn release_force(&mut self, now: Duration) -> Option<Decision<Id>> {
        // Without a pin there is nothing to release, not even time to note.
        self.pinned_until?;
        let (now, mut change) = self.begin(now);
        if self.pinned_until.is_some() {
            self.end_pin(&mut change, now, SwitchReason::ForceReleased);
        }
        self.finish(change, now)
    }

    /// Picks the first active database: checks `policy` against the available candidates
    /// (gated or not), then takes the best available ungated one, stable or not, or if
    /// every available candidate is gated, the best of those. Calling it again re-runs it from
    /// scratch (pin, manual choice and fallback schedule are reset).
    ///
    /// # Errors
    /// [`InitialError`] listing the available and failed candidates if `policy` is not met.
    pub fn initialize(
        &mut self,
        policy: InitialPolicy,
        now: Duration,
    ) -> Result<Decision<Id>, InitialError<Id>> {
        let now = self.observe(now);
        let total = self.candidates.list.len();
        let available = self.candidates.list.iter().filter(|c| c.available).count();
        let choice = if policy.is_met(available, total) {
            self.candidates.best_available(now)
        } else {
            None
        };
        let Some(to) = choice else {
            let list = &self.candidates.list;
            let (up, down): (Vec<_>, Vec<_>) = list.iter().partition(|c| c.available);
            return Err(InitialError {
                policy,
                available: up.into_iter().map(|c| c.id.clone()).collect(),
                failed: down.into_iter().map(|c| c.id.clone()).collect(),
            });
        };
        self.initialized = true;
        self.active = Some(to);
        self.manual = false;
        self.pinned_until = None;
        self.outage_since = None;
        self.fallback_origin = now;
        self.next_fallback = self
            .config
            .fallback_interval()
            .and_then(|i| now.checked_add(i));
        Ok(Decision {
            from: None,
            to: self.candidates.list[to].id.clone(),
            reason: SwitchReason::Initial,
        })
    }
}
