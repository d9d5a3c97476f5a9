//! The outcome policy: the one place that says what an attempt's result means for its
//! database and reports it.
//!
//! In the spirit of tower's retry `Policy`, every path — plain commands, pinned
//! connections, their dedicated connects — hands the result of an attempt here. The policy
//! classifies it ([`Outcome`]), settles the attempt's circuit permit, and on a failure
//! reports the database to the router ([`Reports`]) (it turns suspect and is probed at once). The
//! settings it honours (`busy_errors_are_failures`) are read here and nowhere else, so no
//! path can classify differently from another.

use std::fmt;

use multidb_circuit::Permit;
use redis::RedisResult;

use crate::member::{Database, TokioClock};
use crate::replay::{self, Sent};
use crate::request::Request;

/// What one attempt's result says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The database answered: a reply, or an error reply such as `WRONGTYPE` (it is alive).
    Answered,
    /// The database rejected the request before running it (`LOADING`, `READONLY`…) and
    /// that does not count as a failure (`busy_errors_are_failures(false)`): alive, and
    /// the request may be retried anywhere.
    Rejected,
    /// The database failed; `sent` says whether the request may have been applied.
    Failed(Sent),
}

impl Outcome {
    /// `None` for an answer; otherwise the request is worth trying again, and `Some(sent)`
    /// says whether it may have run (a rejection proves it did not).
    #[inline]
    pub(crate) fn retry(self) -> Option<Sent> {
        match self {
            Outcome::Answered => None,
            Outcome::Rejected => Some(Sent::No),
            Outcome::Failed(sent) => Some(sent),
        }
    }
}

/// Where failures are reported: the control plane's router (probe-confirmed detection).
pub(crate) trait Reports {
    /// `db` failed at the connection level.
    fn report_failure(&self, db: &Database);
}

/// See the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutcomePolicy {
    busy_errors_are_failures: bool,
}

impl OutcomePolicy {
    pub(crate) fn new(busy_errors_are_failures: bool) -> Self {
        OutcomePolicy {
            busy_errors_are_failures,
        }
    }

    /// What `result` of `request` says about the database.
    #[inline]
    pub(crate) fn classify<R: Request + ?Sized>(
        self,
        request: &R,
        result: &RedisResult<R::Output>,
    ) -> Outcome {
        let rejected = match result {
            Ok(output) => request.rejected(output),
            Err(e) => match replay::error_failure(e, self.busy_errors_are_failures) {
                Some(sent) => return Outcome::Failed(sent),
                None => replay::error_rejects(e),
            },
        };
        match (rejected, self.busy_errors_are_failures) {
            (false, _) => Outcome::Answered,
            (true, true) => Outcome::Failed(Sent::No),
            (true, false) => Outcome::Rejected,
        }
    }

    /// What a connection attempt's error says (no request was sent).
    pub(crate) fn classify_connect(self, err: &redis::RedisError) -> Outcome {
        replay::error_failure(err, self.busy_errors_are_failures)
            .map_or(Outcome::Answered, |_| Outcome::Failed(Sent::No))
    }

    /// Settles `permit` by `outcome`; a failure is reported to the router and remembered
    /// as `db`'s last, with `why` (not read otherwise).
    #[inline]
    pub(crate) fn settle(
        router: &dyn Reports,
        db: &Database,
        permit: Permit<'_, TokioClock>,
        outcome: Outcome,
        why: &dyn fmt::Display,
    ) {
        match outcome {
            Outcome::Answered | Outcome::Rejected => permit.success(),
            Outcome::Failed(sent) => {
                permit.failure();
                router.report_failure(db);
                db.note_failure(why);
                tracing::debug!(database = %db.id, endpoint = %db.endpoint, ?sent, "command failed on database");
            }
        }
    }

    /// Classifies and settles in one go.
    #[inline]
    pub(crate) fn record<R: Request + ?Sized>(
        self,
        router: &dyn Reports,
        db: &Database,
        permit: Permit<'_, TokioClock>,
        request: &R,
        result: &RedisResult<R::Output>,
    ) -> Outcome {
        let outcome = self.classify(request, result);
        let why: &dyn fmt::Display = match result {
            Err(e) => e,
            Ok(_) => &"the server refused the command (busy or loading)",
        };
        Self::settle(router, db, permit, outcome, why);
        outcome
    }
}
