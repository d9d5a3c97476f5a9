//! Behaviour of one breaker driven by a manual clock.

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{breaker, ms, taken};
use multidb_circuit::{
    CallError, CircuitBreaker, CircuitConfig, State, Transition, TransitionReason, WindowCounts,
};

fn config() -> multidb_circuit::CircuitConfigBuilder {
    CircuitConfig::builder()
        .window(ms(100))
        .buckets(4)
        .grace_period(Duration::from_secs(5))
}

fn succeed(b: &CircuitBreaker<multidb_circuit::ManualClock>, n: usize) {
    for _ in 0..n {
        b.try_acquire().expect("closed").success();
    }
}

fn fail(b: &CircuitBreaker<multidb_circuit::ManualClock>, n: usize) {
    for _ in 0..n {
        b.try_acquire().expect("closed").failure();
    }
}

fn t(from: State, to: State, reason: TransitionReason, at: Duration) -> Transition {
    Transition {
        from,
        to,
        reason,
        at,
    }
}

#[test]
fn opens_when_failures_and_rate_both_cross() {
    let (b, clock, log) = breaker(config().min_num_failures(3).failure_rate_threshold(0.5));
    clock.advance(ms(10));
    succeed(&b, 3);
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1); // 3 of 6 = 0.5
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        taken(&log),
        [t(
            State::Closed,
            State::Open,
            TransitionReason::ThresholdsCrossed,
            ms(10)
        )]
    );
}

#[test]
fn min_failures_reached_without_the_rate_stays_closed() {
    let (b, _, log) = breaker(config().min_num_failures(2).failure_rate_threshold(0.5));
    succeed(&b, 10);
    fail(&b, 3); // 3 of 13 < 0.5
    assert_eq!(b.state(), State::Closed);
    assert!(taken(&log).is_empty());
}

#[test]
fn rate_reached_without_min_failures_stays_closed() {
    let (b, _, _) = breaker(config().min_num_failures(5).failure_rate_threshold(0.1));
    fail(&b, 4); // 100 % but only 4
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn rate_is_failures_over_all_calls_not_over_successes() {
    // redis-py compares failures with successes: 2 failures / 5 successes = 0.4 would trip
    // at 0.4. Over all calls it is 2 / 7 < 0.4.
    let (b, _, _) = breaker(config().min_num_failures(2).failure_rate_threshold(0.4));
    succeed(&b, 5);
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_success_at_an_earlier_reading_counts_in_that_bucket() {
    // 100 ms window in 4 buckets of 25 ms; the breaker was made at 0.
    let (b, clock, _) = breaker(config());
    clock.set(ms(110));
    // A reading from 20 ms ago: bucket [75, 100), inside the window until 175 ms.
    b.try_acquire().expect("closed").success_at(ms(90));
    // A reading older than the window: not counted.
    b.try_acquire().expect("closed").success_at(ms(5));
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 1,
            failures: 0
        }
    );
    clock.set(ms(175));
    assert_eq!(
        b.counts(),
        WindowCounts::default(),
        "aged out with its bucket"
    );
}

#[test]
fn failures_age_out_one_bucket_at_a_time() {
    // 100 ms window in 4 buckets of 25 ms.
    let (b, clock, _) = breaker(config().min_num_failures(3).failure_rate_threshold(1.0));
    fail(&b, 1); // bucket [0, 25)
    clock.set(ms(30));
    fail(&b, 1); // bucket [25, 50)
    clock.set(ms(99));
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 0,
            failures: 2
        }
    );
    clock.set(ms(100));
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 0,
            failures: 1
        }
    );
    fail(&b, 1);
    assert_eq!(b.state(), State::Closed, "the first failure aged out");
    clock.set(ms(124));
    fail(&b, 1);
    assert_eq!(
        b.state(),
        State::Open,
        "30, 100 and 124 ms are in one window"
    );
}

#[test]
fn window_slides_across_boundaries_instead_of_resetting() {
    let (b, clock, _) = breaker(config().min_num_failures(2).failure_rate_threshold(1.0));
    clock.set(ms(90));
    fail(&b, 1);
    clock.set(ms(110)); // a tumbling 100 ms window would have restarted here
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn open_rejects_with_the_time_left_until_half_open() {
    let (b, clock, _) = breaker(config().min_num_failures(1));
    fail(&b, 1);
    clock.advance(ms(1500));
    let rejected = b.try_acquire().expect_err("open");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_after(), Some(ms(3500)));
    assert!(rejected.to_string().contains("open"), "{rejected}");
}

#[test]
fn half_open_comes_after_the_configured_grace_period() {
    let (b, clock, log) = breaker(config().min_num_failures(1).grace_period(ms(700)));
    clock.set(ms(1));
    fail(&b, 1);
    clock.set(ms(700));
    assert_eq!(b.state(), State::Open);
    clock.set(ms(701));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        taken(&log),
        [
            t(
                State::Closed,
                State::Open,
                TransitionReason::ThresholdsCrossed,
                ms(1)
            ),
            t(
                State::Open,
                State::HalfOpen,
                TransitionReason::GracePeriodElapsed,
                ms(701)
            ),
        ]
    );
}

#[test]
fn half_open_at_tells_when_an_open_breaker_turns_half_open() {
    let (b, clock, _) = breaker(config().min_num_failures(1).grace_period(ms(700)));
    assert_eq!(b.half_open_at(), None, "closed");
    clock.set(ms(5));
    fail(&b, 1);
    assert_eq!(b.half_open_at(), Some(ms(705)));
    clock.set(ms(705));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.half_open_at(), None, "half-open");
    b.force_open();
    assert_eq!(b.half_open_at(), None, "held open by hand");
}

#[test]
fn half_open_at_saturates_for_an_endless_grace_period() {
    let (b, _, _) = breaker(config().min_num_failures(1).grace_period(Duration::MAX));
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert!(
        b.half_open_at()
            .is_some_and(|at| at > Duration::from_secs(70 * 365 * 86_400))
    );
}

#[test]
fn zero_grace_period_is_half_open_at_once() {
    let (b, _, _) = breaker(config().min_num_failures(1).grace_period(Duration::ZERO));
    fail(&b, 1);
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn half_open_grants_at_most_the_quota_and_a_dropped_permit_frees_its_slot() {
    let (b, clock, _) = breaker(config().min_num_failures(1).half_open_max_calls(2));
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    let first = b.try_acquire().expect("slot 1");
    let second = b.try_acquire().expect("slot 2");
    assert_eq!(first.granted_in(), State::HalfOpen);
    let rejected = b.try_acquire().expect_err("quota reached");
    assert_eq!(rejected.state(), State::HalfOpen);
    assert_eq!(rejected.retry_after(), Some(Duration::ZERO));
    drop(first);
    let third = b.try_acquire().expect("freed slot");
    assert!(b.try_acquire().is_err());
    drop((second, third));
    assert_eq!(b.state(), State::HalfOpen, "dropped permits decide nothing");
}

#[test]
fn half_open_failure_reopens_and_restarts_the_grace_period() {
    let (b, clock, log) = breaker(config().min_num_failures(1).half_open_max_calls(2));
    fail(&b, 1);
    clock.set(Duration::from_secs(5));
    let trial = b.try_acquire().expect("half-open");
    clock.set(Duration::from_secs(6));
    trial.failure();
    assert_eq!(b.state(), State::Open);
    let rejected = b.try_acquire().expect_err("re-opened");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
    clock.set(ms(10_999));
    assert_eq!(b.state(), State::Open);
    clock.set(Duration::from_secs(11));
    assert_eq!(b.state(), State::HalfOpen);
    let reasons: Vec<_> = taken(&log).into_iter().map(|t| t.reason).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::ThresholdsCrossed,
            TransitionReason::GracePeriodElapsed,
            TransitionReason::HalfOpenFailed,
            TransitionReason::GracePeriodElapsed,
        ]
    );
}

#[test]
fn half_open_closes_after_consecutive_successes_with_an_empty_window() {
    let (b, clock, log) = breaker(config().min_num_failures(1).success_threshold(3));
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    b.try_acquire().expect("trial 1").success();
    b.try_acquire().expect("trial 2").success();
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().expect("trial 3").success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counts(), WindowCounts::default());
    assert_eq!(
        taken(&log).last().map(|t| (t.from, t.to, t.reason)),
        Some((
            State::HalfOpen,
            State::Closed,
            TransitionReason::HalfOpenSucceeded
        ))
    );
}

#[test]
fn recorded_success_counts_toward_the_half_open_threshold() {
    let (b, clock, _) = breaker(config().min_num_failures(1).success_threshold(2));
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    b.record_success();
    assert_eq!(b.state(), State::HalfOpen);
    b.record_success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn recorded_failure_in_half_open_reopens() {
    let (b, clock, _) = breaker(config().min_num_failures(1));
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    b.record_failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn records_while_open_are_ignored() {
    let (b, _, _) = breaker(config().min_num_failures(2).failure_rate_threshold(1.0));
    fail(&b, 2);
    let before = b.counts();
    b.record_failure();
    b.record_success();
    assert_eq!(b.counts(), before);
    assert_eq!(
        before,
        WindowCounts {
            successes: 0,
            failures: 2
        }
    );
}

#[test]
fn permit_from_before_opening_is_ignored() {
    let (b, clock, log) = breaker(config().min_num_failures(1));
    let old = b.try_acquire().expect("closed");
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    old.failure(); // describes the database before the trip
    assert_eq!(b.state(), State::HalfOpen);
    b.force_closed();
    let older = b.try_acquire().expect("closed");
    b.trip();
    b.reset();
    older.failure(); // earlier Closed episode
    assert_eq!(b.counts(), WindowCounts::default());
    assert_eq!(taken(&log).len(), 5);
}

#[test]
fn dropped_closed_permit_counts_nothing() {
    let (b, _, _) = breaker(config());
    drop(b.try_acquire().expect("closed"));
    assert_eq!(b.counts(), WindowCounts::default());
}

#[test]
fn trip_opens_for_the_grace_period_then_half_opens() {
    let (b, clock, log) = breaker(config());
    clock.set(ms(3));
    b.trip();
    b.trip(); // already open: nothing new
    assert_eq!(
        b.try_acquire().expect_err("open").retry_after(),
        Some(Duration::from_secs(5))
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        taken(&log)[0],
        t(State::Closed, State::Open, TransitionReason::Tripped, ms(3))
    );
}

#[test]
fn forced_open_is_held_past_the_grace_period_until_force_closed() {
    let (b, clock, log) = breaker(config().min_num_failures(1));
    fail(&b, 1);
    b.force_open(); // Open -> Open (held)
    b.force_open(); // already held: nothing
    clock.advance(Duration::from_secs(3600));
    assert_eq!(b.state(), State::Open);
    let rejected = b.try_acquire().expect_err("held open");
    assert_eq!(rejected.retry_after(), None);
    assert!(rejected.to_string().contains("forced"), "{rejected}");
    b.trip();
    b.record_success();
    assert_eq!(b.state(), State::Open);
    b.force_closed();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counts(), WindowCounts::default());
    let reasons: Vec<_> = taken(&log)
        .into_iter()
        .map(|t| (t.from, t.to, t.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                State::Closed,
                State::Open,
                TransitionReason::ThresholdsCrossed
            ),
            (State::Open, State::Open, TransitionReason::ForcedOpen),
            (State::Open, State::Closed, TransitionReason::ForcedClosed),
        ]
    );
}

#[test]
fn reset_releases_a_forced_open_and_clears_the_window() {
    let (b, _, log) = breaker(config());
    succeed(&b, 2);
    b.force_open();
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counts(), WindowCounts::default());
    succeed(&b, 1);
    b.reset(); // already closed: clears, reports nothing
    assert_eq!(b.counts(), WindowCounts::default());
    let reasons: Vec<_> = taken(&log).into_iter().map(|t| t.reason).collect();
    assert_eq!(
        reasons,
        [TransitionReason::ForcedOpen, TransitionReason::Reset]
    );
}

#[test]
fn every_listener_hears_each_transition_once() {
    let (b, clock, first) = breaker(config().min_num_failures(1));
    let second = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&second);
    b.on_transition(move |t: &Transition| sink.lock().unwrap().push(t.reason));
    fail(&b, 1);
    clock.advance(Duration::from_secs(5));
    for _ in 0..3 {
        b.state();
    }
    b.try_acquire().expect("trial").success();
    let expected = [
        TransitionReason::ThresholdsCrossed,
        TransitionReason::GracePeriodElapsed,
        TransitionReason::HalfOpenSucceeded,
    ];
    let heard: Vec<_> = taken(&first).into_iter().map(|t| t.reason).collect();
    assert_eq!(heard, expected);
    assert_eq!(*second.lock().unwrap(), expected);
}

#[test]
fn listener_may_use_the_breaker_without_deadlock() {
    let (b, _, _) = breaker(config().min_num_failures(1));
    let b = Arc::new(b);
    let weak = Arc::downgrade(&b);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    b.on_transition(move |_| {
        if let Some(b) = weak.upgrade() {
            sink.lock().unwrap().push(b.state());
            b.on_transition(|_| {});
        }
    });
    fail(&b, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [State::Open],
        "state already changed"
    );
}

#[test]
fn call_counts_non_failure_errors_as_success_and_skips_when_rejected() {
    let (b, _, _) = breaker(config().min_num_failures(1));
    let r: Result<(), _> = b.call(|| Err("WRONGTYPE"), |e| *e == "io");
    assert!(matches!(r, Err(CallError::Inner("WRONGTYPE"))));
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 1,
            failures: 0
        }
    );
    assert_eq!(b.call(|| Ok::<_, &str>(7), |_| true), Ok(7));
    let r: Result<(), _> = b.call(|| Err("io"), |e| *e == "io");
    assert!(matches!(r, Err(CallError::Inner("io"))));
    assert_eq!(b.state(), State::Open);
    let mut ran = false;
    let r = b.call(
        || {
            ran = true;
            Ok::<_, &str>(())
        },
        |_| true,
    );
    assert!(matches!(r, Err(CallError::Rejected(ref r)) if r.state() == State::Open));
    assert!(!ran);
}

#[test]
fn call_error_exposes_the_inner_error_as_source() {
    let (b, _, _) = breaker(config());
    let err = b
        .call(|| Err::<(), _>(std::io::Error::other("reset")), |_| true)
        .expect_err("inner");
    let source = std::error::Error::source(&err).expect("source");
    assert_eq!(source.to_string(), "reset");
}

struct NoopWaker;
impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(NoopWaker));
    let mut fut = std::pin::pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(&waker))
}

#[test]
fn call_async_records_the_outcome() {
    let (b, _, _) = breaker(config().min_num_failures(1));
    let ok = poll_once(b.call_async(async { Ok::<_, &str>(1) }, |_| true));
    assert_eq!(ok, Poll::Ready(Ok(1)));
    let failed = poll_once(b.call_async(async { Err::<(), _>("io") }, |_| true));
    assert!(matches!(failed, Poll::Ready(Err(CallError::Inner("io")))));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn cancelled_call_async_frees_its_half_open_slot() {
    let (b, clock, _) = breaker(config().min_num_failures(1));
    b.trip();
    clock.advance(Duration::from_secs(5));
    let pending = poll_once(b.call_async(std::future::pending::<Result<(), ()>>(), |()| true));
    assert!(pending.is_pending()); // dropped here, mid-call
    assert!(b.try_acquire().is_ok(), "the slot was freed");
}

/// The default clock's cheap success reading is never stale by more than a coarse tick: a
/// thread that was idle for longer than the window still counts its next success, so one
/// failure beside it is 50 %, not 100 %. (A reading reused for a fixed number of calls, as
/// the client once did, placed that success before the window and opened the breaker.)
#[test]
fn the_default_clock_counts_a_success_after_an_idle_spell_longer_than_the_window() {
    let config = CircuitConfig::builder()
        .window(ms(100))
        .buckets(4)
        .min_num_failures(1)
        .failure_rate_threshold(0.6)
        .build()
        .expect("valid");
    let b = CircuitBreaker::new(config);
    // Warm the thread's cached reading.
    for _ in 0..3 {
        b.try_acquire().expect("closed").success();
    }
    // The idle spell is the scenario (three windows with no call on this thread), not a
    // wait for an event.
    let idle = std::time::Instant::now();
    while idle.elapsed() < ms(300) {
        std::hint::spin_loop();
    }
    b.try_acquire().expect("closed").success();
    b.try_acquire().expect("closed").failure();
    assert_eq!(
        b.counts(),
        WindowCounts {
            successes: 1,
            failures: 1
        },
        "the success after the idle spell is in the window"
    );
    assert_eq!(b.state(), State::Closed);
}
