//! One registered target: its worker task, its on-demand requests and the publishing of
//! its results.
//!
//! Each target has exactly one worker task, and every check of the target (scheduled or
//! on demand) runs inside it, so two checks of one target can never overlap. A request
//! made while a check is requested or running joins that check instead of starting
//! another: a failure storm in the owner costs one probe, not one per failed command.
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

#[derive(Debug, Default)]
struct State {
    /// An on-demand check asked for and not yet started; the worker answers through it.
    requested: Option<Completion>,
    /// The check requested or running, for requests to join.
    in_flight: Option<Pending>,
    /// The last check to finish, published or not.
    last_finished: Option<HealthStatus>,
    /// Start time and health of the last published result.
    last_published: Option<(Instant, bool)>,
    /// Results dropped because a newer one was already published.
    stale_dropped: u64,
}

/// The state of one target, shared by its worker task and the monitor handles.
pub(crate) struct Target<K, T: ?Sized> {
    key: K,
    /// What the checks check.
    subject: Arc<T>,
    checks: Vec<Arc<dyn HealthCheck<T>>>,
    config: TargetConfig,
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
            checks,
            limiter: ProbeLimiter::new(config.min_probe_interval()),
            config,
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

    /// Asks for a check now: joins the one in flight, or returns a result younger than
    /// `min_probe_interval`, or starts one. The rate limit is neither asked nor spent: it
    /// holds back storms of [`Self::request`]s (a command's failure path), not a deliberate
    /// check, which must not delay the probe of a failure right after it.
    pub(crate) fn check_now(&self) -> Demand {
        let mut state = self.lock();
        if let Some(pending) = &state.in_flight {
            return Demand::Joined(pending.clone());
        }
        if let Some(last) = &state.last_finished
            && last.finished_at.elapsed() < self.config.min_probe_interval()
        {
            return Demand::Recent(last.clone());
        }
        Demand::Started(self.start(&mut state))
    }

    /// Starts a check unless one is in flight or the rate limit forbids it; whether it did.
    pub(crate) fn request(&self) -> bool {
        let mut state = self.lock();
        if state.in_flight.is_some()
            || self
                .limiter
                .as_ref()
                .is_some_and(|l| l.try_acquire().is_err())
        {
            return false;
        }
        self.start(&mut state);
        true
    }

    fn start(&self, state: &mut State) -> Pending {
        let (completion, pending) = watch::channel(None);
        state.requested = Some(completion);
        state.in_flight = Some(pending.clone());
        self.wake.notify_one();
        pending
    }

    /// The worker: runs scheduled checks and requested ones, one at a time, forever.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut next = deadline_after(self.config.first_wait());
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = self.wake.notified() => {}
            }
            let due = Instant::now() >= next;
            let Some((completion, scheduled)) = self.begin(due) else {
                continue;
            };
            let probe = if scheduled {
                self.config.probe()
            } else {
                self.config.on_demand()
            };
            let started_at = Instant::now();
            let span = tracing::debug_span!("health_check", target = ?self.key, scheduled);
            let outcome = check_all(&self.checks, &*self.subject, probe)
                .instrument(span)
                .await;
            let status = HealthStatus::new(outcome, started_at);
            self.finish(&status);
            completion.send_replace(Some(status));
            if scheduled {
                next = deadline_after(self.config.next_wait());
            }
        }
    }

    /// Picks the next check: the requested one if any (run with the scheduled
    /// configuration if the schedule is due too, so one check serves both), else a
    /// scheduled one if due. `Some((completion, scheduled))`.
    fn begin(&self, due: bool) -> Option<(Completion, bool)> {
        let mut state = self.lock();
        if let Some(completion) = state.requested.take() {
            return Some((completion, due));
        }
        if !due {
            return None;
        }
        let (completion, pending) = watch::channel(None);
        state.in_flight = Some(pending);
        Some((completion, true))
    }

    fn finish(&self, status: &HealthStatus) {
        let mut state = self.lock();
        state.in_flight = None;
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

/// `now + wait`, or about 30 years from now if that overflows `Instant`.
fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(now)
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
