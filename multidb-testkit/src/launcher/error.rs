//! The one error type of the launchers.

use std::path::PathBuf;
use std::time::Duration;

/// Why a real `redis-server` (or cluster, or TLS material) could not be launched or driven.
///
/// Messages name the port, path or value involved, and startup failures carry the tail of
/// the server's log so a CI failure can be diagnosed from the error alone. Passwords never
/// appear in them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The `redis-server` binary was not found (neither the configured path nor on `PATH`).
    #[error(
        "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install -y redis-server), or set MULTIDB_REDIS_SERVER to its path (looked for {})",
        binary.display()
    )]
    NotInstalled {
        /// The binary that was looked for: a path, or `redis-server` when `PATH` was searched.
        binary: PathBuf,
    },
    /// The binary exists but could not be started.
    #[error("could not start {}: {source}", binary.display())]
    Spawn {
        /// The binary that failed to start.
        binary: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A temporary directory or file of the server could not be created or written.
    #[error("could not prepare {}: {source}", path.display())]
    Filesystem {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// No free loopback port was found.
    #[error("no free port on 127.0.0.1 after {attempts} attempts")]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
    },
    /// The server could not bind its port: something else holds it.
    #[error("port {port} on 127.0.0.1 is already in use")]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// The server process exited before it answered `PING`.
    #[error("redis-server on port {port} exited during startup ({status}); log tail:\n{log_tail}")]
    Exited {
        /// The server's port.
        port: u16,
        /// The exit status.
        status: String,
        /// The last lines of the server's log.
        log_tail: String,
    },
    /// The server did not answer `PING` in time.
    #[error(
        "redis-server on port {port} did not answer PING within {waited:?}; log tail:\n{log_tail}"
    )]
    NotReady {
        /// The server's port.
        port: u16,
        /// How long the launcher waited.
        waited: Duration,
        /// The last lines of the server's log.
        log_tail: String,
    },
    /// The operation needs a running server, but it was killed.
    #[error("redis-server on port {port} is not running")]
    NotRunning {
        /// The server's port.
        port: u16,
    },
    /// Sending a signal (`SIGSTOP`, `SIGCONT`) failed.
    #[error("could not send SIG{signal} to redis-server pid {pid}: {detail}")]
    Signal {
        /// The signal's name without the `SIG` prefix.
        signal: &'static str,
        /// The server's process id.
        pid: u32,
        /// What went wrong.
        detail: String,
    },
    /// A control command (cluster wiring) failed or got an unexpected reply.
    #[error("redis-server on port {port} answered {command} with {reply}")]
    Command {
        /// The server's port.
        port: u16,
        /// The command, without secrets.
        command: String,
        /// The reply or the I/O error.
        reply: String,
    },
    /// The cluster did not converge (`cluster_state:ok` and one slot map on every node) in time.
    #[error("cluster of {masters} masters not ready within {waited:?}: {detail}")]
    ClusterNotReady {
        /// The number of masters.
        masters: usize,
        /// How long the launcher waited.
        waited: Duration,
        /// The last thing that was not as expected.
        detail: String,
    },
    /// A configuration value was rejected before anything was started.
    #[error("invalid {field}: {value} ({reason})")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Generating the throw-away certificates failed.
    #[error("could not generate TLS material: {detail}")]
    Tls {
        /// The generator's error.
        detail: String,
    },
}
