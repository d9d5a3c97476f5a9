//! A Redis Sentinel HA pair: a master, a replica of it and one `redis-server --sentinel`
//! monitoring it (quorum 1), all on 127.0.0.1, optionally all TLS-only and requiring an ACL
//! user.
//!
//! The launcher asks the Sentinel over the same kind of control connection it uses for data
//! nodes: TCP, or a unix socket when the Sentinel serves TLS only, logged in as the ACL user.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::process::Child;
use std::time::Duration;

use super::clients::{ClientInfo, parse_client_list};
use super::control::{CONTROL_TIMEOUT, Control, Endpoint, Reply};
use super::credentials::Credentials;
use super::poll::poll_until;
use super::ports::PortLease;
use super::tempdir::TempDir;
use super::{LaunchError, RedisServer, TlsMaterial};

mod builder;

pub use builder::RedisSentinelBuilder;

/// How long the Sentinel may take to answer and know its master.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`RedisSentinel::wait_for_master`] waits: down-after (1 s), the election and
/// the promotion take a few seconds.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness polls of the external process.
const POLL: Duration = Duration::from_millis(10);

/// A master, its replica and one Sentinel monitoring them, killed when dropped.
///
/// ```
/// use multidb_testkit::RedisSentinel;
///
/// # fn main() -> Result<(), multidb_testkit::LaunchError> {
/// let ha = RedisSentinel::start("mymaster")?;
/// assert!(ha.sentinel_url().starts_with("redis://127.0.0.1:"));
/// assert!(std::net::TcpStream::connect(ha.master().addr()).is_ok());
/// assert_eq!(ha.master_addr(), Some(ha.master().addr()));
/// # Ok(())
/// # }
/// ```
pub struct RedisSentinel {
    master_name: String,
    master: RedisServer,
    replica: RedisServer,
    sentinel: Option<Child>,
    port: u16,
    control: Endpoint,
    credentials: Credentials,
    tls: Option<TlsMaterial>,
    _lease: PortLease,
    dir: TempDir,
}

impl RedisSentinel {
    /// Starts a plain-TCP pair without authentication, monitored as `master_name`: the
    /// same as `RedisSentinel::builder(master_name).start()`.
    ///
    /// # Errors
    /// As [`RedisSentinelBuilder::start`].
    pub fn start(master_name: &str) -> Result<RedisSentinel, LaunchError> {
        Self::builder(master_name).start()
    }

    /// A builder for a pair monitored as `master_name`, with TLS or an ACL user.
    pub fn builder(master_name: impl Into<String>) -> RedisSentinelBuilder {
        RedisSentinelBuilder::new(master_name.into())
    }

    /// Waits until the Sentinel names the master and knows the replica, or gives up when
    /// the Sentinel process exits.
    fn wait_ready(&mut self) -> Result<(), LaunchError> {
        let ready = poll_until(READY_TIMEOUT, POLL, || {
            if self.master_addr().is_some() && self.knows_replica() {
                return ControlFlow::Break(true);
            }
            let exited = self
                .sentinel
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited {
                ControlFlow::Break(false)
            } else {
                ControlFlow::Continue(())
            }
        });
        if ready == Ok(true) {
            return Ok(());
        }
        Err(LaunchError::NotReady {
            port: self.port,
            waited: ready.err().unwrap_or_default(),
            log_tail: self.log_tail(),
        })
    }

    /// The last lines of the Sentinel's log, without passwords.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        self.credentials.redact(&tail)
    }

    /// Runs one command on the Sentinel over a fresh control connection.
    fn call(&self, args: &[&str]) -> Result<Reply, LaunchError> {
        let error = |reply: String| LaunchError::Command {
            port: self.port,
            command: args.join(" "),
            reply,
        };
        let mut control = Control::open(&self.control, self.credentials.login(), CONTROL_TIMEOUT)
            .map_err(|e| LaunchError::Command {
            port: self.port,
            command: e.step.to_owned(),
            reply: e.detail,
        })?;
        match control.call(args) {
            Ok(Reply::Error(e)) => Err(error(e)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(error(e.to_string())),
        }
    }

    /// The master's address as the Sentinel reports it now, `None` if it cannot be asked.
    pub fn master_addr(&self) -> Option<SocketAddr> {
        let reply = self
            .call(&["SENTINEL", "get-master-addr-by-name", &self.master_name])
            .ok()?;
        let Reply::Array(parts) = reply else {
            return None;
        };
        let host = parts.first()?.text()?;
        let port = parts.get(1)?.text()?.parse().ok()?;
        let ip = host.parse::<Ipv4Addr>().ok()?;
        Some(SocketAddr::from((ip, port)))
    }

    /// Waits until the Sentinel reports `addr` as the master ([`master_addr`](Self::master_addr)),
    /// for at most 30 s: after killing the master, `wait_for_master(ha.replica().addr())`
    /// returns once the replica was promoted. A bounded poll, as the Sentinel cannot tell
    /// when.
    ///
    /// # Errors
    /// [`LaunchError::NotReady`] if the Sentinel does not report `addr` in time.
    pub fn wait_for_master(&self, addr: SocketAddr) -> Result<(), LaunchError> {
        wait_until(
            self.port,
            FAILOVER_TIMEOUT,
            &format!("the Sentinel to report master {addr}"),
            || self.master_addr() == Some(addr),
        )
    }

    /// Whether the Sentinel lists a replica of the master.
    fn knows_replica(&self) -> bool {
        self.call(&["SENTINEL", "REPLICAS", &self.master_name])
            .is_ok_and(|reply| matches!(reply, Reply::Array(replicas) if !replicas.is_empty()))
    }

    /// Every connection the Sentinel process has now (`CLIENT LIST`), the launcher's own
    /// control connection ([`ClientInfo::is_launcher`]) included.
    ///
    /// # Errors
    /// [`LaunchError::Command`] when the Sentinel cannot be asked or the reply does not parse.
    pub fn sentinel_client_list(&self) -> Result<Vec<ClientInfo>, LaunchError> {
        let text = self.call(&["CLIENT", "LIST"])?.text().unwrap_or_default();
        parse_client_list(&text).map_err(|reply| LaunchError::Command {
            port: self.port,
            command: "CLIENT LIST".to_owned(),
            reply,
        })
    }

    /// How many connections the code under test has open to the Sentinel process now:
    /// [`sentinel_client_list`](Self::sentinel_client_list) without the launcher's control
    /// connection, as [`RedisServer::connected_clients`] counts for a data node.
    ///
    /// # Errors
    /// As [`sentinel_client_list`](Self::sentinel_client_list).
    pub fn sentinel_connected_clients(&self) -> Result<usize, LaunchError> {
        let clients = self.sentinel_client_list()?;
        Ok(clients.iter().filter(|c| !c.is_infrastructure()).count())
    }

    /// The Sentinel's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The Sentinel's URL: `redis://127.0.0.1:PORT`, `rediss://` when it serves TLS, and
    /// with an ACL user `USER:PASSWORD@` (percent-encoded) before the host.
    ///
    /// The URL then **contains the secret**: do not log it.
    pub fn sentinel_url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!(
            "{scheme}://{}127.0.0.1:{}",
            self.credentials.userinfo(),
            self.port
        )
    }

    /// The TLS material the Sentinel and its data nodes serve with, if they serve TLS.
    pub fn tls_material(&self) -> Option<&TlsMaterial> {
        self.tls.as_ref()
    }

    /// The name the master is monitored under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The master started first.
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The master, to kill or pause it.
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The replica.
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// The replica, to kill or pause it.
    pub fn replica_mut(&mut self) -> &mut RedisServer {
        &mut self.replica
    }

    /// Kills master and replica (the Sentinel stays up): the whole HA pair is down.
    pub fn kill_data_nodes(&mut self) {
        self.master.kill();
        self.replica.kill();
    }
}

/// Whether `INFO section` of `server` contains `needle`.
fn info_has(server: &RedisServer, section: &str, needle: &str) -> bool {
    server
        .call(&["INFO", section])
        .is_ok_and(|reply| reply.text().is_some_and(|t| t.contains(needle)))
}

/// Waits until `ready` holds, for at most `timeout`.
fn wait_until(
    port: u16,
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), LaunchError> {
    poll_until(timeout, POLL, || {
        if ready() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(|waited| LaunchError::NotReady {
        port,
        waited,
        log_tail: format!("gave up waiting for {what}"),
    })
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("master_name", &self.master_name)
            .field("sentinel_port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("credentials", &self.credentials)
            .field("master", &self.master)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.sentinel.take() {
            // Fails only if it already exited, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
