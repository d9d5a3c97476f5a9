//! The figures the benches wrote, the goals the issues set for them, and the Markdown
//! summary (`BENCHMARKS.md`) rendered from both. Numbers only ever come from the files.

use std::fmt::Write as _;

use super::json::{self, Json};

/// One measured figure, as a bench wrote it (or as read from criterion's results).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    pub(crate) bench: String,
    pub(crate) name: String,
    /// `None`: not measured, e.g. a trial that timed out.
    pub(crate) value: Option<f64>,
    pub(crate) unit: String,
    /// For a ratio, the two measured sides (name, value).
    pub(crate) sides: Vec<(String, f64)>,
    /// A text figure, such as the peer's version.
    pub(crate) text: Option<String>,
}

/// Parses figure lines (one JSON object a line, blank lines skipped).
pub(crate) fn parse_figures(lines: &str) -> Result<Vec<Figure>, String> {
    lines
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let v = json::parse(line).map_err(|e| format!("figure line {}: {e}", i + 1))?;
            let field = |key: &str| {
                v.get(key)
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("figure line {}: no string `{key}`", i + 1))
            };
            Ok(Figure {
                bench: field("bench")?,
                name: field("name")?,
                value: v.get("value").and_then(Json::as_f64),
                unit: field("unit")?,
                sides: v
                    .get("sides")
                    .map(Json::members)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect(),
                text: v.get("text").and_then(Json::as_str).map(str::to_owned),
            })
        })
        .collect()
}

/// What a goal asks of a figure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    AtMost(f64),
    AtLeast(f64),
    /// Below another figure of the same bench.
    Below(&'static str),
}

/// A goal from the issues, on one figure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Goal {
    pub(crate) bench: &'static str,
    pub(crate) name: &'static str,
    pub(crate) rule: Rule,
    /// The figure's unit, for the target even when the figure is missing.
    pub(crate) unit: &'static str,
    pub(crate) what: &'static str,
}

/// The goals set by the issues (circuit, failover engine, client overhead and failover).
pub(crate) const GOALS: &[Goal] = &[
    Goal {
        bench: "circuit",
        name: "acquire_success/1_thread/multidb_circuit",
        rule: Rule::AtMost(25.0),
        unit: "ns",
        what: "circuit acquire + success ≤ 25 ns (default clock: what the client pays)",
    },
    Goal {
        bench: "circuit",
        name: "acquire_success/1_thread/multidb_circuit",
        rule: Rule::Below("acquire_success/1_thread/multidb_circuit_exact_clock"),
        unit: "ns",
        what: "recent reading cheaper than `Instant::now` per success",
    },
    Goal {
        bench: "circuit",
        name: "acquire_success/1_thread/multidb_circuit",
        rule: Rule::Below("acquire_success/1_thread/failsafe"),
        unit: "ns",
        what: "circuit faster than failsafe (1 thread)",
    },
    Goal {
        bench: "circuit",
        name: "acquire_success/2_threads/multidb_circuit",
        rule: Rule::Below("acquire_success/2_threads/failsafe"),
        unit: "ns",
        what: "circuit faster than failsafe (2 threads)",
    },
    Goal {
        bench: "decision",
        name: "failover_on_active_unavailable",
        rule: Rule::AtMost(100.0),
        unit: "ns",
        what: "failover decision ≤ 100 ns",
    },
    Goal {
        bench: "decision",
        name: "tick_with_pending_fallback",
        rule: Rule::AtMost(100.0),
        unit: "ns",
        what: "fallback decision ≤ 100 ns",
    },
    Goal {
        bench: "overhead",
        name: "sequential_time/client_vs_raw_multiplexed",
        rule: Rule::AtMost(1.03),
        unit: "ratio",
        what: "sequential time client/raw ≤ 1.03",
    },
    Goal {
        bench: "overhead",
        name: "concurrent_throughput/client_vs_raw_multiplexed",
        rule: Rule::AtLeast(0.97),
        unit: "ratio",
        what: "64-task throughput client/raw ≥ 0.97",
    },
    Goal {
        bench: "observability",
        name: "concurrent_64_tasks/metrics_on_vs_baseline",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "metrics on (durations off), 64-task throughput ≥ 0.98 of off",
    },
    Goal {
        bench: "observability",
        name: "concurrent_64_tasks/metrics_durations_vs_baseline",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "metrics with operation durations, 64-task throughput ≥ 0.98 of off",
    },
    Goal {
        bench: "observability",
        name: "concurrent_64_tasks/tracing_info_vs_baseline",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "tracing subscriber at info (spans disabled), 64-task throughput ≥ 0.98",
    },
    Goal {
        bench: "peers",
        name: "incr/64_tasks/client_vs_raw",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "64-task INCR throughput client/raw ≥ 0.98",
    },
    Goal {
        bench: "peers",
        name: "incr/1024_tasks/client_vs_raw",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "1024-task INCR throughput client/raw ≥ 0.98",
    },
    Goal {
        bench: "peers",
        name: "set_get/64_tasks/client_vs_raw",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "64-task SET+GET throughput client/raw ≥ 0.98",
    },
    Goal {
        bench: "peers",
        name: "set_get/1024_tasks/client_vs_raw",
        rule: Rule::AtLeast(0.98),
        unit: "ratio",
        what: "1024-task SET+GET throughput client/raw ≥ 0.98",
    },
    Goal {
        bench: "failover",
        name: "kill/first_ok/p99",
        rule: Rule::AtMost(5.0),
        unit: "ms",
        what: "SIGKILL failover p99 ≤ 5 ms (16 tasks)",
    },
    Goal {
        bench: "failover",
        name: "kill/errors/total",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "no error surfaced on SIGKILL",
    },
    Goal {
        bench: "failover",
        name: "pause/first_ok/p99",
        rule: Rule::AtMost(300.0),
        unit: "ms",
        what: "SIGSTOP failover p99 ≤ 300 ms",
    },
    Goal {
        bench: "failover",
        name: "pause/errors/total",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "no error surfaced on SIGSTOP",
    },
    Goal {
        bench: "failover",
        name: "client-pause/first_ok/p99",
        rule: Rule::AtMost(300.0),
        unit: "ms",
        what: "CLIENT PAUSE ALL failover p99 ≤ 300 ms",
    },
    Goal {
        bench: "failover",
        name: "client-pause/errors/total",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "no error surfaced on CLIENT PAUSE",
    },
    Goal {
        bench: "failover",
        name: "latency/first_ok/p99",
        rule: Rule::AtMost(300.0),
        unit: "ms",
        what: "latency > response timeout failover p99 ≤ 300 ms",
    },
    Goal {
        bench: "failover",
        name: "latency/errors/total",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "no error surfaced on added latency",
    },
    Goal {
        bench: "failover",
        name: "one-way/first_ok/p99",
        rule: Rule::AtMost(300.0),
        unit: "ms",
        what: "one-way blackhole failover p99 ≤ 300 ms",
    },
    Goal {
        bench: "failover",
        name: "one-way/errors/total",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "no error surfaced on a one-way blackhole",
    },
    Goal {
        bench: "failover",
        name: "transient/switches",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "transient suite: no switch",
    },
    Goal {
        bench: "failover",
        name: "transient/errors",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "transient suite: no error surfaced",
    },
    Goal {
        bench: "failover",
        name: "kill/trials_without_recovery",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "every SIGKILL trial recovers",
    },
    Goal {
        bench: "failover",
        name: "pubsub-kill/lost_on_new/max_per_trial",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "Pub/Sub messages lost per switch, kill: 0",
    },
    Goal {
        bench: "failover",
        name: "pubsub-pause/lost_on_new/max_per_trial",
        rule: Rule::AtMost(0.0),
        unit: "count",
        what: "Pub/Sub messages lost per switch, pause: 0",
    },
    Goal {
        bench: "failover",
        name: "blocking-side-by-side/p99_ratio",
        rule: Rule::AtMost(2.0),
        unit: "ratio",
        what: "SET/GET p99 beside 8 waiting BLPOPs ≤ 2× without",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Met,
    Missed,
    NotMeasured,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "**missed**",
            Status::NotMeasured => "not measured",
        }
    }
}

fn find<'a>(figures: &'a [Figure], bench: &str, name: &str) -> Option<&'a Figure> {
    figures.iter().find(|f| f.bench == bench && f.name == name)
}

fn value_of(figures: &[Figure], bench: &str, name: &str) -> Option<f64> {
    find(figures, bench, name)?.value.filter(|v| v.is_finite())
}

/// Whether `goal` is met by the figures.
pub(crate) fn check(goal: &Goal, figures: &[Figure]) -> Status {
    let Some(value) = value_of(figures, goal.bench, goal.name) else {
        return Status::NotMeasured;
    };
    let met = match goal.rule {
        Rule::AtMost(limit) => value <= limit,
        Rule::AtLeast(limit) => value >= limit,
        Rule::Below(other) => match value_of(figures, goal.bench, other) {
            Some(other) => value < other,
            None => return Status::NotMeasured,
        },
    };
    if met { Status::Met } else { Status::Missed }
}

fn rule_text(rule: Rule, unit: &str) -> String {
    match rule {
        Rule::AtMost(limit) => format!("≤ {}", number(Some(limit), unit)),
        Rule::AtLeast(limit) => format!("≥ {}", number(Some(limit), unit)),
        Rule::Below(other) => format!("< `{other}`"),
    }
}

/// A value in its unit, with the precision that unit deserves.
pub(crate) fn number(value: Option<f64>, unit: &str) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "—".to_owned();
    };
    match unit {
        "ns" => format!("{v:.1} ns"),
        "ms" => format!("{v:.2} ms"),
        "ratio" => format!("{v:.3}"),
        "bytes" => format!("{v:.0} B"),
        "tasks" => format!("{v:.1}"),
        "count" => format!("{v:.0}"),
        other => format!("{v} {other}"),
    }
}

/// What the summary says besides the figures.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The command that produced it, e.g. `cargo xtask bench --peer redis-py`.
    pub(crate) invocation: String,
    pub(crate) date: String,
    /// Machine facts, in order.
    pub(crate) machine: Vec<(String, String)>,
    /// Every command run, in order.
    pub(crate) commands: Vec<String>,
    /// Steps that failed; their figures are missing.
    pub(crate) failures: Vec<String>,
    /// Remarks on the run itself.
    pub(crate) notes: Vec<String>,
}

/// The benches in summary order: id and section title.
const SECTIONS: &[(&str, &str)] = &[
    (
        "circuit",
        "Circuit breaker (`multidb-circuit`, criterion median per acquire + success)",
    ),
    (
        "decision",
        "Failover decision (`multidb-failover`, criterion median per call)",
    ),
    (
        "overhead",
        "Client overhead (`MultiDbClient` vs raw redis-rs on one real redis-server)",
    ),
    (
        "peers",
        "Throughput beside the peers (raw redis-rs, `MultiDbClient`, fred; one real redis-server)",
    ),
    (
        "observability",
        "Observability on the hot path (metrics on/off, operation durations, tracing at info/trace; 64 tasks and sequential, one real redis-server)",
    ),
    (
        "failover",
        "Failover time (kill, stalls, the Pub/Sub gap and the transient suite on the active real member, default config)",
    ),
    (
        "memory",
        "Memory per member (client over 1 vs 9 real members, difference / 8)",
    ),
    (
        "failover-redis-py",
        "redis-py MultiDBClient, same scenarios (default and tuned config)",
    ),
];

/// Renders BENCHMARKS.md.
pub(crate) fn render(context: &Context, figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {}. Do not edit: every number comes from the benches' output \
         files; run the command again to refresh it.\n",
        context.invocation, context.date
    );
    for note in &context.notes {
        let _ = writeln!(out, "**Note:** {note}\n");
    }
    if !context.failures.is_empty() {
        let _ = writeln!(out, "**Incomplete run** — these steps failed:\n");
        for failure in &context.failures {
            let _ = writeln!(out, "- {failure}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Machine\n\n| | |\n|---|---|");
    for (key, value) in &context.machine {
        let _ = writeln!(out, "| {key} | {value} |");
    }
    let _ = writeln!(out, "\n## Commands\n\n```sh");
    for command in &context.commands {
        let _ = writeln!(out, "{command}");
    }
    let _ = writeln!(out, "```\n\n## Goals\n");
    let _ = writeln!(out, "| goal | figure | value | target | status |");
    let _ = writeln!(out, "|---|---|---:|---|---|");
    for goal in GOALS {
        let figure = find(figures, goal.bench, goal.name);
        let unit = goal.unit;
        let _ = writeln!(
            out,
            "| {} | `{}/{}` | {} | {} | {} |",
            goal.what,
            goal.bench,
            goal.name,
            number(figure.and_then(|f| f.value), unit),
            rule_text(goal.rule, unit),
            check(goal, figures).label()
        );
    }
    for (bench, title) in SECTIONS {
        let in_bench: Vec<&Figure> = figures.iter().filter(|f| f.bench == *bench).collect();
        if in_bench.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title}\n");
        if *bench == "failover-redis-py" {
            side_by_side(&mut out, figures);
        } else {
            figure_table(&mut out, &in_bench, figures);
        }
    }
    out
}

fn figure_table(out: &mut String, in_bench: &[&Figure], figures: &[Figure]) {
    let _ = writeln!(out, "| figure | value | measured sides | goal |");
    let _ = writeln!(out, "|---|---:|---|---|");
    for f in in_bench {
        let value = f.text.clone().unwrap_or_else(|| number(f.value, &f.unit));
        let sides: Vec<String> = f
            .sides
            .iter()
            .map(|(side, v)| format!("{side} {v:.0}"))
            .collect();
        let goals: Vec<String> = GOALS
            .iter()
            .filter(|g| g.bench == f.bench && g.name == f.name)
            .map(|g| {
                format!(
                    "{} — {}",
                    rule_text(g.rule, &f.unit),
                    check(g, figures).label()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            f.name,
            value,
            sides.join(", "),
            goals.join("; ")
        );
    }
}

/// The SIGKILL scenario of ours and of redis-py, figure by figure.
fn side_by_side(out: &mut String, figures: &[Figure]) {
    let peer = find(figures, "failover-redis-py", "version")
        .and_then(|f| f.text.clone())
        .unwrap_or_else(|| "redis-py".to_owned());
    let _ = writeln!(
        out,
        "Same scenarios, same machine, same run; redis-py with 4 load threads, multidb-client \
         with 16 tasks. `-tuned`: redis-py's most aggressive settings (1 failure, rate 0.01, \
         1 s window, 1 s checks, 1 probe, 1 s socket timeout); multidb-client runs its \
         defaults throughout (— where it has no such scenario).\n"
    );
    let _ = writeln!(out, "| scenario figure | multidb-client | {peer} |");
    let _ = writeln!(out, "|---|---:|---:|");
    for theirs in figures
        .iter()
        .filter(|f| f.bench == "failover-redis-py" && f.name != "version")
    {
        let ours = find(figures, "failover", &theirs.name);
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            theirs.name,
            number(ours.and_then(|f| f.value), &theirs.unit),
            number(theirs.value, &theirs.unit)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(bench: &str, name: &str, value: f64, unit: &str) -> Figure {
        Figure {
            bench: bench.to_owned(),
            name: name.to_owned(),
            value: Some(value),
            unit: unit.to_owned(),
            sides: Vec::new(),
            text: None,
        }
    }

    #[test]
    fn parses_figure_lines_with_sides_text_and_null() {
        let lines = concat!(
            r#"{"bench":"overhead","name":"r","value":1.01,"unit":"ratio","sides":{"client_ns_per_get":30000,"raw":29700}}"#,
            "\n\n",
            r#"{"bench":"failover","name":"kill/first_ok/p99","value":null,"unit":"ms"}"#,
            "\n",
            r#"{"bench": "failover-redis-py", "name": "version", "value": null, "unit": "", "text": "redis-py 8.1.0"}"#,
        );
        let figures = parse_figures(lines).unwrap();
        assert_eq!(figures.len(), 3);
        assert_eq!(figures[0].sides[1], ("raw".to_owned(), 29700.0));
        assert_eq!(figures[1].value, None);
        assert_eq!(figures[2].text.as_deref(), Some("redis-py 8.1.0"));
    }

    #[test]
    fn figure_line_without_a_name_is_an_error() {
        let err = parse_figures(r#"{"bench":"x","value":1,"unit":"ms"}"#).unwrap_err();
        assert!(err.contains("`name`"), "{err}");
    }

    #[test]
    fn goals_are_met_missed_or_not_measured() {
        let goal = |name| GOALS.iter().find(|g| g.what == name).unwrap();
        let p99 = goal("SIGKILL failover p99 ≤ 5 ms (16 tasks)");
        let fast = [figure("failover", "kill/first_ok/p99", 3.0, "ms")];
        let slow = [figure("failover", "kill/first_ok/p99", 5.5, "ms")];
        assert_eq!(check(p99, &fast), Status::Met);
        assert_eq!(check(p99, &slow), Status::Missed);
        assert_eq!(check(p99, &[]), Status::NotMeasured);

        let throughput = goal("64-task throughput client/raw ≥ 0.97");
        let name = "concurrent_throughput/client_vs_raw_multiplexed";
        assert_eq!(
            check(throughput, &[figure("overhead", name, 0.96, "ratio")]),
            Status::Missed
        );

        let faster = goal("circuit faster than failsafe (1 thread)");
        let ours = figure(
            "circuit",
            "acquire_success/1_thread/multidb_circuit",
            20.0,
            "ns",
        );
        let theirs = figure("circuit", "acquire_success/1_thread/failsafe", 30.0, "ns");
        assert_eq!(
            check(faster, std::slice::from_ref(&ours)),
            Status::NotMeasured
        );
        assert_eq!(check(faster, &[ours, theirs]), Status::Met);

        let lost = goal("Pub/Sub messages lost per switch, pause: 0");
        let name = "pubsub-pause/lost_on_new/max_per_trial";
        assert_eq!(
            check(lost, &[figure("failover", name, 0.0, "count")]),
            Status::Met
        );
        assert_eq!(
            check(lost, &[figure("failover", name, 1.0, "count")]),
            Status::Missed
        );
    }

    #[test]
    fn summary_shows_every_figure_goal_status_and_peer_side_by_side() {
        let mut peer_version = figure("failover-redis-py", "version", 0.0, "");
        peer_version.value = None;
        peer_version.text = Some("redis-py 8.1.0".to_owned());
        let figures = vec![
            figure("failover", "kill/first_ok/p99", 4.25, "ms"),
            figure("memory", "per_member/bytes", 12345.0, "bytes"),
            peer_version,
            figure("failover-redis-py", "kill/first_ok/p99", 6100.0, "ms"),
        ];
        let context = Context {
            invocation: "cargo xtask bench --peer redis-py".to_owned(),
            date: "2026-01-01 00:00 UTC".to_owned(),
            machine: vec![("load average at start".to_owned(), "3.1 2.0 1.5".to_owned())],
            commands: vec!["cargo bench -p multidb-client --bench failover".to_owned()],
            failures: vec!["memory bench failed".to_owned()],
            notes: Vec::new(),
        };
        let md = render(&context, &figures);
        assert!(md.contains("| load average at start | 3.1 2.0 1.5 |"));
        assert!(md.contains("cargo bench -p multidb-client --bench failover"));
        assert!(md.contains("**Incomplete run**"));
        assert!(md.contains("| SIGKILL failover p99 ≤ 5 ms (16 tasks) | `failover/kill/first_ok/p99` | 4.25 ms | ≤ 5.00 ms | met |"));
        assert!(md.contains("| circuit acquire + success ≤ 25 ns (default clock: what the client pays) | `circuit/acquire_success/1_thread/multidb_circuit` | — |"));
        assert!(md.contains("| `per_member/bytes` | 12345 B |"));
        assert!(md.contains("| scenario figure | multidb-client | redis-py 8.1.0 |"));
        assert!(md.contains("| `kill/first_ok/p99` | 4.25 ms | 6100.00 ms |"));
    }
}
