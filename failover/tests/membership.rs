//! Adding and removing databases and changing their weights at run time.

mod common;

use common::{OPEN, config, initialized, s};
use multidb_failover::{
    Decision, EngineError, FailoverEngine, InitialPolicy, Status, SwitchReason,
};

#[test]
fn invalid_weights_are_refused() {
    let mut e = initialized(&[("a", 1.0)]);
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = e.add("b", w, s(0), true, s(1)).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidWeight { id: "b", .. }),
            "{w}"
        );
        assert!(
            matches!(
                e.set_weight(&"a", w, s(1)),
                Err(EngineError::InvalidWeight { id: "a", .. })
            ),
            "{w}"
        );
    }
    assert_eq!(e.candidates().count(), 1);
}

#[test]
fn duplicate_and_unknown_ids_are_refused() {
    let mut e = initialized(&[("a", 1.0)]);
    assert_eq!(
        e.add("a", 1.0, s(0), true, s(1)),
        Err(EngineError::DuplicateCandidate("a"))
    );
    assert_eq!(
        e.remove(&"x", s(1)),
        Err(EngineError::UnknownCandidate("x"))
    );
    assert_eq!(
        e.set_weight(&"x", 1.0, s(1)),
        Err(EngineError::UnknownCandidate("x"))
    );
    assert_eq!(
        e.set_available(&"x", true, OPEN, s(1)),
        Err(EngineError::UnknownCandidate("x"))
    );
}

#[test]
fn adding_an_available_heavier_database_switches_to_it() {
    let mut e = initialized(&[("a", 1.0)]);
    let d = e.add("b", 2.0, s(30), true, s(5)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::DatabaseAdded
        })
    );
}

#[test]
fn adding_a_lighter_or_unavailable_database_changes_nothing() {
    let mut e = initialized(&[("a", 2.0)]);
    assert_eq!(e.add("b", 1.0, s(30), true, s(5)).unwrap(), None);
    assert_eq!(e.add("c", 5.0, s(30), false, s(5)).unwrap(), None);
    assert_eq!(e.active(), Some(&"a"));
}

#[test]
fn adding_does_not_carry_another_pending_fallback() {
    let mut e = initialized(&[("a", 3.0), ("b", 1.0)]);
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    e.set_available(&"a", true, OPEN, s(20)).unwrap();
    // a outranks b and is stable, but waits for the fallback check; c does not outrank a.
    assert_eq!(e.add("c", 2.0, s(30), true, s(60)).unwrap(), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn adding_an_available_database_during_an_outage_switches_to_it() {
    let mut e = initialized(&[("a", 2.0)]);
    e.set_available(&"a", false, OPEN, s(5)).unwrap();
    let d = e.add("b", 1.0, s(30), true, s(6)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::DatabaseAdded));
}

#[test]
fn removing_the_active_database_switches_to_the_best_eligible() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    let d = e.remove(&"a", s(5)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "c",
            reason: SwitchReason::DatabaseRemoved
        })
    );
    assert_eq!(
        e.candidates().map(|c| (*c.id, c.index)).collect::<Vec<_>>(),
        [("b", 0), ("c", 1)]
    );
}

#[test]
fn removing_the_active_database_with_nothing_available_targets_the_best_remaining() {
    let mut e = initialized(&[("a", 3.0), ("b", 2.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    let d = e.remove(&"a", s(5)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::DatabaseRemoved));
    assert_eq!(
        e.status(s(15)),
        Status::TemporarilyUnavailable {
            unavailable_for: s(10)
        }
    );
    assert_eq!(e.set_available(&"b", true, OPEN, s(16)).unwrap(), None);
    assert_eq!(e.status(s(16)), Status::Active("b"));
}

#[test]
fn removing_a_non_active_database_keeps_the_active() {
    let mut e = initialized(&[("a", 1.0), ("b", 2.0), ("c", 1.0)]);
    assert_eq!(e.active(), Some(&"b"));
    assert_eq!(e.remove(&"a", s(5)).unwrap(), None);
    assert_eq!(e.active(), Some(&"b"));
}

#[test]
fn removing_the_last_database_leaves_none_until_one_is_added() {
    let mut e = initialized(&[("a", 1.0)]);
    assert_eq!(e.remove(&"a", s(5)).unwrap(), None);
    assert_eq!(e.active(), None);
    assert_eq!(
        e.status(s(45)),
        Status::NoValidDatabase {
            unavailable_for: s(40)
        }
    );
    let d = e.add("b", 1.0, s(30), true, s(50)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: None,
            to: "b",
            reason: SwitchReason::DatabaseAdded
        })
    );
}

#[test]
fn raising_a_weight_switches_to_a_stable_database() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    let d = e.set_weight(&"b", 3.0, s(5)).unwrap();
    assert_eq!(
        d,
        Some(Decision {
            from: Some("a"),
            to: "b",
            reason: SwitchReason::WeightChanged
        })
    );
}

#[test]
fn lowering_the_active_weight_switches_away() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    assert_eq!(e.set_weight(&"a", 0.5, s(5)).unwrap().unwrap().to, "b");
}

#[test]
fn weight_change_does_not_promote_a_database_in_grace() {
    let mut e = initialized(&[("a", 2.0), ("b", 1.0)]);
    e.set_available(&"b", false, OPEN, s(1)).unwrap();
    e.set_available(&"b", true, OPEN, s(2)).unwrap();
    assert_eq!(e.set_weight(&"b", 3.0, s(5)).unwrap(), None);
    assert_eq!(e.tick(s(100)).unwrap().to, "b");
}

#[test]
fn candidates_report_stability_at_the_latest_time_seen() {
    let mut e = FailoverEngine::new(config());
    e.add("a", 1.0, s(30), true, s(0)).unwrap();
    e.add("b", 1.0, s(30), false, s(0)).unwrap();
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    e.set_available(&"b", true, OPEN, s(10)).unwrap();
    let b = |e: &FailoverEngine<&str>| e.candidates().find(|c| *c.id == "b").unwrap().stable;
    assert!(!b(&e));
    e.tick(s(40));
    assert!(b(&e));
}
