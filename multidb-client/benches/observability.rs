//! What observability costs on the hot path, against a real `redis-server`, in one run so the
//! ratios compare like with like (built with feature `metrics`; `cargo xtask bench` runs it).
//!
//! Interleaved A/B blocks of GETs (64 tasks, and one task one GET after the other) on one
//! current-thread runtime, every pair against the same baseline, a client with no recorder
//! and no tracing subscriber:
//! - `metrics_on`: a client made after a `metrics-exporter-prometheus` recorder was
//!   installed (the baseline was made before: its handles record nothing), the duration
//!   histogram off (the default): what the other metrics cost on the hot path;
//! - `metrics_durations`: the same with `operation_duration_metric(true)`: every command
//!   timed (two clock reads) into `db.client.operation.duration`;
//! - `tracing_info`: the baseline under a `fmt` subscriber at `info`, as a service runs:
//!   the per-command span is disabled;
//! - `tracing_trace`: under a subscriber with every span enabled (a bare `Registry`: span
//!   bookkeeping, no output).
//!
//! Goals: metrics on (durations off) ≥ 0.98 of the baseline's throughput; with durations the
//! figure is reported; tracing at `info` ≥ 0.98.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use multidb_client::MultiDbClient;
use multidb_testkit::RedisServer;
use redis::AsyncCommands;
use tokio::runtime::Runtime;
use tracing::Dispatch;

#[path = "figures/mod.rs"]
mod figures;
use figures::median;

const KEY: &str = "bench:observability";
const TASKS: usize = 64;
/// GETs per task in a concurrent block, and in a sequential block.
const CONCURRENT_N: usize = 20;
const SEQUENTIAL_N: usize = 200;

async fn client(servers: &[RedisServer], durations: bool) -> MultiDbClient {
    let config = multidb_client::MultiDbConfig::builder()
        .database(multidb_client::DatabaseConfig::from_url(&servers[0].url()).unwrap())
        .database(
            multidb_client::DatabaseConfig::from_url(&servers[1].url())
                .unwrap()
                .weight(0.5),
        )
        .operation_duration_metric(durations)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    client
}

/// One block: `concurrent` tasks of GETs (or one task), its wall time in seconds.
fn block(rt: &Runtime, client: &MultiDbClient, concurrent: bool, under: Option<&Dispatch>) -> f64 {
    let run = || {
        rt.block_on(async {
            let start = Instant::now();
            if concurrent {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let mut con = client.clone();
                        tokio::spawn(async move {
                            for _ in 0..CONCURRENT_N {
                                let _: Option<String> = con.get(KEY).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            } else {
                let mut con = client.clone();
                for _ in 0..SEQUENTIAL_N {
                    let _: Option<String> = con.get(KEY).await.unwrap();
                }
            }
            start.elapsed().as_secs_f64()
        })
    };
    // A current-thread runtime polls every task on this thread: a scoped subscriber sees all.
    match under {
        Some(dispatch) => tracing::dispatcher::with_default(dispatch, run),
        None => run(),
    }
}

/// The median over `rounds` of (variant block time / baseline block time), alternating
/// which goes first.
fn ratio(rounds: usize, mut base: impl FnMut() -> f64, mut variant: impl FnMut() -> f64) -> f64 {
    let ratios = (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let b = base();
                variant() / b
            } else {
                let v = variant();
                v / base()
            }
        })
        .collect();
    median(ratios)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not: one short round then.
    let rounds = if args.iter().any(|a| a == "--bench") {
        300
    } else {
        2
    };
    let servers = vec![RedisServer::start().unwrap(), RedisServer::start().unwrap()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let baseline = rt.block_on(client(&servers, false));
    let scrape: PrometheusHandle = PrometheusBuilder::new()
        .set_buckets(&[0.0001, 0.0005, 0.001, 0.005, 0.01])
        .unwrap()
        .install_recorder()
        .unwrap();
    let measured = rt.block_on(client(&servers, false));
    let timed = rt.block_on(client(&servers, true));
    let info = Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish(),
    );
    let trace = Dispatch::new(tracing_subscriber::registry());
    let scrape = Arc::new(scrape);

    for (shape, concurrent) in [("concurrent_64_tasks", true), ("sequential", false)] {
        // Warm both clients' connections.
        block(&rt, &baseline, concurrent, None);
        block(&rt, &measured, concurrent, None);
        block(&rt, &timed, concurrent, None);
        let base = || block(&rt, &baseline, concurrent, None);
        let metrics = ratio(rounds, base, || block(&rt, &measured, concurrent, None));
        let upkeep = scrape.clone();
        let durations = ratio(rounds, base, || {
            let t = block(&rt, &timed, concurrent, None);
            // Drains the recorded samples, as a scrape would.
            upkeep.run_upkeep();
            t
        });
        let info_ratio = ratio(rounds, base, || {
            block(&rt, &baseline, concurrent, Some(&info))
        });
        let trace_ratio = ratio(rounds, base, || {
            block(&rt, &baseline, concurrent, Some(&trace))
        });
        for (variant, time_ratio) in [
            ("metrics_on", metrics),
            ("metrics_durations", durations),
            ("tracing_info", info_ratio),
            ("tracing_trace", trace_ratio),
        ] {
            let throughput = 1.0 / time_ratio;
            println!("  {shape:<20} {variant:<14} throughput vs baseline {throughput:.3}");
            figures::record(
                "observability",
                &format!("{shape}/{variant}_vs_baseline"),
                Some(throughput),
                "ratio",
                &[],
            );
        }
    }
    rt.block_on(baseline.close());
    rt.block_on(measured.close());
    rt.block_on(timed.close());
}
