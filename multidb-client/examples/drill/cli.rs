//! The command: parse arguments, run, print the summary, write the report; exit 0 when
//! every phase behaved as expected, 1 when the drill could not run or the client did not
//! behave, 2 for a bad command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::{self, Args, Parsed, USAGE};
use super::members::Timing;
use super::report::{self, Report};
use super::run::{self, DrillError};
use super::svg;

/// The drill's `main`.
pub(crate) fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            stdout(&format!("{USAGE}\n"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("drill: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drill: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let timing = Timing::drill();
    if !args.quiet {
        let settings: Vec<String> = timing
            .describe()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        eprintln!(
            "drill: scenario {}, phases of {:?}, {} tasks; client settings: {}",
            args.scenario.as_str(),
            args.phase,
            args.concurrency,
            settings.join(", ")
        );
    }
    let report = match runtime.block_on(execute(&args, &timing)) {
        Ok(report) => report,
        Err(DrillError::Setup(e)) => {
            eprintln!("drill: cannot set up: {e}");
            return ExitCode::FAILURE;
        }
        Err(DrillError::Initialize(e)) => {
            eprintln!("drill: endpoints unreachable, nothing to drill: {e}");
            return ExitCode::FAILURE;
        }
    };
    stdout(&report::summary(&report));
    match write(&report, &args.out) {
        Ok((json, svg)) => stdout(&format!(
            "report: {} and {}\n",
            json.display(),
            svg.display()
        )),
        Err(e) => {
            eprintln!("drill: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints to stdout; a closed pipe (`drill | head`) is not worth a panic.
fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Runs the drill and analyses it.
pub(crate) async fn execute(args: &Args, timing: &Timing) -> Result<Report, DrillError> {
    Ok(report::analyse(run::run(args, timing).await?))
}

/// Writes `report.json` and `timeline.svg` into `dir` (created if missing).
pub(crate) fn write(report: &Report, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create output directory {}: {e}", dir.display()))?;
    let json_path = dir.join("report.json");
    let json = serde_json::to_string_pretty(&report::to_json(report))
        .map_err(|e| format!("cannot encode the report: {e}"))?;
    std::fs::write(&json_path, json)
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let svg_path = dir.join("timeline.svg");
    std::fs::write(&svg_path, svg::render(report))
        .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    Ok((json_path, svg_path))
}
