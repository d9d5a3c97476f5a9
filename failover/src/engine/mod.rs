//! The engine: state, events in, decisions out.
//!
//! Every public call follows the same shape: validate (an error changes nothing), note the
//! passage of time (a pin that lapsed since the last call is processed first, as its own
//! [`SwitchReason::ForceExpired`] step), apply the event, then report the *net* change of
//! the active database as at most one [`Decision`](crate::Decision). Folding the steps into one net change
//! is what guarantees "each switch reported exactly once, `from` = previous active".

mod events;
mod queries;
mod transition;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::candidates::Candidates;
use crate::{EngineConfig, EngineError, FailoverStrategy, SwitchReason};

/// Deterministic failover decisions over a set of candidate databases.
///
/// See the [crate docs](crate) for the rules. All methods are cheap and allocation-free on
/// the default strategy, except for cloning the ids a [`Decision`](crate::Decision) carries.
#[derive(Clone)]
pub struct FailoverEngine<Id> {
    config: EngineConfig,
    candidates: Candidates<Id>,
    active: Option<usize>,
    initialized: bool,
    /// The active database was chosen by [`FailoverEngine::switch_to`] and sticks.
    manual: bool,
    pinned_until: Option<Duration>,
    fallback_origin: Duration,
    next_fallback: Option<Duration>,
    /// The last moment the active database was available, while it is not.
    outage_since: Option<Duration>,
    last_now: Duration,
}

/// The net change of the active database during one call.
struct Change<Id> {
    /// Whether `from` holds the active database from before the call's first switch.
    captured: bool,
    from: Option<Id>,
    reason: Option<SwitchReason>,
}

impl<Id> Change<Id> {
    fn new() -> Self {
        Self {
            captured: false,
            from: None,
            reason: None,
        }
    }
}

impl<Id: Clone + Eq + fmt::Debug> FailoverEngine<Id> {
    /// An empty, uninitialized engine using [`WeightedStrategy`](crate::WeightedStrategy).
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            candidates: Candidates::new(),
            active: None,
            initialized: false,
            manual: false,
            pinned_until: None,
            fallback_origin: Duration::ZERO,
            next_fallback: None,
            outage_since: None,
            last_now: Duration::ZERO,
        }
    }

    /// Replaces the strategy that ranks eligible candidates. It applies from the next
    /// decision; the active database is not re-evaluated now.
    pub fn set_strategy(&mut self, strategy: Arc<dyn FailoverStrategy<Id>>) {
        self.candidates.strategy = Some(strategy);
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
}

fn check_weight<Id: Clone + fmt::Debug>(id: &Id, weight: f64) -> Result<(), EngineError<Id>> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(EngineError::InvalidWeight {
            id: id.clone(),
            weight,
        })
    }
}

/// The first `origin + k × interval` strictly after `now`, given the check that was `due`;
/// `None` past the end of time.
fn next_multiple(
    origin: Duration,
    interval: Duration,
    due: Duration,
    now: Duration,
) -> Option<Duration> {
    // Ticks usually arrive on time: skip the 128-bit division then.
    let next = due.checked_add(interval)?;
    if next > now {
        return Some(next);
    }
    let step = interval.as_nanos();
    let elapsed = now.saturating_sub(origin).as_nanos();
    let next = origin
        .as_nanos()
        .checked_add((elapsed / step + 1).checked_mul(step)?)?;
    let secs = u64::try_from(next / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (next % 1_000_000_000) as u32))
}

impl<Id: fmt::Debug> fmt::Debug for FailoverEngine<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverEngine")
            .field("config", &self.config)
            .field("candidates", &self.candidates.list)
            .field("custom_strategy", &self.candidates.strategy.is_some())
            .field("strategy_panics", &self.candidates.strategy_panics())
            .field(
                "active",
                &self
                    .active
                    .and_then(|p| self.candidates.list.get(p))
                    .map(|c| &c.id),
            )
            .field("initialized", &self.initialized)
            .field("manual", &self.manual)
            .field("pinned_until", &self.pinned_until)
            .field("next_fallback", &self.next_fallback)
            .field("outage_since", &self.outage_since)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn engine_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<FailoverEngine<String>>();
    }

    #[test]
    fn next_multiple_follows_an_on_time_tick() {
        assert_eq!(next_multiple(s(0), s(100), s(100), s(100)), Some(s(200)));
    }

    #[test]
    fn next_multiple_skips_missed_checks_from_the_origin() {
        assert_eq!(next_multiple(s(7), s(100), s(107), s(450)), Some(s(507)));
        assert_eq!(next_multiple(s(7), s(100), s(107), s(507)), Some(s(607)));
    }

    #[test]
    fn next_multiple_ends_with_time() {
        assert_eq!(
            next_multiple(s(0), Duration::MAX, Duration::MAX, Duration::MAX),
            None
        );
    }
}
