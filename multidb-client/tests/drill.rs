//! The failover drill (`examples/drill`), run in-process on fakes with short phases: the
//! scenario's faults must show up as failovers with the right reasons, traffic must end on
//! the primary, and the report files must be well-formed.
#![allow(clippy::unwrap_used)]

#[path = "../examples/drill/mod.rs"]
#[allow(dead_code)]
mod drill;

mod common;

use std::path::PathBuf;
use std::time::Duration;

use drill::args::{Args, Mode, Parsed, parse};
use drill::cli::{execute, write};
use drill::members::Timing;
use drill::report::Report;
use drill::run::DrillError;
use drill::scenario::ScenarioName;
use multidb_client::DatabaseId;
use multidb_testkit::FakeRedis;

/// Short timings so a whole scenario takes a few seconds.
fn fast() -> Timing {
    Timing {
        health_interval: Duration::from_millis(100),
        grace_period: Duration::from_millis(300),
        auto_fallback: Duration::from_millis(200),
        health_timeout: Some(Duration::from_millis(800)),
        probes_delay: Some(Duration::from_millis(50)),
        max_wait: Duration::from_secs(10),
    }
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("multidb-drill-{name}-{}", std::process::id()))
}

fn args(mode: Mode, scenario: ScenarioName, out: PathBuf) -> Args {
    Args {
        mode,
        phase: Duration::from_millis(400),
        concurrency: 4,
        scenario,
        out,
        quiet: true,
    }
}

/// The phase's switch as (from, to, reason).
fn switch_of(report: &Report, phase: &str) -> (Option<u32>, u32, &'static str) {
    let p = report
        .phases
        .iter()
        .find(|p| p.run.phase.name == phase)
        .unwrap_or_else(|| panic!("no phase {phase}"));
    let s = p
        .switch
        .as_ref()
        .unwrap_or_else(|| panic!("no switch in phase {phase}: {:?}", report.failures));
    assert!(
        p.failover_ms.is_some_and(|ms| ms >= 0.0),
        "phase {phase} has no failover time"
    );
    (s.from.map(DatabaseId::get), s.to.get(), s.reason)
}

const FAULT_REASONS: [&str; 2] = ["health_check_failed", "circuit_opened"];

/// A well-formedness check: every tag closed in order, attributes quoted, `&` only in
/// entities, one root element.
fn assert_well_formed_xml(text: &str) {
    let body = text.trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").expect("unterminated declaration") + 2..],
        None => body,
    };
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_text(text);
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("empty tag");
            check_attributes(&tag[name.len()..]);
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(rest.trim().is_empty(), "text after the root element");
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

fn check_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
            "bad entity {entity}"
        );
    }
}

fn check_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let eq = attrs.find('=').expect("attribute without value");
        assert!(
            !attrs[..eq].trim().contains(char::is_whitespace),
            "bad attribute name"
        );
        let value = attrs[eq + 1..].trim_start();
        let quote = value.chars().next().expect("missing attribute value");
        assert!(quote == '"' || quote == '\'', "unquoted attribute");
        let end = value[1..].find(quote).expect("unterminated attribute") + 1;
        assert!(!value[1..end].contains('<'), "< in attribute");
        check_text(&value[1..end]);
        attrs = &value[end + 1..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_scenario_fails_over_twice_and_falls_back_to_the_primary() {
    let dir = out_dir("default");
    let args = args(Mode::Fakes, ScenarioName::Default, dir.clone());
    let report = execute(&args, &fast()).await.unwrap();

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let (from, to, reason) = switch_of(&report, "kill-primary");
    assert_eq!((from, to), (Some(1), 2));
    assert!(FAULT_REASONS.contains(&reason), "kill reason {reason}");
    let (from, to, reason) = switch_of(&report, "blackhole-next");
    assert_eq!((from, to), (Some(2), 3));
    assert!(FAULT_REASONS.contains(&reason), "blackhole reason {reason}");
    let (_, to, reason) = switch_of(&report, "recover");
    assert_eq!((to, reason), (1, "auto_fallback"));
    assert_eq!(report.run.final_active.map(DatabaseId::get), Some(1));
    assert!(
        report.phases.iter().all(|p| p.ok > 0),
        "every phase served traffic"
    );

    let (json_path, svg_path) = write(&report, &dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let names: Vec<&str> = json["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["baseline", "kill-primary", "blackhole-next", "recover"]
    );
    assert!(json["phases"][1]["failover_ms"].as_f64().is_some());
    assert_eq!(json["final_active"], 1);
    assert_eq!(json["members"].as_array().unwrap().len(), 3);
    assert!(json["events"].as_array().unwrap().len() >= 4);

    let svg = std::fs::read_to_string(svg_path).unwrap();
    assert_well_formed_xml(&svg);
    assert_eq!(svg.matches("<polyline class=\"member\"").count(), 3);
    let markers = svg.matches("class=\"failover\"").count();
    assert_eq!(
        markers,
        report.switches.len() - 1,
        "one marker per failover"
    );
    assert!(markers >= 3);
    for reason in report.switches.iter().skip(1).map(|s| s.reason) {
        assert!(svg.contains(reason), "marker label {reason}");
    }
    assert!(!svg.contains("<script"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_only_scenario_through_proxies_fails_over_and_back() {
    let fakes = [
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    ];
    let urls = vec![(fakes[0].url(), 1.0), (fakes[1].url(), 0.5)];
    let args = args(Mode::Proxy(urls), ScenarioName::KillOnly, out_dir("proxy"));
    let report = execute(&args, &fast()).await.unwrap();

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let names: Vec<&str> = report.phases.iter().map(|p| p.run.phase.name).collect();
    assert_eq!(names, ["baseline", "kill-primary", "recover"]);
    let (from, to, reason) = switch_of(&report, "kill-primary");
    assert_eq!((from, to), (Some(1), 2));
    assert!(FAULT_REASONS.contains(&reason), "kill reason {reason}");
    assert_eq!(switch_of(&report, "recover").2, "auto_fallback");
    assert_eq!(report.run.final_active.map(DatabaseId::get), Some(1));
    assert!(report.run.members[0].name.contains("via proxy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_urls_are_named_without_their_password() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let args = args(
        Mode::Observe(vec![(url, 1.0)]),
        ScenarioName::Default,
        out_dir("unreachable"),
    );
    match execute(&args, &fast()).await {
        Err(DrillError::Initialize(message)) => {
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected an initialize error, got {other:?}"),
    }
}

fn parse_err(args: &[&str]) -> String {
    match parse(args.iter().map(|s| (*s).to_owned())) {
        Err(e) => e.0,
        Ok(p) => panic!("{args:?} parsed as {p:?}"),
    }
}

#[test]
fn bad_arguments_are_rejected_with_the_reason() {
    assert!(parse_err(&["--bogus"]).contains("unknown argument `--bogus`"));
    assert!(parse_err(&["--duration"]).contains("--duration needs a value"));
    assert!(parse_err(&["--duration", "0"]).contains("--duration must be"));
    assert!(parse_err(&["--concurrency", "x"]).contains("--concurrency must be"));
    assert!(parse_err(&["--scenario", "chaos"]).contains("`chaos`"));
    assert!(parse_err(&["--url", "redis://a", "--weight", "-1"]).contains("--weight"));
    assert!(
        parse_err(&["--url", "redis://a", "--url", "redis://b", "--weight", "1"])
            .contains("2 --url but 1 --weight")
    );
    assert!(parse_err(&["--proxy"]).contains("--proxy needs at least one --url"));
    assert!(parse_err(&["--quiet=yes"]).contains("takes no value"));
    let secret = parse_err(&["redis://:hunter2@host:1"]);
    assert!(!secret.contains("hunter2"), "{secret}");
}

#[test]
fn arguments_select_mode_and_options() {
    let Ok(Parsed::Run(a)) = parse(
        [
            "--url=redis://a:1",
            "--weight",
            "0.5",
            "--proxy",
            "--duration",
            "250ms",
            "--concurrency",
            "3",
            "--scenario",
            "kill-only",
            "--out",
            "x",
            "--quiet",
        ]
        .map(str::to_owned),
    ) else {
        panic!("valid arguments rejected")
    };
    assert_eq!(a.mode, Mode::Proxy(vec![("redis://a:1".to_owned(), 0.5)]));
    assert_eq!(a.phase, Duration::from_millis(250));
    assert_eq!(
        (a.concurrency, a.scenario, a.quiet),
        (3, ScenarioName::KillOnly, true)
    );
    assert_eq!(a.out, PathBuf::from("x"));
    assert_eq!(parse(Vec::new()), Ok(Parsed::Run(Args::default())));
    assert_eq!(parse(["-h".to_owned()]), Ok(Parsed::Help));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_reserved_characters_shows_in_no_file_of_the_report() {
    const RAW: &str = "Pw/?#@:%&=SeCrEt9Zq";
    let encoded = common::percent_encoded(RAW);
    let fakes = [
        FakeRedis::builder().password(RAW).start().await.unwrap(),
        FakeRedis::builder().password(RAW).start().await.unwrap(),
    ];
    let urls = fakes
        .iter()
        .zip([1.0, 0.5])
        .map(|(f, w)| (format!("redis://:{encoded}@{}/0", f.addr()), w))
        .collect();
    let dir = out_dir("secret");
    let args = args(Mode::Proxy(urls), ScenarioName::KillOnly, dir.clone());
    let report = execute(&args, &fast()).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    write(&report, &dir).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        files += 1;
        assert!(
            !text.contains("SeCrEt9Zq"),
            "password in {}",
            path.display()
        );
    }
    assert!(files >= 2, "the report was written");
    std::fs::remove_dir_all(dir).unwrap();
}
