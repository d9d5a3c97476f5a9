//! Command-line arguments, parsed by hand: the drill has few options, and a parser crate
//! would be one more dependency for every clone to build.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::scenario::ScenarioName;

pub(crate) const USAGE: &str = "\
usage: cargo run --release -p multidb-client --example drill -- [OPTIONS]

With no --url, starts three in-process fake Redis servers (weights 1.0, 0.8, 0.5) and
plays a failover scenario on them. With --url it observes real endpoints; with --url and
--proxy it puts a fault proxy in front of each and plays the scenario through them.

options:
  --url URL          a member database (repeatable; passwords are never printed)
  --weight W         the weight of the --url in the same position (repeatable, default 1.0)
  --proxy            inject the scenario's faults through a proxy in front of each --url
  --duration D       length of each phase: seconds, or with a unit (500ms, 5s; default 5s)
  --concurrency N    tasks sending commands (default 16)
  --scenario NAME    default | kill-only (default: default)
  --out DIR          where report.json and timeline.svg go (default ./drill-report)
  --quiet            no live progress on stderr
  -h, --help         this text";

/// Where the members come from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Three in-process fakes; faults injected into them.
    Fakes,
    /// Real endpoints, only observed.
    Observe(Vec<(String, f64)>),
    /// Real endpoints behind fault proxies; faults injected into the proxies.
    Proxy(Vec<(String, f64)>),
}

/// Everything the command line decides.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Args {
    pub(crate) mode: Mode,
    pub(crate) phase: Duration,
    pub(crate) concurrency: usize,
    pub(crate) scenario: ScenarioName,
    pub(crate) out: PathBuf,
    pub(crate) quiet: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            mode: Mode::Fakes,
            phase: Duration::from_secs(5),
            concurrency: 16,
            scenario: ScenarioName::Default,
            out: PathBuf::from("drill-report"),
            quiet: false,
        }
    }
}

/// What parsing found.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    Run(Args),
    Help,
}

/// A bad command line; shown with the usage, exit code 2.
#[derive(Debug, PartialEq)]
pub(crate) struct ArgError(pub(crate) String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the arguments after the program name.
pub(crate) fn parse<I>(args: I) -> Result<Parsed, ArgError>
where
    I: IntoIterator<Item = String>,
{
    let mut out = Args::default();
    let mut urls = Vec::new();
    let mut weights = Vec::new();
    let mut proxy = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, ArgError> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| ArgError(format!("{name} needs a value ({what})")))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--url" => urls.push(value("a redis:// URL")?),
            "--weight" => {
                let v = value("a number > 0")?;
                match v.parse::<f64>() {
                    Ok(w) if w.is_finite() && w > 0.0 => weights.push(w),
                    _ => {
                        return Err(ArgError(format!(
                            "--weight must be a number > 0, got `{v}`"
                        )));
                    }
                }
            }
            "--proxy" => proxy = true,
            "--duration" => {
                let v = value("e.g. 5s or 500ms")?;
                out.phase = parse_duration(&v).ok_or_else(|| {
                    ArgError(format!(
                        "--duration must be like 5, 5s or 500ms, > 0 and at most 600s, got `{v}`"
                    ))
                })?;
            }
            "--concurrency" => {
                let v = value("a whole number >= 1")?;
                out.concurrency = match v.parse::<usize>() {
                    Ok(n) if (1..=10_000).contains(&n) => n,
                    _ => {
                        return Err(ArgError(format!(
                            "--concurrency must be a whole number from 1 to 10000, got `{v}`"
                        )));
                    }
                };
            }
            "--scenario" => {
                let v = value("default or kill-only")?;
                out.scenario = ScenarioName::from_name(&v).ok_or_else(|| {
                    ArgError(format!(
                        "--scenario must be `default` or `kill-only`, got `{v}`"
                    ))
                })?;
            }
            "--out" => out.out = PathBuf::from(value("a directory")?),
            "--quiet" => out.quiet = true,
            other => {
                // Never echo an argument that may hold a password.
                let shown = if other.contains("://") || other.contains('@') {
                    multidb_client::redact_url(other)
                } else {
                    other.to_owned()
                };
                return Err(ArgError(format!("unknown argument `{shown}`")));
            }
        }
        if inline.is_some() && matches!(name.as_str(), "--proxy" | "--quiet" | "-h" | "--help") {
            return Err(ArgError(format!("{name} takes no value")));
        }
    }
    if urls.is_empty() {
        if proxy {
            return Err(ArgError("--proxy needs at least one --url".to_owned()));
        }
        if !weights.is_empty() {
            return Err(ArgError("--weight needs a matching --url".to_owned()));
        }
        return Ok(Parsed::Run(out));
    }
    if !weights.is_empty() && weights.len() != urls.len() {
        return Err(ArgError(format!(
            "{} --url but {} --weight: give one weight per url, or none",
            urls.len(),
            weights.len()
        )));
    }
    weights.resize(urls.len(), 1.0);
    let members = urls.into_iter().zip(weights).collect();
    out.mode = if proxy {
        Mode::Proxy(members)
    } else {
        Mode::Observe(members)
    };
    Ok(Parsed::Run(out))
}

/// `5`, `2.5`, `5s`, `500ms`: a positive duration.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds > 0.0 && seconds <= 600.0)
        .then(|| Duration::from_secs_f64(seconds))
}
