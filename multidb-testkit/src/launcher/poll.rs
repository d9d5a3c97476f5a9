//! Waiting for an external process: the one place the launchers sleep.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Calls `check` every `every` until it breaks with a value, or until `timeout` has passed:
/// then `Err` with the time waited. A `redis-server` cannot tell us when it is ready, so
/// this bounded poll stands where tests would await an event.
pub(crate) fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> ControlFlow<T>,
) -> Result<T, Duration> {
    let started = Instant::now();
    loop {
        if let ControlFlow::Break(value) = check() {
            return Ok(value);
        }
        if started.elapsed() >= timeout {
            return Err(started.elapsed());
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_break_and_gives_up_after_the_timeout() {
        let mut calls = 0;
        let found = poll_until(Duration::from_secs(5), Duration::ZERO, || {
            calls += 1;
            if calls == 3 {
                ControlFlow::Break(calls)
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(found, Ok(3));
        let waited = poll_until(Duration::ZERO, Duration::ZERO, || {
            ControlFlow::<()>::Continue(())
        });
        assert!(waited.is_err());
    }
}
