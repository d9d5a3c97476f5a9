//! Configuration of a `redis-server`: the builder, and where the binary is found.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::credentials::{AclUser, Credentials};
use super::{LaunchError, RedisServer, TlsMaterial};

/// The environment variable that names the `redis-server` binary (a path, or a name looked up
/// on `PATH`) when the builder was given none.
pub(crate) const BINARY_ENV: &str = "MULTIDB_REDIS_SERVER";

/// What a server is started with; kept by the server so `restart` reuses it.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) binary: Option<PathBuf>,
    pub(crate) port: Option<u16>,
    pub(crate) credentials: Credentials,
    pub(crate) tls: Option<TlsMaterial>,
    pub(crate) cluster: bool,
    pub(crate) args: Vec<(String, String)>,
}

/// Configures a [`RedisServer`] before starting it; made by [`RedisServer::builder`].
///
/// Defaults: a free port on 127.0.0.1, no password, no ACL user, no TLS, no cluster mode,
/// persistence off, the binary from `MULTIDB_REDIS_SERVER` or else `redis-server` on `PATH`.
#[derive(Clone, Default)]
#[must_use]
pub struct RedisServerBuilder {
    settings: Settings,
}

impl RedisServerBuilder {
    /// Requires this password (`requirepass`). [`RedisServer::url`] then carries it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.settings.credentials.password = Some(password.into());
        self
    }

    /// Adds the ACL user `username` with `password` and every permission
    /// (`user <username> on ><password> ~* &* +@all`), and replicates as that user
    /// (`masteruser`/`masterauth`) when made a replica. Without a [`password`](Self::password)
    /// the `default` user is switched off (`user default off`): a client must log in as
    /// `username`, else it gets `NOAUTH`. [`RedisServer::url`] then carries
    /// `username:password@` (percent-encoded), and the launcher's own control connection
    /// logs in as this user.
    ///
    /// ```
    /// use multidb_testkit::RedisServer;
    ///
    /// # fn main() -> Result<(), multidb_testkit::LaunchError> {
    /// let server = RedisServer::builder().acl_user("alice", "s3cr:t").start()?;
    /// assert_eq!(
    ///     server.url(),
    ///     format!("redis://alice:s3cr%3At@127.0.0.1:{}", server.port())
    /// );
    /// assert!(!format!("{server:?}").contains("s3cr"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.settings.credentials.acl_user = Some(AclUser::new(username.into(), password.into()));
        self
    }

    /// Adds a `redis.conf` directive, e.g. `.arg("maxmemory", "10mb")`; a leading `--` on the
    /// key is ignored. Extra directives come after the launcher's own, so they override them
    /// (e.g. `.arg("tls-auth-clients", "yes")` to require client certificates).
    pub fn arg(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let key = key.strip_prefix("--").map(str::to_owned).unwrap_or(key);
        self.settings.args.push((key, value.into()));
        self
    }

    /// Listens on this port instead of a free one. If it is taken, `start` fails with
    /// [`LaunchError::PortInUse`] instead of trying another.
    pub fn port(mut self, port: u16) -> Self {
        self.settings.port = Some(port);
        self
    }

    /// Serves TLS only, on the server's port, with the material's server certificate
    /// (`tls-auth-clients optional`: client certificates are verified when presented).
    /// Replication and, in cluster mode, the cluster bus speak TLS too, the server presenting
    /// the material's client certificate when it connects out. [`RedisServer::url`] then
    /// starts with `rediss://`; the launcher itself talks to the server over a unix socket.
    pub fn tls(mut self, material: TlsMaterial) -> Self {
        self.settings.tls = Some(material);
        self
    }

    /// Starts the server in cluster mode (`cluster-enabled yes`, `nodes.conf` in its temp
    /// dir, a free cluster bus port). [`RedisCluster`](super::RedisCluster) wires such nodes.
    pub fn cluster_enabled(mut self, enabled: bool) -> Self {
        self.settings.cluster = enabled;
        self
    }

    /// Runs this binary (a path, or a name looked up on `PATH`) instead of the default.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.settings.binary = Some(binary.into());
        self
    }

    /// Starts the server and waits (blocking, at most about 10 s) until it answers `PING`.
    ///
    /// # Errors
    ///
    /// [`LaunchError::NotInstalled`] if the binary is missing, [`LaunchError::InvalidConfig`]
    /// for a bad port, directive key or ACL user name, [`LaunchError::PortInUse`] for a taken fixed port,
    /// [`LaunchError::Exited`] or [`LaunchError::NotReady`] (with the server's log tail) if
    /// it does not come up, and [`LaunchError::Filesystem`] or [`LaunchError::Spawn`] for
    /// local failures.
    pub fn start(self) -> Result<RedisServer, LaunchError> {
        if self.settings.port == Some(0) {
            return Err(LaunchError::InvalidConfig {
                field: "port",
                value: "0".to_owned(),
                reason: "a server needs a fixed port to restart on",
            });
        }
        if let Some((key, _)) = self.settings.args.iter().find(|(key, _)| !valid_key(key)) {
            return Err(LaunchError::InvalidConfig {
                field: "arg key",
                value: key.clone(),
                reason: "a directive name is letters, digits, '-', '_' or '.'",
            });
        }
        if let Some(user) = &self.settings.credentials.acl_user {
            user.validate()?;
        }
        RedisServer::launch(self.settings)
    }
}

impl fmt::Debug for RedisServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("RedisServerBuilder")
            .field("binary", &s.binary)
            .field("port", &s.port)
            .field("credentials", &s.credentials)
            .field("tls", &s.tls.is_some())
            .field("cluster", &s.cluster)
            .field("args", &s.args.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// A process's log file, opened for appending: its length now (where this run's lines
/// start) and two handles, for the process's stdout and stderr.
pub(crate) fn open_log(path: &Path) -> Result<(u64, std::fs::File, std::fs::File), LaunchError> {
    let fs_error = |source| LaunchError::Filesystem {
        path: path.to_path_buf(),
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fs_error)?;
    let start = log.metadata().map_err(fs_error)?.len();
    let log_err = log.try_clone().map_err(fs_error)?;
    Ok((start, log, log_err))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Finds the binary: the builder's, else `$MULTIDB_REDIS_SERVER`, else `redis-server`; a bare
/// name is looked up on `path_var`.
pub(crate) fn resolve_binary(
    configured: Option<&Path>,
    env: Option<OsString>,
    path_var: Option<OsString>,
) -> Result<PathBuf, LaunchError> {
    let wanted = configured
        .map(Path::to_path_buf)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("redis-server"));
    let found = if wanted.components().count() > 1 {
        is_executable(&wanted).then(|| wanted.clone())
    } else {
        path_var.and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&wanted))
                .find(|candidate| is_executable(candidate))
        })
    };
    found.ok_or(LaunchError::NotInstalled { binary: wanted })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_on_empty_path_is_not_installed() {
        let empty = std::env::temp_dir().join("multidb-testkit-no-such-dir");
        let err =
            resolve_binary(None, None, Some(empty.into_os_string())).expect_err("no binary there");
        assert!(matches!(err, LaunchError::NotInstalled { .. }));
        assert!(err.to_string().contains("apt-get install -y redis-server"));
        assert!(resolve_binary(None, None, None).is_err());
    }

    #[test]
    fn env_var_names_the_binary_and_builder_overrides_it() {
        let err = resolve_binary(None, Some("/nonexistent/redis-7".into()), None)
            .expect_err("bogus env path");
        assert!(err.to_string().contains("/nonexistent/redis-7"), "{err}");
        let sh = resolve_binary(
            Some(Path::new("sh")),
            Some("/nonexistent".into()),
            std::env::var_os("PATH"),
        );
        assert!(sh.is_ok_and(|p| p.ends_with("sh")));
    }

    #[test]
    fn builder_debug_redacts_passwords() {
        let b = RedisServer::builder()
            .password("hunter2")
            .acl_user("alice", "swordfish");
        let debug = format!("{b:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
    }
}
