//! Blocking commands (`BLPOP`, `XREAD … BLOCK`…) on the main client: over a dedicated
//! connection of the active database, so they never delay other commands or health probes.
//!
//! Each URL or Sentinel member keeps a small set of such connections, reused: a blocking command takes
//! an idle one or opens a new one up to the cap ([`crate::MultiDbConfigBuilder::blocking_connections`]),
//! then waits for one within its own deadline, then fails with
//! [`MultiDbError::BlockingConnectionsExhausted`]. The command's deadline is its block time
//! plus the member's response timeout; a block time of 0 (wait forever), or a response
//! timeout of `None`, leaves the wait unbounded but by the database: when it stops being the
//! active one (it failed, or a switch) the wait ends with
//! [`MultiDbError::BlockingCommandInterrupted`], whose message says an element may have been
//! taken. A wait is never a failure of the database; no reply by the deadline is. Blocking
//! commands are never replayed once sent. A connection that was interrupted is closed (the
//! server then unblocks it without taking anything unless an element arrived at that very
//! moment), never reused.
//!
//! Other members (clusters, application connections) send blocking commands on their own
//! connection, with its timeouts.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use redis::RedisResult;
use tokio::time::Instant;

use crate::category::Blocking;
use crate::control::Controller;
use crate::error::MultiDbError;
use crate::member::Database;
use crate::outcome::{Outcome, OutcomePolicy};
use crate::replay::Sent;
use crate::request::Request;

/// Why one try did not produce the answer.
enum Try<T> {
    Done(RedisResult<T>),
    /// It did not run (circuit open, not active any more, connection not made, rejected
    /// unrun): go again once a database is active; the result to give if not.
    NotSent(Option<RedisResult<T>>),
}

/// The active database opens no connections of its own (a cluster, an application
/// connection): the request goes the ordinary way, on the member's own connection.
pub(crate) struct NoOwnConnections;

/// Runs a blocking request over a dedicated connection of the active database.
pub(crate) async fn execute<R: Request + ?Sized>(
    controller: &Arc<Controller>,
    request: &R,
    blocking: Blocking,
) -> Result<RedisResult<R::Output>, NoOwnConnections> {
    let block = match blocking {
        Blocking::For(block) => block,
        Blocking::ConnectionBound(command, _) => {
            return Ok(Err(
                MultiDbError::NeedsPinnedConnection { command }.into_redis()
            ));
        }
    };
    if let Err(e) = controller.initialize().await {
        return Ok(Err(e.into_redis()));
    }
    let router = controller.router();
    let retry = &controller.config().retry;
    let mut delays = crate::retry::backoff(retry);
    loop {
        let Some(db) = router.active() else {
            let err = router
                .unavailable_error()
                .unwrap_or(MultiDbError::NoDatabases);
            return Ok(Err(err.into_redis()));
        };
        if db.connection.connector().is_none() {
            return Err(NoOwnConnections);
        }
        let not_sent = match attempt(controller, &db, request, block).await {
            Try::Done(result) => return Ok(result),
            Try::NotSent(err) => err,
        };
        // Known not to have run: retry anywhere, after a backoff or a switch.
        let delay = delays.next().filter(|_| router.budget().try_withdraw());
        let Some(delay) = delay else {
            return Ok(not_sent.unwrap_or_else(|| Err(db.circuit_open_error().into_redis())));
        };
        router.backoff_or_switch(&db, delay).await;
    }
}

async fn attempt<R: Request + ?Sized>(
    controller: &Controller,
    db: &Arc<Database>,
    request: &R,
    block: Option<Duration>,
) -> Try<R::Output> {
    let router = controller.router();
    let outcomes = controller.outcomes();
    let started = Instant::now();
    // The reply is due by then; `None`: no bound but the database's.
    let deadline =
        crate::category::reply_bound(Some(Blocking::For(block)), db.spec.response_timeout)
            .and_then(|bound| started.checked_add(bound));
    let Ok(permit) = db.circuit.try_acquire() else {
        return Try::NotSent(None);
    };
    let mut evicted = pin!(db.evicted.notified());
    evicted.as_mut().enable();
    if !router.is_active(db) {
        return Try::NotSent(None);
    }
    let pool = &db.dedicated;
    // A slot: right away, or within the deadline (without one, within the response or
    // connection timeout: never an unbounded wait for a slot).
    let slot_deadline = deadline.unwrap_or_else(|| {
        let bound = db
            .spec
            .response_timeout
            .unwrap_or(db.spec.connection_timeout);
        started.checked_add(bound).unwrap_or(started)
    });
    let slot = tokio::select! {
        biased;
        slot = tokio::time::timeout_at(slot_deadline, pool.slot()) => slot,
        () = evicted.as_mut() => return Try::NotSent(None),
    };
    let _slot = match slot {
        Ok(Ok(slot)) => slot,
        Ok(Err(_closed)) => return Try::Done(Err(MultiDbError::Closed.into_redis())),
        Err(_elapsed) => {
            return Try::Done(Err(MultiDbError::BlockingConnectionsExhausted {
                id: db.id,
                endpoint: db.endpoint.clone(),
                max: pool.cap,
            }
            .into_redis()));
        }
    };
    let mut dedicated = match pool.take_idle() {
        Some(dedicated) => dedicated,
        None => match db.open_dedicated().await {
            Ok(dedicated) => dedicated,
            Err(e) => {
                let outcome = outcomes.classify_connect(&e);
                OutcomePolicy::settle(router, db, permit, outcome, &e);
                return match outcome.retry() {
                    None => Try::Done(Err(e)),
                    Some(_) => Try::NotSent(Some(Err(e))),
                };
            }
        },
    };
    let interrupted = |reason: &str| {
        MultiDbError::BlockingCommandInterrupted {
            id: db.id,
            endpoint: db.endpoint.clone(),
            reason: reason.to_owned(),
        }
        .into_redis()
    };
    let send = request.send_multiplexed(&mut dedicated.con);
    let result = tokio::select! {
        biased;
        result = send => Some(result),
        () = evicted => None,
        () = crate::member::sleep_until(deadline) => {
            // The server did not answer by its own block time and then some: the database
            // is failing.
            let why = "a blocking command got no reply within its block time and the response timeout";
            OutcomePolicy::settle(router, db, permit, Outcome::Failed(Sent::Maybe), &why);
            return Try::Done(Err(interrupted(
                "no reply within its block time plus the response timeout",
            )));
        }
    };
    let Some(result) = result else {
        drop(permit);
        return Try::Done(Err(interrupted("it stopped being the active database")));
    };
    match outcomes
        .record(router, db, permit, request, &result)
        .retry()
    {
        None => {
            pool.put_back(dedicated);
            Try::Done(result)
        }
        Some(Sent::No) => {
            pool.put_back(dedicated);
            // Rejected unrun (`LOADING`…): retry anywhere, with the rejection if no retry.
            Try::NotSent(Some(result))
        }
        Some(Sent::Maybe) => match result {
            Ok(output) => Try::Done(Ok(output)),
            Err(e) => Try::Done(Err(interrupted(&format!("the connection failed: {e}")))),
        },
    }
}
