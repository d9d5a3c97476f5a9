use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::ProbePolicy;

/// Replays a script of probe outcomes (`true` = pass) and counts its calls.
struct Scripted {
    script: Mutex<VecDeque<bool>>,
    calls: AtomicU32,
}

#[async_trait::async_trait]
impl HealthCheck<()> for Scripted {
    async fn check(&self, (): &()) -> Result<(), Unhealthy> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let pass = self.script.lock().unwrap().pop_front().unwrap_or(false);
        if pass {
            Ok(())
        } else {
            Err(Unhealthy::new("refused"))
        }
    }

    fn name(&self) -> &'static str {
        "scripted"
    }
}

/// The reference model: the outcome over every probe, without early exit.
fn verdict(policy: ProbePolicy, outcomes: &[bool]) -> bool {
    let passed = outcomes.iter().filter(|&&p| p).count();
    match policy {
        ProbePolicy::All => passed == outcomes.len(),
        ProbePolicy::Any => passed > 0,
        ProbePolicy::Majority => passed * 2 > outcomes.len(),
    }
}

/// The shortest prefix after which every possible continuation gives the same verdict:
/// exactly how many probes an early-exiting engine must run.
fn decisive_prefix(policy: ProbePolicy, outcomes: &[bool]) -> usize {
    let n = outcomes.len();
    (1..=n)
        .find(|&k| {
            let rest = n - k;
            let verdicts: Vec<bool> = (0..1u32 << rest)
                .map(|bits| {
                    let mut all = outcomes[..k].to_vec();
                    all.extend((0..rest).map(|i| bits & (1 << i) != 0));
                    verdict(policy, &all)
                })
                .collect();
            verdicts.iter().all(|&v| v == verdicts[0])
        })
        .unwrap_or(n)
}

fn run_paused<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(future)
}

fn policy() -> impl Strategy<Value = ProbePolicy> {
    prop_oneof![
        Just(ProbePolicy::All),
        Just(ProbePolicy::Majority),
        Just(ProbePolicy::Any)
    ]
}

proptest! {
    #[test]
    fn policies_match_reference_model_and_exit_early(
        policy in policy(),
        outcomes in proptest::collection::vec(any::<bool>(), 1..=6),
    ) {
        let check = Scripted { script: Mutex::new(outcomes.iter().copied().collect()), calls: AtomicU32::new(0) };
        let config = ProbeConfig::builder()
            .probes(u32::try_from(outcomes.len()).unwrap())
            .probe_delay(Duration::from_millis(10))
            .timeout(Duration::from_secs(60))
            .policy(policy)
            .build()
            .unwrap();
        let outcome = run_paused(check_one(&check, &(), &config));
        prop_assert_eq!(outcome.is_ok(), verdict(policy, &outcomes));
        prop_assert_eq!(check.calls.load(Ordering::SeqCst) as usize, decisive_prefix(policy, &outcomes));
    }
}

#[test]
fn failure_reason_counts_failed_probes_and_quotes_last_reason() {
    let check = Scripted {
        script: Mutex::new([false, true, false].into()),
        calls: AtomicU32::new(0),
    };
    let config = ProbeConfig::builder()
        .policy(ProbePolicy::Majority)
        .build()
        .unwrap();
    let outcome = run_paused(check_one(&check, &(), &config));
    assert_eq!(
        outcome.unwrap_err().reason(),
        "scripted: 2 of 3 probes failed: refused"
    );
}

struct Slow;

#[async_trait::async_trait]
impl HealthCheck<()> for Slow {
    async fn check(&self, (): &()) -> Result<(), Unhealthy> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "slow"
    }
}

#[test]
fn check_all_fails_at_first_failing_check_without_waiting_for_slow_ones() {
    let failing: Arc<dyn HealthCheck<()>> = Arc::new(Scripted {
        script: Mutex::new([false].into()),
        calls: AtomicU32::new(0),
    });
    let slow: Arc<dyn HealthCheck<()>> = Arc::new(Slow);
    let config = ProbeConfig::builder()
        .probes(1)
        .timeout(Duration::from_secs(7200))
        .build()
        .unwrap();
    let (outcome, took) = run_paused(async {
        let start = tokio::time::Instant::now();
        let outcome = check_all(&[slow, failing], &(), &config).await;
        (outcome, start.elapsed())
    });
    assert_eq!(
        outcome.unwrap_err().reason(),
        "scripted: 1 of 1 probes failed: refused"
    );
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn check_all_passes_when_every_check_passes() {
    let checks: Vec<Arc<dyn HealthCheck<()>>> = (0..3)
        .map(|_| {
            Arc::new(Scripted {
                script: Mutex::new([true].into()),
                calls: AtomicU32::new(0),
            }) as Arc<dyn HealthCheck<()>>
        })
        .collect();
    let config = ProbeConfig::builder().probes(1).build().unwrap();
    assert_eq!(run_paused(check_all(&checks, &(), &config)), Ok(()));
}
