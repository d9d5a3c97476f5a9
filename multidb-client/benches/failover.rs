//! Failover time of `MultiDbClient` with its default configuration, against real
//! `redis-server` processes started by the testkit: a latency distribution over many
//! trials, not a micro-benchmark, so this bench has its own loop and prints a table.
//!
//! Each trial: a fresh client over a primary (weight 1.0) and a secondary (0.5), a load of
//! tasks doing SET then GET ([`HEAVY_TASKS`]), then a fault
//! on the primary: `SIGKILL` (`kill`), `SIGSTOP` (`pause`), `CLIENT PAUSE 10000 ALL`
//! (`client-pause`), replies delayed 1 s — past the response timeout — on the path
//! (`latency`, through the testkit's fault proxy), or replies dropped on the path while
//! requests still pass (`one-way`). Measured from just before the fault: the first
//! successful command answered by the secondary (each server holds a marker key naming
//! itself), the moment every task has had one, the `ActiveDatabaseChanged` event, and the
//! errors the application saw. The primary is then restarted (or resumed, or the proxy
//! healed) and the client closed. Goals: `kill` p99 ≤ 5 ms; the stalls (`pause`,
//! `client-pause`, `latency`, `one-way`) p99 ≤ 300 ms; no error.
//!
//! Where the fault falls in the health-check schedule matters: an on-demand probe is not
//! started within `min_probe_interval` (100 ms) of the last finished check, whose result
//! stands in for it. So the scenarios run [`SETTLE`] after `initialize()`'s checks before
//! the fault, and `kill-after-check` puts the fault right after a finished check, the worst
//! phase (with default checks every 5 s, about 2 % of faults land there).
//!
//! `pubsub-kill` and `pubsub-pause` measure what a Pub/Sub subscriber misses around the
//! same two faults: a subscriber on one channel, a `PUBLISH` through the client every
//! millisecond, each pipelined with a `GET` of the marker so the reply says which database
//! ran it, and a sentinel on the new database once the rest have ended. Counted lost: a
//! message that landed on the new database and was not heard before the sentinel (one
//! that landed on the old one is not: Pub/Sub is at-most-once across databases). Also the
//! gap from the last message heard from the old database to the first from the new one.
//! Goal: none lost in any trial (see `failover/pubsub.rs`).
//!
//! The **transient suite** is the other side: trouble that must switch nothing and surface
//! no error — `DEBUG SLEEP 0.2`, `CLIENT KILL TYPE normal`, a 100 ms latency spike on the
//! path, a `BGSAVE` fork of a ~400 MB dataset, a 150 ms Lua busy loop, `BLPOP q 3` through
//! the client — each with 4 and with 16 load tasks. A switch or an error there fails the
//! bench (non-zero exit, so `cargo xtask bench` fails too).
//!
//! `blocking-side-by-side` measures no failover: blocking commands go over dedicated
//! connections, so they must not delay the shared multiplexed one. One client over the same
//! pair, [`LOAD_TASKS`] tasks of SET/GET, each command timed: phase A alone (the baseline),
//! phase B while [`WAITERS`] tasks sit in `BLPOP <own key> 0` through the same client
//! (started once the server reports them all in `blocked_clients`, checked still blocked
//! after the load, then released by `LPUSH`, each checked to get its element). The phases
//! alternate (A B, B A, …) over [`BLOCKING_REPS`] repetitions so the noise of the machine
//! hits both; the figure is the median over repetitions of p99(B) / p99(A). Goal: ≤ 2.
//!
//! `cargo bench --bench failover` runs the trial counts of [`SCENARIOS`] and of the
//! Pub/Sub scenarios, the transient suite and the blocking scenario; `cargo test --benches`
//! runs one trial of each so the code stays exercised. `MULTIDB_BENCH_FAILOVER_TRIALS=N`
//! runs N trials of every failover scenario instead (`cargo xtask bench` asks for at least
//! 30 each), and `MULTIDB_BENCH_JSON` also writes the figures. Arguments not starting with
//! `-` pick the scenarios whose name contains one of them, e.g. `cargo bench -p
//! multidb-client --bench failover -- transient` (or `-- pubsub`).
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig};
use multidb_testkit::{FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

#[path = "figures/mod.rs"]
mod figures;
use figures::median;
#[path = "failover/pubsub.rs"]
mod pubsub;

/// Load tasks of the blocking scenario, and of the transient suite's lighter half.
const LOAD_TASKS: usize = 4;
/// Load tasks of the failover scenarios, and of the transient suite's heavier half.
const HEAVY_TASKS: usize = 16;
/// Load before the fault in the steady-phase scenarios: past `min_probe_interval` after
/// the last check, far before the next scheduled one.
const SETTLE: Duration = Duration::from_millis(250);

/// One failover scenario.
struct Scenario {
    name: &'static str,
    fault: Fault,
    /// Load time before the fault.
    settle: Duration,
    trials: usize,
    tasks: usize,
    /// An `on_event` listener that panics on every event and one that sleeps in each call.
    hostile_listeners: bool,
    /// The goal on p99 of the first success on the secondary, in ms.
    goal_ms: Option<f64>,
}

const fn scenario(
    name: &'static str,
    fault: Fault,
    trials: usize,
    goal_ms: Option<f64>,
) -> Scenario {
    Scenario {
        name,
        fault,
        settle: SETTLE,
        trials,
        tasks: HEAVY_TASKS,
        hostile_listeners: false,
        goal_ms,
    }
}

/// Kill within 5 ms; a stall — tolerance, then a probe of a tolerance — within 300 ms.
const KILL_GOAL_MS: f64 = 5.0;
const STALL_GOAL_MS: f64 = 300.0;

const SCENARIOS: [Scenario; 7] = [
    scenario("kill", Fault::Kill, 30, Some(KILL_GOAL_MS)),
    // The same, with listeners that panic and sleep: the figures should be `kill`'s.
    Scenario {
        hostile_listeners: true,
        ..scenario("kill-hostile-listeners", Fault::Kill, 30, None)
    },
    Scenario {
        settle: Duration::ZERO,
        ..scenario("kill-after-check", Fault::Kill, 10, None)
    },
    scenario("pause", Fault::Pause, 30, Some(STALL_GOAL_MS)),
    scenario("client-pause", Fault::ClientPause, 30, Some(STALL_GOAL_MS)),
    scenario("latency", Fault::Latency, 30, Some(STALL_GOAL_MS)),
    scenario("one-way", Fault::OneWay, 30, Some(STALL_GOAL_MS)),
];
/// How long the sleeping listener of `kill-hostile-listeners` takes over each event.
const LISTENER_SLEEP: Duration = Duration::from_secs(2);
/// Operations each task completes on the primary before the fault.
const WARM_OPS: u64 = 20;
/// A trial that has not moved by then failed; a guard against hangs, never a wait.
const GUARD: Duration = Duration::from_secs(10);
const MARKER: &str = "bench:failover:server";
const BLOCKING: &str = "blocking-side-by-side";
/// Tasks sitting in `BLPOP` during phase B.
const WAITERS: usize = 8;
/// Commands (SET and GET alternately) each load task times in one phase.
const PHASE_OPS: usize = 500;
/// Phase pairs (A and B) of the blocking scenario.
const BLOCKING_REPS: usize = 20;
/// The goal on the median of p99(B) / p99(A).
const BLOCKING_GOAL: f64 = 2.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    Kill,
    Pause,
    ClientPause,
    Latency,
    OneWay,
}

impl Fault {
    /// Whether the client reaches the primary through the fault proxy.
    fn proxied(self) -> bool {
        matches!(self, Fault::Latency | Fault::OneWay)
    }
}

/// The pair of servers, the proxy in front of the primary and a connection to it that
/// the client does not use.
struct Servers {
    primary: RedisServer,
    secondary: RedisServer,
    proxy: FaultProxy,
}

impl Servers {
    fn admin(&self) -> redis::Connection {
        redis::Client::open(self.primary.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// The client's URL of the primary: through the proxy or not.
    fn primary_url(&self, proxied: bool) -> String {
        if proxied {
            self.proxy.url()
        } else {
            self.primary.url()
        }
    }

    /// Makes `fault` happen on the primary or its path; `CLIENT PAUSE` goes through `admin`,
    /// opened before so that connecting is not timed.
    fn inject(&mut self, fault: Fault, admin: Option<&mut redis::Connection>) {
        match fault {
            Fault::Kill => self.primary.kill(),
            Fault::Pause => self.primary.pause().unwrap(),
            Fault::ClientPause => {
                let admin = admin.expect("CLIENT PAUSE needs the admin connection");
                let () = redis::cmd("CLIENT")
                    .arg("PAUSE")
                    .arg(10_000)
                    .arg("ALL")
                    .query(admin)
                    .unwrap();
            }
            Fault::Latency => self.proxy.inject(ProxyFault::Latency {
                fixed: Duration::from_secs(1),
                jitter: Duration::ZERO,
            }),
            Fault::OneWay => self.proxy.inject(ProxyFault::BlackholeReplies),
        }
    }

    /// Ends `fault`: the primary runs again with its marker, reached as before.
    fn heal(&mut self, fault: Fault) {
        match fault {
            // A paused server answers nothing, `CLIENT UNPAUSE` included: start it again.
            Fault::Kill | Fault::ClientPause => self.primary.restart().unwrap(),
            Fault::Pause => self.primary.resume().unwrap(),
            Fault::Latency | Fault::OneWay => {
                self.proxy.recover();
                self.proxy.drop_connections();
            }
        }
        mark(&self.primary, "primary");
    }
}

/// What one trial saw, times measured from just before the fault.
#[derive(Debug)]
struct Trial {
    /// The first successful command answered by the secondary.
    first: Option<Duration>,
    /// Every task has had a command answered by the secondary.
    all: Option<Duration>,
    /// The `ActiveDatabaseChanged` event.
    switch: Option<Duration>,
    /// Errors returned to the application.
    errors: u64,
    /// Commands that succeeded.
    ok: u64,
}

struct Load {
    tasks: Vec<tokio::task::JoinHandle<Option<Instant>>>,
    errors: Arc<AtomicU64>,
    ok: Arc<AtomicU64>,
}

/// Starts `tasks` tasks of load; returns once each has done [`WARM_OPS`] commands on the
/// primary. A task ends at its first answer from the secondary, or at `stop`.
async fn start_load(client: &MultiDbClient, tasks: usize, stop: &Arc<AtomicBool>) -> Load {
    let errors = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let (warm_tx, mut warm_rx) = mpsc::channel(tasks);
    let handles = (0..tasks)
        .map(|t| {
            let (mut con, errors, ok, warm_tx, stop) = (
                client.clone(),
                errors.clone(),
                ok.clone(),
                warm_tx.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let deadline = Instant::now() + GUARD;
                let mut done = 0_u64;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let set: redis::RedisResult<()> = con.set(format!("bench:fo:{t}"), done).await;
                    let at: redis::RedisResult<String> = match set {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            con.get(MARKER).await
                        }
                        Err(e) => Err(e),
                    };
                    if let Ok(server) = at {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if server == "secondary" {
                            return Some(Instant::now());
                        }
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        // Errors may come fast: let the rest of the runtime run.
                        tokio::task::yield_now().await;
                    }
                    done += 1;
                    if done == WARM_OPS {
                        let _ = warm_tx.send(()).await;
                    }
                }
                None
            })
        })
        .collect();
    for _ in 0..tasks {
        warm_rx.recv().await.unwrap();
    }
    Load {
        tasks: handles,
        errors,
        ok,
    }
}

fn mark(server: &RedisServer, name: &str) {
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::Commands::set(&mut con, MARKER, name).unwrap();
}

/// A client over the pair with default settings (and the scenario's listeners).
fn client(servers: &Servers, proxied: bool, hostile_listeners: bool) -> MultiDbClient {
    let mut config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&servers.primary_url(proxied)).unwrap())
        .database(
            DatabaseConfig::from_url(&servers.secondary.url())
                .unwrap()
                .weight(0.5),
        );
    if hostile_listeners {
        config = config
            .on_event(|_| panic!("a listener's bug"))
            // The scenario itself: a listener that blocks its thread for seconds.
            .on_event(|_| std::thread::sleep(LISTENER_SLEEP));
    }
    MultiDbClient::new(config.build().unwrap())
}

/// The time of the next `ActiveDatabaseChanged` event.
fn next_switch(client: &MultiDbClient) -> tokio::task::JoinHandle<Option<Instant>> {
    let mut events = client.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::ActiveDatabaseChanged { .. }) => return Some(Instant::now()),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
}

fn trial(rt: &Runtime, servers: &mut Servers, scenario: &Scenario) -> Trial {
    let fault = scenario.fault;
    let client = client(servers, fault.proxied(), scenario.hostile_listeners);
    let stop = Arc::new(AtomicBool::new(false));
    let (load, switch) = rt.block_on(async {
        client.initialize().await.unwrap();
        let primary_id = client.databases()[0].id;
        assert_eq!(client.active_database(), Some(primary_id));
        let switch = next_switch(&client);
        (start_load(&client, scenario.tasks, &stop).await, switch)
    });
    // Places the fault in the health-check schedule (see the module docs); the load runs.
    std::thread::sleep(scenario.settle);
    let mut admin = (fault == Fault::ClientPause).then(|| servers.admin());
    // From this thread, not a runtime worker: the signal must not stall the load.
    let start = Instant::now();
    servers.inject(fault, admin.as_mut());
    let moved = rt.block_on(async {
        let mut moved = Vec::new();
        for task in load.tasks {
            moved.push(task.await.unwrap());
        }
        moved
    });
    let since = |at: Instant| at.saturating_duration_since(start);
    let first = moved.iter().flatten().min().map(|&at| since(at));
    let all = moved
        .iter()
        .copied()
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().max())
        .map(since);
    let switch = rt.block_on(async {
        tokio::time::timeout(GUARD, switch)
            .await
            .ok()
            .and_then(Result::unwrap)
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(client.close());
    let outcome = Trial {
        first,
        all,
        switch: switch.map(since),
        errors: load.errors.load(Ordering::Relaxed),
        ok: load.ok.load(Ordering::Relaxed),
    };
    servers.heal(fault);
    outcome
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "timeout".to_owned(),
        |d| format!("{:.2}", d.as_secs_f64() * 1e3),
    )
}

/// For `cargo xtask bench`: e.g. `kill/first_ok/p99` in ms.
fn record_stats(scenario: &str, label: &str, stats: [(&str, Option<Duration>); 3]) {
    let label = if label == "first ok" {
        "first_ok".to_owned()
    } else {
        label.replace(' ', "_")
    };
    for (stat, d) in stats {
        let ms = d.map(|d| d.as_secs_f64() * 1e3);
        figures::record(
            "failover",
            &format!("{scenario}/{label}/{stat}"),
            ms,
            "ms",
            &[],
        );
    }
}

fn summarize(scenario: &Scenario, trials: &[Trial]) -> (String, bool) {
    let Scenario {
        name,
        fault,
        settle,
        tasks,
        ..
    } = *scenario;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== {name}: {fault:?} the active member {settle:?} into the load; {} trials, {tasks} load tasks, default config ===",
        trials.len()
    );
    let _ = writeln!(
        out,
        "{:>5} {:>14} {:>14} {:>14} {:>7} {:>7}",
        "trial", "first ok (ms)", "all moved (ms)", "switch (ms)", "errors", "ok"
    );
    for (i, t) in trials.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>5} {:>14} {:>14} {:>14} {:>7} {:>7}",
            i + 1,
            ms(t.first),
            ms(t.all),
            ms(t.switch),
            t.errors,
            t.ok
        );
    }
    let failed = trials.iter().filter(|t| t.first.is_none()).count();
    let _ = writeln!(out, "summary ({failed} trials without recovery):");
    let count = |figure: &str, n: usize| {
        figures::record(
            "failover",
            &format!("{name}/{figure}"),
            Some(n as f64),
            "count",
            &[],
        );
    };
    count("trials", trials.len());
    count("trials_without_recovery", failed);
    for (label, pick) in [
        (
            "first ok",
            (|t: &Trial| t.first) as fn(&Trial) -> Option<Duration>,
        ),
        ("all moved", |t: &Trial| t.all),
        ("switch", |t: &Trial| t.switch),
    ] {
        let mut v: Vec<Duration> = trials.iter().filter_map(pick).collect();
        v.sort();
        let stats = [
            ("p50", percentile(&v, 0.50)),
            ("p99", percentile(&v, 0.99)),
            ("max", v.last().copied()),
        ];
        let _ = writeln!(
            out,
            "  {label:<10} p50 {:>8} ms   p99 {:>8} ms   max {:>8} ms",
            ms(stats[0].1),
            ms(stats[1].1),
            ms(stats[2].1),
        );
        record_stats(name, label, stats);
    }
    let errors: Vec<u64> = trials.iter().map(|t| t.errors).collect();
    let _ = writeln!(
        out,
        "  errors     total {}   max per trial {}   trials with errors {}",
        errors.iter().sum::<u64>(),
        errors.iter().max().copied().unwrap_or(0),
        errors.iter().filter(|&&e| e > 0).count()
    );
    count("errors/total", errors.iter().sum::<u64>() as usize);
    count(
        "errors/max_per_trial",
        errors.iter().max().copied().unwrap_or(0) as usize,
    );
    count(
        "errors/trials_with_errors",
        errors.iter().filter(|&&e| e > 0).count(),
    );
    let mut met = true;
    if let Some(goal) = scenario.goal_ms {
        let mut v: Vec<Duration> = trials.iter().filter_map(|t| t.first).collect();
        v.sort();
        let p99 = percentile(&v, 0.99);
        met = failed == 0
            && errors.iter().all(|&e| e == 0)
            && p99.is_some_and(|p| p.as_secs_f64() * 1e3 <= goal);
        let _ = writeln!(
            out,
            "  goal p99 first ok ≤ {goal} ms, no error: {}",
            if met { "met" } else { "MISSED" }
        );
    }
    (out, met)
}

/// [`LOAD_TASKS`] tasks each time `ops` commands, SET then GET of its own key; every latency,
/// sorted.
async fn timed_load(client: &MultiDbClient, ops: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..LOAD_TASKS)
        .map(|t| {
            let mut con = client.clone();
            tokio::spawn(async move {
                let key = format!("bench:blk:load:{t}");
                let mut latencies = Vec::with_capacity(ops);
                for i in 0..ops {
                    let start = Instant::now();
                    if i % 2 == 0 {
                        let () = con.set(&key, i).await.unwrap();
                    } else {
                        let got: usize = con.get(&key).await.unwrap();
                        assert_eq!(got, i - 1);
                    }
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(LOAD_TASKS * ops);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    all
}

/// Phase B: the load while [`WAITERS`] tasks wait in `BLPOP` through the same client.
async fn load_beside_blpop(
    client: &MultiDbClient,
    server: &RedisServer,
    rep: usize,
    ops: usize,
) -> Vec<Duration> {
    let key = |i: usize| format!("bench:blk:wait:{rep}:{i}");
    let waiters: Vec<_> = (0..WAITERS)
        .map(|i| {
            let (mut con, key) = (client.clone(), key(i));
            tokio::spawn(async move {
                redis::cmd("BLPOP")
                    .arg(key)
                    .arg(0)
                    .query_async::<Option<(String, String)>>(&mut con)
                    .await
            })
        })
        .collect();
    tokio::task::block_in_place(|| server.wait_for_blocked_clients(WAITERS)).unwrap();
    let latencies = timed_load(client, ops).await;
    assert_eq!(
        server.blocked_clients().unwrap(),
        WAITERS,
        "every BLPOP waits through the whole load"
    );
    let mut con = client.clone();
    for i in 0..WAITERS {
        let () = con.lpush(key(i), format!("e{i}")).await.unwrap();
    }
    for (i, waiter) in waiters.into_iter().enumerate() {
        let got = tokio::time::timeout(GUARD, waiter)
            .await
            .expect("a released BLPOP answers")
            .unwrap()
            .unwrap();
        assert_eq!(got, Some((key(i), format!("e{i}"))));
    }
    latencies
}

/// One repetition: both phases' sorted latencies.
struct Rep {
    baseline: Vec<Duration>,
    blocked: Vec<Duration>,
}

impl Rep {
    fn p99_ratio(&self) -> f64 {
        secs(percentile(&self.blocked, 0.99)) / secs(percentile(&self.baseline, 0.99))
    }
}

fn secs(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64())
}

/// The blocking scenario: a fresh client over the pair, phases A and B alternating.
fn blocking_side_by_side(
    rt: &Runtime,
    primary: &RedisServer,
    secondary: &RedisServer,
    reps: usize,
    ops: usize,
) -> Vec<Rep> {
    let client = MultiDbClient::from_urls([primary.url(), secondary.url()], [1.0, 0.5]).unwrap();
    let reps = rt.block_on(async {
        client.initialize().await.unwrap();
        assert_eq!(client.active_database(), Some(client.databases()[0].id));
        // Unmeasured: connections and the first commands of each task.
        let _ = timed_load(&client, ops).await;
        let mut out = Vec::with_capacity(reps);
        for rep in 0..reps {
            let (baseline, blocked) = if rep % 2 == 0 {
                let a = timed_load(&client, ops).await;
                (a, load_beside_blpop(&client, primary, rep, ops).await)
            } else {
                let b = load_beside_blpop(&client, primary, rep, ops).await;
                (timed_load(&client, ops).await, b)
            };
            out.push(Rep { baseline, blocked });
        }
        out
    });
    rt.block_on(client.close());
    reps
}

fn summarize_blocking(reps: &[Rep]) -> String {
    let mut out = String::new();
    let samples = reps.first().map_or(0, |r| r.baseline.len());
    let _ = writeln!(
        out,
        "\n=== {BLOCKING}: {LOAD_TASKS} tasks of SET/GET alone (A) and beside {WAITERS} BLPOP waiting \
         on the same client (B); {} repetitions, {samples} commands a phase, default config ===",
        reps.len()
    );
    let _ = writeln!(
        out,
        "{:>5} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "rep", "A p50 (ms)", "A p99 (ms)", "B p50 (ms)", "B p99 (ms)", "p99 B/A"
    );
    for (i, r) in reps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>5} {:>11} {:>11} {:>11} {:>11} {:>11.3}",
            i + 1,
            ms(percentile(&r.baseline, 0.50)),
            ms(percentile(&r.baseline, 0.99)),
            ms(percentile(&r.blocked, 0.50)),
            ms(percentile(&r.blocked, 0.99)),
            r.p99_ratio()
        );
    }
    let _ = writeln!(out, "summary (all repetitions pooled):");
    for (phase, label, pick) in [
        (
            "baseline",
            "A alone",
            (|r: &Rep| &r.baseline) as fn(&Rep) -> &Vec<Duration>,
        ),
        ("beside_blpop", "B beside", |r: &Rep| &r.blocked),
    ] {
        let mut v: Vec<Duration> = reps.iter().flat_map(|r| pick(r).iter().copied()).collect();
        v.sort();
        let stats = [
            ("p50", percentile(&v, 0.50)),
            ("p99", percentile(&v, 0.99)),
            ("max", v.last().copied()),
        ];
        let _ = writeln!(
            out,
            "  {label:<10} p50 {:>8} ms   p99 {:>8} ms   max {:>8} ms",
            ms(stats[0].1),
            ms(stats[1].1),
            ms(stats[2].1),
        );
        record_stats(BLOCKING, phase, stats);
    }
    let ratio = median(reps.iter().map(Rep::p99_ratio).collect());
    let p99 = |pick: fn(&Rep) -> &Vec<Duration>| {
        median(
            reps.iter()
                .map(|r| secs(percentile(pick(r), 0.99)))
                .collect(),
        ) * 1e6
    };
    let (a, b) = (p99(|r| &r.baseline), p99(|r| &r.blocked));
    let _ = writeln!(
        out,
        "  p99 B/A    median {ratio:.3} over repetitions   (median p99: A {a:.0} µs, B {b:.0} µs)"
    );
    figures::record(
        "failover",
        &format!("{BLOCKING}/p99_ratio"),
        Some(ratio),
        "ratio",
        &[("beside_blpop_p99_us", b), ("baseline_p99_us", a)],
    );
    for (figure, n) in [("repetitions", reps.len()), ("commands_per_phase", samples)] {
        figures::record(
            "failover",
            &format!("{BLOCKING}/{figure}"),
            Some(n as f64),
            "count",
            &[],
        );
    }
    let met = ratio <= BLOCKING_GOAL;
    let _ = writeln!(
        out,
        "  goal median p99 B/A ≤ {BLOCKING_GOAL}: {}",
        if met { "met" } else { "MISSED" }
    );
    out
}

/// Trouble the client must ride out: no switch, no error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trouble {
    DebugSleep,
    ClientKill,
    LatencySpike,
    LuaBusy,
    Blpop,
    /// Last: its dataset is flushed after it.
    Fork,
}

const TROUBLES: [(&str, Trouble); 6] = [
    ("debug-sleep-200ms", Trouble::DebugSleep),
    ("client-kill-normal", Trouble::ClientKill),
    ("latency-spike-100ms", Trouble::LatencySpike),
    ("lua-busy-150ms", Trouble::LuaBusy),
    ("blpop-3s", Trouble::Blpop),
    ("bgsave-fork-400mb", Trouble::Fork),
];
const TRANSIENT: &str = "transient";
/// Runs of each trouble at each load.
const TRANSIENT_REPS: usize = 5;
/// Keys of 200-byte values for the fork: about 400 MB of dataset.
const FORK_KEYS: u64 = 2_000_000;
const LUA_BUSY: &str = "local t0 = redis.call('TIME') \
    local start = t0[1] * 1000000 + t0[2] \
    while true do \
      local t = redis.call('TIME') \
      if t[1] * 1000000 + t[2] - start > 150000 then return 1 end \
    end";

/// What a run of the transient suite saw.
#[derive(Debug, Default)]
struct Transient {
    switches: u64,
    errors: u64,
    ok: u64,
}

/// `tasks` tasks of SET then GET of their own key, each read checked, until `stop`:
/// (successful round trips, errors and lost writes).
fn steady_load(
    client: &MultiDbClient,
    tasks: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(u64, u64)>> {
    (0..tasks)
        .map(|t| {
            let (mut con, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut errors) = (0, 0);
                let mut i = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("bench:tr:{t}");
                    let round: redis::RedisResult<Option<u64>> = async {
                        con.set::<_, _, ()>(&key, i).await?;
                        con.get(&key).await
                    }
                    .await;
                    match round {
                        Ok(Some(v)) if v == i => ok += 1,
                        _ => errors += 1,
                    }
                    i += 1;
                }
                (ok, errors)
            })
        })
        .collect()
}

async fn admin(servers: &Servers) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(servers.primary.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// Makes the trouble happen and returns once it is over.
async fn make_trouble(servers: &Servers, client: &MultiDbClient, trouble: Trouble) {
    let mut admin = admin(servers).await;
    match trouble {
        Trouble::DebugSleep => {
            let () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("0.2")
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        Trouble::ClientKill => {
            let _: u64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        Trouble::LatencySpike => {
            servers.proxy.inject(ProxyFault::Latency {
                fixed: Duration::from_millis(100),
                jitter: Duration::ZERO,
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            servers.proxy.recover();
        }
        Trouble::LuaBusy => {
            let _: i64 = redis::cmd("EVAL")
                .arg(LUA_BUSY)
                .arg(0)
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        Trouble::Blpop => {
            let mut con = client.clone();
            let got: Option<(String, String)> = con.blpop("bench:tr:q", 3.0).await.unwrap();
            assert_eq!(got, None);
        }
        Trouble::Fork => {
            let _: String = redis::cmd("BGSAVE").query_async(&mut admin).await.unwrap();
            loop {
                let info: String = redis::cmd("INFO")
                    .arg("persistence")
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                if info.contains("rdb_bgsave_in_progress:0") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One run: a fresh client through the proxy, `tasks` tasks of load for [`SETTLE`], the
/// trouble, [`SETTLE`] more.
fn transient(rt: &Runtime, servers: &Servers, trouble: Trouble, tasks: usize) -> Transient {
    let client = client(servers, true, false);
    let seen = rt.block_on(async {
        client.initialize().await.unwrap();
        let mut events = client.events();
        let stop = Arc::new(AtomicBool::new(false));
        let load = steady_load(&client, tasks, &stop);
        tokio::time::sleep(SETTLE).await;
        make_trouble(servers, &client, trouble).await;
        tokio::time::sleep(SETTLE).await;
        stop.store(true, Ordering::Relaxed);
        let mut seen = Transient::default();
        for task in load {
            let (ok, errors) = task.await.unwrap();
            seen.ok += ok;
            seen.errors += errors;
        }
        while let Ok(event) = events.try_recv() {
            if matches!(event, Event::ActiveDatabaseChanged { .. }) {
                seen.switches += 1;
            }
        }
        seen
    });
    rt.block_on(client.close());
    seen
}

/// The transient suite; `false` when anything switched or failed.
fn transient_suite(rt: &Runtime, servers: &Servers, reps: usize) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== {TRANSIENT}: trouble shorter than twice the stall tolerance on the active member; \
         {reps} runs each, default config: must switch nothing, surface no error ==="
    );
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>9} {:>7} {:>9}",
        "case", "tasks", "switches", "errors", "ok"
    );
    let (mut switches, mut errors) = (0, 0);
    for (name, trouble) in TROUBLES {
        if trouble == Trouble::Fork {
            let mut admin = servers.admin();
            let () = redis::cmd("DEBUG")
                .arg("POPULATE")
                .arg(FORK_KEYS)
                .arg("bench:fork")
                .arg(200)
                .query(&mut admin)
                .unwrap();
        }
        for tasks in [LOAD_TASKS, HEAVY_TASKS] {
            let mut total = Transient::default();
            for _ in 0..reps {
                let run = transient(rt, servers, trouble, tasks);
                total.switches += run.switches;
                total.errors += run.errors;
                total.ok += run.ok;
            }
            let _ = writeln!(
                out,
                "{name:<22} {tasks:>6} {:>9} {:>7} {:>9}",
                total.switches, total.errors, total.ok
            );
            for (figure, n) in [("switches", total.switches), ("errors", total.errors)] {
                figures::record(
                    "failover",
                    &format!("{TRANSIENT}/{name}/{tasks}_tasks/{figure}"),
                    Some(n as f64),
                    "count",
                    &[],
                );
            }
            switches += total.switches;
            errors += total.errors;
        }
        if trouble == Trouble::Fork {
            let mut admin = servers.admin();
            let () = redis::cmd("FLUSHALL").query(&mut admin).unwrap();
            mark(&servers.primary, "primary");
        }
    }
    for (figure, n) in [("switches", switches), ("errors", errors)] {
        figures::record(
            "failover",
            &format!("{TRANSIENT}/{figure}"),
            Some(n as f64),
            "count",
            &[],
        );
    }
    let met = switches == 0 && errors == 0;
    let _ = writeln!(
        out,
        "  goal 0 switches, 0 errors: {}",
        if met { "met" } else { "MISSED" }
    );
    (out, met)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not: one trial of each then.
    let benchmarking = has("--bench") && !has("--test");
    // Scenario filters: any argument that is not a flag.
    let filters: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let trials_override = std::env::var("MULTIDB_BENCH_FAILOVER_TRIALS")
        .ok()
        .map(|n| {
            n.parse::<usize>()
                .expect("MULTIDB_BENCH_FAILOVER_TRIALS is a whole number")
        });
    // The hostile listener's panics are the scenario, not news: keep them off the table.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("a listener's bug") {
            report(info);
        }
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let primary = RedisServer::builder()
        .arg("enable-debug-command", "yes")
        .start()
        .unwrap();
    let secondary = RedisServer::start().unwrap();
    let proxy = rt.block_on(FaultProxy::start(primary.addr())).unwrap();
    let mut servers = Servers {
        primary,
        secondary,
        proxy,
    };
    mark(&servers.primary, "primary");
    mark(&servers.secondary, "secondary");
    let mut failed = Vec::new();
    for scenario in &SCENARIOS {
        if !selected(scenario.name) {
            continue;
        }
        let n = if benchmarking {
            trials_override.unwrap_or(scenario.trials)
        } else {
            1
        };
        let trials: Vec<Trial> = (0..n).map(|_| trial(&rt, &mut servers, scenario)).collect();
        let (table, _) = summarize(scenario, &trials);
        print!("{table}");
    }
    for (name, fault) in pubsub::SCENARIOS {
        if !selected(name) {
            continue;
        }
        let n = if benchmarking {
            trials_override.unwrap_or(pubsub::TRIALS)
        } else {
            1
        };
        print!("{}", pubsub::run(&rt, &mut servers, name, fault, n));
    }
    if selected(TRANSIENT) {
        let reps = if benchmarking { TRANSIENT_REPS } else { 1 };
        let (table, met) = transient_suite(&rt, &servers, reps);
        print!("{table}");
        if !met {
            failed.push(TRANSIENT);
        }
    }
    if selected(BLOCKING) {
        let (reps, ops) = if benchmarking {
            (BLOCKING_REPS, PHASE_OPS)
        } else {
            (1, 20)
        };
        let reps = blocking_side_by_side(&rt, &servers.primary, &servers.secondary, reps, ops);
        print!("{}", summarize_blocking(&reps));
    }
    if !failed.is_empty() {
        eprintln!(
            "failover bench: {} switched or surfaced errors",
            failed.join(", ")
        );
        std::process::exit(1);
    }
}
