//! The monitor: a registry of targets, each with its worker task, and the handle the owner
//! queries, subscribes to and shuts down.
//!
//! The worker tasks hold only their own target's state, never the monitor, so dropping
//! the last handle is noticed and aborts every task: no task outlives the monitor (Jedis
//! and redis-py let their health threads outlive the client).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::{self, Debug};
use std::hash::BuildHasherDefault;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::target::{Demand, Pending, Target};
use crate::{HealthCheck, HealthEvent, HealthStatus, MonitorError, TargetConfig};

/// Events buffered per subscriber; a receiver that falls further behind sees `Lagged`.
const EVENT_CAPACITY: usize = 1024;

/// Watches the health of a set of targets, each checked on its own schedule and on demand.
///
/// `K` is the key the owner names targets by, `T` the target itself (e.g. a connection),
/// handed to every [`HealthCheck`]. The handle is a cheap `Clone`; all clones share the
/// same targets. Dropping the last clone, or calling [`shutdown`](Self::shutdown), stops
/// every task the monitor spawned.
pub struct HealthMonitor<K, T: ?Sized> {
    inner: Arc<Inner<K, T>>,
}

struct Inner<K, T: ?Sized> {
    registry: Mutex<Registry<K, T>>,
    events: broadcast::Sender<HealthEvent<K>>,
    live_tasks: Arc<AtomicUsize>,
    /// Serializes `shutdown` calls, so each returns only once every task has stopped.
    shutdown: tokio::sync::Mutex<()>,
}

struct Registry<K, T: ?Sized> {
    /// A fixed hasher, not a random one: the same targets added in the same order are
    /// visited (stopped, shut down) in the same order, so a seeded simulation replays.
    targets: HashMap<K, Entry<K, T>, BuildHasherDefault<DefaultHasher>>,
    /// Tasks of removed targets: aborted, kept so `shutdown` can wait for them.
    retired: Vec<JoinHandle<()>>,
    shut_down: bool,
}

struct Entry<K, T: ?Sized> {
    target: Arc<Target<K, T>>,
    task: JoinHandle<()>,
}

impl<K, T: ?Sized> Drop for Inner<K, T> {
    fn drop(&mut self) {
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for entry in registry.targets.values() {
            entry.task.abort();
        }
        for task in &registry.retired {
            task.abort();
        }
    }
}

/// Counts a live task for [`HealthMonitor::task_count`]; moved into the task, so it is
/// dropped when the task's future is, even if the task never ran.
struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<K, T: ?Sized> Clone for HealthMonitor<K, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Debug, T: ?Sized> Debug for HealthMonitor<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("HealthMonitor")
            .field("targets", &registry.targets.keys().collect::<Vec<_>>())
            .field("shut_down", &registry.shut_down)
            .field("tasks", &self.inner.live_tasks.load(Ordering::SeqCst))
            .finish()
    }
}

impl<K, T> Default for HealthMonitor<K, T>
where
    K: Clone + Eq + Hash + Debug + Send + Sync + 'static,
    T: ?Sized + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, T> HealthMonitor<K, T>
where
    K: Clone + Eq + Hash + Debug + Send + Sync + 'static,
    T: ?Sized + Send + Sync + 'static,
{
    /// An empty monitor. Needs no runtime: tasks are spawned by [`add_target`](Self::add_target).
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry {
                    targets: HashMap::default(),
                    retired: Vec::new(),
                    shut_down: false,
                }),
                events: broadcast::channel(EVENT_CAPACITY).0,
                live_tasks: Arc::new(AtomicUsize::new(0)),
                shutdown: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry<K, T>> {
        // Nothing panics while the lock is held; recover the data if something ever did.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn target(&self, key: &K) -> Result<Arc<Target<K, T>>, MonitorError> {
        let registry = self.registry();
        if registry.shut_down {
            return Err(MonitorError::ShutDown);
        }
        registry
            .targets
            .get(key)
            .map(|entry| Arc::clone(&entry.target))
            .ok_or_else(|| unknown(key))
    }

    /// Registers a target and spawns its task on the current tokio runtime. The first
    /// scheduled check runs after the config's `initial_delay` (default: one interval);
    /// call [`check_now`](Self::check_now) for a result at once.
    ///
    /// # Errors
    ///
    /// [`MonitorError::NoChecks`] if `checks` is empty, [`MonitorError::NoRuntime`] outside
    /// a tokio runtime, [`MonitorError::ShutDown`] after [`shutdown`](Self::shutdown),
    /// [`MonitorError::DuplicateTarget`] if `key` is already registered.
    pub fn add_target(
        &self,
        key: K,
        target: Arc<T>,
        checks: Vec<Arc<dyn HealthCheck<T>>>,
        config: TargetConfig,
    ) -> Result<(), MonitorError> {
        if checks.is_empty() {
            return Err(MonitorError::NoChecks {
                target: format!("{key:?}"),
            });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MonitorError::NoRuntime)?;
        let mut registry = self.registry();
        if registry.shut_down {
            return Err(MonitorError::ShutDown);
        }
        if registry.targets.contains_key(&key) {
            return Err(MonitorError::DuplicateTarget {
                target: format!("{key:?}"),
            });
        }
        let state = Arc::new(Target::new(
            key.clone(),
            target,
            checks,
            config,
            self.inner.events.clone(),
        ));
        let guard = TaskGuard::new(&self.inner.live_tasks);
        let worker = Arc::clone(&state);
        let task = runtime.spawn(async move {
            let _guard = guard;
            worker.run().await;
        });
        registry.retired.retain(|task| !task.is_finished());
        registry.targets.insert(
            key,
            Entry {
                target: state,
                task,
            },
        );
        Ok(())
    }

    /// Unregisters a target and aborts its task (which stops at its next await: no probe
    /// of the target starts afterwards). Pending [`check_now`](Self::check_now) calls for
    /// it fail with [`MonitorError::UnknownTarget`]. Each of its checks is then told
    /// ([`HealthCheck::removed`]), so it can forget what it kept for the target. Returns
    /// `false` if `key` is unknown.
    pub fn remove_target(&self, key: &K) -> bool {
        let target = {
            let mut registry = self.registry();
            let Some(entry) = registry.targets.remove(key) else {
                return false;
            };
            entry.task.abort();
            registry.retired.push(entry.task);
            entry.target
        };
        // Outside the registry's lock: the checks' own code runs.
        for check in target.checks().iter() {
            let forget = std::panic::AssertUnwindSafe(|| check.removed(target.subject()));
            if std::panic::catch_unwind(forget).is_err() {
                tracing::warn!(key = ?key, check = check.name(), "a health check panicked forgetting a removed target");
            }
        }
        true
    }

    /// The registered targets' keys, in no particular order.
    pub fn targets(&self) -> Vec<K> {
        self.registry().targets.keys().cloned().collect()
    }

    /// The target's last published result; `None` before its first result or for an
    /// unknown key.
    pub fn status(&self, key: &K) -> Option<HealthStatus> {
        self.target(key).ok()?.status()
    }

    /// A receiver that sees each published result of the target (`None` until the first);
    /// it closes when the target is removed. `None` for an unknown key.
    pub fn watch(&self, key: &K) -> Option<watch::Receiver<Option<HealthStatus>>> {
        Some(self.target(key).ok()?.watch())
    }

    /// A receiver of every published result of every target. It buffers 1024 events; a
    /// receiver that falls further behind gets `RecvError::Lagged` and then the newest.
    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent<K>> {
        self.inner.events.subscribe()
    }

    /// Checks the target now with its on-demand configuration and returns the result
    /// (which is also published). If a check of the target is already requested or
    /// running, waits for that one instead (which may be a full check, see
    /// [`check_fresh`](Self::check_fresh)); if one finished less than
    /// `min_probe_interval` ago, returns its result at once. It does not count against
    /// the rate limit of [`request_check`](Self::request_check), so a failure right after
    /// it is probed at once.
    ///
    /// # Errors
    ///
    /// [`MonitorError::UnknownTarget`] if `key` is not registered or is removed while
    /// waiting, [`MonitorError::ShutDown`] if the monitor is or gets shut down.
    pub async fn check_now(&self, key: &K) -> Result<HealthStatus, MonitorError> {
        // The target's state must not be held across the await: the worker's pending
        // request lives in it, and dropping it is what wakes us if the target goes.
        let demand = self.target(key)?.check_now();
        match demand {
            Demand::Recent(status) => Ok(status),
            Demand::Joined(pending) | Demand::Started(pending) => self.outcome(key, pending).await,
        }
    }

    /// Runs a full check of the target, one that starts after this call, and returns its
    /// result. For a verdict that must honour the configuration and must not trust an
    /// older result: a client's initial check, a database added at run time, a manual
    /// switch to another database.
    ///
    /// The check is the scheduled kind: every health check with the configured `probe`
    /// settings (probes, delay, policy, timeout), not the single on-demand probe of
    /// [`check_now`](Self::check_now). It never answers with a recent result nor with a
    /// check that was already running: if one is running, the fresh check runs right
    /// after it (checks of one target never overlap). Concurrent callers whose check has
    /// not started yet share it, and an on-demand request waiting with it is answered by
    /// it too. It spends no [`request_check`](Self::request_check) permit and leaves the
    /// schedule as it is. The result is published like any other.
    ///
    /// # Errors
    ///
    /// [`MonitorError::UnknownTarget`] if `key` is not registered or is removed while
    /// waiting, [`MonitorError::ShutDown`] if the monitor is or gets shut down.
    pub async fn check_fresh(&self, key: &K) -> Result<HealthStatus, MonitorError> {
        // As in `check_now`, the target's state must not be held across the await.
        let pending = self.target(key)?.check_fresh();
        self.outcome(key, pending).await
    }

    async fn outcome(&self, key: &K, mut pending: Pending) -> Result<HealthStatus, MonitorError> {
        if let Ok(status) = pending.wait_for(Option::is_some).await
            && let Some(status) = status.clone()
        {
            return Ok(status);
        }
        if self.registry().shut_down {
            Err(MonitorError::ShutDown)
        } else {
            Err(unknown(key))
        }
    }

    /// Starts an on-demand check of the target in the background, unless one is already
    /// requested or running, or the target's rate limit (`min_probe_interval`) forbids it.
    /// Returns `true` if it started one. Never blocks: meant for a command's failure path.
    pub fn request_check(&self, key: &K) -> bool {
        self.target(key).is_ok_and(|target| target.request())
    }

    /// Replaces the target's health checks, keeping the target: its watch receivers, its
    /// schedule and its task carry on. The new checks apply from the next check that
    /// starts; a check already running finishes with the old ones.
    ///
    /// # Errors
    ///
    /// [`MonitorError::NoChecks`] if `checks` is empty, [`MonitorError::ShutDown`] after
    /// [`shutdown`](Self::shutdown), [`MonitorError::UnknownTarget`] if `key` is not
    /// registered.
    pub fn set_checks(
        &self,
        key: &K,
        checks: Vec<Arc<dyn HealthCheck<T>>>,
    ) -> Result<(), MonitorError> {
        if checks.is_empty() {
            return Err(MonitorError::NoChecks {
                target: format!("{key:?}"),
            });
        }
        self.target(key)?.set_checks(checks);
        Ok(())
    }

    /// The health checks the target's next check will run; `None` for an unknown key.
    pub fn checks(&self, key: &K) -> Option<Vec<Arc<dyn HealthCheck<T>>>> {
        Some(self.target(key).ok()?.checks().to_vec())
    }

    /// Stops every task the monitor started and waits until they have stopped. Later
    /// [`add_target`](Self::add_target) calls fail with [`MonitorError::ShutDown`].
    /// Idempotent.
    pub async fn shutdown(&self) {
        let _serial = self.inner.shutdown.lock().await;
        let tasks: Vec<JoinHandle<()>> = {
            let mut registry = self.registry();
            registry.shut_down = true;
            let removed: Vec<_> = registry.targets.drain().map(|(_, e)| e.task).collect();
            removed
                .into_iter()
                .chain(registry.retired.drain(..))
                .collect()
        };
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // A cancelled task is the expected outcome; a panic cannot happen (probes are
            // caught) and there is nobody to report it to.
            let _ = task.await;
        }
        tracing::debug!("health monitor shut down");
    }

    /// The tasks this monitor spawned that are still alive (one per target, plus removed
    /// targets' tasks not yet stopped).
    pub fn task_count(&self) -> usize {
        self.inner.live_tasks.load(Ordering::SeqCst)
    }
}

fn unknown<K: Debug>(key: &K) -> MonitorError {
    MonitorError::UnknownTarget {
        target: format!("{key:?}"),
    }
}
