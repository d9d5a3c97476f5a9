//! Gating: a gated database may stay active but must not become active while an ungated
//! one can (a Redis Enterprise member whose PING passes while its replication lags).

mod common;

use std::sync::Arc;

use common::{OPEN, config, initialized, s};
use multidb_failover::{
    CandidateView, Decision, EngineError, FailoverEngine, FailoverStrategy, InitialPolicy, Status,
    SwitchReason,
};

type Id = &'static str;

fn switched(from: Id, to: Id, reason: SwitchReason) -> Decision<Id> {
    Decision {
        from: Some(from),
        to,
        reason,
    }
}

/// An uninitialized engine with `(id, weight, available, gated)` candidates, 30 s grace.
fn with(candidates: &[(Id, f64, bool, bool)]) -> FailoverEngine<Id> {
    let mut e = FailoverEngine::new(config());
    for &(id, weight, up, gated) in candidates {
        e.add(id, weight, s(30), up, s(0)).expect("valid candidate");
        assert_eq!(e.set_gated(&id, gated, s(0)).expect("known id"), None);
    }
    e
}

fn gate(e: &mut FailoverEngine<Id>, id: Id, gated: bool, at: u64) -> Option<Decision<Id>> {
    e.set_gated(&id, gated, s(at)).expect("known candidate")
}

fn gated(e: &FailoverEngine<Id>, id: Id) -> bool {
    e.candidates()
        .find(|v| *v.id == id)
        .expect("known candidate")
        .gated
}

#[test]
fn candidates_start_ungated_and_views_report_gating() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert!(!gated(&e, "a") && !gated(&e, "b"));
    gate(&mut e, "b", true, 1);
    assert!(gated(&e, "b"));
    gate(&mut e, "b", false, 2);
    assert!(!gated(&e, "b"));
}

#[test]
fn gating_an_unknown_candidate_is_refused() {
    let mut e = initialized(&[("a", 1.0)]);
    assert_eq!(
        e.set_gated(&"x", true, s(1)),
        Err(EngineError::UnknownCandidate("x"))
    );
}

#[test]
fn a_gated_active_database_keeps_traffic() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(gate(&mut e, "a", true, 10), None);
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(e.status(s(10)), Status::Active("a"));
    assert_eq!(e.tick(s(100)), None, "b does not outrank a");
    assert_eq!(e.tick(s(200)), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn failover_skips_a_gated_heavier_candidate_for_an_ungated_lighter_one() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 5);
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "c", SwitchReason::CircuitOpened)));
}

#[test]
fn failover_prefers_an_unstable_ungated_candidate_to_a_stable_gated_one() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 1);
    e.set_available(&"c", false, OPEN, s(2)).unwrap();
    e.set_available(&"c", true, OPEN, s(3)).unwrap(); // in grace until 33 s
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "c", SwitchReason::CircuitOpened)));
}

#[test]
fn failover_goes_to_a_gated_candidate_when_nothing_else_is_available() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    gate(&mut e, "b", true, 5);
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "b", SwitchReason::CircuitOpened)));
    assert_eq!(e.status(s(10)), Status::Active("b"));
}

#[test]
fn grace_periods_run_as_usual_while_gated() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 1);
    gate(&mut e, "c", true, 1);
    e.set_available(&"b", false, OPEN, s(5)).unwrap();
    e.set_available(&"b", true, OPEN, s(10)).unwrap(); // in grace until 40 s
    let d = e.set_available(&"a", false, OPEN, s(20)).unwrap();
    assert_eq!(
        d,
        Some(switched("a", "c", SwitchReason::CircuitOpened)),
        "among gated candidates a stable one beats a heavier unstable one"
    );
    assert_eq!(e.next_deadline(s(20)), Some(s(40)));
    e.tick(s(40));
    let b = e.candidates().find(|v| *v.id == "b").unwrap();
    assert!(b.gated && b.stable);
}

#[test]
fn a_working_gated_active_database_stays_when_an_ungated_one_recovers() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    gate(&mut e, "b", true, 5);
    e.set_available(&"a", false, OPEN, s(10)).unwrap(); // fails over to gated b
    assert_eq!(e.set_available(&"a", true, OPEN, s(20)).unwrap(), None);
    assert_eq!(e.active(), Some(&"b"));
    assert_eq!(
        e.tick(s(100)).map(|d| d.reason),
        Some(SwitchReason::AutoFallback)
    );
    assert_eq!(e.active(), Some(&"a"), "only auto-fallback moves it");
}

#[test]
fn fallback_never_goes_to_a_gated_candidate() {
    let mut e = with(&[("a", 1.0, true, false), ("b", 2.0, true, true)]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.tick(s(200)), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn fallback_moves_from_a_gated_active_database_to_an_ungated_better_one() {
    let mut e = with(&[("a", 1.0, true, false), ("b", 2.0, false, false)]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    gate(&mut e, "a", true, 10);
    assert_eq!(e.set_available(&"b", true, OPEN, s(20)).unwrap(), None);
    let d = e.tick(s(100));
    assert_eq!(d, Some(switched("a", "b", SwitchReason::AutoFallback)));
}

#[test]
fn fallback_from_a_gated_active_database_goes_to_an_ungated_one_not_a_heavier_gated_one() {
    let mut e = with(&[
        ("a", 1.0, true, true),
        ("b", 3.0, false, true),
        ("c", 2.0, false, false),
    ]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(e.set_available(&"b", true, OPEN, s(10)).unwrap(), None);
    assert_eq!(e.set_available(&"c", true, OPEN, s(10)).unwrap(), None);
    assert_eq!(
        e.tick(s(100)),
        Some(switched("a", "c", SwitchReason::AutoFallback))
    );
}

#[test]
fn pin_expiry_moves_from_a_gated_active_database_to_an_ungated_one_not_a_heavier_gated_one() {
    let mut e = initialized(&[("a", 1.0), ("b", 3.0), ("c", 2.0)]);
    gate(&mut e, "b", true, 1);
    e.force(&"a", s(10), s(2)).unwrap();
    gate(&mut e, "a", true, 3);
    assert_eq!(
        e.tick(s(20)),
        Some(switched("a", "c", SwitchReason::ForceExpired))
    );
}

#[test]
fn initialize_prefers_an_ungated_candidate_to_a_heavier_gated_one() {
    let mut e = with(&[("a", 2.0, true, true), ("b", 1.0, true, false)]);
    let d = e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::Initial));
}

#[test]
fn initialize_takes_a_gated_candidate_when_no_ungated_one_is_available() {
    let mut e = with(&[("a", 1.0, true, true), ("b", 2.0, false, false)]);
    let d = e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(d.to, "a");
}

#[test]
fn the_initial_policy_counts_gated_candidates_as_available() {
    let mut e = with(&[("a", 2.0, true, true), ("b", 1.0, true, false)]);
    let d = e.initialize(InitialPolicy::AllAvailable, s(0)).unwrap();
    assert_eq!(d.to, "b");
}

#[test]
fn a_gated_candidate_recovering_during_an_outage_is_switched_to() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(5)).unwrap();
    gate(&mut e, "b", true, 6);
    assert_eq!(e.set_available(&"a", false, OPEN, s(10)).unwrap(), None);
    let d = e.set_available(&"b", true, OPEN, s(20)).unwrap();
    assert_eq!(d, Some(switched("a", "b", SwitchReason::Recovered)));
    assert_eq!(gate(&mut e, "b", false, 30), None, "it is already active");
}

/// The weighted choice, but refuses a slice of gated candidates only.
struct RefusesGated;

impl FailoverStrategy<Id> for RefusesGated {
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        eligible
            .iter()
            .filter(|v| !v.gated)
            .max_by(|x, y| x.weight.total_cmp(&y.weight).then(y.index.cmp(&x.index)))
            .map(|v| v.id)
    }
}

#[test]
fn ungating_during_an_outage_recovers_to_it() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_strategy(Arc::new(RefusesGated));
    gate(&mut e, "b", true, 5);
    assert_eq!(
        e.set_available(&"a", false, OPEN, s(10)).unwrap(),
        None,
        "the strategy refused the gated b"
    );
    assert_eq!(
        e.status(s(10)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(0)
        }
    );
    let d = gate(&mut e, "b", false, 20);
    assert_eq!(d, Some(switched("a", "b", SwitchReason::Recovered)));
    assert_eq!(e.status(s(20)), Status::Active("b"));
}

#[test]
fn ungating_while_the_active_database_works_waits_for_fallback() {
    let mut e = with(&[("a", 1.0, true, false), ("b", 2.0, true, true)]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(gate(&mut e, "b", false, 10), None);
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(
        e.tick(s(100)),
        Some(switched("a", "b", SwitchReason::AutoFallback))
    );
}

#[test]
fn removing_the_active_database_skips_gated_candidates() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 5);
    let d = e.remove(&"a", s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "c", SwitchReason::DatabaseRemoved)));
}

#[test]
fn removing_the_active_database_goes_to_a_gated_one_when_no_ungated_is_available() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 5);
    e.set_available(&"c", false, OPEN, s(6)).unwrap();
    let d = e.remove(&"a", s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "b", SwitchReason::DatabaseRemoved)));
}

#[test]
fn removing_the_active_database_with_nothing_available_prefers_an_ungated_target() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 5);
    e.set_available(&"b", false, OPEN, s(6)).unwrap();
    e.set_available(&"c", false, OPEN, s(6)).unwrap();
    let d = e.remove(&"a", s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "c", SwitchReason::DatabaseRemoved)));
}

#[test]
fn a_weight_change_never_switches_to_a_gated_candidate() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    gate(&mut e, "b", true, 5);
    assert_eq!(e.set_weight(&"b", 9.0, s(40)).unwrap(), None);
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn a_weight_change_may_move_off_a_gated_active_database_to_an_ungated_one() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    gate(&mut e, "a", true, 5);
    let d = e.set_weight(&"b", 9.0, s(40)).unwrap();
    assert_eq!(d, Some(switched("a", "b", SwitchReason::WeightChanged)));
}

#[test]
fn adding_a_lighter_database_leaves_a_working_gated_active_one_alone() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0)]);
    gate(&mut e, "a", true, 1);
    assert_eq!(e.add("c", 1.0, s(30), true, s(5)).unwrap(), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn adding_a_heavier_database_moves_off_a_gated_active_one() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0)]);
    gate(&mut e, "a", true, 1);
    let d = e.add("d", 5.0, s(30), true, s(5)).unwrap();
    assert_eq!(d, Some(switched("a", "d", SwitchReason::DatabaseAdded)));
}

#[test]
fn pin_expiry_does_not_switch_to_a_gated_candidate() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(30), s(10)).unwrap();
    gate(&mut e, "a", true, 20);
    assert_eq!(e.tick(s(40)), None);
    assert_eq!(e.pinned_until(), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn releasing_a_pin_does_not_switch_to_a_gated_candidate() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(300), s(10)).unwrap();
    gate(&mut e, "a", true, 20);
    assert_eq!(e.release_force(s(30)), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn manual_and_forced_switches_accept_a_gated_target() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.0)]);
    gate(&mut e, "b", true, 5);
    gate(&mut e, "c", true, 5);
    let d = e.switch_to(&"b", s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "b", SwitchReason::Manual)));
    let d = e.force(&"c", s(60), s(20)).unwrap();
    assert_eq!(d, Some(switched("b", "c", SwitchReason::Forced)));
}

/// Panics on every call.
struct Exploding;

impl FailoverStrategy<Id> for Exploding {
    fn select<'a>(&self, _: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        panic!("strategy exploded");
    }
}

#[test]
fn a_panicking_strategy_still_respects_gating() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.set_strategy(Arc::new(Exploding));
    gate(&mut e, "b", true, 5);
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(d, Some(switched("a", "c", SwitchReason::CircuitOpened)));
    assert_eq!(e.strategy_panics(), 1);
}

/// Asserts it is never offered a gated candidate next to an ungated one, unless the gated one
/// is the active database competing to stay.
struct Checking;

impl FailoverStrategy<Id> for Checking {
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        let gated = eligible.iter().filter(|v| v.gated).count();
        assert!(
            gated == eligible.len() || gated <= 1,
            "gated and ungated mixed: {eligible:?}"
        );
        eligible
            .iter()
            .max_by(|x, y| x.weight.total_cmp(&y.weight).then(y.index.cmp(&x.index)))
            .map(|v| v.id)
    }
}

#[test]
fn strategy_sees_gated_candidates_only_in_passes_of_their_own() {
    let mut e = initialized(&[("a", 4.0), ("b", 3.0), ("c", 2.0), ("d", 1.0)]);
    e.set_strategy(Arc::new(Checking));
    gate(&mut e, "b", true, 1);
    gate(&mut e, "c", true, 1);
    assert_eq!(
        e.set_available(&"a", false, OPEN, s(10))
            .unwrap()
            .unwrap()
            .to,
        "d"
    );
    assert_eq!(
        e.set_available(&"d", false, OPEN, s(20))
            .unwrap()
            .unwrap()
            .to,
        "b"
    );
    assert_eq!(e.set_available(&"a", true, OPEN, s(30)).unwrap(), None);
    assert_eq!(e.tick(s(100)).unwrap().to, "a");
}
