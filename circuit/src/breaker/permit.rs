//! The permit: one granted call, resolved by its owner or by being dropped.

use std::fmt;
use std::mem::ManuallyDrop;
use std::time::Duration;

use super::{CircuitBreaker, Outcome};
use crate::clock::Clock;
use crate::error::CallError;
use crate::state::{State, Word};

/// Permission to make one call, from [`CircuitBreaker::try_acquire`]. Report the outcome
/// with [`success`](Self::success) or [`failure`](Self::failure); dropping it unresolved
/// counts as neither (and frees its half-open trial slot). An outcome reported after the
/// breaker left the state the permit was granted in is ignored: it describes the past.
#[must_use = "report the call's outcome with success() or failure()"]
pub struct Permit<'a, C: Clock> {
    breaker: &'a CircuitBreaker<C>,
    word: u64,
}

impl<'a, C: Clock> Permit<'a, C> {
    #[inline]
    pub(crate) fn new(breaker: &'a CircuitBreaker<C>, word: u64) -> Self {
        Self { breaker, word }
    }

    /// The call succeeded (the service answered). Timed by the clock's
    /// [`recent`](Clock::recent) reading.
    #[inline]
    pub fn success(self) {
        let this = ManuallyDrop::new(self);
        this.breaker.resolve_success(this.word, None);
    }

    /// The call succeeded, at `at` as the breaker's clock reads: for callers that read the
    /// clock less often than once per call (a window bucket is typically 200 ms wide) and
    /// share a recent reading. A success older than the window is not counted.
    #[inline]
    pub fn success_at(self, at: Duration) {
        let this = ManuallyDrop::new(self);
        this.breaker.resolve_success(this.word, Some(at));
    }

    /// The call failed in a way that counts against the service.
    pub fn failure(self) {
        let this = ManuallyDrop::new(self);
        this.breaker.resolve(this.word, Outcome::Failure);
    }

    /// The state the permit was granted in.
    pub fn granted_in(&self) -> State {
        Word::decode(self.word).state()
    }

    pub(crate) fn settle<T, E>(
        self,
        result: Result<T, E>,
        is_failure: &impl Fn(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        match result {
            Ok(value) => {
                self.success();
                Ok(value)
            }
            Err(e) => {
                if is_failure(&e) {
                    self.failure();
                } else {
                    self.success();
                }
                Err(CallError::Inner(e))
            }
        }
    }
}

impl<C: Clock> Drop for Permit<'_, C> {
    fn drop(&mut self) {
        if !Word::is_closed(self.word) {
            self.breaker.resolve(self.word, Outcome::Release);
        }
    }
}

impl<C: Clock> fmt::Debug for Permit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("granted_in", &self.granted_in())
            .finish_non_exhaustive()
    }
}
