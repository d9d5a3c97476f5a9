//! `cargo xtask bench`: every benchmark of the workspace in one run on this machine, then
//! `BENCHMARKS.md` generated from what they wrote — never from numbers typed by hand.
//!
//! The criterion micro-benches (`circuit`, `failover` decision) are read from criterion's
//! own result files (`CRITERION_HOME` points into our scratch directory); the client's
//! benches (`overhead`, `peers`, `failover`, `memory`) append figure lines to the file named by
//! `MULTIDB_BENCH_JSON`. With `--peer redis-py` the same SIGKILL scenario also runs with
//! redis-py's `MultiDBClient` from a throw-away virtualenv, for a side-by-side table.
//! A failed step does not stop the others: the summary says which figures are missing, and
//! the command then fails.

mod json;
mod quote;
mod summary;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use summary::{Context, Figure};

/// The redis-py release whose `redis.multidb` the peer script was verified against, and the
/// circuit-breaker package it imports (the `circuit-breaker` extra's requirement).
const PEER_PACKAGES: [&str; 2] = ["redis==8.1.0", "pybreaker==1.4.1"];
const PEER_SCRIPT: &str = "xtask/peer/redis_py_failover.py";
/// Trials per failover scenario: the issues ask for at least 30.
const TRIALS: u32 = 30;
const PEER_TRIALS: u32 = 20;
/// Short criterion settings: enough for stable medians of nanosecond operations.
const CRITERION_ARGS: [&str; 4] = ["--warm-up-time", "1", "--measurement-time", "3"];
const QUICK_CRITERION_ARGS: [&str; 4] = ["--warm-up-time", "0.2", "--measurement-time", "0.5"];

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    peer: bool,
    /// Short settings to try the plumbing; the summary says so.
    quick: bool,
    trials: Option<u32>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--peer" => match args.next().map(String::as_str) {
                Some("redis-py") => options.peer = true,
                Some(other) => {
                    return Err(format!("bench: unknown peer `{other}` (known: redis-py)"));
                }
                None => return Err("bench: --peer needs a value (redis-py)".to_owned()),
            },
            "--quick" => options.quick = true,
            "--trials" => {
                let n = args.next().ok_or("bench: --trials needs a value")?;
                let n = n.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("bench: --trials takes a positive whole number, got `{n}`")
                })?;
                options.trials = Some(n);
            }
            other => return Err(format!("bench: unknown argument `{other}`")),
        }
    }
    Ok(options)
}

/// Copies the summary's headline (date, machine, goals, redis-py comparison) into the
/// README's performance section.
pub(crate) fn quote_in_readme(root: &Path) -> Result<(), String> {
    let summary_path = root.join("BENCHMARKS.md");
    let summary = fs::read_to_string(&summary_path)
        .map_err(|e| format!("cannot read {}: {e}", summary_path.display()))?;
    let readme_path = root.join("README.md");
    let readme = fs::read_to_string(&readme_path)
        .map_err(|e| format!("cannot read {}: {e}", readme_path.display()))?;
    let updated = quote::replace(&readme, &quote::excerpt(&summary))?;
    fs::write(&readme_path, updated)
        .map_err(|e| format!("cannot write {}: {e}", readme_path.display()))?;
    eprintln!(
        "xtask: [bench] quoted the summary in {}",
        readme_path.display()
    );
    Ok(())
}

/// Runs the benches and writes `BENCHMARKS.md` at the workspace root.
pub(crate) fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse_args(args)?;
    let scratch = target_dir(root).join("xbench");
    fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let figures_file = scratch.join("figures.jsonl");
    fs::write(&figures_file, "")
        .map_err(|e| format!("cannot write {}: {e}", figures_file.display()))?;

    let mut context = Context {
        invocation: invocation(&options),
        date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            .unwrap_or_else(|| "unknown".to_owned()),
        machine: machine(),
        ..Context::default()
    };
    if options.quick {
        context
            .notes
            .push("`--quick`: short settings to try the plumbing; not figures to quote".to_owned());
    }
    let criterion_args = if options.quick {
        QUICK_CRITERION_ARGS
    } else {
        CRITERION_ARGS
    };
    let trials = options.trials.unwrap_or(TRIALS).to_string();
    let peer_trials = options.trials.unwrap_or(PEER_TRIALS).to_string();
    let figures_env = figures_file.to_string_lossy().into_owned();

    let mut figures = Vec::new();
    for (id, package, bench) in [
        ("circuit", "multidb-circuit", "breaker"),
        ("decision", "multidb-failover", "decision"),
    ] {
        let home = scratch.join("criterion").join(id);
        // Stale results of an earlier run must not stand in for a failed one.
        let _ = fs::remove_dir_all(&home);
        let home_env = home.to_string_lossy().into_owned();
        let mut args = vec!["bench", "-p", package, "--bench", bench, "--"];
        args.extend(criterion_args);
        if step(&mut context, id, &args, &[("CRITERION_HOME", &home_env)]) {
            match criterion_figures(id, &home) {
                Ok(found) => figures.extend(found),
                Err(e) => context.failures.push(format!("{id}: {e}")),
            }
        }
    }
    let criterion_home = scratch.join("criterion").join("overhead");
    let criterion_home = criterion_home.to_string_lossy().into_owned();
    let mut overhead = vec!["bench", "-p", "multidb-client", "--bench", "overhead", "--"];
    overhead.extend(criterion_args);
    let client_env = [
        ("MULTIDB_BENCH_JSON", figures_env.as_str()),
        ("CRITERION_HOME", criterion_home.as_str()),
    ];
    step(&mut context, "overhead", &overhead, &client_env);
    let peers = ["bench", "-p", "multidb-client", "--bench", "peers"];
    step(&mut context, "peers", &peers, &client_env);
    let observability = "bench -p multidb-client --features metrics --bench observability";
    let observability: Vec<&str> = observability.split(' ').collect();
    step(&mut context, "observability", &observability, &client_env);
    let failover = ["bench", "-p", "multidb-client", "--bench", "failover"];
    let failover_env = [
        ("MULTIDB_BENCH_JSON", figures_env.as_str()),
        ("MULTIDB_BENCH_FAILOVER_TRIALS", trials.as_str()),
    ];
    step(&mut context, "failover", &failover, &failover_env);
    let memory = ["bench", "-p", "multidb-client", "--bench", "memory"];
    step(&mut context, "memory", &memory, &client_env);
    if options.peer
        && let Err(e) = peer(root, &scratch, &mut context, &figures_env, &peer_trials)
    {
        context.failures.push(format!("redis-py peer: {e}"));
    }

    let lines = fs::read_to_string(&figures_file)
        .map_err(|e| format!("cannot read {}: {e}", figures_file.display()))?;
    figures.extend(summary::parse_figures(&lines)?);
    context.machine.push((
        "load average at end".to_owned(),
        load_average().unwrap_or_else(|| "unknown".to_owned()),
    ));
    let markdown = summary::render(&context, &figures);
    let out = root.join("BENCHMARKS.md");
    fs::write(&out, markdown).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!(
        "xtask: [bench] wrote {} ({} figures)",
        out.display(),
        figures.len()
    );
    quote_in_readme(root)?;
    if context.failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "bench: incomplete, see {}: {}",
            out.display(),
            context.failures.join("; ")
        ))
    }
}

fn invocation(options: &Options) -> String {
    let mut s = "cargo xtask bench".to_owned();
    if options.peer {
        s.push_str(" --peer redis-py");
    }
    if options.quick {
        s.push_str(" --quick");
    }
    if let Some(n) = options.trials {
        let _ = write!(s, " --trials {n}");
    }
    s
}

/// Runs `cargo args…`, records the command, and notes a failure; true on success.
fn step(context: &mut Context, id: &str, args: &[&str], envs: &[(&str, &str)]) -> bool {
    let shown_env: Vec<String> = envs
        .iter()
        .filter(|(k, _)| *k == "MULTIDB_BENCH_FAILOVER_TRIALS")
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    context
        .commands
        .push(format!("{}cargo {}", shown_env.concat(), args.join(" ")));
    let mut command = Command::new(super::cargo());
    command.args(args).envs(envs.iter().copied());
    match super::run_command(id, &mut command) {
        Ok(()) => true,
        Err(e) => {
            context.failures.push(e);
            false
        }
    }
}

/// Every benchmark criterion saved under `home`: its id and median time in ns.
fn criterion_figures(bench: &str, home: &Path) -> Result<Vec<Figure>, String> {
    let mut found = Vec::new();
    let mut dirs = vec![home.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n == "new") {
                let read = |file: &str| -> Result<json::Json, String> {
                    let file = path.join(file);
                    let text = fs::read_to_string(&file)
                        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                    json::parse(&text).map_err(|e| format!("{}: {e}", file.display()))
                };
                let (Ok(id), Ok(estimates)) = (read("benchmark.json"), read("estimates.json"))
                else {
                    continue;
                };
                let name = id.get("full_id").and_then(json::Json::as_str);
                let median = estimates
                    .get("median")
                    .and_then(|m| m.get("point_estimate"))
                    .and_then(json::Json::as_f64);
                if let (Some(name), Some(median)) = (name, median) {
                    found.push(Figure {
                        bench: bench.to_owned(),
                        name: name.to_owned(),
                        value: Some(median),
                        unit: "ns".to_owned(),
                        sides: Vec::new(),
                        text: None,
                    });
                }
            } else if path.is_dir() && path.file_name().is_some_and(|n| n != "report") {
                dirs.push(path);
            }
        }
    }
    if found.is_empty() {
        return Err(format!("no criterion results under {}", home.display()));
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The redis-py peer: a fresh virtualenv with the pinned packages, then the scenario script.
fn peer(
    root: &Path,
    scratch: &Path,
    context: &mut Context,
    figures_env: &str,
    trials: &str,
) -> Result<(), String> {
    let venv = scratch.join("peer-venv");
    let python = venv.join("bin/python");
    let mut external = |id: &str, program: &Path, args: &[&str], envs: &[(&str, &str)]| {
        context.commands.push(shell_line(root, program, args));
        let mut command = Command::new(program);
        command
            .current_dir(root)
            .args(args)
            .envs(envs.iter().copied());
        run_program(id, &mut command)
    };
    // Throw-away: made anew on every run, so nothing left from an earlier one counts.
    let venv_arg = venv.to_string_lossy();
    let make_venv = ["-m", "venv", "--clear", &venv_arg];
    external("peer venv", Path::new("python3"), &make_venv, &[])?;
    let mut install = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    install.extend(PEER_PACKAGES);
    external("peer pip", &python, &install, &[])?;
    let check = ["-c", "import redis.multidb.client, redis.multidb.config"];
    external("peer check", &python, &check, &[])
        .map_err(|e| format!("{e}: redis.multidb is missing from {}", PEER_PACKAGES[0]))?;
    let script = root.join(PEER_SCRIPT);
    let script = script.to_string_lossy();
    let args = [script.as_ref(), "--trials", trials];
    external(
        "peer run",
        &python,
        &args,
        &[("MULTIDB_BENCH_JSON", figures_env)],
    )
}

/// A command as a person would type it at the workspace root: paths below the root made
/// relative, arguments with spaces quoted.
fn shell_line(root: &Path, program: &Path, args: &[&str]) -> String {
    let prefix = format!("{}/", root.display());
    let word = |s: &str| {
        let s = s.strip_prefix(&prefix).unwrap_or(s);
        if s.contains(' ') {
            format!("'{s}'")
        } else {
            s.to_owned()
        }
    };
    let mut line = word(&program.to_string_lossy());
    for arg in args {
        line.push(' ');
        line.push_str(&word(arg));
    }
    line
}

fn run_program(id: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: [{id}] {}", command.get_program().to_string_lossy());
    let status = command.status().map_err(|e| {
        format!(
            "[{id}] could not start {}: {e}",
            command.get_program().to_string_lossy()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("[{id}] failed ({status})"))
    }
}

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to the root) or `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// The first line a program prints, if it runs.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or_default().trim().to_owned())
}

fn load_average() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Facts about this machine for the summary; load average taken now, at the start.
fn machine() -> Vec<(String, String)> {
    let unknown = || "unknown".to_owned();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(unknown, |(_, model)| model.trim().to_owned());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or_else(unknown, |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    vec![
        ("CPU".to_owned(), cpu),
        (
            "cores (`nproc`)".to_owned(),
            output("nproc", &[]).unwrap_or_else(unknown),
        ),
        ("memory".to_owned(), memory),
        (
            "load average at start".to_owned(),
            load_average().unwrap_or_else(unknown),
        ),
        (
            "kernel".to_owned(),
            output("uname", &["-sr"]).unwrap_or_else(unknown),
        ),
        (
            "rustc".to_owned(),
            output("rustc", &["--version"]).unwrap_or_else(unknown),
        ),
        (
            "redis-server".to_owned(),
            output("redis-server", &["--version"]).unwrap_or_else(unknown),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_peer_quick_and_trials() {
        let options =
            parse_args(&args(&["--peer", "redis-py", "--quick", "--trials", "3"])).unwrap();
        assert_eq!(
            options,
            Options {
                peer: true,
                quick: true,
                trials: Some(3)
            }
        );
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
    }

    #[test]
    fn rejects_unknown_peer_and_bad_trials() {
        assert!(
            parse_args(&args(&["--peer", "jedis"]))
                .unwrap_err()
                .contains("jedis")
        );
        assert!(parse_args(&args(&["--peer"])).is_err());
        assert!(
            parse_args(&args(&["--trials", "0"]))
                .unwrap_err()
                .contains("`0`")
        );
        assert!(
            parse_args(&args(&["--fast"]))
                .unwrap_err()
                .contains("--fast")
        );
    }

    #[test]
    fn reads_criterion_medians_by_full_id() {
        let home = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let new = home.join("acquire_success_1_thread/failsafe/new");
        fs::create_dir_all(&new).unwrap();
        fs::create_dir_all(home.join("report")).unwrap();
        fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"acquire_success/1_thread","full_id":"acquire_success/1_thread/failsafe"}"#,
        )
        .unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":40.0},"median":{"point_estimate":38.5}}"#,
        )
        .unwrap();
        let figures = criterion_figures("circuit", &home).unwrap();
        fs::remove_dir_all(&home).unwrap();
        assert_eq!(figures.len(), 1);
        assert_eq!(figures[0].name, "acquire_success/1_thread/failsafe");
        assert_eq!(figures[0].value, Some(38.5));
        assert_eq!(figures[0].unit, "ns");
    }

    #[test]
    fn shell_line_is_relative_to_the_root_and_quoted() {
        let root = Path::new("/work/repo");
        let python = Path::new("/work/repo/target/xbench/peer-venv/bin/python");
        let line = shell_line(
            root,
            python,
            &["-c", "import a, b", "/work/repo/x.py", "/tmp/y"],
        );
        assert_eq!(
            line,
            "target/xbench/peer-venv/bin/python -c 'import a, b' x.py /tmp/y"
        );
    }

    #[test]
    fn no_criterion_results_is_an_error() {
        let home =
            std::env::temp_dir().join(format!("xtask-criterion-empty-{}", std::process::id()));
        fs::create_dir_all(&home).unwrap();
        let result = criterion_figures("decision", &home);
        fs::remove_dir_all(&home).unwrap();
        assert!(result.unwrap_err().contains("no criterion results"));
    }
}
