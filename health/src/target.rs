//! One registered target: its worker task, its on-demand requests and the publishing of
//! its results.
//!
//! Each target has exactly one worker task, and every check of the target (scheduled or
//! on demand) runs inside it, so two checks of one target can never overlap. A request
//! made while a check is requested or running joins that check instead of starting
//! another: a failure storm in the owner costs one probe, not one per failed command.
//!
//! A *fresh* check is the exception: it must start after it was asked for, so it never
//! joins a running check but queues behind it, and later fresh requests join the queued
//! one. It runs with the scheduled configuration, and a full check answers any on-demand
//! request queued with it (more probes never tell less); the reverse never happens.
//!
//! The health checks are read once at the start of each check, so replacing them lets a
//! running check finish with the old ones and needs neither a new task nor a new watch.
//!
//! Results are published in the order their checks *started*: a result that started
//! before the last published one is stale and dropped (the Jedis bug jedis#4255 was a slow
//! old probe overriding a fresh one). The worker makes that impossible by construction;
//! the guard stays so publishing is correct on its own.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::clock::ProbeLimiter;
use crate::probe::check_all;
use crate::{HealthCheck, HealthEvent, HealthStatus, TargetConfig};

/// Where the result of a requested or running check will appear.
pub(crate) type Pending = watch::Receiver<Option<HealthStatus>>;
type Completion = watch::Sender<Option<HealthStatus>>;

/// The answer to an on-demand request.
#[derive(Debug)]
pub(crate) enum Demand {
    /// A check was already requested or running: its result will appear here.
    Joined(Pending),
    /// A check finished less than `min_probe_interval` ago: here is its result.
    Recent(HealthStatus),
    /// A new on-demand check was requested: its result will appear here.
    Started(Pending),
}

/// A check asked for and not started yet; the worker answers through `completion`.
#[derive(Debug)]
struct Queued {
    completion: Completion,
    pending: Pending,
    /// Run with the scheduled configuration, because a fresh check asked for it.
    full: bool,
}

/// A check the worker is about to run.
struct Work {
    completion: Completion,
    /// Run with the scheduled configuration rather than the on-demand one.
    full: bool,
    /// It is the scheduled check, so the schedule restarts after it.
    scheduled: bool,
}

#[derive(Debug, Default)]
struct State {
    /// The check asked for and not yet started.
    queued: Option<Queued>,
    /// The check running now.
    running: Option<Pending>,
    /// The last check to finish, published or not.
    last_finished: Option<HealthStatus>,
    /// Start time and health of the last published result.
    last_published: Option<(Instant, bool)>,
    /// Results dropped because a newer one was already published.
    stale_dropped: u64,
}

impl State {
    /// The check a request joins: the running one, else the queued one.
    fn joinable(&self) -> Option<&Pending> {
        self.running
            .as_ref()
            .or_else(|| self.queued.as_ref().map(|queued| &queued.pending))
    }
}

/// The health checks of a target, shared so each check snapshots them cheaply.
type Checks<T> = Arc<[Arc<dyn HealthCheck<T>>]>;

/// The state of one target, shared by its worker task and the monitor handles.
pub(crate) struct Target<K, T: ?Sized> {
    key: K,
    /// What the checks check.
    subject: Arc<T>,
    checks: Mutex<Checks<T>>,
    config: TargetConfig,
    /// When the target was added: the first scheduled check counts from here, not from
    /// whenever the runtime first polls the worker.
    added_at: Instant,
    limiter: Option<ProbeLimiter>,
    state: Mutex<State>,
    wake: Notify,
    status: watch::Sender<Option<HealthStatus>>,
    events: broadcast::Sender<HealthEvent<K>>,
}

impl<K, T> Target<K, T>
where
    K: Clone + Debug + Send + Sync + 'static,
    T: ?Sized + Send + Sync + 'static,
{
    pub(crate) fn new(
        key: K,
        target: Arc<T>,
        checks: Vec<Arc<dyn HealthCheck<T>>>,
        config: TargetConfig,
        events: broadcast::Sender<HealthEvent<K>>,
    ) -> Self {
        Self {
            key,
            subject: target,
            checks: Mutex::new(checks.into()),
            limiter: ProbeLimiter::new(config.min_probe_interval()),
            config,
            added_at: Instant::now(),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            status: watch::channel(None).0,
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover the data if something ever did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last published result.
    pub(crate) fn status(&self) -> Option<HealthStatus> {
        self.status.borrow().clone()
    }

    /// A receiver of every published result.
    pub(crate) fn watch(&self) -> watch::Receiver<Option<HealthStatus>> {
        self.status.subscribe()
    }

    /// What the checks check.
    pub(crate) fn subject(&self) -> &Arc<T> {
        &self.subject
    }

    /// The health checks the next check will run.
    pub(crate) fn checks(&self) -> Checks<T> {
        Arc::clone(&self.checks.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the health checks from the next check that starts on.
    pub(crate) fn set_checks(&self, checks: Vec<Arc<dyn HealthCheck<T>>>) {
        *self.checks.lock().unwrap_or_else(PoisonError::into_inner) = checks.into();
    }

    /// Asks for a check now: joins the one in flight, or returns a result younger than
    /// `min_probe_interval`, or starts one. The rate limit is neither asked nor spent: it
    /// holds back storms of [`Self::request`]s (a command's failure path), not a deliberate
    /// check, which must not delay the probe of a failure right after it.
    pub(crate) fn check_now(&self) -> Demand {
        let mut state = self.lock();
        if let Some(pending) = state.joinable() {
            return Demand::Joined(pending.clone());
        }
        if let Some(last) = &state.last_finished
            && last.finished_at.elapsed() < self.config.min_probe_interval()
        {
            return Demand::Recent(last.clone());
        }
        Demand::Started(self.queue(&mut state, false))
    }

    /// Asks for a full check that starts after this call: joins the one queued (making it
    /// full) or queues one, never joining a running check. The rate limit is not spent.
    pub(crate) fn check_fresh(&self) -> Pending {
        let mut state = self.lock();
        if let Some(queued) = &mut state.queued {
            queued.full = true;
            return queued.pending.clone();
        }
        self.queue(&mut state, true)
    }

    /// Starts a check unless one is in flight or the rate limit forbids it; whether it did.
    pub(crate) fn request(&self) -> bool {
        let mut state = self.lock();
        if state.joinable().is_some()
            || self
                .limiter
                .as_ref()
                .is_some_and(|l| l.try_acquire().is_err())
        {
            return false;
        }
        self.queue(&mut state, false);
        true
    }

    fn queue(&self, state: &mut State, full: bool) -> Pending {
        let (completion, pending) = watch::channel(None);
        state.queued = Some(Queued {
            completion,
            pending: pending.clone(),
            full,
        });
        // Stores a permit if the worker is busy, so it looks again when the check is over.
        self.wake.notify_one();
        pending
    }

    /// The worker: runs scheduled checks and requested ones, one at a time, forever.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut next = deadline_after(self.added_at, self.config.first_wait());
        loop {
            // Biased: the same times give the same probes, so a seeded simulation replays.
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(next) => {}
                () = self.wake.notified() => {}
            }
            let due = Instant::now() >= next;
            let Some(work) = self.begin(due) else {
                continue;
            };
            let probe = if work.full {
                self.config.probe()
            } else {
                self.config.on_demand()
            };
            let checks = self.checks();
            let started_at = Instant::now();
            let span = tracing::debug_span!(
                "health_check",
                target = ?self.key,
                scheduled = work.scheduled,
                full = work.full
            );
            let outcome = check_all(&checks, &*self.subject, probe)
                .instrument(span)
                .await;
            let status = HealthStatus::new(outcome, started_at);
            self.finish(&status);
            work.completion.send_replace(Some(status));
            if work.scheduled {
                next = deadline_after(Instant::now(), self.config.next_wait());
            }
        }
    }

    /// Picks the next check: the queued one if any (full if a fresh check asked for it or
    /// the schedule is due too, so one check serves all), else a scheduled one if due.
    fn begin(&self, due: bool) -> Option<Work> {
        let mut state = self.lock();
        let (completion, pending, full) = match state.queued.take() {
            Some(queued) => (queued.completion, queued.pending, queued.full || due),
            None if due => {
                let (completion, pending) = watch::channel(None);
                (completion, pending, true)
            }
            None => return None,
        };
        state.running = Some(pending);
        Some(Work {
            completion,
            full,
            scheduled: due,
        })
    }

    fn finish(&self, status: &HealthStatus) {
        let mut state = self.lock();
        state.running = None;
        state.last_finished = Some(status.clone());
        self.publish(&mut state, status);
    }

    /// Updates the watch, then broadcasts, unless a newer result was already published.
    /// Returns whether it published.
    fn publish(&self, state: &mut State, status: &HealthStatus) -> bool {
        if let Some((last_start, _)) = state.last_published
            && status.started_at < last_start
        {
            state.stale_dropped += 1;
            tracing::debug!(
                target = ?self.key,
                stale_dropped = state.stale_dropped,
                "stale health result dropped"
            );
            return false;
        }
        let previous = state.last_published.map(|(_, healthy)| healthy);
        let changed = previous != Some(status.healthy);
        state.last_published = Some((status.started_at, status.healthy));
        self.status.send_replace(Some(status.clone()));
        // Err only means nobody subscribed.
        let _ = self.events.send(HealthEvent {
            target: self.key.clone(),
            status: status.clone(),
            changed,
        });
        let reason = status.reason.as_ref().map(crate::Unhealthy::reason);
        match (changed, status.healthy, previous) {
            (true, false, _) => tracing::warn!(
                target = ?self.key, reason, latency = ?status.latency, "target unhealthy"
            ),
            (true, true, Some(_)) => tracing::info!(
                target = ?self.key, latency = ?status.latency, "target recovered"
            ),
            _ => tracing::debug!(
                target = ?self.key, healthy = status.healthy, reason, latency = ?status.latency,
                "health check finished"
            ),
        }
        true
    }
}

/// `from + wait`, or about 30 years after `from` if that overflows `Instant`.
fn deadline_after(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait)
        .or_else(|| from.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unhealthy;

    struct Never;

    #[async_trait::async_trait]
    impl HealthCheck<()> for Never {
        async fn check(&self, (): &()) -> Result<(), Unhealthy> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stale_result_does_not_override_newer() {
        let (events, mut rx) = broadcast::channel(16);
        let target = Target::new(
            "a",
            Arc::new(()),
            vec![Arc::new(Never) as Arc<dyn HealthCheck<()>>],
            TargetConfig::default(),
            events,
        );
        let old_start = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let fresh = HealthStatus::new(Ok(()), Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        // The old check was slow: it finishes last, and unhealthy.
        let stale = HealthStatus::new(Err(Unhealthy::new("timed out")), old_start);

        {
            let mut state = target.lock();
            assert!(target.publish(&mut state, &fresh));
            assert!(!target.publish(&mut state, &stale));
            assert_eq!(state.stale_dropped, 1);
        }

        assert_eq!(target.status(), Some(fresh.clone()));
        assert_eq!(rx.recv().await.unwrap().status, fresh);
        assert!(rx.try_recv().is_err());
    }
}
