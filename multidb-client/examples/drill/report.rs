//! Turns a run's raw records into figures: per phase the failover time (fault injected →
//! first successful command on the member switched to, from event and operation
//! timestamps), the errors the application saw, ops/s; the event timeline; and writes them
//! as a table, as `report.json` and (with [`super::svg`]) as `timeline.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use multidb_client::{DatabaseId, Event};
use serde_json::{Value, json};

use super::load::{Op, Outcome};
use super::run::{DrillRun, PhaseRun, TimedEvent};
use super::scenario::Expect;

/// Width of a throughput bucket.
pub(crate) const BUCKET_MS: f64 = 100.0;

/// A switch of the active database.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Switch {
    pub(crate) at_ms: f64,
    pub(crate) from: Option<DatabaseId>,
    pub(crate) to: DatabaseId,
    pub(crate) reason: &'static str,
}

/// The figures of one phase.
#[derive(Clone, Debug)]
pub(crate) struct PhaseFigures {
    pub(crate) run: PhaseRun,
    /// The switch the phase is about: away from the faulted member, or home.
    pub(crate) switch: Option<Switch>,
    pub(crate) first_success_ms: Option<f64>,
    /// Fault injected → first successful command after the switch.
    pub(crate) failover_ms: Option<f64>,
    pub(crate) ok: u64,
    pub(crate) ops_per_sec: f64,
    pub(crate) errors: BTreeMap<&'static str, u64>,
}

impl PhaseFigures {
    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Every figure of a run.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) run: DrillRun,
    pub(crate) phases: Vec<PhaseFigures>,
    pub(crate) switches: Vec<Switch>,
    /// Successful ops per member (in `run.members` order) per [`BUCKET_MS`].
    pub(crate) buckets: Vec<Vec<u64>>,
    /// Problems: expectations not met, traffic not home at the end.
    pub(crate) failures: Vec<String>,
}

/// The switches among `events`.
fn switches(events: &[TimedEvent]) -> Vec<Switch> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActiveDatabaseChanged { from, to, reason } => Some(Switch {
                at_ms: e.at_ms,
                from: *from,
                to: *to,
                reason: reason.as_str(),
            }),
            _ => None,
        })
        .collect()
}

fn op_ms(op: &Op) -> f64 {
    op.at_us as f64 / 1000.0
}

/// Analyses a run.
pub(crate) fn analyse(run: DrillRun) -> Report {
    let switches = switches(&run.events);
    let primary = run
        .members
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight).then(b.id.cmp(&a.id)))
        .map(|m| m.id);
    let mut phases = Vec::new();
    let mut failures = Vec::new();
    for p in &run.phases {
        let within = |t: f64| t >= p.start_ms && t < p.end_ms;
        let switch = match p.phase.expect {
            Expect::SwitchAway => switches
                .iter()
                .find(|s| within(s.at_ms) && s.from == p.target)
                .cloned(),
            Expect::Home => switches
                .iter()
                .find(|s| within(s.at_ms) && Some(s.to) == primary)
                .cloned(),
            Expect::Nothing => None,
        };
        let first_success_ms = switch.as_ref().and_then(|s| {
            run.ops
                .iter()
                .find(|op| op.outcome == Outcome::Ok && op.db == s.to.get() && op_ms(op) >= s.at_ms)
                .map(op_ms)
        });
        let mut ok = 0;
        let mut errors = BTreeMap::new();
        for op in run.ops.iter().filter(|op| within(op_ms(op))) {
            if op.outcome == Outcome::Ok {
                ok += u64::from(op.count);
            } else {
                *errors.entry(op.outcome.as_str()).or_insert(0) += u64::from(op.count);
            }
        }
        let seconds = ((p.end_ms - p.start_ms) / 1000.0).max(1e-3);
        if !p.expectation_met || (p.phase.expect != Expect::Nothing && switch.is_none()) {
            failures.push(format!(
                "phase {}: expected {}, not seen",
                p.phase.name,
                match p.phase.expect {
                    Expect::SwitchAway => "a switch away from the faulted member",
                    Expect::Home => "traffic back on the primary",
                    Expect::Nothing => "nothing",
                }
            ));
        }
        phases.push(PhaseFigures {
            run: p.clone(),
            failover_ms: first_success_ms.map(|t| t - p.start_ms),
            switch,
            first_success_ms,
            ok,
            ops_per_sec: ok as f64 / seconds,
            errors,
        });
    }
    let expects_home = run.phases.iter().any(|p| p.phase.expect == Expect::Home);
    if expects_home && run.final_active != primary {
        failures.push(format!(
            "traffic ended on {}, not on the primary",
            run.final_active
                .map_or_else(|| "no database".to_owned(), |d| d.to_string())
        ));
    }
    let slots = (run.total_ms / BUCKET_MS).ceil() as usize + 1;
    let mut buckets = vec![vec![0u64; slots]; run.members.len()];
    for op in run.ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        if let Some(i) = run.members.iter().position(|m| m.id.get() == op.db) {
            let slot = ((op_ms(op) / BUCKET_MS) as usize).min(slots - 1);
            buckets[i][slot] += u64::from(op.count);
        }
    }
    Report {
        run,
        phases,
        switches,
        buckets,
        failures,
    }
}

/// One line of the event timeline: kind, what, reason.
pub(crate) fn describe(event: &Event) -> (&'static str, String, Option<&'static str>) {
    match event {
        Event::ActiveDatabaseChanged { from, to, reason } => (
            "switch",
            match from {
                Some(f) => format!("{f} -> {to}"),
                None => format!("-> {to}"),
            },
            Some(reason.as_str()),
        ),
        Event::CircuitStateChanged { database, from, to } => (
            "circuit",
            format!("{database} {} -> {}", from.as_str(), to.as_str()),
            None,
        ),
        Event::HealthChanged { database, healthy } => (
            "health",
            format!(
                "{database} {}",
                if *healthy { "healthy" } else { "unhealthy" }
            ),
            None,
        ),
        Event::AllDatabasesUnhealthy => ("all_unhealthy", "no usable database".to_owned(), None),
        other => ("other", format!("{other:?}"), None),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(
        || "-".to_owned(),
        |v| {
            if v < 10.0 {
                format!("{v:.1} ms")
            } else {
                format!("{v:.0} ms")
            }
        },
    )
}

/// The summary table and the event timeline, as printed on stdout.
pub(crate) fn summary(report: &Report) -> String {
    let run = &report.run;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nfailover drill: scenario {}, {} members ({}), {} tasks, {:.1} s",
        run.scenario,
        run.members.len(),
        run.mode,
        run.concurrency,
        run.total_ms / 1000.0
    );
    let settings: Vec<String> = run
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(s, "settings: {}", settings.join(", "));
    for m in &run.members {
        let _ = writeln!(s, "  member {} weight {}", m.name, m.weight);
    }
    let _ = writeln!(
        s,
        "\n{:<15} {:<14} {:<32} {:>10} {:>10}  errors surfaced",
        "phase", "fault", "switch (reason)", "failover", "ops/s"
    );
    for p in &report.phases {
        let switch = p.switch.as_ref().map_or_else(
            || "-".to_owned(),
            |sw| {
                let from = sw.from.map_or_else(String::new, |f| f.to_string());
                format!("{from}->{} ({})", sw.to, sw.reason)
            },
        );
        let errors = if p.errors.is_empty() {
            "0".to_owned()
        } else {
            let kinds: Vec<String> = p.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!("{} ({})", p.error_count(), kinds.join(", "))
        };
        let _ = writeln!(
            s,
            "{:<15} {:<14} {:<32} {:>10} {:>10.0}  {errors}",
            p.run.phase.name,
            p.run.fault.as_deref().unwrap_or("-"),
            switch,
            ms(p.failover_ms),
            p.ops_per_sec,
        );
    }
    let _ = writeln!(s, "\nevent timeline (ms since start):");
    for e in &run.events {
        let (kind, what, reason) = describe(&e.event);
        let reason = reason.map_or_else(String::new, |r| format!("  reason {r}"));
        let _ = writeln!(s, "  {:>9.1}  {kind:<13} {what}{reason}", e.at_ms);
    }
    if run.events_lost > 0 {
        let _ = writeln!(
            s,
            "  ({} events lost: the recorder fell behind)",
            run.events_lost
        );
    }
    let final_active = run
        .final_active
        .map_or_else(|| "none".to_owned(), |d| d.to_string());
    let _ = writeln!(s, "\nfinal active member: {final_active}");
    if report.failures.is_empty() {
        let _ = writeln!(s, "result: every phase behaved as expected");
    } else {
        for f in &report.failures {
            let _ = writeln!(s, "result: FAILED: {f}");
        }
    }
    s
}

/// The client's status as JSON (the example builds without the `serde` feature).
fn status_json(status: &multidb_client::ClientStatus) -> Value {
    let dbs: Vec<Value> = status
        .databases
        .iter()
        .map(|d| {
            json!({
                "id": d.id.get(),
                "endpoint": d.endpoint.to_string(),
                "weight": d.weight,
                "active": d.active,
                "healthy": d.healthy,
                "circuit": d.circuit.as_str(),
                "window": { "successes": d.window.successes, "failures": d.window.failures },
                "lagging": d.lagging,
                "lag_ms": d.lag.map(|l| l.as_secs_f64() * 1e3),
                "connection": format!("{:?}", d.connection),
                "last_failure": d.last_failure.as_ref().map(|f| json!({
                    "ago_ms": f.ago.as_secs_f64() * 1e3,
                    "reason": f.reason,
                })),
                "latency": d.latency.map(|l| json!({
                    "p50_ms": l.p50.as_secs_f64() * 1e3,
                    "p99_ms": l.p99.as_secs_f64() * 1e3,
                    "samples": l.samples,
                })),
            })
        })
        .collect();
    json!({ "active": status.active.map(DatabaseId::get), "databases": dbs })
}

/// Every figure and event, for `report.json`.
pub(crate) fn to_json(report: &Report) -> Value {
    let run = &report.run;
    let switch = |s: &Switch| {
        json!({
            "at_ms": s.at_ms,
            "from": s.from.map(DatabaseId::get),
            "to": s.to.get(),
            "reason": s.reason,
        })
    };
    let phases: Vec<Value> = report
        .phases
        .iter()
        .map(|p| {
            json!({
                "name": p.run.phase.name,
                "start_ms": p.run.start_ms,
                "end_ms": p.run.end_ms,
                "fault": p.run.fault,
                "fault_target": p.run.target.map(DatabaseId::get),
                "expectation_met": p.run.expectation_met,
                "switch": p.switch.as_ref().map(switch),
                "first_success_ms": p.first_success_ms,
                "failover_ms": p.failover_ms,
                "ok_ops": p.ok,
                "ops_per_sec": p.ops_per_sec,
                "errors_total": p.error_count(),
                "errors": p.errors,
                "status": status_json(&p.run.status),
            })
        })
        .collect();
    let events: Vec<Value> = run
        .events
        .iter()
        .map(|e| {
            let (kind, what, reason) = describe(&e.event);
            json!({ "at_ms": e.at_ms, "kind": kind, "what": what, "reason": reason })
        })
        .collect();
    let members: Vec<Value> = run
        .members
        .iter()
        .zip(&report.buckets)
        .map(|(m, b)| {
            json!({ "id": m.id.get(), "name": m.name, "weight": m.weight, "ok_ops_per_bucket": b })
        })
        .collect();
    let settings: BTreeMap<&str, &str> =
        run.settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    json!({
        "mode": run.mode,
        "scenario": run.scenario,
        "concurrency": run.concurrency,
        "settings": settings,
        "total_ms": run.total_ms,
        "bucket_ms": BUCKET_MS,
        "members": members,
        "phases": phases,
        "switches": report.switches.iter().map(switch).collect::<Vec<_>>(),
        "events": events,
        "events_lost": run.events_lost,
        "server_data_commands": run.server_samples.iter()
            .map(|(t, c)| json!({ "at_ms": t, "counts": c }))
            .collect::<Vec<_>>(),
        "final_active": run.final_active.map(DatabaseId::get),
        "total_ops": run.ops.iter().map(|op| u64::from(op.count)).sum::<u64>(),
        "failures": report.failures,
        "passed": report.failures.is_empty(),
    })
}
