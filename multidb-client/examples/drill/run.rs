//! Plays a scenario: starts the members, the client, the load, the event recorder and the
//! progress line, runs the phases, and hands back everything that was measured.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multidb_client::{DatabaseId, Event, MultiDbClient};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at};

use super::args::{Args, Mode};
use super::load::{Counters, Load, Op};
use super::members::{self, Member, Timing};
use super::progress;
use super::scenario::{Action, Expect, FaultTarget, Phase};

/// An event and when it arrived, in ms since the drill's start.
#[derive(Clone, Debug)]
pub(crate) struct TimedEvent {
    pub(crate) at_ms: f64,
    pub(crate) event: Event,
}

/// What happened in one phase.
#[derive(Clone, Debug)]
pub(crate) struct PhaseRun {
    pub(crate) phase: Phase,
    pub(crate) start_ms: f64,
    pub(crate) end_ms: f64,
    /// What was injected, e.g. `down db1`.
    pub(crate) fault: Option<String>,
    /// The member the fault hit.
    pub(crate) target: Option<DatabaseId>,
    /// Whether the client did what the phase expects before the phase ended.
    pub(crate) expectation_met: bool,
    /// The client's status at the end of the phase.
    pub(crate) status: multidb_client::ClientStatus,
}

/// Everything a drill run measured.
#[derive(Debug)]
pub(crate) struct DrillRun {
    pub(crate) mode: &'static str,
    pub(crate) scenario: &'static str,
    pub(crate) settings: Vec<(&'static str, String)>,
    pub(crate) concurrency: usize,
    pub(crate) members: Vec<Member>,
    pub(crate) phases: Vec<PhaseRun>,
    pub(crate) events: Vec<TimedEvent>,
    /// Events the recorder lost because it fell behind (should be 0).
    pub(crate) events_lost: u64,
    pub(crate) ops: Vec<Op>,
    /// Data commands each fake had received, sampled every 100 ms (fakes only).
    pub(crate) server_samples: Vec<(f64, Vec<u64>)>,
    pub(crate) final_active: Option<DatabaseId>,
    pub(crate) total_ms: f64,
}

/// Why a drill could not run.
#[derive(Debug)]
pub(crate) enum DrillError {
    /// Members or configuration could not be set up.
    Setup(String),
    /// The client's initial health check failed (it names the unreachable databases).
    Initialize(String),
}

fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}

/// Runs the drill `args` describe with `timing`.
pub(crate) async fn run(args: &Args, timing: &Timing) -> Result<DrillRun, DrillError> {
    let prepared = members::prepare(&args.mode)
        .await
        .map_err(DrillError::Setup)?;
    let observe = matches!(args.mode, Mode::Observe(_));
    let all_required = !matches!(args.mode, Mode::Fakes);
    let client = members::client(&prepared, timing, all_required).map_err(DrillError::Setup)?;
    let t0 = Instant::now();
    let (active_tx, active_rx) = watch::channel(None);
    let recorder = Recorder::spawn(client.events(), t0, active_tx);
    if let Err(e) = client.initialize().await {
        recorder.finish().await;
        client.close().await;
        return Err(DrillError::Initialize(e.to_string()));
    }
    let members = members::members(&client, &prepared);

    let counters = Arc::new(Counters::default());
    let phase_name = Arc::new(Mutex::new(""));
    let progress = (!args.quiet).then(|| {
        progress::spawn(
            client.clone(),
            members.clone(),
            Arc::clone(&counters),
            Arc::clone(&phase_name),
        )
    });
    let sampler = Sampler::spawn(&members, t0);
    let load = Load::start(&client, args.concurrency, t0, &counters);

    let phases = if observe {
        vec![Phase::observe()]
    } else {
        args.scenario.phases()
    };
    let mut runs = Vec::new();
    let mut active_rx = active_rx;
    for phase in phases {
        if let Ok(mut name) = phase_name.lock() {
            *name = phase.name;
        }
        runs.push(
            play(
                phase,
                &client,
                &members,
                &mut active_rx,
                args.phase,
                timing,
                t0,
            )
            .await,
        );
    }

    let ops = load.finish().await;
    if let Some(p) = progress {
        p.finish().await;
    }
    let server_samples = sampler.finish().await;
    let final_active = client.active_database();
    let total_ms = ms_since(t0);
    client.close().await;
    let (events, events_lost) = recorder.finish().await;
    for m in &members {
        match &m.target {
            FaultTarget::Fake(f) => f.shutdown().await,
            FaultTarget::Proxy(p) => p.shutdown().await,
            FaultTarget::None => {}
        }
    }
    Ok(DrillRun {
        mode: match args.mode {
            Mode::Fakes => "fakes",
            Mode::Observe(_) => "observe",
            Mode::Proxy(_) => "proxy",
        },
        scenario: if observe {
            "observe"
        } else {
            args.scenario.as_str()
        },
        settings: timing.describe(),
        concurrency: args.concurrency,
        members,
        phases: runs,
        events,
        events_lost,
        ops,
        server_samples,
        final_active,
        total_ms,
    })
}

/// Runs one phase: inject, then wait its length and, if it expects a reaction, until the
/// reaction (bounded by `timing.max_wait`) plus a quarter phase to see traffic settle.
async fn play(
    phase: Phase,
    client: &MultiDbClient,
    members: &[Member],
    active: &mut watch::Receiver<Option<DatabaseId>>,
    length: Duration,
    timing: &Timing,
    t0: Instant,
) -> PhaseRun {
    let start = tokio::time::Instant::now();
    let start_ms = ms_since(t0);
    let primary = members
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight).then(b.id.cmp(&a.id)));
    let (fault, target) = match phase.action {
        Action::Nothing => (None, None),
        Action::Kill => match primary {
            Some(m) => {
                m.target.kill();
                (Some(format!("down {}", m.id)), Some(m.id))
            }
            None => (None, None),
        },
        Action::BlackholeActive => {
            let id = client.active_database();
            match members.iter().find(|m| Some(m.id) == id) {
                Some(m) => {
                    m.target.blackhole();
                    (Some(format!("blackhole {}", m.id)), Some(m.id))
                }
                None => (None, None),
            }
        }
        Action::RecoverAll => {
            for m in members {
                m.target.recover();
            }
            (Some("recover all".to_owned()), None)
        }
    };
    let min_end = start + length;
    let expectation_met = match (phase.expect, target, primary) {
        (Expect::SwitchAway, Some(away), _) => {
            let deadline = start + length.max(timing.max_wait);
            let reacted =
                timeout_at(deadline, active.wait_for(|a| a.is_some_and(|a| a != away))).await;
            reacted.is_ok_and(|r| r.is_ok())
        }
        (Expect::Home, _, Some(home)) => {
            let deadline = start + length.max(timing.max_wait);
            let home = home.id;
            let reacted = timeout_at(deadline, active.wait_for(|a| *a == Some(home))).await;
            reacted.is_ok_and(|r| r.is_ok())
        }
        _ => true,
    };
    let settle = tokio::time::Instant::now() + length / 4;
    sleep_until(min_end.max(settle)).await;
    PhaseRun {
        phase,
        start_ms,
        end_ms: ms_since(t0),
        fault,
        target,
        expectation_met,
        status: client.status(),
    }
}

/// Records every event with its arrival time and keeps the active database in a watch.
struct Recorder {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<(Vec<TimedEvent>, u64)>,
}

impl Recorder {
    fn spawn(
        mut rx: broadcast::Receiver<Event>,
        t0: Instant,
        active: watch::Sender<Option<DatabaseId>>,
    ) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut events = Vec::new();
            let mut lost = 0;
            let keep = |e: Event, events: &mut Vec<TimedEvent>| {
                if let Event::ActiveDatabaseChanged { to, .. } = &e {
                    active.send_replace(Some(*to));
                }
                events.push(TimedEvent {
                    at_ms: ms_since(t0),
                    event: e,
                });
            };
            loop {
                tokio::select! {
                    biased;
                    got = rx.recv() => match got {
                        Ok(e) => keep(e, &mut events),
                        Err(broadcast::error::RecvError::Lagged(n)) => lost += n,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = &mut stopped => break,
                }
            }
            while let Ok(e) = rx.try_recv() {
                keep(e, &mut events);
            }
            (events, lost)
        });
        Recorder { stop, task }
    }

    async fn finish(self) -> (Vec<TimedEvent>, u64) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// Samples each fake's data-command counter every 100 ms: what the servers saw, which
/// includes commands a fault swallowed.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<Vec<(f64, Vec<u64>)>>,
}

impl Sampler {
    fn spawn(members: &[Member], t0: Instant) -> Self {
        let targets: Vec<FaultTarget> = members.iter().map(|m| m.target.clone()).collect();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            if targets.iter().any(|t| t.data_commands().is_none()) {
                return samples;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let counts = targets.iter().map(|t| t.data_commands().unwrap_or(0)).collect();
                        samples.push((ms_since(t0), counts));
                    }
                    _ = &mut stopped => break,
                }
            }
            samples
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> Vec<(f64, Vec<u64>)> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
