//! What `MultiDbClient` costs over a raw redis-rs connection, against real `redis-server`
//! processes started by the testkit, all in one run so the ratios compare like with like.
//!
//! Three connections to the same server (the client's active member):
//! - `raw_multiplexed`: `redis::aio::MultiplexedConnection`, the baseline of the goals;
//! - `raw_manager`: `redis::aio::ConnectionManager` (no retries, the client's timeouts): what
//!   redis-rs' own reconnecting wrapper costs, for reference;
//! - `client`: `MultiDbClient` over two healthy members.
//!
//! Two shapes: `sequential` (one task, one GET after the other: latency) and `concurrent`
//! (64 tasks each doing GETs: throughput). At the end the bench prints the ratios twice:
//! from criterion's samples, and from an interleaved A/B run (raw and client alternate in
//! short rounds), which is the figure to trust on a shared, noisy machine because slow
//! phases hit both sides alike; the concurrent blocks are short, so they get five times
//! the rounds. Each block starts fresh clones, as applications that clone the client per
//! task do. Goals: client/raw time ≤ 1.03 sequential, client/raw throughput ≥ 0.97
//! concurrent.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use multidb_client::MultiDbClient;
use multidb_testkit::RedisServer;
use redis::AsyncCommands;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use tokio::runtime::Runtime;

#[path = "figures/mod.rs"]
mod figures;
use figures::median;
#[path = "overhead/instant.rs"]
mod instant;

const KEY: &str = "bench:overhead";
const VALUE: &str = "0123456789abcdef";
const TASKS: u64 = 64;
const SEQUENTIAL: &str = "sequential_get";
const CONCURRENT: &str = "concurrent_get_64_tasks";
const NO_IO: &str = "sequential_get_no_io";

/// The connections under test, all to the same server.
#[derive(Clone)]
enum Conn {
    Multiplexed(redis::aio::MultiplexedConnection),
    Manager(ConnectionManager),
    Client(MultiDbClient),
    Instant(instant::InstantConnection),
    InstantClient(MultiDbClient),
}

impl Conn {
    fn name(&self) -> &'static str {
        match self {
            Conn::Multiplexed(_) => "raw_multiplexed",
            Conn::Manager(_) => "raw_manager",
            Conn::Client(_) => "client",
            Conn::Instant(_) => "raw_instant",
            Conn::InstantClient(_) => "client_instant",
        }
    }

    /// `n` GETs one after the other on one task; the time they took.
    async fn sequential(self, n: u64) -> Duration {
        match self {
            Conn::Multiplexed(c) => sequential_gets(c, n).await,
            Conn::Manager(c) => sequential_gets(c, n).await,
            Conn::Client(c) | Conn::InstantClient(c) => sequential_gets(c, n).await,
            Conn::Instant(c) => sequential_gets(c, n).await,
        }
    }

    /// [`TASKS`] tasks doing `n` GETs each; the time until all are done.
    async fn concurrent(self, n: u64) -> Duration {
        match self {
            Conn::Multiplexed(c) => concurrent_gets(c, n).await,
            Conn::Manager(c) => concurrent_gets(c, n).await,
            Conn::Client(c) | Conn::InstantClient(c) => concurrent_gets(c, n).await,
            Conn::Instant(c) => concurrent_gets(c, n).await,
        }
    }
}

async fn get<C: ConnectionLike + Send + Sync>(con: &mut C) {
    let v: Vec<u8> = con.get(KEY).await.unwrap();
    debug_assert_eq!(v, VALUE.as_bytes());
    black_box(v);
}

async fn sequential_gets<C>(mut con: C, n: u64) -> Duration
where
    C: ConnectionLike + Send + Sync + 'static,
{
    // On a runtime worker, as an application task would run, not on the bench thread.
    tokio::spawn(async move {
        let start = Instant::now();
        for _ in 0..n {
            get(&mut con).await;
        }
        start.elapsed()
    })
    .await
    .unwrap()
}

async fn concurrent_gets<C>(con: C, n: u64) -> Duration
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let mut con = con.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    get(&mut con).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// Per-iteration times (ns) of every criterion sample, by `group/connection`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<BTreeMap<String, Vec<f64>>>>);

impl Recorder {
    fn record(&self, key: String, elapsed: Duration, iters: u64) {
        let per_iter = elapsed.as_nanos() as f64 / iters.max(1) as f64;
        self.0
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(per_iter);
    }

    fn median(&self, key: &str) -> Option<f64> {
        self.0.lock().unwrap().get(key).map(|v| median(v.clone()))
    }
}

/// One runtime and the three connections made on it (their driver tasks live there).
struct Env {
    rt: Runtime,
    conns: Vec<Conn>,
}

struct Setup {
    /// `current_thread`: sequential latency without cross-thread wake-ups, whose noise on a
    /// shared 2-core machine would drown a 3 % difference.
    seq: Env,
    /// Two workers (the machine's cores): concurrent throughput.
    conc: Env,
    // Kept alive for the whole run; dropping one stops its server.
    _servers: Vec<RedisServer>,
}

fn env(servers: &[RedisServer], mut builder: tokio::runtime::Builder) -> Env {
    let rt = builder.enable_all().build().unwrap();
    let conns = rt.block_on(async {
        let primary = redis::Client::open(servers[0].url()).unwrap();
        let multiplexed = primary.get_multiplexed_async_connection().await.unwrap();
        // With the client's default timeouts and no retries of its own.
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(500)));
        let manager = ConnectionManager::new_with_config(primary, manager_config)
            .await
            .unwrap();
        let client =
            MultiDbClient::from_urls([servers[0].url(), servers[1].url()], [1.0, 0.5]).unwrap();
        client.initialize().await.unwrap();
        let dbs = client.databases();
        assert!(dbs.iter().all(|d| d.healthy), "both members healthy");
        assert_eq!(client.active_database(), Some(dbs[0].id), "primary active");
        let conns = vec![
            Conn::Multiplexed(multiplexed),
            Conn::Manager(manager),
            Conn::Client(client),
            Conn::Instant(instant::InstantConnection::new(VALUE)),
            Conn::InstantClient(instant::client(VALUE).await),
        ];
        // Warm every connection (the manager and the client's member connect lazily).
        for con in &conns {
            con.clone().sequential(10).await;
        }
        conns
    });
    Env { rt, conns }
}

fn setup() -> Setup {
    let servers = vec![RedisServer::start().unwrap(), RedisServer::start().unwrap()];
    for server in &servers {
        let mut con = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let () = redis::Commands::set(&mut con, KEY, VALUE).unwrap();
    }
    let seq = env(&servers, tokio::runtime::Builder::new_current_thread());
    let mut multi = tokio::runtime::Builder::new_multi_thread();
    multi.worker_threads(2);
    let conc = env(&servers, multi);
    Setup {
        seq,
        conc,
        _servers: servers,
    }
}

/// Indices in [`Env::conns`].
const RAW: usize = 0;
const CLIENT: usize = 2;
const RAW_INSTANT: usize = 3;
const CLIENT_INSTANT: usize = 4;

fn group(c: &mut Criterion, name: &str, env: &Env, conns: &[Conn], recorder: &Recorder) {
    let concurrent = name == CONCURRENT;
    let mut group = c.benchmark_group(name);
    // One iteration: one GET, or in the concurrent group one GET by every task.
    group.throughput(Throughput::Elements(if concurrent { TASKS } else { 1 }));
    for con in conns {
        let key = format!("{name}/{}", con.name());
        group.bench_function(con.name(), |b| {
            b.to_async(&env.rt).iter_custom(|iters| {
                let (con, recorder, key) = (con.clone(), recorder.clone(), key.clone());
                async move {
                    let elapsed = if concurrent {
                        con.concurrent(iters).await
                    } else {
                        con.sequential(iters).await
                    };
                    recorder.record(key, elapsed, iters);
                    elapsed
                }
            });
        });
    }
    group.finish();
}

fn criterion_benches(c: &mut Criterion, setup: &Setup, recorder: &Recorder) {
    let (seq, conc) = (&setup.seq, &setup.conc);
    group(c, SEQUENTIAL, seq, &seq.conns[RAW..=CLIENT], recorder);
    group(c, CONCURRENT, conc, &conc.conns[RAW..=CLIENT], recorder);
    group(c, NO_IO, seq, &seq.conns[RAW_INSTANT..], recorder);
}

/// Client time / baseline time from short blocks that alternate (order flipping every
/// round), so a slow phase of the machine hits both alike: the median of the per-round
/// ratios, and the ratio of the 10th-percentile block times (the least disturbed blocks);
/// then those p10 block times per GET in ns, baseline and client.
fn interleaved(env: &Env, pair: [usize; 2], rounds: usize, concurrent: bool) -> [f64; 4] {
    // Blocks of a few milliseconds: short enough that neighbours share the machine's state.
    let (seq_n, conc_n) = (200, 20);
    let run = |con: &Conn| {
        let con = con.clone();
        env.rt
            .block_on(async move {
                if concurrent {
                    con.concurrent(conc_n).await
                } else {
                    con.sequential(seq_n).await
                }
            })
            .as_secs_f64()
    };
    let [base, client] = pair.map(|i| &env.conns[i]);
    let (mut bs, mut cs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (b, c) = if round % 2 == 0 {
            let b = run(base);
            (b, run(client))
        } else {
            let c = run(client);
            (run(base), c)
        };
        bs.push(b);
        cs.push(c);
        ratios.push(c / b);
    }
    let per_get = 1e9 / if concurrent { conc_n * TASKS } else { seq_n } as f64;
    let (b10, c10) = (p10(bs), p10(cs));
    [median(ratios), c10 / b10, b10 * per_get, c10 * per_get]
}

/// An interleaved ratio for `cargo xtask bench`: client/baseline time, or for throughput
/// its inverse; the sides are the p10 block times per GET.
fn record_interleaved(name: &str, base: &str, [m, p, b, c]: [f64; 4], throughput: bool) {
    let (m, p) = if throughput {
        (1.0 / m, 1.0 / p)
    } else {
        (m, p)
    };
    let base_side = format!("{base}_ns_per_get");
    let sides = [("client_ns_per_get", c), (base_side.as_str(), b)];
    figures::record("overhead", name, Some(m), "ratio", &sides);
    figures::record(
        "overhead",
        &format!("{name}/p10_blocks"),
        Some(p),
        "ratio",
        &sides,
    );
}

fn p10(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 10).copied().unwrap_or(f64::NAN)
}

fn report(setup: &Setup, recorder: &Recorder, rounds: usize) {
    println!("\n=== overhead: MultiDbClient vs raw redis-rs (same server, same run) ===");
    println!("criterion samples (median time per iteration):");
    for (group, env) in [
        (SEQUENTIAL, &setup.seq),
        (CONCURRENT, &setup.conc),
        (NO_IO, &setup.seq),
    ] {
        for con in &env.conns {
            if let Some(ns) = recorder.median(&format!("{group}/{}", con.name())) {
                println!("  {group:<24} {:<16} {:>10.0} ns", con.name(), ns);
                let name = format!("criterion/{group}/{}", con.name());
                figures::record("overhead", &name, Some(ns), "ns", &[]);
            }
        }
    }
    let ratio = |group: &str, base: &str| {
        Some(
            recorder.median(&format!("{group}/client"))?
                / recorder.median(&format!("{group}/{base}"))?,
        )
    };
    for base in ["raw_multiplexed", "raw_manager"] {
        if let Some(r) = ratio(SEQUENTIAL, base) {
            println!("  sequential time   client/{base:<16} {r:.3}");
        }
        if let Some(r) = ratio(CONCURRENT, base) {
            println!("  concurrent thrpt  client/{base:<16} {:.3}", 1.0 / r);
        }
    }
    println!(
        "interleaved A/B, {rounds} rounds: median of paired ratios | ratio of p10 blocks \
         (goals vs raw_multiplexed: time ≤ 1.03, throughput ≥ 0.97)"
    );
    for (i, base) in ["raw_multiplexed", "raw_manager"].into_iter().enumerate() {
        let seq = interleaved(&setup.seq, [i, CLIENT], rounds, false);
        let [m, p, ..] = seq;
        println!("  sequential time   client/{base:<16} {m:.3} | {p:.3}");
        record_interleaved(
            &format!("sequential_time/client_vs_{base}"),
            base,
            seq,
            false,
        );
        // Concurrent blocks take ~4 ms: five times the rounds for the same steadiness.
        let conc = interleaved(&setup.conc, [i, CLIENT], rounds * 5, true);
        let [m, p, ..] = conc;
        println!(
            "  concurrent thrpt  client/{base:<16} {:.3} | {:.3}",
            1.0 / m,
            1.0 / p
        );
        record_interleaved(
            &format!("concurrent_throughput/client_vs_{base}"),
            base,
            conc,
            true,
        );
    }
    // Without I/O the ratio is large by design; the absolute difference is the client's cost.
    let [m, p, ..] = interleaved(&setup.seq, [RAW_INSTANT, CLIENT_INSTANT], rounds, false);
    let cost = |name: &str| recorder.median(&format!("{NO_IO}/{name}"));
    if let (Some(raw), Some(client)) = (cost("raw_instant"), cost("client_instant")) {
        println!(
            "  no-I/O time      client/raw_instant      {m:.3} | {p:.3}  \
             (client's own cost ≈ {:.0} ns per command)",
            client - raw
        );
        figures::record(
            "overhead",
            "no_io/client_cost_per_command",
            Some(client - raw),
            "ns",
            &[],
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // `cargo bench` passes --bench; `cargo test --benches` does not (criterion runs once).
    let benchmarking = has("--bench") && !has("--test") && !has("--list");
    // Under `--profile-time` the profile should hold the benchmark alone.
    let report_ratios = !has("--list") && !has("--profile-time");
    let mut criterion = Criterion::default().configure_from_args();
    let setup = setup();
    let recorder = Recorder::default();
    criterion_benches(&mut criterion, &setup, &recorder);
    criterion.final_summary();
    if report_ratios {
        report(&setup, &recorder, if benchmarking { 300 } else { 2 });
    }
    for env in [&setup.seq, &setup.conc] {
        if let Conn::Client(client) = &env.conns[2] {
            env.rt.block_on(client.close());
        }
    }
}
