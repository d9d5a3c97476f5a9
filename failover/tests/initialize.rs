//! Start-up: nothing is decided before `initialize`, and the initial policy gates it.

mod common;

use common::{OPEN, config, s};
use multidb_failover::{
    Decision, FailoverEngine, InitialError, InitialPolicy, Status, SwitchReason,
};

fn with(candidates: &[(&'static str, f64, bool)]) -> FailoverEngine<&'static str> {
    let mut e = FailoverEngine::new(config());
    for &(id, weight, up) in candidates {
        assert_eq!(
            e.add(id, weight, s(30), up, s(0)).expect("valid candidate"),
            None
        );
    }
    e
}

#[test]
fn nothing_is_decided_before_initialize() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false)]);
    assert_eq!(e.set_available(&"b", true, OPEN, s(1)).unwrap(), None);
    assert_eq!(e.set_weight(&"a", 5.0, s(2)).unwrap(), None);
    assert_eq!(e.remove(&"a", s(3)).unwrap(), None);
    assert_eq!(e.tick(s(500)), None);
    assert_eq!(e.active(), None);
    assert_eq!(e.status(s(500)), Status::Uninitialized);
    assert_eq!(e.next_deadline(s(500)), None);
}

#[test]
fn initialize_picks_the_heaviest_available() {
    let mut e = with(&[("a", 1.0, true), ("b", 3.0, false), ("c", 2.0, true)]);
    let d = e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(
        d,
        Decision {
            from: None,
            to: "c",
            reason: SwitchReason::Initial
        }
    );
    assert_eq!(e.active(), Some(&"c"));
    assert_eq!(e.status(s(0)), Status::Active("c"));
}

#[test]
fn availability_reported_before_initialize_counts_as_stable() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false)]);
    e.set_available(&"b", true, OPEN, s(5)).unwrap();
    assert!(e.candidates().all(|c| c.stable));
    assert_eq!(
        e.initialize(InitialPolicy::OneAvailable, s(5)).unwrap().to,
        "b"
    );
}

#[test]
fn majority_of_two_needs_both() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false)]);
    let err = e
        .initialize(InitialPolicy::MajorityAvailable, s(0))
        .unwrap_err();
    assert_eq!(
        err,
        InitialError {
            policy: InitialPolicy::MajorityAvailable,
            available: vec!["a"],
            failed: vec!["b"]
        }
    );
    assert_eq!(
        err.to_string(),
        "initial policy MajorityAvailable not met: 1 of 2 databases available"
    );
    assert_eq!(e.status(s(0)), Status::Uninitialized);
    // The default policy starts with what is there.
    assert_eq!(
        e.initialize(InitialPolicy::default(), s(0)).unwrap().to,
        "a"
    );
}

#[test]
fn majority_of_three_is_two() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false), ("c", 1.0, true)]);
    assert_eq!(
        e.initialize(InitialPolicy::MajorityAvailable, s(0))
            .unwrap()
            .to,
        "a"
    );
}

#[test]
fn all_available_fails_listing_the_failed() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false), ("c", 1.0, false)]);
    let err = e.initialize(InitialPolicy::AllAvailable, s(0)).unwrap_err();
    assert_eq!(err.available, vec!["a"]);
    assert_eq!(err.failed, vec!["b", "c"]);
}

#[test]
fn nothing_available_fails_every_policy() {
    let mut e = with(&[("a", 1.0, false)]);
    assert!(e.initialize(InitialPolicy::OneAvailable, s(0)).is_err());
    let mut empty: FailoverEngine<&str> = FailoverEngine::new(config());
    assert!(empty.initialize(InitialPolicy::AllAvailable, s(0)).is_err());
}

#[test]
fn initialize_picks_an_available_candidate_still_in_its_grace_period() {
    let mut e = with(&[("a", 1.0, true), ("b", 2.0, false)]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    e.set_available(&"b", true, OPEN, s(1)).unwrap(); // stable only at 31 s
    assert_eq!(
        e.initialize(InitialPolicy::OneAvailable, s(2)).unwrap().to,
        "b"
    );
}

#[test]
fn reinitialize_restarts_the_fallback_schedule() {
    let mut e = with(&[("a", 1.0, true)]);
    e.initialize(InitialPolicy::OneAvailable, s(0)).unwrap();
    assert_eq!(e.next_deadline(s(0)), Some(s(100)));
    let d = e.initialize(InitialPolicy::OneAvailable, s(40)).unwrap();
    assert_eq!(
        d,
        Decision {
            from: None,
            to: "a",
            reason: SwitchReason::Initial
        }
    );
    assert_eq!(e.next_deadline(s(40)), Some(s(140)));
}
