//! Forced switches: pinned while the forced database is available, until the pin expires,
//! is released, or the forced database fails.

mod common;

use std::time::Duration;

use common::{OPEN, initialized, s};
use multidb_failover::{Decision, Status, SwitchReason};

#[test]
fn force_pins_while_the_forced_database_is_available() {
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
    assert_eq!(e.set_weight(&"a", 5.0, s(21)).unwrap(), None);
    assert_eq!(e.add("c", 9.0, s(0), true, s(22)).unwrap(), None);
    assert_eq!(e.set_available(&"a", false, OPEN, s(23)).unwrap(), None);
    assert_eq!(e.status(s(30)), Status::Active("b"));
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
fn forced_database_that_fails_is_failed_over_with_forced_database_failed() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 0.5)]);
    e.force(&"c", s(50), s(10)).unwrap();
    let d = e.set_available(&"c", false, OPEN, s(20)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("c"),
            to: "a",
            reason: SwitchReason::ForcedDatabaseFailed
        })
    );
    assert_eq!(e.pinned_until(), None, "the pin ends at once");
    assert_eq!(e.status(s(20)), Status::Active("a"));
    assert_eq!(e.tick(s(60)), None, "no expiry left to process");
}

#[test]
fn forced_database_failing_prefers_a_stable_candidate_over_a_heavier_one_in_grace() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.force(&"c", s(100), s(0)).unwrap();
    e.set_available(&"a", false, OPEN, s(1)).unwrap();
    e.set_available(&"a", true, OPEN, s(2)).unwrap(); // stable at 32 s
    let d = e.set_available(&"c", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::ForcedDatabaseFailed));
}

#[test]
fn forced_database_failing_with_nothing_available_still_ends_the_pin() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    e.set_available(&"a", false, OPEN, s(15)).unwrap();
    assert_eq!(e.set_available(&"b", false, OPEN, s(20)).unwrap(), None);
    assert_eq!(e.pinned_until(), None);
    assert_eq!(
        e.status(s(30)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(10)
        }
    );
    let d = e.set_available(&"a", true, OPEN, s(40)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("b"),
            to: "a",
            reason: SwitchReason::Recovered
        })
    );
}

#[test]
fn forced_database_recovering_after_its_pin_ended_is_active_again_without_a_decision() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    e.set_available(&"a", false, OPEN, s(15)).unwrap();
    e.set_available(&"b", false, OPEN, s(20)).unwrap();
    assert_eq!(e.set_available(&"b", true, OPEN, s(25)).unwrap(), None);
    assert_eq!(e.status(s(25)), Status::Active("b"));
    assert_eq!(e.pinned_until(), None, "recovery does not restore the pin");
}

#[test]
fn after_a_forced_failover_the_choice_is_automatic_again() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 0.5)]);
    e.force(&"c", s(500), s(10)).unwrap();
    e.set_available(&"c", false, OPEN, s(20)).unwrap(); // to a
    let d = e.set_weight(&"b", 9.0, s(30)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::WeightChanged));
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
fn forced_database_failing_after_its_pin_lapsed_fails_over_with_the_cause() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0), ("c", 0.5)]);
    e.force(&"b", s(50), s(10)).unwrap();
    e.set_available(&"a", false, OPEN, s(20)).unwrap();
    // At 70 s the pin lapsed (b stays: a is down), then b's circuit opens.
    let d = e.set_available(&"b", false, OPEN, s(70)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("c", SwitchReason::CircuitOpened));
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
    e.set_available(&"a", false, OPEN, s(1)).unwrap();
    e.set_available(&"a", true, OPEN, s(2)).unwrap(); // to b, then a in grace until 32 s
    e.set_weight(&"b", 3.0, s(3)).unwrap();
    assert_eq!(e.force(&"b", s(200), s(10)).unwrap(), None);
    assert_eq!(e.pinned_until(), Some(s(210)));
    assert_eq!(e.set_weight(&"a", 9.0, s(40)).unwrap(), None, "pinned");
    assert_eq!(e.tick(s(100)), None, "pinned");
    let d = e.set_available(&"b", false, OPEN, s(120)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("a", SwitchReason::ForcedDatabaseFailed));
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
    assert_eq!(e.next_deadline(s(1_000_000)), Some(s(1_000_100)));
    assert_eq!(e.release_force(s(1_000_001)).unwrap().to, "a");
}

#[test]
fn endless_force_still_ends_when_the_forced_database_fails() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", Duration::MAX, s(10)).unwrap();
    let d = e.set_available(&"b", false, OPEN, s(20)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("a", SwitchReason::ForcedDatabaseFailed));
    assert_eq!(e.pinned_until(), None);
}

#[test]
fn force_near_the_end_of_time_saturates() {
    let near_end = Duration::MAX.saturating_sub(s(5));
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(10), near_end).unwrap();
    assert_eq!(e.pinned_until(), Some(Duration::MAX));
    e.force(&"b", Duration::MAX, near_end).unwrap();
    assert_eq!(e.pinned_until(), Some(Duration::MAX));
    assert_eq!(e.tick(near_end.saturating_add(s(1))), None, "still pinned");
    assert_eq!(
        e.next_deadline(near_end.saturating_add(s(1))),
        Some(Duration::MAX),
        "the pin; no fallback check fits before the end of time"
    );
    assert_eq!(e.active(), Some(&"b"));
    let d = e.tick(Duration::MAX).unwrap();
    assert_eq!((d.to, d.reason), ("a", SwitchReason::ForceExpired));
}

#[test]
fn release_force_without_a_pin_does_nothing() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.release_force(s(10)), None);
    e.switch_to(&"b", s(20)).unwrap();
    assert_eq!(e.release_force(s(30)), None);
    assert_eq!(e.tick(s(100)), None, "the manual choice still sticks");
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn release_force_moves_back_to_a_stable_better_database_with_force_released() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    let d = e.release_force(s(20));
    assert_eq!(
        d,
        Some(Decision {
            from: Some("b"),
            to: "a",
            reason: SwitchReason::ForceReleased
        })
    );
    assert_eq!(e.pinned_until(), None);
    assert_eq!(e.tick(s(60)), None, "nothing left to expire");
}

#[test]
fn release_force_keeps_the_forced_database_when_it_is_still_best() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"a", s(50), s(10)).unwrap();
    assert_eq!(e.release_force(s(20)), None);
    assert_eq!(e.pinned_until(), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn release_force_does_not_pick_a_candidate_in_grace_and_leaves_an_automatic_choice() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(500), s(10)).unwrap();
    e.set_available(&"a", false, OPEN, s(11)).unwrap();
    e.set_available(&"a", true, OPEN, s(12)).unwrap(); // stable at 42 s
    assert_eq!(e.release_force(s(20)), None, "a is still in grace");
    assert_eq!(e.pinned_until(), None);
    let d = e.tick(s(100)).unwrap();
    assert_eq!(
        (d.to, d.reason),
        ("a", SwitchReason::AutoFallback),
        "not sticky"
    );
}

#[test]
fn release_force_after_the_pin_lapsed_reports_the_expiry() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.force(&"b", s(50), s(10)).unwrap();
    let d = e.release_force(s(70)).unwrap();
    assert_eq!((d.to, d.reason), ("a", SwitchReason::ForceExpired));
    assert_eq!(e.pinned_until(), None);
}
