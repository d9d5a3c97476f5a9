//! Configuration of a `redis-server`: the builder, the generated `redis.conf`, and where the
//! binary is found.

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::tls::TlsFiles;
use super::{LaunchError, RedisServer, TlsMaterial};

/// The environment variable that names the `redis-server` binary (a path, or a name looked up
/// on `PATH`) when the builder was given none.
pub(crate) const BINARY_ENV: &str = "MULTIDB_REDIS_SERVER";

/// Milliseconds before a silent cluster peer is suspected: short, so chaos tests see a killed
/// node marked failed (and recovered) in seconds rather than redis' default 15 s.
const CLUSTER_NODE_TIMEOUT_MS: &str = "2000";

/// What a server is started with; kept by the server so `restart` reuses it.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) binary: Option<PathBuf>,
    pub(crate) port: Option<u16>,
    pub(crate) password: Option<String>,
    pub(crate) tls: Option<TlsMaterial>,
    pub(crate) cluster: bool,
    pub(crate) args: Vec<(String, String)>,
}

/// Configures a [`RedisServer`] before starting it; made by [`RedisServer::builder`].
///
/// Defaults: a free port on 127.0.0.1, no password, no TLS, no cluster mode, persistence
/// off, the binary from `MULTIDB_REDIS_SERVER` or else `redis-server` on `PATH`.
#[derive(Clone, Default)]
#[must_use]
pub struct RedisServerBuilder {
    settings: Settings,
}

impl RedisServerBuilder {
    /// Requires this password (`requirepass`). [`RedisServer::url`] then carries it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.settings.password = Some(password.into());
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
    /// [`RedisServer::url`] then starts with `rediss://`.
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
    /// for a bad port or directive key, [`LaunchError::PortInUse`] for a taken fixed port,
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
        RedisServer::launch(self.settings)
    }
}

impl fmt::Debug for RedisServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("RedisServerBuilder")
            .field("binary", &s.binary)
            .field("port", &s.port)
            .field("password", &s.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &s.tls.is_some())
            .field("cluster", &s.cluster)
            .field("args", &s.args.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Quotes a value the way redis' config parser (`sdssplitargs`) reads it back.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where and how one launch of a server listens.
pub(crate) struct Listen<'a> {
    pub(crate) port: u16,
    pub(crate) bus_port: Option<u16>,
    pub(crate) dir: &'a Path,
    pub(crate) unix_socket: Option<&'a Path>,
    pub(crate) tls: Option<&'a TlsFiles>,
}

/// Renders the `redis.conf` for `settings`; a file (not CLI args) keeps the password out of
/// `ps` output.
pub(crate) fn render_config(settings: &Settings, listen: &Listen<'_>) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("bind", "127.0.0.1".to_owned()),
        ("protected-mode", "no".to_owned()),
        ("daemonize", "no".to_owned()),
        ("dir", listen.dir.display().to_string()),
        ("save", String::new()),
        ("appendonly", "no".to_owned()),
        // stdout goes to redis.log in the temp dir.
        ("logfile", String::new()),
    ];
    if let Some(files) = listen.tls {
        lines.push(("port", "0".to_owned()));
        lines.push(("tls-port", listen.port.to_string()));
        lines.push(("tls-cert-file", files.server_cert.display().to_string()));
        lines.push(("tls-key-file", files.server_key.display().to_string()));
        lines.push(("tls-ca-cert-file", files.ca_cert.display().to_string()));
        lines.push(("tls-auth-clients", "optional".to_owned()));
    } else {
        lines.push(("port", listen.port.to_string()));
    }
    if let Some(socket) = listen.unix_socket {
        lines.push(("unixsocket", socket.display().to_string()));
        lines.push(("unixsocketperm", "700".to_owned()));
    }
    if let Some(password) = &settings.password {
        lines.push(("requirepass", password.clone()));
    }
    if settings.cluster {
        lines.push(("cluster-enabled", "yes".to_owned()));
        lines.push(("cluster-config-file", "nodes.conf".to_owned()));
        lines.push(("cluster-node-timeout", CLUSTER_NODE_TIMEOUT_MS.to_owned()));
        // A node learns its own address only when met; a lone node would announce "".
        lines.push(("cluster-announce-ip", "127.0.0.1".to_owned()));
        if let Some(bus) = listen.bus_port {
            lines.push(("cluster-port", bus.to_string()));
        }
    }
    let extra = settings.args.iter().map(|(k, v)| (k.as_str(), v.clone()));
    let mut conf = String::new();
    for (key, value) in lines.into_iter().chain(extra) {
        let _ = writeln!(conf, "{key} {}", quote(&value));
    }
    conf
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

/// Percent-encodes a URL userinfo component (RFC 3986 unreserved characters pass).
pub(crate) fn encode_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_values_for_redis_config_parser() {
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("x\ny\u{1}"), r#""x\ny\x01""#);
    }

    #[test]
    fn config_has_persistence_off_and_extra_args_last() {
        let settings = Settings {
            password: Some("pw".into()),
            args: vec![("maxmemory".into(), "10mb".into())],
            ..Settings::default()
        };
        let listen = Listen {
            port: 7000,
            bus_port: None,
            dir: Path::new("/tmp/x"),
            unix_socket: None,
            tls: None,
        };
        let conf = render_config(&settings, &listen);
        for line in [
            "save \"\"",
            "appendonly \"no\"",
            "port \"7000\"",
            "bind \"127.0.0.1\"",
            "requirepass \"pw\"",
        ] {
            assert!(conf.contains(line), "{line} missing in {conf}");
        }
        assert!(conf.trim_end().ends_with("maxmemory \"10mb\""));
        assert!(!conf.contains("cluster-enabled"));
    }

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
    fn userinfo_is_percent_encoded() {
        assert_eq!(encode_userinfo("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(encode_userinfo("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }

    #[test]
    fn builder_debug_redacts_password() {
        let b = RedisServer::builder().password("hunter2");
        assert!(!format!("{b:?}").contains("hunter2"));
    }
}
