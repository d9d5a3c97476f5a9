//! How the best database is picked among the eligible ones.
//!
//! The engine decides *who may compete* (eligibility: availability, grace periods, pins,
//! manual choices); a [`FailoverStrategy`] only decides *who wins* among them. Keeping the
//! two apart means a custom strategy (latency-aware, region-aware, …) never has to
//! re-implement anti-flapping or pinning, and cannot break them.

use std::cmp::Ordering;

/// One candidate database as a strategy sees it.
///
/// The engine builds these views for every decision; the references borrow the engine's
/// own state, so a strategy returns one of the `id`s it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CandidateView<'a, Id> {
    /// The database's id.
    pub id: &'a Id,
    /// Its weight: finite and greater than zero; higher is preferred by [`WeightedStrategy`].
    pub weight: f64,
    /// Whether the caller last reported it available (circuit closed, health checks passing).
    pub available: bool,
    /// Whether it has been available for at least its grace period.
    pub stable: bool,
    /// Whether it is gated ([`set_gated`](crate::FailoverEngine::set_gated)): it may stay
    /// active but must not become active while an ungated candidate can. A strategy sees
    /// gated candidates only when the engine has no ungated one to offer.
    pub gated: bool,
    /// Insertion order among the current candidates: 0 for the oldest.
    pub index: usize,
}

/// Picks the database to use among eligible candidates.
///
/// The engine passes only candidates that may become active at that moment, in insertion
/// order, and never an empty slice. Gated candidates are not among them while an ungated
/// one can be chosen: they are offered in passes of their own, after the ungated ones came
/// to nothing (the active database is the exception: it competes with the candidates that
/// could replace it, gated or not). Returning `None` means "none of these is acceptable":
/// the engine then keeps its current database, or, during a failover, widens the choice
/// one pass at a time — stable ungated, available ungated, stable gated, available gated.
///
/// Implementations must be deterministic (same input, same answer) and cheap: they run while
/// the client holds the engine's lock.
pub trait FailoverStrategy<Id>: Send + Sync {
    /// Returns the id of the preferred candidate, one of `eligible[..].id`.
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id>;
}

/// The default strategy: highest weight wins; equal weights go to the candidate added
/// first (lowest [`CandidateView::index`]).
///
/// Insertion order as the tie-breaker makes equal weights a stable preference order rather
/// than a coin toss, so two runs with the same events make the same decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedStrategy;

impl WeightedStrategy {
    /// Whether `a` is preferred over `b`: higher weight, then lower index.
    pub(crate) fn prefers(a_weight: f64, a_index: usize, b_weight: f64, b_index: usize) -> bool {
        match a_weight.total_cmp(&b_weight) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => a_index < b_index,
        }
    }
}

impl<Id> FailoverStrategy<Id> for WeightedStrategy {
    fn select<'a>(&self, eligible: &[CandidateView<'a, Id>]) -> Option<&'a Id> {
        let mut best: Option<&CandidateView<'a, Id>> = None;
        for view in eligible {
            best = match best {
                Some(b) if !Self::prefers(view.weight, view.index, b.weight, b.index) => Some(b),
                _ => Some(view),
            };
        }
        best.map(|b| b.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &u8, weight: f64, index: usize) -> CandidateView<'_, u8> {
        CandidateView {
            id,
            weight,
            available: true,
            stable: true,
            gated: false,
            index,
        }
    }

    #[test]
    fn highest_weight_wins() {
        let ids = [1u8, 2, 3];
        let views = [
            view(&ids[0], 1.0, 0),
            view(&ids[1], 3.0, 1),
            view(&ids[2], 2.0, 2),
        ];
        assert_eq!(WeightedStrategy.select(&views), Some(&2));
    }

    #[test]
    fn equal_weights_go_to_the_lowest_index() {
        let ids = [7u8, 8, 9];
        let views = [
            view(&ids[0], 1.0, 4),
            view(&ids[1], 2.0, 2),
            view(&ids[2], 2.0, 1),
        ];
        assert_eq!(WeightedStrategy.select(&views), Some(&9));
    }

    #[test]
    fn empty_input_selects_nothing() {
        assert_eq!(
            WeightedStrategy.select(&[] as &[CandidateView<'_, u8>]),
            None
        );
    }
}
