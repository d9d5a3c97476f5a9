//! The application under test: N tasks sending a GET/SET mix through the client, each
//! recording every operation (completion time, which member served it, outcome) in a
//! compact local log merged at the end, so the hot loop shares nothing but two counters.
//! Operations with the same member and outcome within one millisecond share a record
//! (keeping the first one's time), which bounds memory on long runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use multidb_client::MultiDbClient;
use redis::AsyncCommands;
use tokio::task::JoinSet;

/// Completed operations: one, or a run of them within the same millisecond.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    /// Completion of the first, microseconds since the drill's start.
    pub(crate) at_us: u64,
    /// How many operations this record stands for.
    pub(crate) count: u32,
    /// The active member at completion (`DatabaseId::get`, 0 when none).
    pub(crate) db: u32,
    pub(crate) outcome: Outcome,
}

/// How an operation ended, as the application saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    Ok,
    Timeout,
    Refused,
    ConnectionDropped,
    TemporarilyUnavailable,
    NoValidDatabase,
    MayHaveBeenApplied,
    Other,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::ConnectionDropped => "connection_dropped",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::NoValidDatabase => "no_valid_database",
            Self::MayHaveBeenApplied => "may_have_been_applied",
            Self::Other => "other",
        }
    }

    /// Classifies an error the client returned (the client's own errors travel inside
    /// `redis::RedisError` as I/O errors; their text says which).
    fn of(error: &redis::RedisError) -> Self {
        let text = error.to_string();
        if text.contains("temporarily unavailable") {
            Self::TemporarilyUnavailable
        } else if text.contains("no valid database") {
            Self::NoValidDatabase
        } else if text.contains("may have been applied") {
            Self::MayHaveBeenApplied
        } else if error.is_timeout() {
            Self::Timeout
        } else if error.is_connection_refusal() {
            Self::Refused
        } else if error.is_connection_dropped() {
            Self::ConnectionDropped
        } else {
            Self::Other
        }
    }
}

/// Counters the progress line reads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ok: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// The running load.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<Op>>,
}

impl Load {
    /// Starts `concurrency` tasks; times are measured from `t0`.
    pub(crate) fn start(
        client: &MultiDbClient,
        concurrency: usize,
        t0: Instant,
        counters: &Arc<Counters>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for task in 0..concurrency {
            let mut con = client.clone();
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(counters);
            tasks.spawn(async move {
                let mut ops: Vec<Op> = Vec::with_capacity(16 * 1024);
                let mut i: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("drill:{task}:{}", i % 128);
                    // Two GETs per SET: a read-mostly cache-like mix.
                    let result: redis::RedisResult<()> = if i.is_multiple_of(3) {
                        con.set(&key, i).await
                    } else {
                        con.get::<_, Option<u64>>(&key).await.map(|_| ())
                    };
                    let outcome = match &result {
                        Ok(()) => {
                            counters.ok.fetch_add(1, Ordering::Relaxed);
                            Outcome::Ok
                        }
                        Err(e) => {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            Outcome::of(e)
                        }
                    };
                    let at_us = t0.elapsed().as_micros() as u64;
                    let db = con
                        .active_database()
                        .map_or(0, multidb_client::DatabaseId::get);
                    match ops.last_mut() {
                        Some(last)
                            if last.db == db
                                && last.outcome == outcome
                                && last.at_us / 1000 == at_us / 1000 =>
                        {
                            last.count += 1;
                        }
                        _ => ops.push(Op {
                            at_us,
                            count: 1,
                            db,
                            outcome,
                        }),
                    }
                    i += 1;
                }
                ops
            });
        }
        Load { stop, tasks }
    }

    /// Stops every task and returns all operations, sorted by completion time.
    pub(crate) async fn finish(mut self) -> Vec<Op> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        while let Some(done) = self.tasks.join_next().await {
            // A load task never panics; if one did, its records are lost, not the drill.
            if let Ok(ops) = done {
                all.extend(ops);
            }
        }
        all.sort_by_key(|op| op.at_us);
        all
    }
}
