//! Shared helpers of the client's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use multidb_client::{DatabaseId, Event, MultiDbClient, SwitchReason};
use tokio::sync::broadcast;

/// A guard against hangs, not a way to wait: tests await events and finish long before.
pub const GUARD: Duration = Duration::from_secs(20);

/// Awaits the first event matching `pred`, failing the test (not hanging) after [`GUARD`].
pub async fn next_event(
    events: &mut broadcast::Receiver<Event>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    panic!("lost {n} events waiting for {what}")
                }
                Err(e) => panic!("event channel closed waiting for {what}: {e}"),
            }
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("no event {what} within {GUARD:?}"))
}

/// Awaits the switch to `to` (failing the test after [`GUARD`]) and returns where it came
/// from and why.
pub async fn switch_to(
    events: &mut broadcast::Receiver<Event>,
    what: &str,
    to: DatabaseId,
) -> (Option<DatabaseId>, SwitchReason) {
    let wanted = to;
    match next_event(
        events,
        what,
        |e| matches!(e, Event::ActiveDatabaseChanged { to, .. } if *to == wanted),
    )
    .await
    {
        Event::ActiveDatabaseChanged { from, reason, .. } => (from, reason),
        other => unreachable!("the predicate matched a switch, not {other:?}"),
    }
}

/// Live tasks of the current tokio runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (yielding, bounded by [`GUARD`], never sleeping) until no more than `baseline`
/// tasks are alive, and returns how many are: redis' per-connection tasks end only when
/// they are next polled after their last handle went.
pub async fn tasks_back_to(baseline: usize) -> usize {
    let wait = async {
        loop {
            let alive = alive_tasks();
            if alive <= baseline {
                return alive;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .unwrap_or_else(|_| alive_tasks())
}

/// Counts of a load run.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadReport {
    pub ok: u64,
    /// Errors returned to the application.
    pub errors: u64,
    /// Reads that did not see the task's own write: the write went to a server that then
    /// died (independent servers do not replicate), the read to the next one.
    pub lost_writes: u64,
}

/// `tasks` tasks doing SET then GET of unique keys, `per_task` times each; after the first
/// `notify_after` operations of task 0, `started` is signalled.
pub async fn run_load(
    client: &MultiDbClient,
    tasks: usize,
    per_task: usize,
    started: tokio::sync::oneshot::Sender<()>,
    notify_after: usize,
) -> (LoadReport, Vec<String>) {
    use redis::AsyncCommands;
    let mut handles = Vec::new();
    let mut started = Some(started);
    for t in 0..tasks {
        let mut con = client.clone();
        let signal = if t == 0 { started.take() } else { None };
        handles.push(tokio::spawn(async move {
            let mut signal = signal;
            let mut report = LoadReport::default();
            let mut errors = Vec::new();
            for i in 0..per_task {
                let key = format!("load:{t}:{i}");
                let set: redis::RedisResult<()> = con.set(&key, i).await;
                let got: redis::RedisResult<Option<usize>> = match set {
                    Ok(()) => con.get(&key).await,
                    Err(e) => Err(e),
                };
                match got {
                    Ok(Some(v)) if v == i => report.ok += 1,
                    Ok(_) => report.lost_writes += 1,
                    Err(e) => {
                        report.errors += 1;
                        errors.push(format!("{key}: {e}"));
                    }
                }
                if i + 1 == notify_after
                    && let Some(s) = signal.take()
                {
                    let _ = s.send(());
                }
            }
            (report, errors)
        }));
    }
    let mut total = LoadReport::default();
    let mut all_errors = Vec::new();
    for h in handles {
        let (r, e) = h.await.expect("load task panicked");
        total.ok += r.ok;
        total.errors += r.errors;
        total.lost_writes += r.lost_writes;
        all_errors.extend(e);
    }
    (total, all_errors)
}

/// `text` with every byte but ASCII letters and digits percent-encoded, as a URL's
/// userinfo or query value must carry it.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// WATCHes `key` on `pinned`, has `other` write it, then runs a transaction on `pinned`:
/// whether it ran. `false` — the write aborted it — is what a pinned connection with a
/// connection of its own must give; a shared one would let it run.
pub async fn watched_transaction_ran(
    pinned: &mut multidb_client::PinnedConnection,
    other: &mut MultiDbClient,
    key: &str,
) -> bool {
    use redis::AsyncCommands as _;
    let () = redis::cmd("WATCH")
        .arg(key)
        .query_async(pinned)
        .await
        .expect("WATCH");
    let () = other.set(key, "other").await.expect("the other write");
    let exec: Option<(String,)> = redis::pipe()
        .atomic()
        .set(key, "mine")
        .query_async(pinned)
        .await
        .expect("EXEC");
    exec.is_some()
}

/// Log output captured in memory: a `tracing_subscriber` writer (`with_writer(move ||
/// captured.clone())`), read back with [`Captured::text`].
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
