//! A scripted health check for the integration tests: replays a list of steps, then
//! repeats a fallback step, and records how it was called.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multidb_health::{HealthCheck, HealthMonitor, TargetConfig, Unhealthy};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Pass,
    Fail(&'static str),
    Panic,
}

/// One probe: wait `delay`, then produce `outcome`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    delay: Duration,
    outcome: Outcome,
}

impl Step {
    pub(crate) fn pass() -> Self {
        Self {
            delay: Duration::ZERO,
            outcome: Outcome::Pass,
        }
    }

    pub(crate) fn fail(reason: &'static str) -> Self {
        Self {
            delay: Duration::ZERO,
            outcome: Outcome::Fail(reason),
        }
    }

    pub(crate) fn panic() -> Self {
        Self {
            delay: Duration::ZERO,
            outcome: Outcome::Panic,
        }
    }

    pub(crate) fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

#[derive(Debug)]
pub(crate) struct Scripted {
    name: &'static str,
    script: Mutex<VecDeque<Step>>,
    fallback: Step,
    calls: AtomicU32,
    running: AtomicU32,
    max_running: AtomicU32,
    starts: Mutex<Vec<Instant>>,
}

impl Scripted {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>, fallback: Step) -> Arc<Self> {
        Arc::new(Self {
            name: "scripted",
            script: Mutex::new(steps.into_iter().collect()),
            fallback,
            calls: AtomicU32::new(0),
            running: AtomicU32::new(0),
            max_running: AtomicU32::new(0),
            starts: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn always(step: Step) -> Arc<Self> {
        Self::new([], step)
    }

    pub(crate) fn named(name: &'static str, step: Step) -> Arc<Self> {
        let mut check = Self::new([], step);
        Arc::get_mut(&mut check).expect("not shared yet").name = name;
        check
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn max_running(&self) -> u32 {
        self.max_running.load(Ordering::SeqCst)
    }

    pub(crate) fn starts(&self) -> Vec<Instant> {
        self.starts.lock().expect("unpoisoned").clone()
    }

    pub(crate) fn boxed(self: &Arc<Self>) -> Vec<Arc<dyn HealthCheck<()>>> {
        vec![Arc::clone(self) as Arc<dyn HealthCheck<()>>]
    }
}

/// Decrements `running` even when the probe is cancelled by a timeout.
struct Running<'a>(&'a AtomicU32);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl HealthCheck<()> for Scripted {
    async fn check(&self, (): &()) -> Result<(), Unhealthy> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.starts.lock().expect("unpoisoned").push(Instant::now());
        let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now_running, Ordering::SeqCst);
        let _running = Running(&self.running);
        let step = self
            .script
            .lock()
            .expect("unpoisoned")
            .pop_front()
            .unwrap_or(self.fallback);
        if !step.delay.is_zero() {
            tokio::time::sleep(step.delay).await;
        }
        match step.outcome {
            Outcome::Pass => Ok(()),
            Outcome::Fail(reason) => Err(Unhealthy::new(reason)),
            Outcome::Panic => panic!("scripted panic"),
        }
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// A config whose scheduled checks never come during a test, so only on-demand checks run.
pub(crate) fn on_demand_only() -> multidb_health::TargetConfigBuilder {
    TargetConfig::builder()
        .interval(Duration::from_secs(24 * 3600))
        .jitter(Duration::ZERO)
}

/// A monitor with one target `"a"` checked by `check`.
pub(crate) fn monitor_with(
    check: &Arc<Scripted>,
    config: TargetConfig,
) -> HealthMonitor<&'static str, ()> {
    let monitor = HealthMonitor::new();
    monitor
        .add_target("a", Arc::new(()), check.boxed(), config)
        .expect("valid target");
    monitor
}
