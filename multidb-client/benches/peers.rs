//! Throughput beside the peers, against one real `redis-server` started by the testkit, all
//! in one run: raw redis-rs `MultiplexedConnection` (the baseline), `MultiDbClient` over
//! that one server (default settings, stall watchdog included), and fred's `Client` (the
//! other serious Rust Redis client; its default config, auto-pipelining on).
//!
//! Workloads: `incr` (every task `INCR`s one counter) and `set_get` (every task `SET`s then
//! `GET`s its own key, checking the value), each at 64 and at 1024 tasks. One block is the
//! given number of fresh tasks (each with its own clone) doing [`OPS_PER_BLOCK`] operations
//! in all; a round runs one block of each side, in an order that rotates each round so the
//! noise of a shared machine hits every side alike; the figure is the median over rounds of
//! the per-round throughput ratio to raw. Goal: `MultiDbClient` ≥ 0.98 × raw at both task
//! counts; fred is reported beside it.
//!
//! `cargo bench -p multidb-client --bench peers` runs [`ROUNDS`] rounds; `cargo test
//! --benches` runs one short round so the code stays exercised; `MULTIDB_BENCH_JSON` also
//! writes the figures.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike as _, KeysInterface as _};
use multidb_client::MultiDbClient;
use multidb_testkit::RedisServer;
use redis::AsyncCommands;
use tokio::runtime::Runtime;

#[path = "figures/mod.rs"]
mod figures;
use figures::median;

const ROUNDS: usize = 31;
/// Operations per block, whatever the task count: about 0.2–0.7 s on a small machine.
const OPS_PER_BLOCK: usize = 61_440;
const COUNTER: &str = "bench:peers:counter";
const GOAL: f64 = 0.98;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Incr,
    SetGet,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Incr => "incr",
            Work::SetGet => "set_get",
        }
    }
}

/// The sides, all on the same server.
#[derive(Clone)]
enum Side {
    Raw(redis::aio::MultiplexedConnection),
    Client(MultiDbClient),
    Fred(fred::prelude::Client),
}

const SIDES: [&str; 3] = ["raw", "client", "fred"];

impl Side {
    /// One operation: an `INCR`, or a `SET` and a `GET` of `key` (checked).
    async fn op(&mut self, work: Work, key: &str, i: u64) {
        match (self, work) {
            (Side::Raw(con), Work::Incr) => {
                let _: i64 = con.incr(COUNTER, 1).await.unwrap();
            }
            (Side::Client(con), Work::Incr) => {
                let _: i64 = con.incr(COUNTER, 1).await.unwrap();
            }
            (Side::Fred(con), Work::Incr) => {
                let _: i64 = con.incr(COUNTER).await.unwrap();
            }
            (Side::Raw(con), Work::SetGet) => {
                let () = con.set(key, i).await.unwrap();
                assert_eq!(con.get::<_, u64>(key).await.unwrap(), i);
            }
            (Side::Client(con), Work::SetGet) => {
                let () = con.set(key, i).await.unwrap();
                assert_eq!(con.get::<_, u64>(key).await.unwrap(), i);
            }
            (Side::Fred(con), Work::SetGet) => {
                let () = con.set(key, i, None, None, false).await.unwrap();
                assert_eq!(con.get::<u64, _>(key).await.unwrap(), i);
            }
        }
    }
}

/// One block: `tasks` fresh tasks share `ops` operations; operations per second.
async fn block(side: &Side, work: Work, tasks: usize, ops: usize) -> f64 {
    let per_task = ops.div_ceil(tasks);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let mut side = side.clone();
            tokio::spawn(async move {
                let key = format!("bench:peers:{t}");
                for i in 0..per_task {
                    side.op(work, &key, i as u64).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    (per_task * tasks) as f64 / started.elapsed().as_secs_f64()
}

/// Every side's throughput per round, for one workload and task count.
fn rounds(
    rt: &Runtime,
    sides: &[Side; 3],
    work: Work,
    tasks: usize,
    rounds: usize,
    ops: usize,
) -> Vec<[f64; 3]> {
    rt.block_on(async {
        // Unmeasured: connections warm, the server's key space made.
        for side in sides {
            block(side, work, tasks, ops / 4).await;
        }
        let mut out = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let mut round = [0.0; 3];
            for k in 0..3 {
                let s = (r + k) % 3;
                round[s] = block(&sides[s], work, tasks, ops).await;
            }
            out.push(round);
        }
        out
    })
}

fn report(work: Work, tasks: usize, rounds: &[[f64; 3]]) -> String {
    let mut out = String::new();
    let thrpt = |s: usize| median(rounds.iter().map(|r| r[s]).collect());
    let ratio = |s: usize| median(rounds.iter().map(|r| r[s] / r[0]).collect());
    let (client, fred) = (ratio(1), ratio(2));
    let _ = writeln!(
        out,
        "{:<8} {tasks:>5} {:>12.0} {:>12.0} {:>12.0} {client:>13.3} {fred:>11.3}   {}",
        work.name(),
        thrpt(0),
        thrpt(1),
        thrpt(2),
        if client >= GOAL { "met" } else { "MISSED" }
    );
    for (name, value) in [("client_vs_raw", client), ("fred_vs_raw", fred)] {
        figures::record(
            "peers",
            &format!("{}/{tasks}_tasks/{name}", work.name()),
            Some(value),
            "ratio",
            &[
                ("raw_ops_per_s", thrpt(0)),
                ("client_ops_per_s", thrpt(1)),
                ("fred_ops_per_s", thrpt(2)),
            ],
        );
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        return;
    }
    let benchmarking = has("--bench") && !has("--test");
    let (n_rounds, ops) = if benchmarking {
        (ROUNDS, OPS_PER_BLOCK)
    } else {
        (1, 2048)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start().unwrap();
    let sides = rt.block_on(async {
        let raw = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let client = MultiDbClient::from_urls([server.url()], [1.0]).unwrap();
        client.initialize().await.unwrap();
        let config = fred::prelude::Config::from_url(&server.url()).unwrap();
        let fred = fred::prelude::Builder::from_config(config).build().unwrap();
        fred.init().await.unwrap();
        [Side::Raw(raw), Side::Client(client), Side::Fred(fred)]
    });
    println!(
        "\n=== peers: throughput on one redis-server, {n_rounds} interleaved rounds, median ops/s and median per-round ratio to raw ==="
    );
    println!(
        "{:<8} {:>5} {:>12} {:>12} {:>12} {:>13} {:>11}   goal client ≥ {GOAL} × raw",
        "work", "tasks", SIDES[0], SIDES[1], SIDES[2], "client/raw", "fred/raw"
    );
    for work in [Work::Incr, Work::SetGet] {
        for tasks in [64, 1024] {
            let measured = rounds(&rt, &sides, work, tasks, n_rounds, ops);
            print!("{}", report(work, tasks, &measured));
        }
    }
    rt.block_on(async {
        let [_, Side::Client(client), Side::Fred(fred)] = &sides else {
            unreachable!("the sides are made in this order")
        };
        client.close().await;
        let _ = fred.quit().await;
    });
    drop(sides);
    // Let the runtime's I/O settle before the server goes.
    rt.shutdown_timeout(Duration::from_secs(1));
}
