//! The command path: `redis::aio::ConnectionLike` for [`MultiDbClient`].
//!
//! With no fault, a command costs one lock-free load of the active database, one
//! lock-free circuit permit, the member connection's own work, and one clone of that
//! connection handle (an `Arc`). Everything else — classification of failures, probes,
//! retries with backoff, waiting for a switch — happens only when something failed.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::FutureExt as _;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::client::MultiDbClient;
use crate::connection::MemberConnection;
use crate::control::Inner;
use crate::error::MultiDbError;
use crate::member::Database;
use crate::replay::{self, Sent};

/// One request as the retry loop sees it: a command or a pipeline.
trait Request: Sync {
    type Output: Send;
    fn send<'a>(&'a self, con: &'a mut MemberConnection) -> RedisFuture<'a, Self::Output>;
    /// Whether the reply is a busy error that counts as a failure (never sent).
    fn busy(&self, output: &Self::Output, busy_errors_are_failures: bool) -> bool;
    /// Whether it may be replayed after it may have been applied.
    fn replayable(&self, non_idempotent: bool) -> bool;
}

impl Request for Cmd {
    type Output = Value;

    fn send<'a>(&'a self, con: &'a mut MemberConnection) -> RedisFuture<'a, Value> {
        con.req_packed_command(self)
    }

    fn busy(&self, output: &Value, busy: bool) -> bool {
        replay::value_failure(output, busy).is_some()
    }

    fn replayable(&self, non_idempotent: bool) -> bool {
        non_idempotent || replay::is_idempotent(self)
    }
}

struct PipelineRequest<'p> {
    pipeline: &'p Pipeline,
    offset: usize,
    count: usize,
}

impl Request for PipelineRequest<'_> {
    type Output = Vec<Value>;

    fn send<'a>(&'a self, con: &'a mut MemberConnection) -> RedisFuture<'a, Vec<Value>> {
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
        execute(&self.inner, cmd).boxed()
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        async move {
            execute(
                &self.inner,
                &PipelineRequest {
                    pipeline,
                    offset,
                    count,
                },
            )
            .await
        }
        .boxed()
    }

    fn get_db(&self) -> i64 {
        self.inner
            .active
            .load()
            .as_ref()
            .map_or(0, |db| db.connection.get_db())
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

async fn execute<R: Request + ?Sized>(inner: &Arc<Inner>, request: &R) -> RedisResult<R::Output> {
    inner.budget.record_request();
    let mut delays: Option<Box<dyn Iterator<Item = std::time::Duration> + Send>> = None;
    loop {
        let Some(db) = inner.active.load_full() else {
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
        let outcome = attempt(inner, &db, request).await;
        let (result, sent) = match outcome {
            Attempt::Done(result) => return result,
            Attempt::NotSent => {
                if let Some(err) = inner.unavailable_error() {
                    return Err(err.into_redis());
                }
                (None, Sent::No)
            }
            Attempt::Failed { result, sent } => (Some(result), sent),
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
    request: &R,
) -> Attempt<R::Output> {
    let Ok(permit) = db.circuit.try_acquire() else {
        return Attempt::NotSent;
    };
    let mut con = db.connection.clone();
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
            result = request.send(&mut con) => result,
            () = evicted => {
                drop(permit);
                return Attempt::Failed { result: Err(evicted_error(db)), sent: Sent::Maybe };
            }
        }
    } else {
        request.send(&mut con).await
    };
    let busy = inner.config.circuit.busy_errors_are_failures;
    let failure = match &result {
        Ok(output) => request.busy(output, busy).then_some(Sent::No),
        Err(e) => replay::error_failure(e),
    };
    match failure {
        None => {
            permit.success();
            Attempt::Done(result)
        }
        Some(sent) => {
            permit.failure();
            db.suspect.store(true, Ordering::Release);
            if inner.config.health.probe_on_failure {
                // Probe-confirmed detection: a failed probe fails over at once.
                inner.monitor.request_check(&db.id);
            }
            tracing::debug!(database = %db.id, endpoint = %db.endpoint, ?sent, "command failed on database");
            Attempt::Failed { result, sent }
        }
    }
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
