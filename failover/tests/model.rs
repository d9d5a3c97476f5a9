//! Model-based property tests: random event sequences run against the engine and against a
//! small reference model written straight from the rules (integer seconds, linear scans, no
//! incremental bookkeeping). Every step must agree on the decision, the active database,
//! the pin and the status; on top, rule-level invariants are checked against the engine
//! alone.

use std::time::Duration;

use multidb_failover::{
    CandidateView, Decision, EngineConfig, EngineError, FailoverEngine, InitialPolicy, Status,
    SwitchReason, Unavailability,
};
use proptest::prelude::*;

const INTERVAL: u64 = 100;
const BUDGET: u64 = 30; // 3 attempts × 10 s

#[derive(Clone, Debug)]
enum Event {
    Add {
        id: u8,
        weight: u32,
        grace: u64,
        up: bool,
    },
    Remove {
        id: u8,
    },
    SetAvailable {
        id: u8,
        up: bool,
        circuit: bool,
    },
    SetWeight {
        id: u8,
        weight: u32,
    },
    SetGated {
        id: u8,
        gated: bool,
    },
    SwitchTo {
        id: u8,
    },
    Force {
        id: u8,
        secs: u64,
    },
    ReleaseForce,
    Tick,
    TickAtDeadline,
    Initialize,
}

fn event() -> impl Strategy<Value = Event> {
    let id = 0u8..5;
    let weight = prop_oneof![Just(0u32), 1u32..4];
    prop_oneof![
        3 => (id.clone(), weight.clone(), prop_oneof![Just(0u64), Just(20), Just(50)], any::<bool>())
            .prop_map(|(id, weight, grace, up)| Event::Add { id, weight, grace, up }),
        1 => id.clone().prop_map(|id| Event::Remove { id }),
        6 => (id.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(id, up, circuit)| Event::SetAvailable { id, up, circuit }),
        1 => (id.clone(), weight).prop_map(|(id, weight)| Event::SetWeight { id, weight }),
        3 => (id.clone(), any::<bool>()).prop_map(|(id, gated)| Event::SetGated { id, gated }),
        1 => id.clone().prop_map(|id| Event::SwitchTo { id }),
        1 => (id, prop_oneof![Just(0u64), Just(30), Just(120)]).prop_map(|(id, secs)| Event::Force { id, secs }),
        1 => Just(Event::ReleaseForce),
        3 => Just(Event::Tick),
        3 => Just(Event::TickAtDeadline),
        1 => Just(Event::Initialize),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(u64, Event)>> {
    prop::collection::vec(
        (
            prop_oneof![Just(0u64), Just(5), Just(30), Just(100)],
            event(),
        ),
        1..80,
    )
}

/// What one step returned, comparable across engine and model.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Switched(Option<Decision<u8>>),
    Error(String),
}

#[derive(Clone, Debug)]
struct Cand {
    id: u8,
    weight: u32,
    grace: u64,
    up: bool,
    stable_at: u64,
    gated: bool,
}

/// The reference model.
#[derive(Clone, Debug, Default)]
struct Model {
    fallback: bool,
    cands: Vec<Cand>,
    active: Option<u8>,
    init: bool,
    manual: bool,
    pin: Option<u64>,
    origin: u64,
    next_fallback: Option<u64>,
    outage: Option<u64>,
    now: u64,
}

impl Model {
    fn find(&self, id: u8) -> Option<&Cand> {
        self.cands.iter().find(|c| c.id == id)
    }

    fn stable(&self, c: &Cand) -> bool {
        c.up && c.stable_at <= self.now
    }

    fn active_up(&self) -> bool {
        self.active.and_then(|a| self.find(a)).is_some_and(|c| c.up)
    }

    /// Highest weight among those `ok` accepts; ties to the earliest added.
    fn best(&self, ok: impl Fn(&Cand) -> bool) -> Option<u8> {
        let mut best: Option<&Cand> = None;
        for c in self.cands.iter().filter(|c| ok(c)) {
            if best.is_none_or(|b| c.weight > b.weight) {
                best = Some(c);
            }
        }
        best.map(|c| c.id)
    }

    /// Ungated before gated; within each, stable before merely available.
    fn failover_choice(&self) -> Option<u8> {
        self.best(|c| !c.gated && self.stable(c))
            .or_else(|| self.best(|c| !c.gated && c.up))
            .or_else(|| self.best(|c| c.gated && self.stable(c)))
            .or_else(|| self.best(|c| c.gated && c.up))
    }

    /// Only stable ungated candidates may replace the active one, gated or not.
    fn outranking(&self) -> Option<u8> {
        let a = self.active?;
        self.best(|c| c.id == a || (!c.gated && self.stable(c)))
            .filter(|&b| b != a)
    }

    fn normal_choice(&self) -> Option<u8> {
        if self.active_up() {
            self.outranking()
        } else {
            self.failover_choice()
        }
    }

    fn can_switch(&self) -> bool {
        self.init && self.pin.is_none()
    }

    #[allow(clippy::too_many_lines)] // the rules read best as one transcription
    fn step(&mut self, now: u64, event: &Event) -> Outcome {
        let start = self.active;
        let mut last: Option<SwitchReason> = None;
        let mut go = |m: &mut Self, to: u8, reason: SwitchReason| {
            m.active = Some(to);
            m.manual = reason == SwitchReason::Manual;
            last = Some(reason);
        };
        if let Err(e) = self.validate(event) {
            return Outcome::Error(e);
        }
        self.now = self.now.max(now);
        if let Event::Initialize = event {
            return self.initialize();
        }
        if self.pin.is_some_and(|p| p <= self.now) {
            self.pin = None;
            if let Some(to) = self.normal_choice() {
                go(self, to, SwitchReason::ForceExpired);
            }
        }
        match *event {
            Event::Add {
                id,
                weight,
                grace,
                up,
            } => {
                self.cands.push(Cand {
                    id,
                    weight,
                    grace,
                    up,
                    stable_at: self.now,
                    gated: false,
                });
                if self.can_switch() {
                    if !self.active_up() {
                        if let Some(to) = self.failover_choice() {
                            go(self, to, SwitchReason::DatabaseAdded);
                        }
                    } else if !self.manual && self.outranking() == Some(id) {
                        go(self, id, SwitchReason::DatabaseAdded);
                    }
                }
            }
            Event::Remove { id } => {
                self.cands.retain(|c| c.id != id);
                if self.active == Some(id) {
                    self.active = None;
                    self.manual = false;
                    self.pin = None;
                    let rest = || self.best(|c| !c.gated).or_else(|| self.best(|_| true));
                    if let Some(to) = self.failover_choice().or_else(rest) {
                        go(self, to, SwitchReason::DatabaseRemoved);
                    }
                }
            }
            Event::SetAvailable { id, up, circuit } => {
                let (init, now) = (self.init, self.now);
                let c = self
                    .cands
                    .iter_mut()
                    .find(|c| c.id == id)
                    .expect("validated");
                if c.up != up {
                    c.up = up;
                    c.stable_at = if init { now + c.grace } else { now };
                    // The pinned database going down ends its pin there and then.
                    let pinned_failed = !up && self.pin.is_some() && self.active == Some(id);
                    if pinned_failed {
                        self.pin = None;
                    }
                    if self.can_switch() && !self.active_up() {
                        let reason = match (pinned_failed, up, circuit) {
                            (true, ..) => SwitchReason::ForcedDatabaseFailed,
                            (false, true, _) => SwitchReason::Recovered,
                            (false, false, true) => SwitchReason::CircuitOpened,
                            (false, false, false) => SwitchReason::HealthCheckFailed,
                        };
                        if let Some(to) = self.failover_choice() {
                            go(self, to, reason);
                        }
                    }
                }
            }
            Event::SetWeight { id, weight } => {
                self.cands
                    .iter_mut()
                    .filter(|c| c.id == id)
                    .for_each(|c| c.weight = weight);
                if self.can_switch()
                    && !(self.active_up() && self.manual)
                    && let Some(to) = self.normal_choice()
                {
                    go(self, to, SwitchReason::WeightChanged);
                }
            }
            Event::SetGated { id, gated } => {
                let c = self
                    .cands
                    .iter_mut()
                    .find(|c| c.id == id)
                    .expect("validated");
                if c.gated != gated {
                    c.gated = gated;
                    if self.can_switch()
                        && !self.active_up()
                        && let Some(to) = self.failover_choice()
                    {
                        go(self, to, SwitchReason::Recovered);
                    }
                }
            }
            Event::SwitchTo { id } => {
                self.pin = None;
                self.manual = true;
                if self.active != Some(id) {
                    go(self, id, SwitchReason::Manual);
                }
            }
            Event::Force { id, secs } => {
                self.pin = Some(self.now + secs);
                self.manual = false;
                if self.active != Some(id) {
                    go(self, id, SwitchReason::Forced);
                }
            }
            Event::ReleaseForce => {
                if self.pin.take().is_some()
                    && let Some(to) = self.normal_choice()
                {
                    go(self, to, SwitchReason::ForceReleased);
                }
            }
            Event::Tick | Event::TickAtDeadline => {
                if self.fallback && self.init && self.next_fallback.is_some_and(|d| self.now >= d) {
                    let k = (self.now - self.origin) / INTERVAL + 1;
                    self.next_fallback = Some(self.origin + k * INTERVAL);
                    if self.can_switch()
                        && self.active_up()
                        && !self.manual
                        && let Some(to) = self.outranking()
                    {
                        go(self, to, SwitchReason::AutoFallback);
                    }
                }
            }
            Event::Initialize => unreachable!("handled above"),
        }
        if self.init {
            if self.active_up() {
                self.outage = None;
            } else {
                self.outage.get_or_insert(self.now);
            }
        }
        let decision = match (last, self.active) {
            (Some(reason), Some(to)) if start != Some(to) => Some(Decision {
                from: start,
                to,
                reason,
            }),
            _ => None,
        };
        Outcome::Switched(decision)
    }

    fn validate(&self, event: &Event) -> Result<(), String> {
        let unknown = |id: u8| {
            if self.find(id).is_none() {
                Err(format!("unknown {id}"))
            } else {
                Ok(())
            }
        };
        match *event {
            Event::Add { id, weight: 0, .. } => Err(format!("weight {id}")),
            Event::Add { id, .. } if self.find(id).is_some() => Err(format!("duplicate {id}")),
            Event::Remove { id } | Event::SetAvailable { id, .. } | Event::SetGated { id, .. } => {
                unknown(id)
            }
            Event::SetWeight { id, weight } => unknown(id).and_then(|()| {
                if weight == 0 {
                    Err(format!("weight {id}"))
                } else {
                    Ok(())
                }
            }),
            Event::SwitchTo { id } | Event::Force { id, .. } => unknown(id).and_then(|()| {
                if !self.init {
                    Err("not initialized".into())
                } else if self.find(id).is_some_and(|c| !c.up) {
                    Err(format!("unavailable {id}"))
                } else {
                    Ok(())
                }
            }),
            _ => Ok(()),
        }
    }

    fn initialize(&mut self) -> Outcome {
        let Some(to) = self
            .best(|c| c.up && !c.gated)
            .or_else(|| self.best(|c| c.up))
        else {
            return Outcome::Error("initial".into());
        };
        self.init = true;
        self.active = Some(to);
        self.manual = false;
        self.pin = None;
        self.outage = None;
        self.origin = self.now;
        self.next_fallback = self.fallback.then_some(self.now + INTERVAL);
        Outcome::Switched(Some(Decision {
            from: None,
            to,
            reason: SwitchReason::Initial,
        }))
    }

    fn status(&self, at: u64) -> Status<u8> {
        let at = at.max(self.now);
        if !self.init {
            return Status::Uninitialized;
        }
        match self.active {
            Some(a) if self.active_up() => Status::Active(a),
            _ => {
                let unavailable_for = secs(at - self.outage.unwrap_or(self.now));
                if unavailable_for >= secs(BUDGET) {
                    Status::NoValidDatabase { unavailable_for }
                } else {
                    Status::TemporarilyUnavailable { unavailable_for }
                }
            }
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn engine(fallback: bool) -> FailoverEngine<u8> {
    FailoverEngine::new(EngineConfig {
        auto_fallback_interval: fallback.then_some(secs(INTERVAL)),
        failover_attempts: 3,
        failover_delay: secs(10),
    })
}

/// Applies one event to the engine; `TickAtDeadline` moves time to the engine's deadline.
fn apply(e: &mut FailoverEngine<u8>, now: &mut u64, event: &Event) -> Outcome {
    let t = secs(*now);
    let cause = |circuit| {
        if circuit {
            Unavailability::CircuitOpen
        } else {
            Unavailability::HealthCheckFailed
        }
    };
    let r: Result<Option<Decision<u8>>, EngineError<u8>> = match *event {
        Event::Add {
            id,
            weight,
            grace,
            up,
        } => e.add(id, f64::from(weight), secs(grace), up, t),
        Event::Remove { id } => e.remove(&id, t),
        Event::SetAvailable { id, up, circuit } => e.set_available(&id, up, cause(circuit), t),
        Event::SetWeight { id, weight } => e.set_weight(&id, f64::from(weight), t),
        Event::SetGated { id, gated } => e.set_gated(&id, gated, t),
        Event::SwitchTo { id } => e.switch_to(&id, t),
        Event::Force { id, secs: d } => e.force(&id, secs(d), t),
        Event::ReleaseForce => Ok(e.release_force(t)),
        Event::Tick => Ok(e.tick(t)),
        Event::TickAtDeadline => {
            if let Some(d) = e.next_deadline(t).filter(|&d| d > t) {
                *now = d.as_secs();
            }
            Ok(e.tick(secs(*now)))
        }
        Event::Initialize => {
            return match e.initialize(InitialPolicy::OneAvailable, t) {
                Ok(d) => Outcome::Switched(Some(d)),
                Err(_) => Outcome::Error("initial".into()),
            };
        }
    };
    match r {
        Ok(d) => Outcome::Switched(d),
        Err(EngineError::UnknownCandidate(id)) => Outcome::Error(format!("unknown {id}")),
        Err(EngineError::DuplicateCandidate(id)) => Outcome::Error(format!("duplicate {id}")),
        Err(EngineError::Unavailable(id)) => Outcome::Error(format!("unavailable {id}")),
        Err(EngineError::InvalidWeight { id, .. }) => Outcome::Error(format!("weight {id}")),
        Err(EngineError::NotInitialized) => Outcome::Error("not initialized".into()),
        Err(other) => Outcome::Error(format!("{other}")),
    }
}

/// Runs a sequence, checking the engine against the model and the invariants; returns the
/// engine's outcomes.
fn run(fallback: bool, steps: &[(u64, Event)]) -> Vec<Outcome> {
    let mut e = engine(fallback);
    let mut m = Model {
        fallback,
        ..Model::default()
    };
    let mut now = 0u64;
    let mut outcomes = Vec::new();
    for (dt, event) in steps {
        now += dt;
        let before = Before::of(&e, &m, now);
        let got = apply(&mut e, &mut now, event);
        let want = m.step(now, event);
        assert_eq!(got, want, "at {now} s after {event:?}");
        assert_eq!(e.active().copied(), m.active, "active at {now} s");
        assert_eq!(e.pinned_until(), m.pin.map(secs), "pin at {now} s");
        assert_eq!(e.status(secs(now)), m.status(now), "status at {now} s");
        check_invariants(&e, &m, now, event, &before, &got);
        outcomes.push(got);
    }
    outcomes
}

/// What the invariants need to know about the engine before a step.
struct Before {
    active: Option<u8>,
    active_up: bool,
    /// A pin still in force at the step's time.
    pinned: Option<Duration>,
    /// A pin that lapsed by the step's time, processed first as its expiry.
    pin_lapsed: bool,
    fallback_due: bool,
}

impl Before {
    fn of(e: &FailoverEngine<u8>, m: &Model, now: u64) -> Self {
        let active = e.active().copied();
        Self {
            active,
            active_up: e.candidates().any(|v| Some(*v.id) == active && v.available),
            pinned: e.pinned_until().filter(|&p| p > secs(now)),
            pin_lapsed: e.pinned_until().is_some_and(|p| p <= secs(now)),
            fallback_due: m.init && m.next_fallback.is_some_and(|d| d <= now),
        }
    }
}

#[allow(clippy::too_many_lines)] // one place that sees the whole step
fn check_invariants(
    e: &FailoverEngine<u8>,
    m: &Model,
    now: u64,
    event: &Event,
    was: &Before,
    got: &Outcome,
) {
    let (before, pinned_before, fallback_due) = (was.active, was.pinned, was.fallback_due);
    let after = e.active().copied();
    // Each switch reported exactly once, from the previous active to the new one.
    match got {
        Outcome::Switched(Some(d)) if d.reason != SwitchReason::Initial => {
            assert_eq!(d.from, before, "from");
            assert_eq!(Some(d.to), after, "to");
            assert_ne!(d.from, Some(d.to), "from != to");
        }
        Outcome::Switched(Some(d)) => assert_eq!(Some(d.to), after),
        Outcome::Switched(None) => {
            let removed_last = matches!(event, Event::Remove { .. }) && e.candidates().count() == 0;
            assert!(
                after == before || removed_last,
                "silent switch {before:?} -> {after:?}"
            );
        }
        Outcome::Error(_) => assert_eq!(after, before, "an error changes nothing"),
    }
    let views: Vec<_> = e.candidates().collect();
    // A pin that lapsed is reported (and honoured) until a successful call processes it.
    let pinned = e.pinned_until().is_some();
    let active = views.iter().find(|v| Some(*v.id) == after);
    // A pin only ever holds an available database.
    if pinned {
        assert!(
            active.is_some_and(|a| a.available),
            "pinned to unavailable {after:?} at {now} s"
        );
    }
    // Never an unavailable active while another is available, pinned or not.
    if m.init && views.iter().any(|v| v.available) {
        assert!(
            active.is_some_and(|a| a.available),
            "unavailable active {after:?} at {now} s"
        );
    }
    // A due fallback check leaves no stable candidate outranking the active.
    let ticked = matches!(event, Event::Tick | Event::TickAtDeadline);
    if ticked
        && fallback_due
        && !pinned
        && !m.manual
        && pinned_before.is_none()
        && let Some(a) = active.filter(|a| a.available)
    {
        let outranks = |v: &CandidateView<'_, u8>| {
            v.stable
                && !v.gated
                && v.weight
                    .total_cmp(&a.weight)
                    .then(a.index.cmp(&v.index))
                    .is_gt()
        };
        assert!(
            !views.iter().any(outranks),
            "stayed on {after:?} past a fallback check at {now} s"
        );
    }
    // Gating never moves traffic off a working active database by itself (a pin that
    // lapsed before the call is processed first, as its expiry, and may).
    if matches!(event, Event::SetGated { .. }) && was.active_up && !was.pin_lapsed {
        assert_eq!(after, before, "gating moved traffic at {now} s");
    }
    // An automatic switch lands on a gated database only when no ungated one is available
    // (unless the call's own event gated it after a lapsed pin's switch).
    let gated_by_event = |to: u8| matches!(*event, Event::SetGated { id, gated: true } if id == to);
    if let Outcome::Switched(Some(d)) = got
        && !matches!(d.reason, SwitchReason::Manual | SwitchReason::Forced)
        && !gated_by_event(d.to)
        && views.iter().any(|v| *v.id == d.to && v.gated)
    {
        assert!(
            !views.iter().any(|v| v.available && !v.gated),
            "{:?} switched to gated {} past an ungated one at {now} s",
            d.reason,
            d.to
        );
    }
    // Pins hold until expiry unless an operator acts or the pinned database goes away or
    // down; going down ends the pin.
    let operator = matches!(
        event,
        Event::SwitchTo { .. }
            | Event::Force { .. }
            | Event::ReleaseForce
            | Event::Remove { .. }
            | Event::Initialize
    );
    let pinned_failed =
        matches!(*event, Event::SetAvailable { id, up: false, .. } if Some(id) == before);
    if pinned_before.is_some_and(|p| p > secs(now)) && !matches!(got, Outcome::Error(_)) {
        if pinned_failed {
            assert!(!pinned, "pin outlived its database going down at {now} s");
        } else if !operator {
            assert_eq!(after, before, "pin broken at {now} s");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(fallback in any::<bool>(), steps in steps()) {
        run(fallback, &steps);
    }

    #[test]
    fn same_events_give_same_decisions(fallback in any::<bool>(), steps in steps()) {
        prop_assert_eq!(run(fallback, &steps), run(fallback, &steps));
    }

    #[test]
    fn initialized_sequences_match_the_reference_model(
        fallback in any::<bool>(),
        seed in prop::collection::vec((1u32..4, any::<bool>()), 2..5),
        steps in steps(),
    ) {
        let mut all: Vec<(u64, Event)> = seed
            .iter()
            .zip(0u8..)
            .map(|(&(weight, up), id)| (0, Event::Add { id, weight, grace: 20, up }))
            .collect();
        all.push((0, Event::Initialize));
        all.extend(steps);
        run(fallback, &all);
    }
}
