//! The command path: `redis::aio::ConnectionLike` for [`MultiDbClient`].
//!
//! With no fault, a command costs one lock-free load of the active database (compared with
//! the one this clone of the client used last, whose connection it keeps), one atomic load
//! saying that connection is still current, one lock-free circuit permit and the
//! connection's own work. Everything else — classification of failures, probes, retries
//! with backoff, waiting for a switch — happens only when something failed.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use multidb_circuit::Permit;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::client::MultiDbClient;
use crate::connection::MemberConnection;
use crate::control::Inner;
use crate::error::MultiDbError;
use crate::member::{Database, TokioClock};
use crate::replay::{self, Sent};

/// One request as the retry loop (and a pinned connection) sees it: a command or a pipeline.
pub(crate) trait Request: Sync {
    type Output: Send;
    /// Sends it on a URL member's multiplexed connection (the hot path: not boxed).
    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Self::Output>> + Send + 'a;
    /// Sends it on any connection.
    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Self::Output>;
    /// Whether the reply is a busy error that counts as a failure (never sent).
    fn busy(&self, output: &Self::Output, busy_errors_are_failures: bool) -> bool;
    /// Whether it may be replayed after it may have been applied.
    fn replayable(&self, non_idempotent: bool) -> bool;
}

/// A command, as the retry loop sees it.
pub(crate) struct CmdRequest<'c>(pub(crate) &'c Cmd);

impl Request for CmdRequest<'_> {
    type Output = Value;

    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
        con.send_packed_command(self.0)
    }

    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Value> {
        con.req_packed_command(self.0)
    }

    fn busy(&self, output: &Value, busy: bool) -> bool {
        replay::value_failure(output, busy).is_some()
    }

    fn replayable(&self, non_idempotent: bool) -> bool {
        non_idempotent || replay::is_idempotent(self.0)
    }
}

pub(crate) struct PipelineRequest<'p> {
    pub(crate) pipeline: &'p Pipeline,
    pub(crate) offset: usize,
    pub(crate) count: usize,
}

impl Request for PipelineRequest<'_> {
    type Output = Vec<Value>;

    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send + 'a {
        con.send_packed_commands(self.pipeline, self.offset, self.count)
    }

    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Vec<Value>> {
        con.req_packed_commands(self.pipeline, self.offset, self.count)
    }

    fn busy(&self, output: &Vec<Value>, busy: bool) -> bool {
        // A transaction's EXEC answered as a whole; a plain pipeline is busy if every reply
        // is (a partly served pipeline was served).
        !output.is_empty()
            && output
                .iter()
                .all(|v| replay::value_failure(v, busy).is_some())
    }

    fn replayable(&self, non_idempotent: bool) -> bool {
        // Never replay a transaction that may have been applied.
        !self.pipeline.is_transaction()
            && (non_idempotent || self.pipeline.cmd_iter().all(replay::is_idempotent))
    }
}

impl ConnectionLike for MultiDbClient {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        execute(&self.inner, &mut self.local, CmdRequest(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let request = PipelineRequest {
            pipeline,
            offset,
            count,
        };
        execute(&self.inner, &mut self.local, request)
    }

    fn get_db(&self) -> i64 {
        self.inner
            .active
            .load()
            .as_ref()
            .map_or(0, |db| db.connection.get_db())
    }
}

/// A clone's own view of the active database and its connection, reused for as long as
/// that database stays active (the epoch says so): the hot path then reads one shared
/// atomic and writes nothing shared but the circuit's counters. A clone that outlives a
/// switch holds the old database until its next command.
#[derive(Clone, Default)]
pub(crate) struct Local(Option<(u64, Arc<Database>, MemberConnection)>);

impl Local {
    /// The active database and this clone's connection to it; `None` when none is active.
    fn current(&mut self, inner: &Inner) -> Option<(&Arc<Database>, &mut MemberConnection)> {
        let epoch = inner.active_epoch.load(Ordering::Acquire);
        match &mut self.0 {
            Some((seen, ..)) if *seen == epoch => {}
            cached => {
                let active = inner.active.load_full()?;
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
fn execute<'a, R: Request + Send + 'a>(
    inner: &'a Arc<Inner>,
    local: &'a mut Local,
    request: R,
) -> RedisFuture<'a, R::Output> {
    inner.budget.record_request();
    let direct = local
        .current(inner)
        .is_some_and(|(db, con)| !db.suspect.load(Ordering::Acquire) && con.current().is_some());
    if !direct {
        return Box::pin(async move { execute_slow(inner, local, &request, None).await });
    }
    Box::pin(async move {
        let mut failed = None;
        if let Some((_, db, con)) = local.0.as_mut()
            && let Ok(permit) = db.circuit.try_acquire()
            && let Some((multiplexed, generation)) = con.current()
        {
            let result = request.send_multiplexed(multiplexed).await;
            con.observe(generation, &result);
            match settle(inner, db, permit, &request, &result) {
                None => return result,
                Some(sent) => failed = Some((db.clone(), Some(result), sent)),
            }
        }
        Box::pin(execute_slow(inner, local, &request, failed)).await
    })
}

/// An attempt that failed: on which database, its result (`None`: not sent), whether it was sent.
type Failed<T> = (Arc<Database>, Option<RedisResult<T>>, Sent);

/// The general way: attempts on any kind of member, after a failed first attempt (given)
/// or none; backoff, waiting for a switch, initializing on first use.
async fn execute_slow<R: Request + ?Sized>(
    inner: &Arc<Inner>,
    local: &mut Local,
    request: &R,
    mut failed: Option<Failed<R::Output>>,
) -> RedisResult<R::Output> {
    let mut delays: Option<Box<dyn Iterator<Item = std::time::Duration> + Send>> = None;
    loop {
        let (db, result, sent) = if let Some(failed) = failed.take() {
            failed
        } else {
            let Some((db, con)) = local.current(inner) else {
                if inner.is_closed() {
                    return Err(MultiDbError::Closed.into_redis());
                }
                if let Some(err) = inner.unavailable_error() {
                    return Err(err.into_redis());
                }
                // First command before initialize(): initialize now, as redis-py does.
                inner.initialize().await.map_err(MultiDbError::into_redis)?;
                continue;
            };
            match attempt(inner, db, con, request).await {
                Attempt::Done(result) => return result,
                Attempt::NotSent => {
                    if let Some(err) = inner.unavailable_error() {
                        return Err(err.into_redis());
                    }
                    (db.clone(), None, Sent::No)
                }
                Attempt::Failed { result, sent } => (db.clone(), Some(result), sent),
            }
        };
        // Something failed: retry if the policy, the attempts and the budget allow.
        let replay_ok = sent == Sent::No || request.replayable(inner.config.retry.non_idempotent);
        let delays =
            delays.get_or_insert_with(|| Box::new(crate::retry::backoff(&inner.config.retry)));
        let retry = if replay_ok {
            delays.next().filter(|_| inner.budget.try_withdraw())
        } else {
            None
        };
        let Some(delay) = retry else {
            return give_up(&db, result, sent, replay_ok);
        };
        tracing::trace!(database = %db.id, ?delay, "retrying command");
        // Wait for the backoff or for a switch, whichever comes first.
        let switched = pin!(inner.switched.notified());
        let changed = !inner
            .active
            .load()
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &db));
        if !changed {
            tokio::select! {
                () = switched => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
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
        None => Err(MultiDbError::UnhealthyDatabase {
            id: db.id,
            endpoint: db.endpoint.clone(),
            reason: "circuit open and no other database available".to_owned(),
        }
        .into_redis()),
    }
}

/// One try on one database.
async fn attempt<R: Request + ?Sized>(
    inner: &Inner,
    db: &Database,
    con: &mut MemberConnection,
    request: &R,
) -> Attempt<R::Output> {
    let Ok(permit) = db.circuit.try_acquire() else {
        return Attempt::NotSent;
    };
    // Only a database that just failed may be evicted soon: arm the eviction signal (a lock
    // inside tokio's Notify) for commands sent to such a one, and keep the healthy path free
    // of it. Commands sent before the first failure end by their own timeout no later than
    // the switch would release them.
    let result = if db.suspect.load(Ordering::Acquire) {
        let mut evicted = pin!(db.evicted.notified());
        evicted.as_mut().enable();
        // A switch between loading `db` and arming the signal: go again.
        if !inner
            .active
            .load()
            .as_ref()
            .is_some_and(|a| std::ptr::eq(a.as_ref(), db))
        {
            drop(permit);
            return Attempt::NotSent;
        }
        tokio::select! {
            biased;
            result = request.send(con) => result,
            () = evicted => {
                drop(permit);
                return Attempt::Failed { result: Err(evicted_error(db)), sent: Sent::Maybe };
            }
        }
    } else {
        request.send(con).await
    };
    match settle(inner, db, permit, request, &result) {
        None => Attempt::Done(result),
        Some(sent) => Attempt::Failed { result, sent },
    }
}

/// Classifies an attempt's result and settles its permit; on a failure (and whether the
/// request may have been sent), marks the database suspect and asks for a probe of it.
fn settle<R: Request + ?Sized>(
    inner: &Inner,
    db: &Database,
    permit: Permit<'_, TokioClock>,
    request: &R,
    result: &RedisResult<R::Output>,
) -> Option<Sent> {
    let busy = inner.config.circuit.busy_errors_are_failures;
    let failure = match result {
        Ok(output) => request.busy(output, busy).then_some(Sent::No),
        Err(e) => replay::error_failure(e),
    };
    match failure {
        None => permit.success_at(inner.clock().success_time()),
        Some(sent) => {
            permit.failure();
            db.suspect.store(true, Ordering::Release);
            if inner.config.health.probe_on_failure {
                // Probe-confirmed detection: a failed probe fails over at once.
                inner.monitor.request_check(&db.id);
            }
            tracing::debug!(database = %db.id, endpoint = %db.endpoint, ?sent, "command failed on database");
        }
    }
    failure
}

fn evicted_error(db: &Database) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        format!(
            "{} ({}) stopped being the active database",
            db.id, db.endpoint
        ),
    ))
}
