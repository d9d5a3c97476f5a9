//! Going back to a better database: grace periods and the periodic fallback check.

mod common;

use common::{OPEN, config, initialized, s};
use multidb_failover::{
    CandidateView, Decision, EngineConfig, FailoverEngine, FailoverStrategy, InitialPolicy,
    SwitchReason,
};
use std::sync::Arc;

/// a (weight 2) failed over to b at 10 s and came back at 20 s: stable from 50 s.
fn recovered() -> FailoverEngine<&'static str> {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"a", false, OPEN, s(10)).expect("known id");
    assert_eq!(
        e.set_available(&"a", true, OPEN, s(20)).expect("known id"),
        None
    );
    e
}

#[test]
fn fallback_happens_at_the_interval_multiple_after_grace() {
    let mut e = recovered();
    assert_eq!(e.next_deadline(s(20)), Some(s(50)));
    assert_eq!(e.tick(s(50)), None, "a grace end alone does not switch");
    assert_eq!(e.next_deadline(s(50)), Some(s(100)));
    let d = e.tick(s(100));
    assert_eq!(
        d,
        Some(Decision {
            from: Some("b"),
            to: "a",
            reason: SwitchReason::AutoFallback
        })
    );
    assert_eq!(e.next_deadline(s(100)), Some(s(200)));
}

#[test]
fn candidate_still_in_grace_at_the_check_waits_for_the_next_one() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    e.set_available(&"a", true, OPEN, s(80)).unwrap(); // stable at 110 s
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.tick(s(150)), None, "no check between multiples");
    assert_eq!(e.tick(s(200)).unwrap().to, "a");
}

#[test]
fn a_flapping_candidate_restarts_its_grace() {
    let mut e = recovered();
    e.set_available(&"a", false, OPEN, s(60)).unwrap();
    e.set_available(&"a", true, OPEN, s(90)).unwrap(); // stable at 120 s
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.tick(s(200)).unwrap().to, "a");
}

#[test]
fn late_tick_catches_up_without_replaying_missed_checks() {
    let mut e = recovered();
    assert_eq!(e.tick(s(350)).unwrap().reason, SwitchReason::AutoFallback);
    assert_eq!(e.next_deadline(s(350)), Some(s(400)));
}

#[test]
fn disabled_fallback_never_moves_back() {
    let cfg = EngineConfig {
        auto_fallback_interval: None,
        ..config()
    };
    let mut e = FailoverEngine::new(cfg);
    e.add("a", 2.0, s(30), true, s(0)).unwrap();
    e.add("b", 1.0, s(30), true, s(0)).unwrap();
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    e.set_available(&"a", true, OPEN, s(20)).unwrap();
    assert_eq!(e.next_deadline(s(100)), None);
    assert_eq!(e.tick(s(10_000)), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn equal_weights_fall_back_to_insertion_order() {
    let mut e = initialized(&[("a", 1.0), ("b", 1.0)]);
    assert_eq!(e.active(), Some(&"a"));
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    e.set_available(&"a", true, OPEN, s(20)).unwrap();
    assert_eq!(e.tick(s(100)).unwrap().to, "a");
}

#[test]
fn fallback_check_with_the_best_active_changes_nothing() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.active(), Some(&"a"));
}

/// Prefers the lowest weight: shows the engine ranks through the strategy.
struct Lightest;

impl FailoverStrategy<&'static str> for Lightest {
    fn select<'a>(&self, eligible: &[CandidateView<'a, &'static str>]) -> Option<&'a &'static str> {
        eligible
            .iter()
            .min_by(|x, y| x.weight.total_cmp(&y.weight))
            .map(|v| v.id)
    }
}

#[test]
fn custom_strategy_ranks_candidates() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_strategy(Arc::new(Lightest));
    assert_eq!(
        e.active(),
        Some(&"a"),
        "a new strategy applies from the next decision"
    );
    assert_eq!(e.tick(s(100)).unwrap().to, "b");
}

/// Receives only eligible candidates: asserts it never sees an unstable one besides the active.
struct Checking;

impl FailoverStrategy<&'static str> for Checking {
    fn select<'a>(&self, eligible: &[CandidateView<'a, &'static str>]) -> Option<&'a &'static str> {
        assert!(eligible.iter().all(|v| v.available));
        assert!(eligible.iter().filter(|v| !v.stable).count() <= 1);
        eligible
            .iter()
            .max_by(|x, y| x.weight.total_cmp(&y.weight))
            .map(|v| v.id)
    }
}

#[test]
fn strategy_sees_only_eligible_candidates() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.set_strategy(Arc::new(Checking));
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    e.set_available(&"a", true, OPEN, s(20)).unwrap();
    e.set_available(&"c", false, OPEN, s(30)).unwrap();
    assert_eq!(e.tick(s(100)).unwrap().to, "a");
}

/// Accepts only candidates of weight 5 or more.
struct Picky;

impl FailoverStrategy<&'static str> for Picky {
    fn select<'a>(&self, eligible: &[CandidateView<'a, &'static str>]) -> Option<&'a &'static str> {
        eligible.iter().find(|v| v.weight >= 5.0).map(|v| v.id)
    }
}

#[test]
fn strategy_refusing_stable_candidates_widens_to_all_available_on_failover() {
    let mut e = initialized(&[("a", 3.0), ("b", 1.0), ("c", 1.0)]);
    e.set_strategy(Arc::new(Picky));
    e.set_available(&"c", false, OPEN, s(1)).unwrap();
    e.set_weight(&"c", 9.0, s(2)).unwrap();
    e.set_available(&"c", true, OPEN, s(3)).unwrap(); // in grace until 33 s
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!(d.to, "c", "b is stable but refused; c is available");
}
