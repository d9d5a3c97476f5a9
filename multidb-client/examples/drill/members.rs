//! The member databases of a drill run and the client configuration over them: three fakes
//! by default, the user's endpoints (observed), or the user's endpoints behind fault proxies.

use std::time::Duration;

use multidb_client::{
    DatabaseConfig, DatabaseId, InitialHealthCheck, MultiDbClient, MultiDbConfig, redact_url,
};
use multidb_testkit::{FakeRedis, FaultProxy};

use super::args::Mode;
use super::scenario::FaultTarget;

/// The client settings the drill shortens so a whole run takes well under a minute; every
/// other knob keeps its default.
#[derive(Clone, Debug)]
pub(crate) struct Timing {
    pub(crate) health_interval: Duration,
    pub(crate) grace_period: Duration,
    pub(crate) auto_fallback: Duration,
    /// Shorter health checks (tests only; the command keeps the defaults).
    pub(crate) health_timeout: Option<Duration>,
    pub(crate) probes_delay: Option<Duration>,
    /// How long a phase may run past its length waiting for the client to react.
    pub(crate) max_wait: Duration,
}

impl Timing {
    /// What `cargo run --example drill` uses.
    pub(crate) fn drill() -> Self {
        Timing {
            health_interval: Duration::from_secs(1),
            grace_period: Duration::from_secs(3),
            auto_fallback: Duration::from_secs(1),
            health_timeout: None,
            probes_delay: None,
            max_wait: Duration::from_secs(20),
        }
    }

    /// The settings as shown in the summary and the report.
    pub(crate) fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (
                "health_check_interval",
                format!("{:?}", self.health_interval),
            ),
            ("grace_period", format!("{:?}", self.grace_period)),
            (
                "auto_fallback_interval",
                format!("{:?}", self.auto_fallback),
            ),
        ];
        if let Some(t) = self.health_timeout {
            out.push(("health_check_timeout", format!("{t:?}")));
        }
        if let Some(d) = self.probes_delay {
            out.push(("health_check_probes_delay", format!("{d:?}")));
        }
        out.push(("everything_else", "default".to_owned()));
        out
    }
}

/// One member of the drill.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) id: DatabaseId,
    /// As shown: the client's endpoint (never a password) plus a role for fakes.
    pub(crate) name: String,
    pub(crate) weight: f64,
    pub(crate) target: FaultTarget,
}

/// Members before the client exists.
pub(crate) struct Prepared {
    pub(crate) urls: Vec<(String, f64)>,
    pub(crate) targets: Vec<FaultTarget>,
    pub(crate) roles: Vec<String>,
}

/// Starts fakes or proxies as the mode asks.
pub(crate) async fn prepare(mode: &Mode) -> Result<Prepared, String> {
    match mode {
        Mode::Fakes => {
            let mut prepared = Prepared {
                urls: Vec::new(),
                targets: Vec::new(),
                roles: Vec::new(),
            };
            for (role, weight) in [("primary", 1.0), ("secondary", 0.8), ("tertiary", 0.5)] {
                let fake = FakeRedis::builder()
                    .name(role)
                    .start()
                    .await
                    .map_err(|e| format!("cannot start fake redis `{role}`: {e}"))?;
                prepared.urls.push((fake.url(), weight));
                prepared.targets.push(FaultTarget::Fake(fake));
                prepared.roles.push(role.to_owned());
            }
            Ok(prepared)
        }
        Mode::Observe(urls) => Ok(Prepared {
            urls: urls.clone(),
            targets: vec![FaultTarget::None; urls.len()],
            roles: vec![String::new(); urls.len()],
        }),
        Mode::Proxy(urls) => {
            let mut prepared = Prepared {
                urls: Vec::new(),
                targets: Vec::new(),
                roles: Vec::new(),
            };
            for (url, weight) in urls {
                // The client's own check first: a password with raw reserved characters
                // would be taken apart wrong below (and shown).
                let _checked = DatabaseConfig::from_url(url).map_err(|e| e.to_string())?;
                let (hostport, _) = split_authority(url)
                    .ok_or_else(|| format!("cannot read host:port of `{}`", redact_url(url)))?;
                let upstream = tokio::net::lookup_host(hostport.clone())
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        format!("cannot resolve `{hostport}` of `{}`", redact_url(url))
                    })?;
                let proxy = FaultProxy::start(upstream)
                    .await
                    .map_err(|e| format!("cannot start a proxy for `{}`: {e}", redact_url(url)))?;
                let through = replace_hostport(url, &proxy.addr().to_string())
                    .ok_or_else(|| format!("cannot rewrite `{}` for the proxy", redact_url(url)))?;
                prepared.urls.push((through, *weight));
                prepared.targets.push(FaultTarget::Proxy(proxy));
                prepared.roles.push(format!("via proxy to {hostport}"));
            }
            Ok(prepared)
        }
    }
}

/// The client over the prepared members.
pub(crate) fn client(
    prepared: &Prepared,
    timing: &Timing,
    all_required: bool,
) -> Result<MultiDbClient, String> {
    let mut builder = MultiDbConfig::builder()
        .health_check_interval(timing.health_interval)
        .auto_fallback_interval(Some(timing.auto_fallback));
    if let Some(t) = timing.health_timeout {
        builder = builder.health_check_timeout(t);
    }
    if let Some(d) = timing.probes_delay {
        builder = builder.health_check_probes_delay(d);
    }
    if all_required {
        // A drill against the user's endpoints is meaningless with one of them unreachable:
        // fail at once and name it.
        builder = builder.initial_health_check(InitialHealthCheck::AllAvailable);
    }
    for (url, weight) in &prepared.urls {
        let db = DatabaseConfig::from_url(url)
            .map_err(|e| e.to_string())?
            .weight(*weight)
            .grace_period(timing.grace_period);
        builder = builder.database(db);
    }
    let config = builder.build().map_err(|e| e.to_string())?;
    Ok(MultiDbClient::new(config))
}

/// Pairs the client's databases (ids follow the configuration order) with their targets.
pub(crate) fn members(client: &MultiDbClient, prepared: &Prepared) -> Vec<Member> {
    client
        .databases()
        .into_iter()
        .zip(prepared.targets.iter().zip(&prepared.roles))
        .map(|(info, (target, role))| Member {
            id: info.id,
            name: if role.is_empty() {
                format!("{} {}", info.id, info.endpoint)
            } else {
                format!("{} {} ({role})", info.id, info.endpoint)
            },
            weight: info.weight,
            target: target.clone(),
        })
        .collect()
}

/// `host:port` of a URL (port 6379 when absent) and the byte range it occupies.
fn split_authority(url: &str) -> Option<(String, std::ops::Range<usize>)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = start + rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &url[start..end];
    let host_start = start + authority.rfind('@').map_or(0, |at| at + 1);
    let hostport = &url[host_start..end];
    if hostport.is_empty() {
        return None;
    }
    let has_port = hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let shown = if has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    };
    Some((shown, host_start..end))
}

/// The URL with its `host:port` replaced (credentials, database and query kept).
fn replace_hostport(url: &str, hostport: &str) -> Option<String> {
    let (_, range) = split_authority(url)?;
    Some(format!(
        "{}{hostport}{}",
        &url[..range.start],
        &url[range.end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_url_keeps_credentials_and_database() {
        assert_eq!(
            replace_hostport("redis://:pw@10.0.0.1:6380/2?protocol=resp3", "127.0.0.1:9"),
            Some("redis://:pw@127.0.0.1:9/2?protocol=resp3".to_owned())
        );
        assert_eq!(
            split_authority("redis://localhost").map(|(h, _)| h),
            Some("localhost:6379".to_owned())
        );
    }
}
