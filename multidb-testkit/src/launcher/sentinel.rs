//! A Redis Sentinel HA pair: a master, a replica of it and one `redis-server --sentinel`
//! monitoring it (quorum 1), all on 127.0.0.1.

use std::fmt;
use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::builder::{self, BINARY_ENV};
use super::control::{Control, Endpoint, Reply};
use super::poll::poll_until;
use super::ports::PortLease;
use super::tempdir::TempDir;
use super::tls::write_private;
use super::{LaunchError, RedisServer};

/// How long the sentinel may take to answer `PING` and know its master.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
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
/// # Ok(())
/// # }
/// ```
pub struct RedisSentinel {
    master_name: String,
    master: RedisServer,
    replica: RedisServer,
    sentinel: Option<Child>,
    port: u16,
    _lease: PortLease,
    dir: TempDir,
}

impl RedisSentinel {
    /// Starts a master, a replica of it and a Sentinel that monitors the master as
    /// `master_name` (quorum 1, down after 1 s), and waits until the replica is in sync and
    /// the Sentinel names the master and knows the replica: killing the master then makes
    /// the Sentinel promote the replica.
    ///
    /// # Errors
    /// As [`RedisServer::start`]; [`LaunchError::NotReady`] if the Sentinel does not come up.
    pub fn start(master_name: &str) -> Result<RedisSentinel, LaunchError> {
        let master = RedisServer::start()?;
        let replica = RedisServer::builder()
            .arg("replicaof", format!("127.0.0.1 {}", master.port()))
            .start()?;
        // Before the Sentinel starts, so its first look at the master lists the replica
        // (it looks again only every 10 s).
        wait_until(
            replica.port(),
            "the replica to sync with its master",
            || info_has(replica.addr(), "replication", "master_link_status:up"),
        )?;
        let binary =
            builder::resolve_binary(None, std::env::var_os(BINARY_ENV), std::env::var_os("PATH"))?;
        let dir = TempDir::create()?;
        let lease = PortLease::acquire()?;
        let port = lease.port();
        let conf = format!(
            "bind 127.0.0.1\nport {port}\ndaemonize no\ndir {dir}\nlogfile \"\"\n\
             sentinel monitor {master_name} 127.0.0.1 {mport} 1\n\
             sentinel down-after-milliseconds {master_name} 1000\n\
             sentinel failover-timeout {master_name} 5000\n",
            dir = dir.path().display(),
            mport = master.port(),
        );
        let conf_path = dir.path().join("sentinel.conf");
        write_private(&conf_path, &conf)?;
        let log_path = dir.path().join("sentinel.log");
        let fs_error = |source| LaunchError::Filesystem {
            path: log_path.clone(),
            source,
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(fs_error)?;
        let log_err = log.try_clone().map_err(fs_error)?;
        let child = Command::new(&binary)
            .arg(&conf_path)
            .arg("--sentinel")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                binary: binary.clone(),
                source,
            })?;
        let mut ha = RedisSentinel {
            master_name: master_name.to_owned(),
            master,
            replica,
            sentinel: Some(child),
            port,
            _lease: lease,
            dir,
        };
        ha.wait_ready()?;
        Ok(ha)
    }

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
            log_tail: std::fs::read_to_string(self.dir.path().join("sentinel.log"))
                .unwrap_or_default(),
        })
    }

    /// The master's address as the Sentinel reports it now, `None` if it cannot be asked.
    pub fn master_addr(&self) -> Option<SocketAddr> {
        let endpoint = Endpoint::Tcp(self.addr());
        let mut control = Control::connect(&endpoint, Duration::from_secs(2)).ok()?;
        let reply = control
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

    /// Whether the Sentinel lists a replica of the master.
    fn knows_replica(&self) -> bool {
        let endpoint = Endpoint::Tcp(self.addr());
        Control::connect(&endpoint, Duration::from_secs(2))
            .and_then(|mut c| c.call(&["SENTINEL", "REPLICAS", &self.master_name]))
            .is_ok_and(|reply| matches!(reply, Reply::Array(replicas) if !replicas.is_empty()))
    }

    /// The Sentinel's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The Sentinel's URL, `redis://127.0.0.1:PORT`.
    pub fn sentinel_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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

/// Whether `INFO section` of the server at `addr` contains `needle`.
fn info_has(addr: SocketAddr, section: &str, needle: &str) -> bool {
    Control::connect(&Endpoint::Tcp(addr), Duration::from_secs(2))
        .and_then(|mut c| c.call(&["INFO", section]))
        .is_ok_and(|reply| reply.text().is_some_and(|t| t.contains(needle)))
}

/// Waits until `ready` holds, for at most [`READY_TIMEOUT`].
fn wait_until(port: u16, what: &str, mut ready: impl FnMut() -> bool) -> Result<(), LaunchError> {
    poll_until(READY_TIMEOUT, POLL, || {
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
