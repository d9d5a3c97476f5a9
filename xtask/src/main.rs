//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: the whole gate CI runs — formatting, the supply-chain check, clippy with warnings
//!   denied on every target and feature, the test suite with all features, and rustdoc with
//!   warnings denied.
//! - `imports`: each crate's modules import one way (no circles; see the `imports` module).
//! - `deny`: the supply-chain check alone, `cargo deny check` against `deny.toml` (see the
//!   `deny` module for the offline advisory database).
//! - `bench`: every benchmark in one run, summarized into `BENCHMARKS.md` (see the `bench`
//!   module); `--peer redis-py` adds redis-py's client in the same failover scenario.
//! - `drill`: the failover drill (`multidb-client`'s `drill` example), arguments passed on.
//! - `sim`: the deterministic simulation (`multidb-client/tests/simulation.rs`), optimized,
//!   for as many schedules as asked.

mod bench;
mod deny;
mod imports;
mod render;

use std::env;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("deny") => deny::deny(workspace_root()),
        Some("imports") => imports::check(workspace_root()),
        Some("bench") if rest.first().is_some_and(|a| a == "--quote") => {
            bench::quote_in_readme(workspace_root())
        }
        Some("bench") => bench::bench(workspace_root(), &rest),
        Some("drill") => drill(&rest),
        Some("soak") => soak(&rest),
        Some("sim") => simulation(&rest, true),
        Some("drill-picture") => render::drill_picture(workspace_root()),
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  bench    run every benchmark and write BENCHMARKS.md; --peer redis-py adds redis-py's
           MultiDBClient in the failover scenario; --trials N, --quick (plumbing check)
  ci       fmt check, cargo deny, clippy -D warnings, tests (all features), docs (-D warnings),
           the fuzz targets type-checked, every client example, and the drill's SVG
           timeline rendered in headless Chromium
  deny     cargo deny check: advisories, bans, licenses, sources (needs cargo-deny)
  imports  each crate's modules import one way: fails on an import circle
  drill    run the failover drill example (arguments are passed on)
  drill-picture  a short drill, its SVG timeline rendered in headless Chromium and checked
  soak     the chaos soak for longer: --seconds N (default 600), --seed S to replay
  sim      the deterministic simulation, in release mode: --schedules N (default 1000),
           --seed S (the base of the random half; with --schedules 1, that schedule alone)";

/// The simulation's test (`multidb-client/tests/simulation.rs`).
const SIMULATION_TEST: &str = "seeded_schedules_keep_every_invariant";

/// The deterministic simulation: `cargo xtask ci` runs its default sample in the test
/// profile; `cargo xtask sim` as many schedules as asked, optimized.
fn simulation(rest: &[String], release: bool) -> Result<(), String> {
    let mut schedules = None;
    let mut seed = None;
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<String, String> {
            let value = args.next().ok_or(format!("{what} needs a value"))?;
            value
                .parse::<u64>()
                .map_err(|_| format!("{what} takes a whole number, got `{value}`"))?;
            Ok(value.clone())
        };
        match arg.as_str() {
            "--schedules" => schedules = Some(number("--schedules")?),
            "--seed" => seed = Some(number("--seed")?),
            other => return Err(format!("sim: unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    let mut envs = Vec::new();
    if let Some(schedules) = &schedules {
        envs.push(("MULTIDB_SIM_SCHEDULES", schedules.as_str()));
    }
    if let Some(seed) = &seed {
        envs.push(("MULTIDB_SIM_SEED", seed.as_str()));
    }
    let mut command = vec!["test"];
    if release {
        command.push("--release");
    }
    // `--workspace`, as the test step: the same features, so the test step's build is reused.
    command.extend([
        "--workspace",
        "--all-features",
        "--test",
        "simulation",
        "--",
        SIMULATION_TEST,
        "--nocapture",
    ]);
    run("simulation", &command, &envs)
}

fn ci() -> Result<(), String> {
    let started = Instant::now();
    run("fmt", &["fmt", "--all", "--", "--check"], &[])?;
    imports::check(workspace_root())?;
    deny::deny(workspace_root())?;
    run(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        "test",
        &[
            "test",
            "--workspace",
            "--all-features",
            "--",
            "--skip",
            SIMULATION_TEST,
        ],
        &[],
    )?;
    // The simulation on its own, so its one-line summary shows.
    simulation(&[], false)?;
    // What only a build without features checks (settings that name a missing feature).
    run(
        "test-default-features",
        &["test", "-p", "multidb-client", "--lib"],
        &[],
    )?;
    run(
        "doc",
        &["doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    fuzz_targets()?;
    examples()?;
    render::drill_picture(workspace_root())?;
    eprintln!(
        "xtask: ci passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Formats and type-checks the cargo-fuzz targets (their own workspace, outside the root
/// one), so none rots; running them needs cargo-fuzz and is left to `fuzz/README.md`.
fn fuzz_targets() -> Result<(), String> {
    let dir = workspace_root().join("fuzz");
    run_in(&dir, "fuzz fmt", &["fmt", "--", "--check"], &[])?;
    run_in(&dir, "fuzz check", &["check", "--locked", "--bins"], &[])
}

/// Runs every example of the client (they start their own fake servers), so none rots.
/// The drill has its own test with a short scenario.
fn examples() -> Result<(), String> {
    let dir = workspace_root().join("multidb-client/examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("[examples] cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_stem()?.to_str()?.to_owned();
            let is_example =
                path.extension().is_some_and(|x| x == "rs") || path.join("main.rs").exists();
            (is_example && name != "drill").then_some(name)
        })
        .collect();
    names.sort();
    for name in names {
        run(
            &format!("example {name}"),
            &[
                "run",
                "--quiet",
                "--package",
                "multidb-client",
                "--all-features",
                "--example",
                &name,
            ],
            &[],
        )?;
    }
    Ok(())
}

/// The chaos soak (`multidb-client/tests/chaos.rs`) for as long as asked.
fn soak(rest: &[String]) -> Result<(), String> {
    let mut seconds = "600".to_owned();
    let mut seed = None;
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds.clone_from(args.next().ok_or("--seconds needs a value")?);
                seconds
                    .parse::<u64>()
                    .map_err(|_| format!("--seconds takes a whole number, got `{seconds}`"))?;
            }
            "--seed" => seed = Some(args.next().ok_or("--seed needs a value")?.clone()),
            other => return Err(format!("soak: unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    let mut envs = vec![("MULTIDB_CHAOS_SECONDS", seconds.as_str())];
    if let Some(seed) = &seed {
        envs.push(("MULTIDB_CHAOS_SEED", seed.as_str()));
    }
    run(
        "soak",
        &[
            "test",
            "--release",
            "--package",
            "multidb-client",
            "--test",
            "chaos",
            "--",
            "--nocapture",
        ],
        &envs,
    )
}

fn drill(rest: &[String]) -> Result<(), String> {
    let mut args = vec![
        "run",
        "--release",
        "--package",
        "multidb-client",
        "--example",
        "drill",
        "--",
    ];
    args.extend(rest.iter().map(String::as_str));
    run("drill", &args, &[])
}

/// The workspace root: xtask's own manifest sits one level below it.
fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

/// The cargo that started us, so that every step uses the same toolchain.
fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn run(step: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    run_command(
        step,
        Command::new(cargo()).args(args).envs(envs.iter().copied()),
    )
}

/// Runs `cargo args…` from `dir`, for tools that read files from the current directory.
fn run_in(dir: &Path, step: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    run_command(
        step,
        Command::new(cargo())
            .current_dir(dir)
            .args(args)
            .envs(envs.iter().copied()),
    )
}

fn run_command(step: &str, command: &mut Command) -> Result<(), String> {
    let cargo = command.get_program().to_string_lossy().into_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
    eprintln!("xtask: [{step}] cargo {}", args.join(" "));
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("[{step}] could not start `{cargo}`: {e}"))?;
    eprintln!(
        "xtask: [{step}] {} in {:.1} s",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("[{step}] failed ({status})"))
    }
}
