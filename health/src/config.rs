//! How a target is checked: probes per check, their policy and timeout, and the schedule.
//!
//! The defaults follow redis-py's and Jedis' documented ones (a check every 5 s made of
//! 3 probes 0.5 s apart, all of which must pass within 3 s), so a ported configuration
//! behaves the same. On top of them come the on-demand checks those clients lack: a
//! single fast probe that the owner asks for when a command fails, rate-limited per
//! target so a storm of failures costs at most one probe per `min_probe_interval`.

use std::time::Duration;

use crate::ConfigError;

/// How the probes of one health check decide the check's outcome.
///
/// Every policy exits early: probing stops as soon as the outcome is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ProbePolicy {
    /// Every probe must pass; the first failure fails the check.
    #[default]
    All,
    /// More than half of the probes must pass (2 of 3, 3 of 4, 3 of 5).
    Majority,
    /// One passing probe is enough; the check fails only if every probe fails.
    Any,
}

impl ProbePolicy {
    /// The outcome once `passed` and `failed` of `probes` probes are known, or `None` to
    /// keep probing.
    pub(crate) fn decide(self, probes: u32, passed: u32, failed: u32) -> Option<bool> {
        match self {
            Self::All if failed > 0 => Some(false),
            Self::All if passed >= probes => Some(true),
            Self::Any if passed > 0 => Some(true),
            Self::Any if failed >= probes => Some(false),
            Self::Majority => {
                let needed = probes / 2 + 1;
                if passed >= needed {
                    Some(true)
                } else if failed > probes - needed {
                    Some(false)
                } else {
                    None
                }
            }
            Self::All | Self::Any => None,
        }
    }
}

/// How one health check probes its target: how many probes, how far apart, the policy
/// over their results, and the timeout bounding the whole check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    probes: u32,
    probe_delay: Duration,
    timeout: Duration,
    policy: ProbePolicy,
}

impl Default for ProbeConfig {
    /// 3 probes, 500 ms apart, 3 s timeout, [`ProbePolicy::All`].
    fn default() -> Self {
        Self {
            probes: 3,
            probe_delay: Duration::from_millis(500),
            timeout: Duration::from_secs(3),
            policy: ProbePolicy::All,
        }
    }
}

impl ProbeConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ProbeConfigBuilder {
        ProbeConfigBuilder {
            config: Self::default(),
        }
    }

    /// Probes per check (at least 1).
    pub fn probes(&self) -> u32 {
        self.probes
    }

    /// The pause between two probes of one check.
    pub fn probe_delay(&self) -> Duration {
        self.probe_delay
    }

    /// The bound on a whole check: every probe and every pause between them.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The policy over the probes' results.
    pub fn policy(&self) -> ProbePolicy {
        self.policy
    }

    /// The on-demand default: one probe, 500 ms timeout.
    fn on_demand_default() -> Self {
        Self {
            probes: 1,
            timeout: Duration::from_millis(500),
            ..Self::default()
        }
    }
}

/// Builds a [`ProbeConfig`]; unset fields keep their defaults.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProbeConfigBuilder {
    config: ProbeConfig,
}

impl ProbeConfigBuilder {
    /// Probes per check; must be at least 1. Default 3.
    pub fn probes(mut self, probes: u32) -> Self {
        self.config.probes = probes;
        self
    }

    /// The pause between two probes. Default 500 ms.
    pub fn probe_delay(mut self, delay: Duration) -> Self {
        self.config.probe_delay = delay;
        self
    }

    /// The bound on the whole check; must be greater than zero. Default 3 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The policy over the probes' results. Default [`ProbePolicy::All`].
    pub fn policy(mut self, policy: ProbePolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroProbes`] if `probes` is 0, [`ConfigError::ZeroDuration`] if
    /// `timeout` is zero.
    pub fn build(self) -> Result<ProbeConfig, ConfigError> {
        let config = self.config;
        if config.probes == 0 {
            return Err(ConfigError::ZeroProbes {
                value: config.probes,
            });
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroDuration {
                field: "timeout",
                value: config.timeout,
            });
        }
        Ok(config)
    }
}

/// How and when one target is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    interval: Duration,
    jitter: Duration,
    probe: ProbeConfig,
    on_demand: ProbeConfig,
    min_probe_interval: Duration,
    initial_delay: Option<Duration>,
}

impl Default for TargetConfig {
    /// Every 5 s ± 500 ms, [`ProbeConfig::default`] for scheduled checks, one probe with a
    /// 500 ms timeout on demand, at most one on-demand check per 100 ms, first scheduled
    /// check one interval after the target is added.
    fn default() -> Self {
        let interval = Duration::from_secs(5);
        Self {
            interval,
            jitter: default_jitter(interval),
            probe: ProbeConfig::default(),
            on_demand: ProbeConfig::on_demand_default(),
            min_probe_interval: Duration::from_millis(100),
            initial_delay: None,
        }
    }
}

/// The largest default jitter: a long interval does not need minutes of spread.
const MAX_DEFAULT_JITTER: Duration = Duration::from_secs(1);

/// 10 % of the interval, capped at [`MAX_DEFAULT_JITTER`].
fn default_jitter(interval: Duration) -> Duration {
    (interval / 10).min(MAX_DEFAULT_JITTER)
}

impl TargetConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> TargetConfigBuilder {
        TargetConfigBuilder {
            config: Self::default(),
            jitter: None,
        }
    }

    /// The nominal wait between scheduled checks.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The largest random deviation from `interval` of each wait.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// How scheduled checks probe.
    pub fn probe(&self) -> &ProbeConfig {
        &self.probe
    }

    /// How on-demand checks (`check_now`, `request_check`) probe.
    pub fn on_demand(&self) -> &ProbeConfig {
        &self.on_demand
    }

    /// The least time between the starts of two on-demand checks of the target.
    pub fn min_probe_interval(&self) -> Duration {
        self.min_probe_interval
    }

    /// The wait before the first scheduled check; `None` means one (jittered) interval.
    pub fn initial_delay(&self) -> Option<Duration> {
        self.initial_delay
    }

    /// A wait drawn uniformly from `interval ± jitter`.
    pub(crate) fn next_wait(&self) -> Duration {
        let jitter = u64::try_from(self.jitter.as_nanos()).unwrap_or(u64::MAX / 2);
        let offset = Duration::from_nanos(fastrand::u64(0..=jitter.saturating_mul(2)));
        self.interval
            .saturating_add(offset)
            .saturating_sub(self.jitter)
    }

    /// The wait before the first scheduled check.
    pub(crate) fn first_wait(&self) -> Duration {
        self.initial_delay.unwrap_or_else(|| self.next_wait())
    }
}

/// Builds a [`TargetConfig`]; unset fields keep their defaults.
#[derive(Debug, Clone)]
#[must_use]
pub struct TargetConfigBuilder {
    config: TargetConfig,
    jitter: Option<Duration>,
}

impl TargetConfigBuilder {
    /// The nominal wait between scheduled checks, measured from the end of one scheduled
    /// check to the start of the next (so they never pile up); must be greater than zero.
    /// Default 5 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.config.interval = interval;
        self
    }

    /// Each wait is `interval` plus or minus a uniformly random amount up to `jitter`, so
    /// many clients do not probe a server in lockstep; must be less than `interval`.
    /// Default 10 % of the interval, capped at 1 s. Zero disables jitter.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// How scheduled checks probe. Default [`ProbeConfig::default`].
    pub fn probe(mut self, probe: ProbeConfig) -> Self {
        self.config.probe = probe;
        self
    }

    /// How on-demand checks probe. Default: one probe, 500 ms timeout.
    pub fn on_demand(mut self, on_demand: ProbeConfig) -> Self {
        self.config.on_demand = on_demand;
        self
    }

    /// On-demand checks of the target start at most once per this; zero disables the
    /// limit. Default 100 ms.
    pub fn min_probe_interval(mut self, min: Duration) -> Self {
        self.config.min_probe_interval = min;
        self
    }

    /// The wait before the first scheduled check (`Some(Duration::ZERO)`: at once); `None`
    /// waits one jittered interval, for owners that call `check_now` at start. Default `None`.
    pub fn initial_delay(mut self, delay: Option<Duration>) -> Self {
        self.config.initial_delay = delay;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroDuration`] if `interval` is zero, [`ConfigError::JitterTooLarge`]
    /// if an explicit `jitter` is not less than `interval`.
    pub fn build(self) -> Result<TargetConfig, ConfigError> {
        let mut config = self.config;
        if config.interval.is_zero() {
            return Err(ConfigError::ZeroDuration {
                field: "interval",
                value: config.interval,
            });
        }
        config.jitter = match self.jitter {
            Some(jitter) if jitter >= config.interval => {
                return Err(ConfigError::JitterTooLarge {
                    value: jitter,
                    interval: config.interval,
                });
            }
            Some(jitter) => jitter,
            None => default_jitter(config.interval),
        };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_needs_more_than_half() {
        assert_eq!(ProbePolicy::Majority.decide(3, 2, 0), Some(true));
        assert_eq!(ProbePolicy::Majority.decide(3, 1, 1), None);
        assert_eq!(ProbePolicy::Majority.decide(3, 0, 2), Some(false));
        assert_eq!(ProbePolicy::Majority.decide(4, 2, 1), None);
        assert_eq!(ProbePolicy::Majority.decide(4, 2, 2), Some(false));
        assert_eq!(ProbePolicy::Majority.decide(4, 3, 0), Some(true));
        assert_eq!(ProbePolicy::Majority.decide(1, 0, 1), Some(false));
        assert_eq!(ProbePolicy::Majority.decide(1, 1, 0), Some(true));
    }

    #[test]
    fn default_jitter_follows_interval_and_is_capped() {
        let short = TargetConfig::builder()
            .interval(Duration::from_secs(2))
            .build()
            .unwrap();
        assert_eq!(short.jitter(), Duration::from_millis(200));
        let long = TargetConfig::builder()
            .interval(Duration::from_secs(60))
            .build()
            .unwrap();
        assert_eq!(long.jitter(), MAX_DEFAULT_JITTER);
    }

    #[test]
    fn waits_stay_within_interval_plus_minus_jitter() {
        let config = TargetConfig::builder()
            .interval(Duration::from_secs(1))
            .jitter(Duration::from_millis(300))
            .build()
            .unwrap();
        for _ in 0..1000 {
            let wait = config.next_wait();
            assert!(wait >= Duration::from_millis(700) && wait <= Duration::from_millis(1300));
        }
    }
}
