//! Model-based test: random operation sequences give the same decisions, states, counts and
//! transition reports as a plain reference model (a list of timestamped events).

mod common;

use std::time::Duration;

use common::{breaker, taken};
use multidb_circuit::{CircuitConfig, State, TransitionReason, WindowCounts};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Params {
    rate: f64,
    min: u64,
    window_ns: u64,
    buckets: u64,
    grace_ns: u64,
    max_calls: u32,
    success_threshold: u32,
}

#[derive(Clone, Copy, Debug)]
enum Resolve {
    Success,
    Failure,
    Drop,
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Acquire,
    Resolve(usize, Resolve),
    RecordSuccess,
    RecordFailure,
    Trip,
    ForceOpen,
    ForceClosed,
    Reset,
    State,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MState {
    Closed {
        episode: u64,
    },
    Open {
        deadline: Option<u64>,
    },
    HalfOpen {
        episode: u64,
        in_flight: u32,
        streak: u32,
    },
}

#[derive(Clone, Copy, Debug)]
enum MPermit {
    Closed(u64),
    HalfOpen(u64),
}

/// The reference: every event kept with its time; the window is recomputed from scratch.
struct Model {
    p: Params,
    now: u64,
    events: Vec<(u64, bool)>,
    state: MState,
    episodes: u64,
    log: Vec<(State, State, TransitionReason, u64)>,
}

impl Model {
    fn width(&self) -> u64 {
        self.p.window_ns / self.p.buckets
    }

    fn counts(&self) -> WindowCounts {
        let current = self.now / self.width();
        let mut c = WindowCounts::default();
        for &(at, failure) in &self.events {
            if at / self.width() + self.p.buckets > current {
                if failure {
                    c.failures += 1;
                } else {
                    c.successes += 1;
                }
            }
        }
        c
    }

    fn public(s: MState) -> State {
        match s {
            MState::Closed { .. } => State::Closed,
            MState::Open { .. } => State::Open,
            MState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn go(&mut self, to: MState, reason: TransitionReason) {
        if let MState::Closed { .. } = to {
            self.events.clear();
        }
        self.log
            .push((Self::public(self.state), Self::public(to), reason, self.now));
        self.state = to;
    }

    fn episode(&mut self) -> u64 {
        self.episodes += 1;
        self.episodes
    }

    fn open(&self) -> MState {
        MState::Open {
            deadline: Some(self.now + self.p.grace_ns),
        }
    }

    fn lazy(&mut self) {
        if let MState::Open { deadline: Some(d) } = self.state
            && self.now >= d
        {
            let episode = self.episode();
            self.go(
                MState::HalfOpen {
                    episode,
                    in_flight: 0,
                    streak: 0,
                },
                TransitionReason::GracePeriodElapsed,
            );
        }
    }

    fn acquire(&mut self) -> Result<MPermit, (State, Option<Duration>)> {
        self.lazy();
        match self.state {
            MState::Closed { episode } => Ok(MPermit::Closed(episode)),
            MState::Open { deadline } => Err((
                State::Open,
                deadline.map(|d| Duration::from_nanos(d - self.now)),
            )),
            MState::HalfOpen {
                episode,
                in_flight,
                streak,
            } => {
                if in_flight >= self.p.max_calls {
                    return Err((State::HalfOpen, Some(Duration::ZERO)));
                }
                self.state = MState::HalfOpen {
                    episode,
                    in_flight: in_flight + 1,
                    streak,
                };
                Ok(MPermit::HalfOpen(episode))
            }
        }
    }

    fn record_closed(&mut self, failure: bool) {
        self.events.push((self.now, failure));
        let c = self.counts();
        if failure
            && c.failures >= self.p.min
            && c.failures as f64 / (c.failures + c.successes) as f64 >= self.p.rate
        {
            let open = self.open();
            self.go(open, TransitionReason::ThresholdsCrossed);
        }
    }

    fn half_open(&mut self, outcome: Resolve, slot: bool) {
        let MState::HalfOpen {
            episode,
            mut in_flight,
            streak,
        } = self.state
        else {
            return;
        };
        if slot {
            in_flight -= 1;
        }
        match outcome {
            Resolve::Failure => {
                let open = self.open();
                self.go(open, TransitionReason::HalfOpenFailed);
            }
            Resolve::Success if streak + 1 >= self.p.success_threshold => {
                let episode = self.episode();
                self.go(
                    MState::Closed { episode },
                    TransitionReason::HalfOpenSucceeded,
                );
            }
            Resolve::Success => {
                self.state = MState::HalfOpen {
                    episode,
                    in_flight,
                    streak: streak + 1,
                };
            }
            Resolve::Drop => {
                self.state = MState::HalfOpen {
                    episode,
                    in_flight,
                    streak,
                }
            }
        }
    }

    fn resolve(&mut self, permit: MPermit, outcome: Resolve) {
        match (permit, self.state) {
            (MPermit::Closed(mine), MState::Closed { episode }) if mine == episode => match outcome
            {
                Resolve::Success => self.record_closed(false),
                Resolve::Failure => self.record_closed(true),
                Resolve::Drop => {}
            },
            (MPermit::HalfOpen(mine), MState::HalfOpen { episode, .. }) if mine == episode => {
                self.half_open(outcome, true);
            }
            _ => {}
        }
    }

    fn record(&mut self, failure: bool) {
        self.lazy();
        match self.state {
            MState::Closed { .. } => self.record_closed(failure),
            MState::HalfOpen { .. } => {
                self.half_open(
                    if failure {
                        Resolve::Failure
                    } else {
                        Resolve::Success
                    },
                    false,
                );
            }
            MState::Open { .. } => {}
        }
    }

    fn close_by_hand(&mut self, reason: TransitionReason) {
        if let MState::Closed { .. } = self.state {
            self.events.clear();
        } else {
            let episode = self.episode();
            self.go(MState::Closed { episode }, reason);
        }
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(0.1), Just(0.5), Just(1.0), 0.01f64..=1.0],
        1u64..6,
        10u64..200,
        1u64..10,
        prop_oneof![Just(0u64), 1u64..300],
        1u32..4,
        1u32..4,
    )
        .prop_map(
            |(rate, min, window_ms, buckets, grace_ms, max_calls, success_threshold)| {
                Params {
                    rate,
                    min,
                    window_ns: window_ms * 1_000_000 + 7, // not a multiple of the bucket count
                    buckets,
                    grace_ns: grace_ms * 1_000_000,
                    max_calls,
                    success_threshold,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..60_000_000).prop_map(Op::Advance),
        1 => (0u64..3).prop_map(|n| Op::Advance(n * 100_000_000)),
        6 => Just(Op::Acquire),
        6 => (any::<usize>(), prop_oneof![
                3 => Just(Resolve::Success),
                3 => Just(Resolve::Failure),
                1 => Just(Resolve::Drop),
            ]).prop_map(|(i, r)| Op::Resolve(i, r)),
        3 => Just(Op::RecordSuccess),
        3 => Just(Op::RecordFailure),
        1 => Just(Op::Trip),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::ForceClosed),
        1 => Just(Op::Reset),
        2 => Just(Op::State),
    ]
}

#[expect(
    clippy::too_many_lines,
    reason = "one arm per operation, side by side with the model"
)]
fn run(p: &Params, ops: &[Op]) -> Result<(), TestCaseError> {
    let config = CircuitConfig::builder()
        .failure_rate_threshold(p.rate)
        .min_num_failures(p.min as u32)
        .window(Duration::from_nanos(p.window_ns))
        .buckets(p.buckets as u32)
        .grace_period(Duration::from_nanos(p.grace_ns))
        .half_open_max_calls(p.max_calls)
        .success_threshold(p.success_threshold);
    let (b, clock, log) = breaker(config);
    let mut m = Model {
        p: p.clone(),
        now: 0,
        events: Vec::new(),
        state: MState::Closed { episode: 0 },
        episodes: 0,
        log: Vec::new(),
    };
    let mut held = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Advance(ns) => {
                clock.advance(Duration::from_nanos(ns));
                m.now += ns;
            }
            Op::Acquire => {
                let real = b.try_acquire();
                let model = m.acquire();
                match (real, model) {
                    (Ok(permit), Ok(mp)) => held.push((permit, mp)),
                    (Err(r), Err((state, retry_after))) => {
                        prop_assert_eq!((r.state(), r.retry_after()), (state, retry_after));
                    }
                    (real, model) => {
                        return Err(TestCaseError::fail(format!(
                            "step {step}: breaker {:?}, model {model:?}",
                            real.map(|p| p.granted_in())
                        )));
                    }
                }
            }
            Op::Resolve(i, outcome) => {
                if !held.is_empty() {
                    let (permit, mp) = held.swap_remove(i % held.len());
                    match outcome {
                        Resolve::Success => permit.success(),
                        Resolve::Failure => permit.failure(),
                        Resolve::Drop => drop(permit),
                    }
                    m.resolve(mp, outcome);
                }
            }
            Op::RecordSuccess => {
                b.record_success();
                m.record(false);
            }
            Op::RecordFailure => {
                b.record_failure();
                m.record(true);
            }
            Op::Trip => {
                b.trip();
                m.lazy();
                if !matches!(m.state, MState::Open { .. }) {
                    let open = m.open();
                    m.go(open, TransitionReason::Tripped);
                }
            }
            Op::ForceOpen => {
                b.force_open();
                if m.state != (MState::Open { deadline: None }) {
                    m.go(
                        MState::Open { deadline: None },
                        TransitionReason::ForcedOpen,
                    );
                }
            }
            Op::ForceClosed => {
                b.force_closed();
                m.close_by_hand(TransitionReason::ForcedClosed);
            }
            Op::Reset => {
                b.reset();
                m.close_by_hand(TransitionReason::Reset);
            }
            Op::State => {
                let real = b.state();
                m.lazy();
                prop_assert_eq!(real, Model::public(m.state), "step {}", step);
            }
        }
        prop_assert_eq!(
            b.counts(),
            m.counts(),
            "counts after step {} {:?}",
            step,
            op
        );
        let real: Vec<_> = taken(&log)
            .into_iter()
            .map(|t| (t.from, t.to, t.reason, t.at))
            .collect();
        let model: Vec<_> = m
            .log
            .drain(..)
            .map(|(from, to, reason, at)| (from, to, reason, Duration::from_nanos(at)))
            .collect();
        prop_assert_eq!(real, model, "transitions after step {} {:?}", step, op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_matches_the_reference_model(
        p in params(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        run(&p, &ops)?;
    }
}
