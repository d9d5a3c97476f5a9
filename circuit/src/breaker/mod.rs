//! The circuit breaker: a state machine over one atomic word, fed by a sliding window.
//!
//! While Closed, [`CircuitBreaker::try_acquire`] is one atomic load and resolving its
//! [`Permit`] one more load, a clock reading and a compare-and-swap on a window bucket: no
//! lock, no allocation. Failures also sum the window (a few loads per bucket) to decide
//! whether to open. Open -> HalfOpen is lazy: whoever looks at the breaker after the grace
//! period (`state`, `try_acquire`, `record_*`, `trip`) makes the transition, so the breaker
//! needs no timer task.

mod permit;

pub use permit::Permit;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{Clock, SystemClock, duration_to_nanos};
use crate::config::CircuitConfig;
use crate::error::{CallError, Rejected};
use crate::state::{EPISODE_MASK, State, Word};
use crate::transition::{Listeners, Transition, TransitionReason};
use crate::window::{SlidingWindow, WindowCounts};

/// A clock reading: the clock's own time (reported in transitions) and nanoseconds since the
/// breaker's origin (used for buckets and deadlines).
#[derive(Clone, Copy)]
struct Now {
    at: Duration,
    nanos: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// A half-open permit dropped unresolved: frees its slot, counts as nothing.
    Release,
}

/// A lock-free circuit breaker with a sliding failure window.
///
/// Share it by reference or in an [`Arc`]; every method takes `&self`.
pub struct CircuitBreaker<C: Clock = SystemClock> {
    state: AtomicU64,
    episodes: AtomicU32,
    window: SlidingWindow,
    grace: u64,
    origin: Duration,
    config: CircuitConfig,
    listeners: Listeners,
    clock: C,
}

impl CircuitBreaker<SystemClock> {
    /// A closed breaker on the system clock.
    pub fn new(config: CircuitConfig) -> Self {
        Self::with_clock(config, SystemClock::default())
    }
}

impl<C: Clock> CircuitBreaker<C> {
    /// A closed breaker on `clock`.
    pub fn with_clock(config: CircuitConfig, clock: C) -> Self {
        Self {
            state: AtomicU64::new(Word::Closed { episode: 0 }.encode()),
            episodes: AtomicU32::new(0),
            window: SlidingWindow::new(&config),
            grace: duration_to_nanos(config.grace_period()),
            origin: clock.now(),
            config,
            listeners: Listeners::default(),
            clock,
        }
    }

    /// Asks to make one call. Closed always grants; Open rejects; HalfOpen grants while
    /// fewer than `half_open_max_calls` permits are outstanding.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when open, or half-open with every trial slot taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_, C>, Rejected> {
        let raw = self.state.load(Ordering::Acquire);
        if Word::is_closed(raw) {
            return Ok(Permit::new(self, raw));
        }
        self.try_acquire_slow()
    }

    #[cold]
    fn try_acquire_slow(&self) -> Result<Permit<'_, C>, Rejected> {
        let (mut raw, now) = self.observe();
        loop {
            match Word::decode(raw) {
                Word::Closed { .. } => {
                    return Ok(Permit::new(self, raw));
                }
                Word::Open { deadline } => {
                    let retry_after = deadline.map(|at| {
                        let now = now.unwrap_or_else(|| self.now());
                        Duration::from_nanos(at.saturating_sub(now.nanos))
                    });
                    return Err(Rejected {
                        state: State::Open,
                        retry_after,
                    });
                }
                Word::HalfOpen {
                    episode,
                    in_flight,
                    streak,
                } => {
                    if in_flight >= self.config.half_open_max_calls() {
                        return Err(Rejected {
                            state: State::HalfOpen,
                            retry_after: Some(Duration::ZERO),
                        });
                    }
                    let next = Word::HalfOpen {
                        episode,
                        in_flight: in_flight + 1,
                        streak,
                    }
                    .encode();
                    match self.state.compare_exchange(
                        raw,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            return Ok(Permit::new(self, next));
                        }
                        Err(seen) => raw = seen,
                    }
                }
            }
        }
    }

    /// Records a success that did not go through a permit (e.g. a health probe). Closed: it
    /// enters the window; HalfOpen: it counts toward `success_threshold`; Open: ignored.
    pub fn record_success(&self) {
        self.record(Outcome::Success);
    }

    /// Records a failure that did not go through a permit. Closed: it enters the window and
    /// may open the breaker; HalfOpen: re-opens; Open: ignored.
    pub fn record_failure(&self) {
        self.record(Outcome::Failure);
    }

    fn record(&self, outcome: Outcome) {
        let (raw, _) = self.observe();
        match Word::decode(raw) {
            Word::Closed { .. } => self.record_closed(raw, outcome == Outcome::Failure),
            Word::HalfOpen { episode, .. } => self.half_open_outcome(episode, outcome, false),
            Word::Open { .. } => {}
        }
    }

    /// Opens the breaker now, as if the thresholds had been crossed: rejected calls for the
    /// grace period, then half-open. No effect when already open.
    pub fn trip(&self) {
        loop {
            let (raw, now) = self.observe();
            if let Word::Open { .. } = Word::decode(raw) {
                return;
            }
            let now = now.unwrap_or_else(|| self.now());
            let open = self.open_until(now);
            if self.transition(raw, open, TransitionReason::Tripped, now) {
                return;
            }
        }
    }

    /// Opens the breaker and holds it open (no half-open) until
    /// [`force_closed`](Self::force_closed) or [`reset`](Self::reset). Forcing a breaker
    /// that is already (not forcibly) open reports an Open -> Open transition.
    pub fn force_open(&self) {
        loop {
            let raw = self.state.load(Ordering::Acquire);
            let forced = Word::Open { deadline: None };
            if Word::decode(raw) == forced
                || self.transition(raw, forced, TransitionReason::ForcedOpen, self.now())
            {
                return;
            }
        }
    }

    /// Closes the breaker now with an empty window.
    pub fn force_closed(&self) {
        self.close_by_hand(TransitionReason::ForcedClosed);
    }

    /// Back to the initial state: closed, empty window, any force released.
    pub fn reset(&self) {
        self.close_by_hand(TransitionReason::Reset);
    }

    fn close_by_hand(&self, reason: TransitionReason) {
        loop {
            let raw = self.state.load(Ordering::Acquire);
            if Word::is_closed(raw) {
                self.window.clear();
                return;
            }
            let closed = Word::Closed {
                episode: self.next_episode(),
            };
            if self.transition(raw, closed, reason, self.now()) {
                return;
            }
        }
    }

    /// The current state, after the Open -> HalfOpen transition if the grace period is over.
    pub fn state(&self) -> State {
        Word::decode(self.observe().0).state()
    }

    /// When an open breaker turns half-open, on its clock: `None` unless it is open with a
    /// deadline (closed, half-open, or held open by [`force_open`](Self::force_open)). An
    /// owner that reports states on time (rather than when someone next looks) schedules a
    /// look at this moment.
    pub fn half_open_at(&self) -> Option<Duration> {
        match Word::decode(self.state.load(Ordering::Acquire)) {
            Word::Open {
                deadline: Some(nanos),
            } => Some(self.origin.saturating_add(Duration::from_nanos(nanos))),
            _ => None,
        }
    }

    /// Successes and failures inside the window now. The window keeps its events while the
    /// breaker is open or half-open, and is empty whenever the breaker closes.
    pub fn counts(&self) -> WindowCounts {
        self.window.counts(self.now().nanos)
    }

    /// The configuration.
    pub fn config(&self) -> &CircuitConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Registers a listener called once for every transition, synchronously, on the thread
    /// that made it, after the state changed and with no lock held.
    pub fn on_transition(&self, listener: impl Fn(&Transition) + Send + Sync + 'static) {
        self.listeners.add(Arc::new(listener));
    }

    /// Runs `f` if a permit is granted and records its outcome: `Ok` and errors for which
    /// `is_failure` is false count as successes (the service answered).
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] if no permit was granted (then `f` is not run), otherwise
    /// [`CallError::Inner`] with `f`'s error.
    pub fn call<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        is_failure: impl Fn(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        permit.settle(f(), &is_failure)
    }

    /// Like [`call`](Self::call) for a future. A permit is taken before the first poll; if
    /// the returned future is dropped before `fut` completes, the call counts as nothing.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<T, E, F: Future<Output = Result<T, E>>>(
        &self,
        fut: F,
        is_failure: impl Fn(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        permit.settle(fut.await, &is_failure)
    }

    #[inline]
    fn now(&self) -> Now {
        let at = self.clock.now();
        Now {
            at,
            nanos: duration_to_nanos(at.saturating_sub(self.origin)),
        }
    }

    fn next_episode(&self) -> u32 {
        self.episodes
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            & EPISODE_MASK
    }

    fn open_until(&self, now: Now) -> Word {
        Word::Open {
            deadline: Some(now.nanos.saturating_add(self.grace)),
        }
    }

    /// Loads the state, first moving Open to HalfOpen if the grace period is over. Returns
    /// the clock reading if one was needed.
    fn observe(&self) -> (u64, Option<Now>) {
        let mut raw = self.state.load(Ordering::Acquire);
        let mut now = None;
        loop {
            let Word::Open {
                deadline: Some(deadline),
            } = Word::decode(raw)
            else {
                return (raw, now);
            };
            let reading = *now.get_or_insert_with(|| self.now());
            if reading.nanos < deadline {
                return (raw, now);
            }
            let half_open = Word::HalfOpen {
                episode: self.next_episode(),
                in_flight: 0,
                streak: 0,
            };
            self.transition(
                raw,
                half_open,
                TransitionReason::GracePeriodElapsed,
                reading,
            );
            raw = self.state.load(Ordering::Acquire);
        }
    }

    /// Moves from `from` to `to` if the state is still `from`, and reports it. Only the
    /// thread whose compare-and-swap wins reports, so each transition is reported once.
    fn transition(&self, from: u64, to: Word, reason: TransitionReason, now: Now) -> bool {
        if let Word::Closed { .. } = to {
            // Before publishing, so that calls of the new episode are never wiped.
            self.window.clear();
        }
        let won = self
            .state
            .compare_exchange(from, to.encode(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.listeners.notify(&Transition {
                from: Word::decode(from).state(),
                to: to.state(),
                reason,
                at: now.at,
            });
        }
        won
    }

    /// The permit path: `word` is the state the permit was granted in.
    #[inline]
    pub(crate) fn resolve(&self, word: u64, outcome: Outcome) {
        if Word::is_closed(word) {
            // A permit from an earlier Closed episode (the breaker opened since) is stale.
            if outcome != Outcome::Release && self.state.load(Ordering::Acquire) == word {
                self.record_closed(word, outcome == Outcome::Failure);
            }
        } else if let Word::HalfOpen { episode, .. } = Word::decode(word) {
            self.half_open_outcome(episode, outcome, true);
        }
    }

    /// A permit's success, at `at` if the caller read the clock, else at the clock's recent
    /// reading (read only if the success is counted).
    #[inline]
    pub(crate) fn resolve_success(&self, word: u64, at: Option<Duration>) {
        if Word::is_closed(word) {
            if self.state.load(Ordering::Acquire) == word {
                let at = at.unwrap_or_else(|| self.clock.recent());
                let nanos = duration_to_nanos(at.saturating_sub(self.origin));
                self.window.record(nanos, false);
            }
        } else if let Word::HalfOpen { episode, .. } = Word::decode(word) {
            self.half_open_outcome(episode, Outcome::Success, true);
        }
    }

    #[inline]
    fn record_closed(&self, raw: u64, failure: bool) {
        let now = self.now();
        self.window.record(now.nanos, failure);
        if failure {
            self.evaluate(raw, now);
        }
    }

    fn evaluate(&self, raw: u64, now: Now) {
        let counts = self.window.counts(now.nanos);
        let failures = counts.failures;
        if failures >= u64::from(self.config.min_num_failures())
            && failures as f64 / counts.total() as f64 >= self.config.failure_rate_threshold()
        {
            let open = self.open_until(now);
            self.transition(raw, open, TransitionReason::ThresholdsCrossed, now);
        }
    }

    /// Applies a half-open outcome if the breaker is still in half-open `episode`; `slot`
    /// says whether it comes from a permit holding a trial slot.
    #[cold]
    fn half_open_outcome(&self, episode: u32, outcome: Outcome, slot: bool) {
        let mut raw = self.state.load(Ordering::Acquire);
        let mut now = None;
        loop {
            let Word::HalfOpen {
                episode: current,
                in_flight,
                streak,
            } = Word::decode(raw)
            else {
                return;
            };
            if current != episode {
                return;
            }
            let in_flight = if slot {
                in_flight.saturating_sub(1)
            } else {
                in_flight
            };
            let reading = *now.get_or_insert_with(|| self.now());
            let (next, reason) = match outcome {
                Outcome::Failure => (
                    self.open_until(reading),
                    Some(TransitionReason::HalfOpenFailed),
                ),
                Outcome::Success if streak + 1 >= self.config.success_threshold() => (
                    Word::Closed {
                        episode: self.next_episode(),
                    },
                    Some(TransitionReason::HalfOpenSucceeded),
                ),
                Outcome::Success => (
                    Word::HalfOpen {
                        episode,
                        in_flight,
                        streak: streak + 1,
                    },
                    None,
                ),
                Outcome::Release => (
                    Word::HalfOpen {
                        episode,
                        in_flight,
                        streak,
                    },
                    None,
                ),
            };
            let done = match reason {
                Some(reason) => self.transition(raw, next, reason, reading),
                None => self
                    .state
                    .compare_exchange(raw, next.encode(), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok(),
            };
            if done {
                return;
            }
            raw = self.state.load(Ordering::Acquire);
        }
    }
}

impl<C: Clock> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &Word::decode(self.state.load(Ordering::Acquire)))
            .field("config", &self.config)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}
