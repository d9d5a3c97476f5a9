//! A lock-free circuit breaker with a true sliding failure window and an injectable clock.
//!
//! Made for a multi-database Redis client that keeps one breaker per database and consults
//! it on every command, but it knows nothing of Redis or of any async runtime.
//!
//! - **Closed**: calls flow and their outcomes feed a window that slides bucket by bucket.
//!   The breaker opens when, inside the window, failures reach `min_num_failures` *and*
//!   `failures / (successes + failures)` reaches `failure_rate_threshold`.
//! - **Open**: calls are rejected, with the time left until half-open, for `grace_period`.
//! - **HalfOpen**: at most `half_open_max_calls` trial calls at once; `success_threshold`
//!   consecutive successes close the breaker (with an empty window), any failure re-opens it
//!   and restarts the grace period.
//!
//! [`CircuitBreaker::trip`], [`force_open`](CircuitBreaker::force_open),
//! [`force_closed`](CircuitBreaker::force_closed) and [`reset`](CircuitBreaker::reset) let
//! other signals (health checks, an operator) drive it, and every transition is reported
//! exactly once to the listeners registered with [`CircuitBreaker::on_transition`].
//!
//! The Closed path takes no lock and allocates nothing: a permit is one atomic load, its
//! outcome one clock reading and a compare-and-swap on a bucket. A success reads the clock's
//! [`recent`](Clock::recent) time, which [`SystemClock`] answers from the thread's last exact
//! reading while the kernel's coarse clock has not ticked (a success only needs its bucket);
//! failures and deadlines read it exactly. [`CoarseClock`] makes every reading one atomic
//! load, at the cost of a background thread.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use multidb_circuit::{CircuitBreaker, CircuitConfig, ManualClock, State};
//!
//! let config = CircuitConfig::builder()
//!     .min_num_failures(2)
//!     .failure_rate_threshold(0.5)
//!     .grace_period(Duration::from_secs(1))
//!     .build()?;
//! let clock = ManualClock::default();
//! let breaker = CircuitBreaker::with_clock(config, clock.clone());
//!
//! breaker.try_acquire()?.success();
//! breaker.try_acquire()?.failure();
//! assert_eq!(breaker.state(), State::Closed); // 1 failure: below min_num_failures
//! breaker.try_acquire()?.failure();
//! assert_eq!(breaker.state(), State::Open); // 2 failures out of 3 calls
//!
//! let rejected = breaker.try_acquire().unwrap_err();
//! assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
//!
//! clock.advance(Duration::from_secs(1));
//! let trial = breaker.try_acquire()?; // half-open: one trial call
//! assert_eq!(breaker.state(), State::HalfOpen);
//! trial.success();
//! assert_eq!(breaker.state(), State::Closed);
//!
//! // Or let the breaker run the call and classify the error.
//! let answer = breaker.call(|| Ok::<_, std::io::Error>(42), |_| true);
//! assert_eq!(answer.ok(), Some(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod breaker;
mod clock;
mod coarse;
mod config;
mod error;
mod recent;
mod state;
mod transition;
mod window;

pub use breaker::{CircuitBreaker, Permit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use coarse::CoarseClock;
pub use config::{CircuitConfig, CircuitConfigBuilder, MAX_HALF_OPEN};
pub use error::{CallError, ConfigError, Rejected};
pub use recent::{MAX_REUSES, RecentReading};
pub use state::State;
pub use transition::{Transition, TransitionReason};
pub use window::WindowCounts;
