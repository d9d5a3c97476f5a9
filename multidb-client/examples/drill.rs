//! The failover drill: shows the client failing over and back under load.
//!
//! ```text
//! cargo run --release -p multidb-client --example drill [-- --help]
//! ```
//!
//! With no arguments it starts three in-process fake Redis servers (weights 1.0, 0.8,
//! 0.5), sends a GET/SET mix from 16 tasks through `MultiDbClient`, and plays a scenario:
//! baseline; kill the primary; blackhole the next; recover both; auto-fallback brings
//! traffic home. It prints a live status line, a summary table (failover time per phase,
//! errors the application saw, ops/s, the event timeline) and writes
//! `drill-report/report.json` and `drill-report/timeline.svg`.
//!
//! `--url URL --weight W` (repeatable) observes real endpoints instead; add `--proxy` to
//! play the scenario through fault proxies in front of them.

#[path = "drill/mod.rs"]
mod drill;

fn main() -> std::process::ExitCode {
    drill::cli::main()
}
