//! The candidate list and the selections the engine makes over it.
//!
//! Candidates live in one `Vec` in insertion order (a client has a handful, rarely more
//! than 16): a linear scan beats any map at that size and keeps the order the weighted
//! strategy breaks ties with.

use std::sync::Arc;
use std::time::Duration;

use crate::{CandidateView, FailoverStrategy, WeightedStrategy};

/// One database as the engine tracks it.
#[derive(Clone, Debug)]
pub(crate) struct Candidate<Id> {
    pub(crate) id: Id,
    pub(crate) weight: f64,
    pub(crate) grace_period: Duration,
    pub(crate) available: bool,
    /// When it becomes (or became) stable; meaningful only while `available`.
    pub(crate) stable_at: Duration,
}

impl<Id> Candidate<Id> {
    pub(crate) fn is_stable(&self, now: Duration) -> bool {
        self.available && self.stable_at <= now
    }
}

/// The candidates plus the strategy that ranks them.
#[derive(Clone)]
pub(crate) struct Candidates<Id> {
    pub(crate) list: Vec<Candidate<Id>>,
    /// `None` is [`WeightedStrategy`], evaluated without building views.
    pub(crate) strategy: Option<Arc<dyn FailoverStrategy<Id>>>,
}

impl<Id: PartialEq> Candidates<Id> {
    pub(crate) fn new() -> Self {
        Self {
            list: Vec::new(),
            strategy: None,
        }
    }

    pub(crate) fn position(&self, id: &Id) -> Option<usize> {
        self.list.iter().position(|c| c.id == *id)
    }

    pub(crate) fn view(&self, index: usize, now: Duration) -> Option<CandidateView<'_, Id>> {
        self.list.get(index).map(|c| CandidateView {
            id: &c.id,
            weight: c.weight,
            available: c.available,
            stable: c.is_stable(now),
            index,
        })
    }

    /// The strategy's pick among the candidates `eligible` accepts, as a position.
    fn best(
        &self,
        now: Duration,
        eligible: impl Fn(usize, &Candidate<Id>) -> bool,
    ) -> Option<usize> {
        let Some(strategy) = &self.strategy else {
            let mut best: Option<usize> = None;
            for (i, c) in self.list.iter().enumerate() {
                if !eligible(i, c) {
                    continue;
                }
                best = match best {
                    Some(b) if !WeightedStrategy::prefers(c.weight, i, self.list[b].weight, b) => {
                        Some(b)
                    }
                    _ => Some(i),
                };
            }
            return best;
        };
        let views: Vec<CandidateView<'_, Id>> = self
            .list
            .iter()
            .enumerate()
            .filter(|(i, c)| eligible(*i, c))
            .map(|(index, c)| CandidateView {
                id: &c.id,
                weight: c.weight,
                available: c.available,
                stable: c.is_stable(now),
                index,
            })
            .collect();
        if views.is_empty() {
            return None;
        }
        let chosen = strategy.select(&views)?;
        // A well-behaved strategy returns one of the ids it was given; compare by address
        // first (cheap), by value for strategies that return an equal id from elsewhere.
        views
            .iter()
            .find(|v| std::ptr::eq(v.id, chosen))
            .or_else(|| views.iter().find(|v| v.id == chosen))
            .map(|v| v.index)
    }

    /// Failover choice: the best stable available candidate, else the best available one.
    pub(crate) fn failover_choice(&self, now: Duration) -> Option<usize> {
        self.best(now, |_, c| c.is_stable(now))
            .or_else(|| self.best(now, |_, c| c.available))
    }

    /// The candidate that should replace the (available) `active`, if any: the best among
    /// the active and every stable available candidate, when that is not the active.
    pub(crate) fn outranking(&self, active: usize, now: Duration) -> Option<usize> {
        self.best(now, |i, c| i == active || c.is_stable(now))
            .filter(|&best| best != active)
    }

    /// The best available candidate, stable or not.
    pub(crate) fn best_available(&self, now: Duration) -> Option<usize> {
        self.best(now, |_, c| c.available)
    }

    /// The best candidate regardless of availability.
    pub(crate) fn best_of_all(&self, now: Duration) -> Option<usize> {
        self.best(now, |_, _| true)
    }

    /// The earliest moment after `now` at which an available candidate becomes stable.
    pub(crate) fn next_grace_end(&self, now: Duration) -> Option<Duration> {
        self.list
            .iter()
            .filter(|c| c.available && c.stable_at > now)
            .map(|c| c.stable_at)
            .min()
    }
}
