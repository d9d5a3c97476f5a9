//! One real `redis-server` process: start, kill, restart on the same port, pause, resume.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::builder::{self, BINARY_ENV, Settings};
use super::config::{self, Listen};
use super::control::{CONTROL_TIMEOUT, Control, Endpoint, Reply};
use super::ports::PortLease;
use super::signal;
use super::tempdir::TempDir;
use super::tls::{TlsFiles, write_private};
use super::{LaunchError, RedisServerBuilder, TlsMaterial};

mod clients;
mod startup;

/// Launch attempts when a freshly drawn port turns out taken by another process.
const PORT_ATTEMPTS: u32 = 5;

/// A real `redis-server` process on 127.0.0.1, owned by this value.
///
/// It runs in a private temp dir (config, log, TLS files, `nodes.conf`) with persistence off.
/// Dropping it — also while a test panics — kills the process with `SIGKILL`, reaps it and
/// removes the temp dir. The API is blocking: from async code it blocks the calling thread
/// briefly (milliseconds; up to a few seconds for a `restart`), which is fine in tests.
///
/// ```
/// use multidb_testkit::RedisServer;
///
/// # fn main() -> Result<(), multidb_testkit::LaunchError> {
/// let mut server = RedisServer::start()?;
/// let port = server.port();
/// assert!(std::net::TcpStream::connect(server.addr()).is_ok());
///
/// server.kill(); // SIGKILL: connections are now refused
/// assert!(std::net::TcpStream::connect(server.addr()).is_err());
///
/// server.restart()?; // same port, answering PING again
/// assert_eq!(server.port(), port);
/// # Ok(())
/// # }
/// ```
pub struct RedisServer {
    settings: Settings,
    binary: PathBuf,
    port: u16,
    bus_port: Option<u16>,
    control: Endpoint,
    child: Mutex<Option<Child>>,
    leases: Vec<PortLease>,
    tls_files: Option<TlsFiles>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server with default settings: free port, no password, persistence off.
    ///
    /// # Errors
    ///
    /// As [`RedisServerBuilder::start`]; [`LaunchError::NotInstalled`] if `redis-server` is
    /// missing.
    pub fn start() -> Result<RedisServer, LaunchError> {
        Self::builder().start()
    }

    /// A builder for a password, an ACL user, TLS, cluster mode, a fixed port, extra config
    /// or another binary.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    pub(crate) fn launch(settings: Settings) -> Result<RedisServer, LaunchError> {
        let binary = builder::resolve_binary(
            settings.binary.as_deref(),
            std::env::var_os(BINARY_ENV),
            std::env::var_os("PATH"),
        )?;
        let dir = TempDir::create()?;
        let tls_files = settings
            .tls
            .as_ref()
            .map(|tls| tls.write_files(dir.path()))
            .transpose()?;
        // A TLS server's only TCP port speaks TLS, so it is driven over a unix socket.
        let control = if tls_files.is_some() {
            Endpoint::Unix(dir.path().join("redis.sock"))
        } else {
            Endpoint::Tcp(loopback(0))
        };
        let mut server = RedisServer {
            settings,
            binary,
            port: 0,
            bus_port: None,
            control,
            child: Mutex::new(None),
            leases: Vec::new(),
            tls_files,
            dir,
        };
        let mut attempt = 1;
        loop {
            server.assign_ports()?;
            match server.spawn_ready() {
                Ok(child) => {
                    *server.child_mut() = Some(child);
                    tracing::debug!(port = server.port, "redis-server started");
                    return Ok(server);
                }
                Err(LaunchError::PortInUse { port })
                    if server.settings.port.is_none() && attempt < PORT_ATTEMPTS =>
                {
                    tracing::debug!(port, attempt, "port taken meanwhile, drawing another");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Draws ports (unless fixed) and writes the config for them.
    fn assign_ports(&mut self) -> Result<(), LaunchError> {
        self.leases.clear();
        self.port = match self.settings.port {
            Some(port) => port,
            None => self.lease()?,
        };
        self.bus_port = if self.settings.cluster {
            Some(self.lease()?)
        } else {
            None
        };
        if let Endpoint::Tcp(addr) = &mut self.control {
            addr.set_port(self.port);
        }
        let socket = match &self.control {
            Endpoint::Unix(path) => Some(path.as_path()),
            Endpoint::Tcp(_) => None,
        };
        let listen = Listen {
            port: self.port,
            bus_port: self.bus_port,
            dir: self.dir.path(),
            unix_socket: socket,
            tls: self.tls_files.as_ref(),
        };
        let conf = config::render_server(&self.settings, &listen);
        write_private(&self.dir.path().join("redis.conf"), &conf)
    }

    fn lease(&mut self) -> Result<u16, LaunchError> {
        let lease = PortLease::acquire()?;
        let port = lease.port();
        self.leases.push(lease);
        Ok(port)
    }

    fn ping(&self) -> Result<(), LaunchError> {
        match self.call(&["PING"])? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            other => Err(self.command_error("PING", &format!("{other:?}"))),
        }
    }

    /// Opens a control connection, logged in as the ACL user or with the password when the
    /// server has one.
    pub(crate) fn control(&self) -> Result<Control, LaunchError> {
        Control::open(
            &self.control,
            self.settings.credentials.login(),
            CONTROL_TIMEOUT,
        )
        .map_err(|e| self.command_error(e.step, &e.detail))
    }

    /// Runs one command on a fresh control connection; an error reply is an error.
    pub(crate) fn call(&self, args: &[&str]) -> Result<Reply, LaunchError> {
        let reply = self
            .control()?
            .call(args)
            .map_err(|e| self.command_error(&args.join(" "), &e.to_string()))?;
        match reply {
            Reply::Error(e) => Err(self.command_error(&args.join(" "), &e)),
            reply => Ok(reply),
        }
    }

    fn command_error(&self, command: &str, reply: &str) -> LaunchError {
        LaunchError::Command {
            port: self.port,
            command: command.to_owned(),
            reply: reply.to_owned(),
        }
    }

    fn child_mut(&mut self) -> &mut Option<Child> {
        self.child.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn child_lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server's port on 127.0.0.1 (its TLS port for a TLS server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// The connect URL: `redis://127.0.0.1:PORT`, `rediss://` for a TLS server, with an ACL
    /// user `redis://USER:PASSWORD@127.0.0.1:PORT`, else with a password
    /// `redis://:PASSWORD@127.0.0.1:PORT` (percent-encoded).
    ///
    /// The URL then **contains the secret**: do not log it.
    pub fn url(&self) -> String {
        let scheme = if self.settings.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!(
            "{scheme}://{}127.0.0.1:{}",
            self.settings.credentials.userinfo(),
            self.port
        )
    }

    /// The TLS material the server was started with, if it serves TLS.
    pub fn tls_material(&self) -> Option<&TlsMaterial> {
        self.settings.tls.as_ref()
    }

    /// The process id, `None` while killed.
    pub fn pid(&self) -> Option<u32> {
        self.child_lock().as_ref().map(Child::id)
    }

    /// Whether the process is alive (a paused process is).
    pub fn is_running(&self) -> bool {
        let mut child = self.child_lock();
        match child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) => {
                // It died by itself: forget the reaped process so `pid` says so too.
                *child = None;
                false
            }
            Some(Err(_)) | None => false,
        }
    }

    /// Kills the process with `SIGKILL` and waits for it to exit; a no-op when not running.
    /// The port stays this server's for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child_mut().take() {
            // Fails only if it already exited, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
            tracing::debug!(port = self.port, "redis-server killed");
        }
    }

    /// Starts the server again on the same port (killing it first if running) and waits until
    /// it answers `PING`. Data is gone (persistence is off); `nodes.conf` is kept.
    ///
    /// # Errors
    ///
    /// [`LaunchError::PortInUse`] if another process took the port meanwhile,
    /// [`LaunchError::Exited`] or [`LaunchError::NotReady`] if it does not come up.
    pub fn restart(&mut self) -> Result<(), LaunchError> {
        self.kill();
        let child = self.spawn_ready()?;
        *self.child_mut() = Some(child);
        tracing::debug!(port = self.port, "redis-server restarted");
        Ok(())
    }

    /// Stops the process with `SIGSTOP`: connections stay open but nothing is answered, so
    /// commands time out, until [`resume`](Self::resume).
    ///
    /// # Errors
    ///
    /// [`LaunchError::NotRunning`] while killed, [`LaunchError::Signal`] if signalling fails.
    pub fn pause(&self) -> Result<(), LaunchError> {
        self.signal("STOP", true)
    }

    /// Continues a paused process with `SIGCONT`.
    ///
    /// # Errors
    ///
    /// [`LaunchError::NotRunning`] while killed, [`LaunchError::Signal`] if signalling fails.
    pub fn resume(&self) -> Result<(), LaunchError> {
        self.signal("CONT", false)
    }

    fn signal(&self, signal: &'static str, stopped: bool) -> Result<(), LaunchError> {
        let child = self.child_lock();
        let pid = child
            .as_ref()
            .map(Child::id)
            .ok_or(LaunchError::NotRunning { port: self.port })?;
        // The lock is held throughout so the pid cannot be reaped and reused meanwhile.
        signal::send(pid, signal, stopped)
    }

    pub(crate) fn bus_port(&self) -> Option<u16> {
        self.bus_port
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("bus_port", &self.bus_port)
            .field("pid", &self.pid())
            .field("tls", &self.settings.tls.is_some())
            .field("cluster", &self.settings.cluster)
            .field("credentials", &self.settings.credentials)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Killed before the fields drop, so the temp dir is removed after the process is gone.
        self.kill();
    }
}
