//! A custom strategy that panics: contained, replaced by the weighted choice, and counted.
//!
//! The panics below still print through the default panic hook; that is expected output.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{OPEN, initialized, s};
use multidb_failover::{CandidateView, Decision, FailoverEngine, FailoverStrategy, SwitchReason};

type Id = &'static str;

/// Panics on every call.
struct Exploding;

impl FailoverStrategy<Id> for Exploding {
    fn select<'a>(&self, _: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        panic!("strategy exploded");
    }
}

/// Panics with a formatted (`String`) message.
struct Formatting;

impl FailoverStrategy<Id> for Formatting {
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        panic!("{} candidates is too many", eligible.len());
    }
}

/// Panics with a payload that is not a string.
struct Opaque;

impl FailoverStrategy<Id> for Opaque {
    fn select<'a>(&self, _: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        std::panic::panic_any(42_u32);
    }
}

/// Panics on its first call, then prefers the lowest weight.
#[derive(Default)]
struct PanicsOnce {
    panicked: AtomicBool,
}

impl FailoverStrategy<Id> for PanicsOnce {
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        assert!(
            self.panicked.swap(true, Ordering::SeqCst),
            "first call fails"
        );
        eligible
            .iter()
            .min_by(|x, y| x.weight.total_cmp(&y.weight))
            .map(|v| v.id)
    }
}

/// One run of events touching every selection: failover, recovery, fallback, additions,
/// weight changes, removal, pin expiry.
fn script(e: &mut FailoverEngine<Id>) -> Vec<Option<Decision<Id>>> {
    vec![
        e.set_available(&"a", false, OPEN, s(10))
            .expect("known candidate"),
        e.set_available(&"b", false, OPEN, s(11))
            .expect("known candidate"),
        e.set_available(&"a", true, OPEN, s(12))
            .expect("known candidate"),
        e.set_available(&"b", true, OPEN, s(13))
            .expect("known candidate"),
        e.tick(s(100)),
        e.add("d", 5.0, s(30), true, s(110))
            .expect("known candidate"),
        e.set_weight(&"c", 9.0, s(120)).expect("known candidate"),
        e.force(&"b", s(20), s(130)).expect("known candidate"),
        e.tick(s(150)),
        e.remove(&"c", s(160)).expect("known candidate"),
    ]
}

fn candidates() -> FailoverEngine<Id> {
    initialized(&[("a", 3.0), ("b", 2.0), ("c", 1.0)])
}

#[test]
fn panicking_strategy_decides_like_the_weighted_strategy() {
    let mut weighted = candidates();
    let mut exploding = candidates();
    exploding.set_strategy(Arc::new(Exploding));
    let want = script(&mut weighted);
    assert!(want.iter().flatten().count() >= 5, "the script switches");
    assert_eq!(script(&mut exploding), want);
    assert_eq!(exploding.active(), weighted.active());
    assert!(exploding.strategy_panics() >= 5);
    assert_eq!(exploding.last_strategy_panic(), Some("strategy exploded"));
}

#[test]
fn each_contained_panic_is_counted() {
    let mut e = candidates();
    e.set_strategy(Arc::new(Exploding));
    assert_eq!(e.strategy_panics(), 0);
    assert_eq!(e.last_strategy_panic(), None);
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!((d.to, d.reason), ("b", SwitchReason::CircuitOpened));
    assert_eq!(
        e.strategy_panics(),
        1,
        "one pick among the stable candidates"
    );
    assert_eq!(e.tick(s(100)), None);
    assert_eq!(e.strategy_panics(), 2, "the fallback check");
    let _ = e.status(s(100));
    let _ = e.next_deadline(s(100));
    assert_eq!(
        e.strategy_panics(),
        2,
        "queries do not consult the strategy"
    );
}

#[test]
fn strategy_that_panics_once_then_behaves() {
    let mut e = candidates();
    e.set_strategy(Arc::new(PanicsOnce::default()));
    let d = e.set_available(&"a", false, OPEN, s(10)).unwrap().unwrap();
    assert_eq!(d.to, "b", "the weighted choice while the strategy panicked");
    assert_eq!(e.strategy_panics(), 1);
    let d = e.add("d", 0.5, s(30), true, s(20)).unwrap().unwrap();
    assert_eq!(d.to, "d", "the strategy's own choice: the lightest");
    assert_eq!(e.tick(s(100)), None, "the lightest is kept");
    assert_eq!(e.strategy_panics(), 1);
    assert_eq!(e.last_strategy_panic(), Some("first call fails"));
}

#[test]
fn formatted_panic_messages_are_captured() {
    let mut e = candidates();
    e.set_strategy(Arc::new(Formatting));
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(e.last_strategy_panic(), Some("2 candidates is too many"));
}

#[test]
fn non_string_panic_payloads_are_described() {
    let mut e = candidates();
    e.set_strategy(Arc::new(Opaque));
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    assert_eq!(e.strategy_panics(), 1);
    assert_eq!(e.last_strategy_panic(), Some("non-string panic payload"));
}

#[test]
fn a_clone_keeps_the_panic_record() {
    let mut e = candidates();
    e.set_strategy(Arc::new(Exploding));
    e.set_available(&"a", false, OPEN, s(10)).unwrap();
    let copy = e.clone();
    assert_eq!(copy.strategy_panics(), 1);
    assert_eq!(copy.last_strategy_panic(), Some("strategy exploded"));
}
