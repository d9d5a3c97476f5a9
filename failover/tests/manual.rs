//! Operator commands: sticky manual switches and pinned, expiring forced switches.

mod common;

use std::time::Duration;

use common::{OPEN, config, initialized, s};
use multidb_failover::{Decision, EngineError, FailoverEngine, Status, SwitchReason};

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

#[test]
fn force_pins_even_through_unavailability() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    let d = e.force(&"b", s(50), s(10)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::Forced
        })
    );
    assert_eq!(e.pinned_until(), Some(s(60)));
    assert_eq!(e.set_available(&"b", false, OPEN, s(20)).unwrap(), None);
    assert_eq!(e.set_weight(&"a", 5.0, s(21)).unwrap(), None);
    assert_eq!(e.add("c", 9.0, s(0), true, s(22)).unwrap(), None);
    assert_eq!(
        e.status(s(30)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(10)
        }
    );
    assert_eq!(e.active(), Some(&"b"));
    assert_eq!(e.next_deadline(s(30)), Some(s(60)));
    let d = e.tick(s(60)).unwrap();
    assert_eq!(
        d,
        Decision {
            from: Some("b"),
            to: "c",
            reason: SwitchReason::ForceExpired
        }
    );
    assert_eq!(e.pinned_until(), None);
}

#[test]
fn force_expiry_with_the_forced_database_still_best_changes_nothing() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"a", s(50), s(10)).unwrap();
    assert_eq!(e.tick(s(60)), None);
    assert_eq!(e.pinned_until(), None);
}

#[test]
fn force_expiry_moves_back_to_a_stable_better_database() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    assert_eq!(e.tick(s(60)).unwrap().to, "a");
}

#[test]
fn pin_lapsed_before_another_event_is_processed_first() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 0.5)]);
    e.force(&"b", s(50), s(10)).unwrap();
    e.set_available(&"b", false, OPEN, s(20)).unwrap();
    // No tick at 60 s; the next event after expiry first resolves the pin.
    let d = e.set_available(&"c", false, OPEN, s(70)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("b"),
            to: "a",
            reason: SwitchReason::ForceExpired
        })
    );
}

#[test]
fn a_new_force_replaces_the_pin() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    let d = e.force(&"c", s(5), s(20)).unwrap().unwrap();
    assert_eq!(
        (d.from, d.to, d.reason),
        (Some("b"), "c", SwitchReason::Forced)
    );
    assert_eq!(e.pinned_until(), Some(s(25)));
    assert_eq!(e.tick(s(25)).unwrap().to, "a");
}

#[test]
fn removing_the_pinned_database_ends_the_pin() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    let d = e.remove(&"b", s(20)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("b"),
            to: "a",
            reason: SwitchReason::DatabaseRemoved
        })
    );
    assert_eq!(e.pinned_until(), None);
}

#[test]
fn removing_another_database_keeps_the_pin() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    assert_eq!(e.remove(&"a", s(20)).unwrap(), None);
    assert_eq!(e.pinned_until(), Some(s(60)));
}

#[test]
fn switch_to_ends_the_pin_and_sticks() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    assert_eq!(
        e.switch_to(&"c", s(20)).unwrap().unwrap().reason,
        SwitchReason::Manual
    );
    assert_eq!(e.pinned_until(), None);
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.active(), Some(&"c"));
}

#[test]
fn forcing_the_active_database_pins_it_without_a_decision() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.force(&"a", s(50), s(10)).unwrap(), None);
    assert_eq!(e.set_available(&"a", false, OPEN, s(20)).unwrap(), None);
    assert_eq!(e.tick(s(60)).unwrap().to, "b");
}

#[test]
fn zero_length_force_is_undone_by_the_next_tick() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.force(&"b", s(0), s(10)).unwrap().unwrap().to, "b");
    assert_eq!(
        e.next_deadline(s(10)),
        Some(s(10)),
        "the lapsed pin is due at once"
    );
    assert_eq!(e.tick(s(10)).unwrap().reason, SwitchReason::ForceExpired);
}

#[test]
fn endless_force_saturates() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", Duration::MAX, s(10)).unwrap();
    assert_eq!(e.pinned_until(), Some(Duration::MAX));
    assert_eq!(e.tick(s(1_000_000)), None);
}
