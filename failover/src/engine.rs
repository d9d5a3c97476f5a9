//! The engine: state, events in, decisions out.
//!
//! Every public call follows the same shape: validate (an error changes nothing), note the
//! passage of time (a pin that lapsed since the last call is processed first, as its own
//! [`SwitchReason::ForceExpired`] step), apply the event, then report the *net* change of
//! the active database as at most one [`Decision`]. Folding the steps into one net change
//! is what guarantees "each switch reported exactly once, `from` = previous active".

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::candidates::{Candidate, Candidates};
use crate::{
    CandidateView, Decision, EngineConfig, EngineError, FailoverStrategy, InitialError,
    InitialPolicy, Status, SwitchReason, Unavailability,
};

/// Deterministic failover decisions over a set of candidate databases.
///
/// See the [crate docs](crate) for the rules. All methods are cheap and allocation-free on
/// the default strategy, except for cloning the ids a [`Decision`] carries.
#[derive(Clone)]
pub struct FailoverEngine<Id> {
    config: EngineConfig,
    candidates: Candidates<Id>,
    active: Option<usize>,
    initialized: bool,
    /// The active database was chosen by [`FailoverEngine::switch_to`] and sticks.
    manual: bool,
    pinned_until: Option<Duration>,
    fallback_origin: Duration,
    next_fallback: Option<Duration>,
    /// The last moment the active database was available, while it is not.
    outage_since: Option<Duration>,
    last_now: Duration,
}

/// The net change of the active database during one call.
struct Change<Id> {
    /// Whether `from` holds the active database from before the call's first switch.
    captured: bool,
    from: Option<Id>,
    reason: Option<SwitchReason>,
}

impl<Id> Change<Id> {
    fn new() -> Self {
        Self {
            captured: false,
            from: None,
            reason: None,
        }
    }
}

impl<Id: Clone + Eq + fmt::Debug> FailoverEngine<Id> {
    /// An empty, uninitialized engine using [`WeightedStrategy`](crate::WeightedStrategy).
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            candidates: Candidates::new(),
            active: None,
            initialized: false,
            manual: false,
            pinned_until: None,
            fallback_origin: Duration::ZERO,
            next_fallback: None,
            outage_since: None,
            last_now: Duration::ZERO,
        }
    }

    /// Replaces the strategy that ranks eligible candidates. It applies from the next
    /// decision; the active database is not re-evaluated now.
    pub fn set_strategy(&mut self, strategy: Arc<dyn FailoverStrategy<Id>>) {
        self.candidates.strategy = Some(strategy);
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Adds a candidate. One added as available is stable at once (the caller has just
    /// checked it). Once initialized, switches to it ([`SwitchReason::DatabaseAdded`]) if
    /// it outranks the active database, or if the active one is unavailable and it is
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
    /// ([`SwitchReason::DatabaseRemoved`]) — the best available, or if none is, the best of
    /// the rest so the client still has a target — and ends a pin on it. Removing the last
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
    /// the active database was chosen manually.
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
    /// available candidate, else the best available one, with the reason from `cause`; if
    /// none is available, nothing changes and [`status`](Self::status) reports the outage.
    /// A candidate that becomes available while the active one is not is switched to
    /// ([`SwitchReason::Recovered`]); if it is the active one, its status simply returns to
    /// [`Status::Active`]. No switch while a pin holds.
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
            if self.may_switch() && !self.active_available() {
                let reason = if available {
                    SwitchReason::Recovered
                } else {
                    cause.into()
                };
                if let Some(to) = self.candidates.failover_choice(now) {
                    self.switch(&mut change, to, reason);
                }
            }
        }
        Ok(self.finish(change, now))
    }

    /// Lets time pass: processes an expired pin (normal selection,
    /// [`SwitchReason::ForceExpired`] if it picks another database) and a due auto-fallback
    /// check ([`SwitchReason::AutoFallback`] if a stable available candidate outranks the
    /// active one, unless it was chosen manually). Call it at
    /// [`next_deadline`](Self::next_deadline); extra calls are harmless.
    pub fn tick(&mut self, now: Duration) -> Option<Decision<Id>> {
        let (now, mut change) = self.begin(now);
        if let (Some(due), Some(interval)) = (self.next_fallback, self.config.fallback_interval())
            && now >= due
        {
            self.next_fallback = next_multiple(self.fallback_origin, interval, now);
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
    /// away from it, only its unavailability does. Ends any pin.
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
    /// `now + duration`: no automatic switch of any kind happens meanwhile, even if it
    /// becomes unavailable. At expiry normal selection resumes. A new force replaces the
    /// pin; removing the pinned database or [`switch_to`](Self::switch_to) ends it.
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

    /// Picks the first active database: checks `policy` against the available candidates,
    /// then takes the best available one, stable or not. Calling it again re-runs it from
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
        let list = &self.candidates.list;
        let available = list.iter().filter(|c| c.available).count();
        let choice = if policy.is_met(available, list.len()) {
            self.candidates.best_available(now)
        } else {
            None
        };
        let Some(to) = choice else {
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

    /// When the current pin ends, if [`force`](Self::force) set one. A pin that has expired
    /// is reported until the next call processes it.
    pub fn pinned_until(&self) -> Option<Duration> {
        self.pinned_until
    }

    /// Every candidate in insertion order. `stable` is computed against the latest `now`
    /// the engine was given.
    pub fn candidates(&self) -> impl Iterator<Item = CandidateView<'_, Id>> {
        (0..self.candidates.list.len()).filter_map(|i| self.candidates.view(i, self.last_now))
    }

    /// Time never goes backwards inside the engine: an earlier `now` counts as the latest.
    fn observe(&mut self, now: Duration) -> Duration {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// Starts a call: notes the time and processes a pin that has lapsed since.
    fn begin(&mut self, now: Duration) -> (Duration, Change<Id>) {
        let now = self.observe(now);
        let mut change = Change::new();
        if let Some(until) = self.pinned_until
            && until <= now
        {
            self.pinned_until = None;
            let to = if self.active_available() {
                self.candidates.outranking(self.active_pos(), now)
            } else {
                self.candidates.failover_choice(now)
            };
            if let Some(to) = to {
                self.switch(&mut change, to, SwitchReason::ForceExpired);
            }
        }
        (now, change)
    }

    fn switch(&mut self, change: &mut Change<Id>, to: usize, reason: SwitchReason) {
        if !change.captured {
            change.captured = true;
            change.from = self.active().cloned();
        }
        self.active = Some(to);
        self.manual = reason == SwitchReason::Manual;
        change.reason = Some(reason);
    }

    /// Ends a call: updates the outage clock and reports the net change.
    fn finish(&mut self, change: Change<Id>, now: Duration) -> Option<Decision<Id>> {
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

    fn may_switch(&self) -> bool {
        self.initialized && self.pinned_until.is_none()
    }

    fn active_available(&self) -> bool {
        self.active
            .and_then(|p| self.candidates.list.get(p))
            .is_some_and(|c| c.available)
    }

    /// Only called when `active_available()` holds, so the active position exists.
    fn active_pos(&self) -> usize {
        self.active.unwrap_or_default()
    }

    fn check_target(&self, id: &Id) -> Result<usize, EngineError<Id>> {
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

fn check_weight<Id: Clone + fmt::Debug>(id: &Id, weight: f64) -> Result<(), EngineError<Id>> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(EngineError::InvalidWeight {
            id: id.clone(),
            weight,
        })
    }
}

/// The first `origin + k × interval` strictly after `now`; `None` past the end of time.
fn next_multiple(origin: Duration, interval: Duration, now: Duration) -> Option<Duration> {
    let step = interval.as_nanos();
    let elapsed = now.saturating_sub(origin).as_nanos();
    let next = origin
        .as_nanos()
        .checked_add((elapsed / step + 1).checked_mul(step)?)?;
    let secs = u64::try_from(next / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (next % 1_000_000_000) as u32))
}

impl<Id: fmt::Debug> fmt::Debug for FailoverEngine<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverEngine")
            .field("config", &self.config)
            .field("candidates", &self.candidates.list)
            .field("custom_strategy", &self.candidates.strategy.is_some())
            .field(
                "active",
                &self
                    .active
                    .and_then(|p| self.candidates.list.get(p))
                    .map(|c| &c.id),
            )
            .field("initialized", &self.initialized)
            .field("manual", &self.manual)
            .field("pinned_until", &self.pinned_until)
            .field("next_fallback", &self.next_fallback)
            .field("outage_since", &self.outage_since)
            .finish_non_exhaustive()
    }
}
