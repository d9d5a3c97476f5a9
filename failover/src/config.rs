//! What the engine is told once: fallback cadence, unavailability budget, start-up policy.

use std::time::Duration;

/// Timing knobs of a [`FailoverEngine`](crate::FailoverEngine).
///
/// The defaults match redis-py, Jedis and Lettuce so a ported configuration behaves the
/// same: auto-fallback every 120 s, and an unavailability budget of 10 attempts × 12 s
/// (120 s) before "temporarily unavailable" turns into "no valid database".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// How often [`tick`](crate::FailoverEngine::tick) checks whether a better database
    /// has become stably available, counted from
    /// [`initialize`](crate::FailoverEngine::initialize). `None` (or zero) disables
    /// auto-fallback: the engine then only moves on failures, manual switches and
    /// membership or weight changes.
    pub auto_fallback_interval: Option<Duration>,
    /// With [`failover_delay`](Self::failover_delay), how long a total outage is reported
    /// as [`Status::TemporarilyUnavailable`](crate::Status::TemporarilyUnavailable) before
    /// it becomes [`Status::NoValidDatabase`](crate::Status::NoValidDatabase): the budget is
    /// `failover_attempts × failover_delay`.
    pub failover_attempts: u32,
    /// See [`failover_attempts`](Self::failover_attempts).
    pub failover_delay: Duration,
}

impl EngineConfig {
    /// The outage budget, `failover_attempts × failover_delay` (saturating).
    pub fn unavailability_budget(&self) -> Duration {
        self.failover_delay
            .checked_mul(self.failover_attempts)
            .unwrap_or(Duration::MAX)
    }

    /// The auto-fallback interval if auto-fallback is on (`Some`, non-zero).
    pub(crate) fn fallback_interval(&self) -> Option<Duration> {
        self.auto_fallback_interval.filter(|i| !i.is_zero())
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            auto_fallback_interval: Some(Duration::from_secs(120)),
            failover_attempts: 10,
            failover_delay: Duration::from_secs(12),
        }
    }
}

/// How many candidates must be available for
/// [`initialize`](crate::FailoverEngine::initialize) to succeed.
///
/// The default is [`OneAvailable`](Self::OneAvailable): a client that can reach one
/// database should serve traffic, and the others join when they recover. (Jedis and
/// Lettuce default to a majority, which with two databases means both, so one database
/// down blocks start-up.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InitialPolicy {
    /// Every candidate must be available.
    AllAvailable,
    /// More than half of the candidates must be available (2 of 2, 2 of 3, 3 of 4).
    MajorityAvailable,
    /// At least one candidate must be available.
    #[default]
    OneAvailable,
}

impl InitialPolicy {
    /// Whether `available` of `total` candidates satisfy this policy. No candidate
    /// available never satisfies any policy: there would be nothing to use.
    pub fn is_met(self, available: usize, total: usize) -> bool {
        available > 0
            && match self {
                Self::AllAvailable => available == total,
                Self::MajorityAvailable => available > total / 2,
                Self::OneAvailable => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_other_clients() {
        let c = EngineConfig::default();
        assert_eq!(c.auto_fallback_interval, Some(Duration::from_secs(120)));
        assert_eq!(c.unavailability_budget(), Duration::from_secs(120));
        assert_eq!(InitialPolicy::default(), InitialPolicy::OneAvailable);
    }

    #[test]
    fn majority_means_more_than_half() {
        use InitialPolicy::MajorityAvailable as M;
        assert!(!M.is_met(1, 2));
        assert!(M.is_met(2, 2));
        assert!(M.is_met(2, 3));
        assert!(!M.is_met(2, 4));
        assert!(M.is_met(3, 4));
    }

    #[test]
    fn nothing_available_meets_no_policy() {
        for p in [
            InitialPolicy::AllAvailable,
            InitialPolicy::MajorityAvailable,
            InitialPolicy::OneAvailable,
        ] {
            assert!(!p.is_met(0, 0), "{p:?}");
            assert!(!p.is_met(0, 3), "{p:?}");
        }
    }

    #[test]
    fn zero_interval_disables_fallback() {
        let c = EngineConfig {
            auto_fallback_interval: Some(Duration::ZERO),
            ..EngineConfig::default()
        };
        assert_eq!(c.fallback_interval(), None);
    }

    #[test]
    fn huge_budget_saturates() {
        let c = EngineConfig {
            failover_attempts: u32::MAX,
            failover_delay: Duration::MAX,
            ..EngineConfig::default()
        };
        assert_eq!(c.unavailability_budget(), Duration::MAX);
    }
}
