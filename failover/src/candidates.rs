//! The candidate list and the selections the engine makes over it.
//!
//! Candidates live in one `Vec` in insertion order (a client has a handful, rarely more
//! than 16): a linear scan beats any map at that size and keeps the order the weighted
//! strategy breaks ties with.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
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
    /// May stay active but must not become active while an ungated candidate can.
    pub(crate) gated: bool,
}

impl<Id> Candidate<Id> {
    pub(crate) fn is_stable(&self, now: Duration) -> bool {
        self.available && self.stable_at <= now
    }

    fn view(&self, index: usize, now: Duration) -> CandidateView<'_, Id> {
        CandidateView {
            id: &self.id,
            weight: self.weight,
            available: self.available,
            stable: self.is_stable(now),
            gated: self.gated,
            index,
        }
    }
}

/// The candidates plus the strategy that ranks them.
#[derive(Clone)]
pub(crate) struct Candidates<Id> {
    pub(crate) list: Vec<Candidate<Id>>,
    /// `None` is [`WeightedStrategy`], evaluated without building views.
    pub(crate) strategy: Option<Arc<dyn FailoverStrategy<Id>>>,
    panics: StrategyPanics,
}

/// How often a custom strategy panicked, and the last message.
///
/// A strategy is user code running inside the engine's lock; a panic escaping from it would
/// poison that lock and leave the client with no decisions at all. The engine contains it,
/// decides with [`WeightedStrategy`] instead, and keeps this record for the owner to report.
#[derive(Clone, Debug, Default)]
struct StrategyPanics {
    count: u64,
    last: Option<String>,
}

impl StrategyPanics {
    fn record(&mut self, payload: &(dyn Any + Send)) {
        self.count = self.count.saturating_add(1);
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        self.last = Some(message.to_owned());
    }
}

impl<Id> Candidates<Id> {
    /// How many times the custom strategy has panicked.
    pub(crate) fn strategy_panics(&self) -> u64 {
        self.panics.count
    }

    /// The message of the custom strategy's last panic.
    pub(crate) fn last_strategy_panic(&self) -> Option<&str> {
        self.panics.last.as_deref()
    }
}

impl<Id: PartialEq> Candidates<Id> {
    pub(crate) fn new() -> Self {
        Self {
            list: Vec::new(),
            strategy: None,
            panics: StrategyPanics::default(),
        }
    }

    pub(crate) fn position(&self, id: &Id) -> Option<usize> {
        self.list.iter().position(|c| c.id == *id)
    }

    pub(crate) fn view(&self, index: usize, now: Duration) -> Option<CandidateView<'_, Id>> {
        self.list.get(index).map(|c| c.view(index, now))
    }

    /// The strategy's pick among the candidates `eligible` accepts, as a position. A
    /// panicking strategy is recorded and replaced by [`WeightedStrategy`] for this pick.
    fn best(
        &mut self,
        now: Duration,
        eligible: impl Fn(usize, &Candidate<Id>) -> bool,
    ) -> Option<usize> {
        let Some(strategy) = &self.strategy else {
            return weighted_best(&self.list, eligible);
        };
        let views: Vec<CandidateView<'_, Id>> = self
            .list
            .iter()
            .enumerate()
            .filter(|(i, c)| eligible(*i, c))
            .map(|(index, c)| c.view(index, now))
            .collect();
        if views.is_empty() {
            return None;
        }
        // The strategy sees only shared views and no engine state is mid-update while it
        // runs, so its unwinding cannot leave the engine inconsistent.
        let chosen = match panic::catch_unwind(AssertUnwindSafe(|| strategy.select(&views))) {
            Ok(chosen) => chosen?,
            Err(payload) => {
                self.panics.record(&*payload);
                return weighted_best(&self.list, eligible);
            }
        };
        // A well-behaved strategy returns one of the ids it was given; compare by address
        // first (cheap), by value for strategies that return an equal id from elsewhere.
        views
            .iter()
            .find(|v| std::ptr::eq(v.id, chosen))
            .or_else(|| views.iter().find(|v| v.id == chosen))
            .map(|v| v.index)
    }

    /// Failover choice: the best stable available ungated candidate, else the best
    /// available ungated one; only then the gated ones, in the same order (any database
    /// beats none).
    pub(crate) fn failover_choice(&mut self, now: Duration) -> Option<usize> {
        [false, true].into_iter().find_map(|gated| {
            self.best(now, |_, c| c.gated == gated && c.is_stable(now))
                .or_else(|| self.best(now, |_, c| c.gated == gated && c.available))
        })
    }

    /// The candidate that should replace the (available) `active`, if any: the best among
    /// the active and every stable available ungated candidate, when that is not the
    /// active. The active competes gated or not: gating alone never moves traffic.
    pub(crate) fn outranking(&mut self, active: usize, now: Duration) -> Option<usize> {
        self.best(now, |i, c| i == active || (c.is_stable(now) && !c.gated))
            .filter(|&best| best != active)
    }

    /// The best available candidate, stable or not; a gated one only if none is ungated.
    pub(crate) fn best_available(&mut self, now: Duration) -> Option<usize> {
        self.ungated_first(now, |c| c.available)
    }

    /// The best candidate regardless of availability; a gated one only if all are.
    pub(crate) fn best_of_all(&mut self, now: Duration) -> Option<usize> {
        self.ungated_first(now, |_| true)
    }

    /// The best ungated candidate `eligible` accepts, else the best gated one.
    fn ungated_first(
        &mut self,
        now: Duration,
        eligible: impl Fn(&Candidate<Id>) -> bool,
    ) -> Option<usize> {
        self.best(now, |_, c| !c.gated && eligible(c))
            .or_else(|| self.best(now, |_, c| c.gated && eligible(c)))
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

/// [`WeightedStrategy`]'s pick among the candidates `eligible` accepts, without views.
fn weighted_best<Id>(
    list: &[Candidate<Id>],
    eligible: impl Fn(usize, &Candidate<Id>) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in list.iter().enumerate() {
        if !eligible(i, c) {
            continue;
        }
        best = match best {
            Some(b) if !WeightedStrategy::prefers(c.weight, i, list[b].weight, b) => Some(b),
            _ => Some(i),
        };
    }
    best
}
