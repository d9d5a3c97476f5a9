//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: the whole gate CI runs — formatting, clippy with warnings denied on every target
//!   and feature, the test suite with all features, and rustdoc with warnings denied.
//! - `drill`: the failover drill (`multidb-client`'s `drill` example), arguments passed on.

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("drill") => drill(&rest),
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
  ci       fmt check, clippy -D warnings, tests (all features), docs with warnings denied
  drill    run the failover drill example (arguments are passed on)";

fn ci() -> Result<(), String> {
    let started = Instant::now();
    run("fmt", &["fmt", "--all", "--", "--check"], &[])?;
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
    run("test", &["test", "--workspace", "--all-features"], &[])?;
    run(
        "doc",
        &["doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    eprintln!(
        "xtask: ci passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
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

fn run(step: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: [{step}] cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
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
