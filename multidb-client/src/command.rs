//! The command path: `redis::aio::ConnectionLike` for [`MultiDbClient`].
//!
//! With no fault, a command costs one lock-free load of the active database (compared with
//! the one this clone of the client used last, whose connection it keeps), one atomic load
//! saying that connection is still current, one lock-free circuit permit and the
//! connection's own work. Everything else — classification of failures, probes, retries
//! with backoff, waiting for a switch — happens only when something failed.

use std::pin::pin;
use std::sync::Arc;

use redis::{RedisError, RedisFuture, RedisResult};

use crate::category::{Blocking, CommandCategory};
use crate::connection::MemberConnection;
use crate::control::{Controller, Router};
use crate::dedicated::NoOwnConnections;
use crate::error::MultiDbError;
use crate::event::DatabaseId;
use crate::member::Database;
use crate::outcome::OutcomePolicy;
use crate::replay::Sent;
use crate::request::Request;
use crate::telemetry::Started;
use tracing::Instrument;

/// A clone's own view of the active database and its connection, reused for as long as
/// that database stays active (the epoch says so): the hot path then reads one shared
/// atomic and writes nothing shared but the circuit's counters. A clone that outlives a
/// switch holds the old database until its next command.
#[derive(Clone, Default)]
pub(crate) struct Local(Option<(u64, Arc<Database>, MemberConnection)>);

impl Local {
    /// The active database and this clone's connection to it; `None` when none is active.
    fn current(&mut self, router: &Router) -> Option<(&Arc<Database>, &mut MemberConnection)> {
        let epoch = router.epoch();
        match &mut self.0 {
            Some((seen, ..)) if *seen == epoch => {}
            cached => {
                let active = router.active()?;
                match cached {
                    Some((seen, db, _)) if Arc::ptr_eq(db, &active) => *seen = epoch,
                    _ => *cached = Some((epoch, active.clone(), active.connection.clone())),
                }
            }
        }
        self.0.as_mut().map(|(_, db, con)| (&*db, con))
    }
}

/// Why one attempt did not produce the answer.
enum Attempt<T> {
    Done(RedisResult<T>),
    /// Failed before anything was sent: the circuit was open or the database is not active.
    NotSent,
    Failed {
        result: RedisResult<T>,
        sent: Sent,
    },
}

/// Runs one request. The future for the common case — the active database is a URL
/// member, not suspect, connected — holds redis-rs' own future and little else, so it costs
/// what redis-rs' does to allocate and move; anything else goes the general way.
pub(crate) fn execute<'a, R: Request + Send + 'a>(
    controller: &'a Arc<Controller>,
    local: &'a mut Local,
    request: R,
) -> RedisFuture<'a, R::Output> {
    let router = controller.router();
    router.budget().record_request();
    let direct = local
        .current(router)
        .is_some_and(|(db, con)| !db.is_suspect() && con.current().is_some());
    let started = Started::when(controller.config().operation_duration_metric);
    let span = command_span(&request, local.0.as_ref().map(|(_, db, _)| db.id));
    if !direct {
        return Box::pin(
            async move { execute_slow(controller, local, &request, None, started).await }
                .instrument(span),
        );
    }
    Box::pin(
        async move {
            let mut failed = None;
            if let Some((_, db, con)) = local.0.as_mut()
                && let Ok(permit) = db.circuit.try_acquire()
                && let Some((multiplexed, generation)) = con.current()
            {
                let in_flight = db.begin_command();
                let result = request.send_multiplexed(multiplexed).await;
                con.observe(generation, &result);
                let outcome = controller
                    .outcomes()
                    .record(router, db, permit, &request, &result);
                in_flight.end(crate::replay::replied(&result));
                let Some(sent) = outcome.retry() else {
                    db.metrics.operation::<R>(started, &result, 0);
                    return result;
                };
                failed = Some((db.clone(), Some(result), sent));
            }
            Box::pin(execute_slow(controller, local, &request, failed, started)).await
        }
        .instrument(span),
    )
}

/// The span of one command, at `trace` (its database: the first attempt's). Disabled, it
/// is a level check and nothing else.
#[inline]
fn command_span<R: Request>(request: &R, db: Option<DatabaseId>) -> tracing::Span {
    let span = tracing::trace_span!(
        "redis.command",
        db.system.name = "redis",
        db.operation.name = tracing::field::Empty,
        multidb.database.id = tracing::field::Empty,
    );
    if !span.is_disabled() {
        span.record("db.operation.name", request.operation_name());
        if let Some(db) = db {
            span.record("multidb.database.id", db.get());
        }
    }
    span
}

/// Runs a request that blocks on the server (the caller found it so): over a dedicated
/// connection of the active database, or the general way for members without one.
pub(crate) fn execute_blocking<'a, R: Request + Send + 'a>(
    controller: &'a Arc<Controller>,
    local: &'a mut Local,
    request: R,
    blocking: Blocking,
) -> RedisFuture<'a, R::Output> {
    controller.router().budget().record_request();
    let span = command_span(&request, None);
    Box::pin(
        async move {
            let started = Started::when(controller.config().operation_duration_metric);
            match crate::dedicated::execute(controller, &request, blocking).await {
                Ok(result) => result,
                Err(NoOwnConnections) => {
                    execute_slow(controller, local, &request, None, started).await
                }
            }
        }
        .instrument(span),
    )
}

/// An attempt that failed: on which database, its result (`None`: not sent), whether it was sent.
type Failed<T> = (Arc<Database>, Option<RedisResult<T>>, Sent);

/// The general way: attempts on any kind of member, after a failed first attempt (given)
/// or none; backoff, waiting for a switch, initializing on first use.
///
/// An error after an attempt that may have been applied is
/// [`MultiDbError::MayHaveBeenApplied`], naming that attempt's database, whatever the
/// later attempts met (a replayed `SET` that timed out and then found no healthy database
/// may still have been written).
async fn execute_slow<R: Request + ?Sized>(
    controller: &Arc<Controller>,
    local: &mut Local,
    request: &R,
    failed: Option<Failed<R::Output>>,
    started: Started,
) -> RedisResult<R::Output> {
    let mut maybe = None;
    let mut trace = Trace::default();
    let result = attempts(controller, local, request, failed, &mut maybe, &mut trace).await;
    let result = match (result, maybe) {
        (Err(e), Some((db, source))) if !is_maybe_applied(&e) => {
            Err(MultiDbError::MayHaveBeenApplied {
                id: db.id,
                endpoint: db.endpoint.clone(),
                source,
            }
            .into_redis())
        }
        (result, _) => result,
    };
    if let Some(db) = &trace.db {
        db.metrics.operation::<R>(started, &result, trace.retries);
    }
    result
}

/// Where an operation's attempts went, for its metrics.
#[derive(Default)]
struct Trace {
    /// The database of the last attempt.
    db: Option<Arc<Database>>,
    retries: u32,
}

fn is_maybe_applied(e: &RedisError) -> bool {
    matches!(
        MultiDbError::from_redis(e),
        Some(MultiDbError::MayHaveBeenApplied { .. })
    )
}

/// [`execute_slow`]'s attempts; `maybe` keeps the last one that may have been applied.
async fn attempts<R: Request + ?Sized>(
    controller: &Arc<Controller>,
    local: &mut Local,
    request: &R,
    mut failed: Option<Failed<R::Output>>,
    maybe: &mut Option<(Arc<Database>, RedisError)>,
    trace: &mut Trace,
) -> RedisResult<R::Output> {
    let router = controller.router();
    let retry_settings = &controller.config().retry;
    let mut delays: Option<Box<dyn Iterator<Item = std::time::Duration> + Send>> = None;
    let mut category = None;
    // The database of the first attempt: admin commands go to no other.
    let mut origin = failed.as_ref().map(|(db, ..)| db.id);
    let mut last: Option<Failed<R::Output>> = None;
    loop {
        let (db, result, sent) = if let Some(failed) = failed.take() {
            failed
        } else {
            let Some((db, con)) = local.current(router) else {
                if let Some(err) = router.unavailable_error() {
                    return Err(err.into_redis());
                }
                // First command before initialize(): initialize now, as redis-py does.
                controller
                    .initialize()
                    .await
                    .map_err(MultiDbError::into_redis)?;
                continue;
            };
            if let Some((previous, result, sent)) = last.take() {
                let category = *category.get_or_insert_with(|| request.category());
                if category == CommandCategory::Admin && origin != Some(db.id) {
                    return give_up(&previous, result, sent, false);
                }
            }
            origin.get_or_insert(db.id);
            trace.db = Some(db.clone());
            match attempt(controller, db, con, request).await {
                Attempt::Done(result) => return result,
                Attempt::NotSent => {
                    if let Some(err) = router.unavailable_error() {
                        return Err(err.into_redis());
                    }
                    (db.clone(), None, Sent::No)
                }
                Attempt::Failed { result, sent } => (db.clone(), Some(result), sent),
            }
        };
        if let (Sent::Maybe, Some(Err(e))) = (sent, &result) {
            *maybe = Some((db.clone(), e.clone()));
        }
        // Something failed: retry if the policy, the attempts and the budget allow.
        let replay_ok = sent == Sent::No || {
            let category = *category.get_or_insert_with(|| request.category());
            // `build()` refused anything past `CommandCategory::MAX_REPLAYABLE`.
            category <= retry_settings.replay_up_to
        };
        let delays = delays.get_or_insert_with(|| Box::new(crate::retry::backoff(retry_settings)));
        let retry = if replay_ok {
            delays.next().filter(|_| router.budget().try_withdraw())
        } else {
            None
        };
        let Some(delay) = retry else {
            trace.db = Some(db.clone());
            return give_up(&db, result, sent, replay_ok);
        };
        trace.retries = trace.retries.saturating_add(1);
        last = Some((db.clone(), result, sent));
        tracing::trace!(database = %db.id, ?delay, "retrying command");
        // Wait for the backoff or for a switch, whichever comes first.
        router.backoff_or_switch(&db, delay).await;
    }
}

fn give_up<T>(
    db: &Database,
    result: Option<RedisResult<T>>,
    sent: Sent,
    replay_ok: bool,
) -> RedisResult<T> {
    match result {
        Some(Err(source)) if sent == Sent::Maybe && !replay_ok => {
            Err(MultiDbError::MayHaveBeenApplied {
                id: db.id,
                endpoint: db.endpoint.clone(),
                source,
            }
            .into_redis())
        }
        Some(result) => result,
        None => Err(db.circuit_open_error().into_redis()),
    }
}

/// One try on one database.
async fn attempt<R: Request + ?Sized>(
    controller: &Controller,
    db: &Database,
    con: &mut MemberConnection,
    request: &R,
) -> Attempt<R::Output> {
    let Ok(permit) = db.circuit.try_acquire() else {
        return Attempt::NotSent;
    };
    // Connect first: a connection that cannot be made sent nothing. The wait is measured
    // when there was one (no current connection; a pool's checkout).
    let waiting = con.current().is_none().then(Started::now);
    let ready = con.ready().await;
    if let Some(since) = waiting {
        db.metrics.waited(since);
    }
    if let Err(e) = ready {
        let outcomes = controller.outcomes();
        let outcome = outcomes.classify_connect(&e);
        OutcomePolicy::settle(controller.router(), db, permit, outcome, &e);
        return match outcome.retry() {
            None => Attempt::Done(Err(e)),
            Some(_) => Attempt::Failed {
                result: Err(e),
                sent: Sent::No,
            },
        };
    }
    // Only a database that just failed may be failed over soon: arm the failure signal (a lock
    // inside tokio's Notify) for commands sent to such a one, and keep the healthy path free
    // of it. Commands sent before the first failure end by their own timeout, or when a
    // failover closes the failed database's connection.
    let router = controller.router();
    let in_flight = db.begin_command();
    let result = if db.is_suspect() {
        let mut failed = pin!(db.failed.notified());
        failed.as_mut().enable();
        // A switch between loading `db` and arming the signal: go again.
        if !router.is_active(db) {
            drop(permit);
            return Attempt::NotSent;
        }
        tokio::select! {
            biased;
            result = request.send(con) => result,
            () = failed => {
                drop(permit);
                return Attempt::Failed { result: Err(failed_error(db)), sent: Sent::Maybe };
            }
        }
    } else {
        request.send(con).await
    };
    let outcome = controller
        .outcomes()
        .record(router, db, permit, request, &result);
    in_flight.end(crate::replay::replied(&result));
    match outcome.retry() {
        None => Attempt::Done(result),
        Some(sent) => Attempt::Failed { result, sent },
    }
}

fn failed_error(db: &Database) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        format!(
            "{} ({}) failed while the command was in flight",
            db.id, db.endpoint
        ),
    ))
}
