//! Moving away from a failed database, and the outage status when nothing can take over.

mod common;

use common::{OPEN, initialized, s};
use multidb_failover::{Decision, Status, SwitchReason, Unavailability};

#[test]
fn circuit_opening_fails_over_with_circuit_opened() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    let d = e
        .set_available(&"a", false, Unavailability::CircuitOpen, s(5))
        .unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::CircuitOpened
        })
    );
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn failed_health_check_fails_over_with_health_check_failed() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    let d = e
        .set_available(&"a", false, Unavailability::HealthCheckFailed, s(5))
        .unwrap();
    assert_eq!(d.unwrap().reason, SwitchReason::HealthCheckFailed);
}

#[test]
fn failover_prefers_a_stable_candidate_over_a_heavier_one_in_grace() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"b", true, OPEN, s(2)).unwrap(); // stable at 32 s
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!(d.to, "c");
}

#[test]
fn failover_takes_an_unstable_candidate_when_none_is_stable() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"c", false, OPEN, s(1)).unwrap();
    e.set_available(&"b", true, OPEN, s(2)).unwrap();
    e.set_available(&"c", true, OPEN, s(2)).unwrap();
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!(d.to, "b");
}

#[test]
fn losing_a_non_active_candidate_changes_nothing() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.set_available(&"b", false, OPEN, s(5)).unwrap(), None);
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(e.status(s(5)), Status::Active("a"));
}

#[test]
fn repeated_availability_reports_are_idempotent() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert!(e.set_available(&"a", false, OPEN, s(5)).unwrap().is_some());
    assert_eq!(e.set_available(&"a", false, OPEN, s(6)).unwrap(), None);
    assert_eq!(e.set_available(&"b", true, OPEN, s(7)).unwrap(), None);
    assert!(
        e.candidates().find(|c| *c.id == "b").unwrap().stable,
        "b's grace must not restart"
    );
}

#[test]
fn total_outage_keeps_the_active_and_reports_temporarily_then_permanently_unavailable() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    assert_eq!(e.set_available(&"a", false, OPEN, s(10)).unwrap(), None);
    assert_eq!(e.active(), Some(&"a"));
    assert_eq!(
        e.status(s(10)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(0)
        }
    );
    assert_eq!(
        e.status(s(39)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(29)
        }
    );
    // Budget: 3 attempts × 10 s since a was last available.
    assert_eq!(
        e.status(s(40)),
        Status::NoValidDatabase {
            unavailable_for: s(30)
        }
    );
}

#[test]
fn recovery_of_another_candidate_during_an_outage_switches_with_recovered() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    // Not stable yet (grace 30 s), but something beats nothing; and "permanent" is not terminal.
    let d = e.set_available(&"b", true, OPEN, s(100)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::Recovered
        })
    );
    assert_eq!(e.status(s(100)), Status::Active("b"));
}

#[test]
fn recovery_of_the_active_itself_ends_the_outage_without_a_decision() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(e.set_available(&"a", true, OPEN, s(20)).unwrap(), None);
    assert_eq!(e.status(s(20)), Status::Active("a"));
    // A new outage starts its own budget.
    e.set_available(&"a", false, OPEN, s(50)).unwrap();
    assert_eq!(
        e.status(s(60)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(10)
        }
    );
}

#[test]
fn time_going_backwards_counts_as_the_latest_time() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(
        e.status(s(3)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(0)
        }
    );
    e.set_available(&"b", true, OPEN, s(2)).unwrap(); // treated as 10 s
    assert_eq!(e.active(), Some(&"b"));
}
