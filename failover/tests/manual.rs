//! Operator commands: sticky manual switches (forced switches are in `force.rs`).

mod common;

use common::{OPEN, config, initialized, s};
use multidb_failover::{Decision, EngineError, FailoverEngine, SwitchReason};

#[test]
fn switch_to_switches_with_manual() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    let d = e.switch_to(&"b", s(5)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::Manual
        })
    );
    assert_eq!(e.switch_to(&"b", s(6)).unwrap(), None, "already active");
}

#[test]
fn switch_to_an_unavailable_or_unknown_candidate_is_refused() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    assert_eq!(e.switch_to(&"b", s(2)), Err(EngineError::Unavailable("b")));
    assert_eq!(
        e.switch_to(&"zz", s(2)),
        Err(EngineError::UnknownCandidate("zz"))
    );
    assert_eq!(
        e.force(&"b", s(10), s(2)),
        Err(EngineError::Unavailable("b"))
    );
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn switch_to_and_force_need_initialize() {
    let mut e = FailoverEngine::new(config());
    e.add("a", 1.0, s(0), true, s(0)).unwrap();
    assert_eq!(e.switch_to(&"a", s(0)), Err(EngineError::NotInitialized));
    assert_eq!(e.force(&"a", s(5), s(0)), Err(EngineError::NotInitialized));
}

#[test]
fn manual_choice_survives_fallback_weight_changes_and_additions() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.switch_to(&"b", s(5)).unwrap();
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.set_weight(&"a", 9.0, s(110)).unwrap(), None);
    assert_eq!(e.add("c", 10.0, s(30), true, s(120)).unwrap(), None);
    assert_eq!(e.tick(s(200)), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn manual_choice_ends_when_the_engine_fails_over_away_from_it() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.5)]);
    e.switch_to(&"b", s(5)).unwrap();
    let d = e.set_available(&"b", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("a", SwitchReason::CircuitOpened));
    e.set_available(&"a", false, OPEN, s(20)).unwrap(); // to c, automatically
    e.set_available(&"a", true, OPEN, s(30)).unwrap();
    assert_eq!(e.tick(s(100)).unwrap().reason, SwitchReason::AutoFallback);
}

#[test]
fn manual_choice_sticks_through_an_outage_it_was_not_replaced_in() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.switch_to(&"b", s(5)).unwrap();
    e.set_available(&"a", false, OPEN, s(6)).unwrap();
    e.set_available(&"b", false, OPEN, s(7)).unwrap(); // nothing to fail over to
    e.set_available(&"b", true, OPEN, s(8)).unwrap();
    e.set_available(&"a", true, OPEN, s(9)).unwrap();
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.active(), Some(&"b"));
}
