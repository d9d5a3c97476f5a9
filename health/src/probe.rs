//! Running one check of a target: every health check, each as a series of probes under
//! its policy, the whole bounded by the timeout.
//!
//! Health checks run concurrently and the check stops at the first one that fails (they
//! are AND-ed), so a check takes as long as its slowest passing health check, never their
//! sum. A probe that panics is caught here, in the same task, and counts as a failed
//! probe: spawning a task per probe would cost a task hop and leave probes to outlive an
//! aborted check. (With `panic = "abort"` nothing can be caught.)

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::{HealthCheck, ProbeConfig, Unhealthy};

type BoxedCheck<'a> = Pin<Box<dyn Future<Output = Result<(), Unhealthy>> + Send + 'a>>;

/// Runs every check against `target`; the first failure (in completion order) decides.
pub(crate) async fn check_all<T: ?Sized + Send + Sync>(
    checks: &[Arc<dyn HealthCheck<T>>],
    target: &T,
    config: &ProbeConfig,
) -> Result<(), Unhealthy> {
    let mut pending: Vec<BoxedCheck<'_>> = checks
        .iter()
        .map(|check| Box::pin(check_one(check.as_ref(), target, config)) as BoxedCheck<'_>)
        .collect();
    std::future::poll_fn(move |cx| {
        let mut i = 0;
        while i < pending.len() {
            match pending[i].as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(Ok(())) => drop(pending.swap_remove(i)),
                Poll::Ready(Err(unhealthy)) => return Poll::Ready(Err(unhealthy)),
            }
        }
        if pending.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Runs one health check: its probes under the policy, bounded by the timeout.
pub(crate) async fn check_one<T: ?Sized + Send + Sync>(
    check: &dyn HealthCheck<T>,
    target: &T,
    config: &ProbeConfig,
) -> Result<(), Unhealthy> {
    let name = check.name();
    match tokio::time::timeout(config.timeout(), probe_series(check, target, config)).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Err(Unhealthy::new(format!(
            "{name}: timed out after {:?}",
            config.timeout()
        ))),
    }
}

async fn probe_series<T: ?Sized + Send + Sync>(
    check: &dyn HealthCheck<T>,
    target: &T,
    config: &ProbeConfig,
) -> Result<(), Unhealthy> {
    let name = check.name();
    let probes = config.probes();
    let (mut passed, mut failed) = (0, 0);
    let mut last_failure = None;
    for probe in 1..=probes {
        if probe > 1 && !config.probe_delay().is_zero() {
            tokio::time::sleep(config.probe_delay()).await;
        }
        match CatchUnwind(check.check(target)).await {
            Ok(Ok(())) => {
                passed += 1;
                tracing::debug!(check = name, probe, probes, "probe passed");
            }
            Ok(Err(unhealthy)) => {
                failed += 1;
                tracing::debug!(check = name, probe, probes, reason = %unhealthy, "probe failed");
                last_failure = Some(unhealthy);
            }
            Err(panic) => {
                failed += 1;
                let unhealthy = Unhealthy::new(format!("panicked: {}", panic_message(&*panic)));
                tracing::debug!(check = name, probe, probes, reason = %unhealthy, "probe panicked");
                last_failure = Some(unhealthy);
            }
        }
        match config.policy().decide(probes, passed, failed) {
            Some(true) => return Ok(()),
            Some(false) => break,
            None => {}
        }
    }
    let last = last_failure.map_or_else(String::new, |u| u.reason().to_owned());
    Err(Unhealthy::new(format!(
        "{name}: {failed} of {probes} probes failed: {last}"
    )))
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// Resolves to `Err(payload)` instead of unwinding when the inner future panics.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // The future is never polled again after a panic (we return Ready), so whatever
        // state the panic left it in cannot be observed.
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

#[cfg(test)]
mod tests;
