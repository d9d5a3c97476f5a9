//! Configuring and starting a Sentinel pair: the data nodes, then the Sentinel process.

use std::fmt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{READY_TIMEOUT, RedisSentinel, info_has, wait_until};
use crate::launcher::builder::{self, BINARY_ENV};
use crate::launcher::config::Conf;
use crate::launcher::control::Endpoint;
use crate::launcher::credentials::{AclUser, Credentials};
use crate::launcher::ports::PortLease;
use crate::launcher::tempdir::TempDir;
use crate::launcher::tls::{TlsFiles, write_private};
use crate::launcher::{LaunchError, RedisServer, RedisServerBuilder, TlsMaterial};

/// Configures a [`RedisSentinel`] pair before starting it; made by [`RedisSentinel::builder`].
///
/// Defaults: plain TCP, no authentication, quorum 1, the master considered down after 1 s.
///
/// ```
/// use multidb_testkit::{RedisSentinel, TlsMaterial};
///
/// # fn main() -> Result<(), multidb_testkit::LaunchError> {
/// let ha = RedisSentinel::builder("mymaster")
///     .tls(TlsMaterial::generate()?)
///     .acl_user("alice", "s3cr:t")
///     .start()?;
/// assert_eq!(
///     ha.sentinel_url(),
///     format!("rediss://alice:s3cr%3At@127.0.0.1:{}", ha.addr().port())
/// );
/// assert!(ha.master().url().starts_with("rediss://alice:"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisSentinelBuilder {
    master_name: String,
    tls: Option<TlsMaterial>,
    credentials: Credentials,
}

impl RedisSentinelBuilder {
    pub(super) fn new(master_name: String) -> Self {
        Self {
            master_name,
            tls: None,
            credentials: Credentials::default(),
        }
    }

    /// Serves TLS only, on every process: master and replica as
    /// [`RedisServerBuilder::tls`] does (the replica replicating over TLS), and the Sentinel
    /// on its port (`tls-port`, `port 0`), speaking TLS to the data nodes
    /// (`tls-replication yes`). [`RedisSentinel::sentinel_url`] then starts with `rediss://`.
    pub fn tls(mut self, material: TlsMaterial) -> Self {
        self.tls = Some(material);
        self
    }

    /// Requires the ACL user `username` with `password` on every process: master and replica
    /// as [`RedisServerBuilder::acl_user`] does (the replica syncing as that user), and the
    /// Sentinel itself (`user` directive, `default` user off). The Sentinel logs in to the
    /// data nodes as that user (`sentinel auth-user`, `sentinel auth-pass`), and
    /// [`RedisSentinel::sentinel_url`] carries `username:password@`.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials.acl_user = Some(AclUser::new(username.into(), password.into()));
        self
    }

    /// Starts a master, a replica of it and a Sentinel that monitors the master (quorum 1,
    /// down after 1 s), and waits until the replica is in sync and the Sentinel names the
    /// master and knows the replica: killing the master then makes the Sentinel promote the
    /// replica. Typically takes about a second.
    ///
    /// # Errors
    /// [`LaunchError::InvalidConfig`] for a master name that is empty or holds whitespace, or
    /// a bad ACL user name; as [`RedisServer::start`] for the data nodes;
    /// [`LaunchError::NotReady`] if the replica does not sync or the Sentinel does not come up.
    pub fn start(self) -> Result<RedisSentinel, LaunchError> {
        if !crate::launcher::credentials::is_plain_name(&self.master_name) {
            return Err(LaunchError::InvalidConfig {
                field: "master_name",
                value: self.master_name,
                reason: "a master name is non-empty, without whitespace or control characters",
            });
        }
        if let Some(user) = &self.credentials.acl_user {
            user.validate()?;
        }
        // No diskless-sync delay: the replica syncs at once instead of after redis' 5 s.
        let master = self
            .data_node()
            .arg("repl-diskless-sync-delay", "0")
            .start()?;
        let replica = self
            .data_node()
            .arg("replicaof", format!("127.0.0.1 {}", master.port()))
            .start()?;
        // Before the Sentinel starts, so its first look at the master lists the replica
        // (it looks again only every 10 s).
        wait_until(
            replica.port(),
            READY_TIMEOUT,
            "the replica to sync with its master",
            || info_has(&replica, "replication", "master_link_status:up"),
        )?;
        let binary =
            builder::resolve_binary(None, std::env::var_os(BINARY_ENV), std::env::var_os("PATH"))?;
        let dir = TempDir::create()?;
        let lease = PortLease::acquire()?;
        let port = lease.port();
        let tls_files = self
            .tls
            .as_ref()
            .map(|tls| tls.write_files(dir.path()))
            .transpose()?;
        // A TLS Sentinel's only TCP port speaks TLS, so it is asked over a unix socket.
        let control = match tls_files {
            Some(_) => Endpoint::Unix(dir.path().join("sentinel.sock")),
            None => Endpoint::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        };
        let conf = self.render(
            port,
            dir.path(),
            tls_files.as_ref(),
            &control,
            master.port(),
        );
        let conf_path = dir.path().join("sentinel.conf");
        write_private(&conf_path, &conf)?;
        let child = spawn(&binary, &conf_path, dir.path())?;
        let mut ha = RedisSentinel {
            master_name: self.master_name,
            master,
            replica,
            sentinel: Some(child),
            port,
            control,
            credentials: self.credentials,
            tls: self.tls,
            _lease: lease,
            dir,
        };
        ha.wait_ready()?;
        Ok(ha)
    }

    /// A data node of the pair: TLS and ACL user as configured.
    fn data_node(&self) -> RedisServerBuilder {
        let mut node = RedisServer::builder();
        if let Some(tls) = &self.tls {
            node = node.tls(tls.clone());
        }
        if let Some(user) = &self.credentials.acl_user {
            node = node.acl_user(user.name(), user.password());
        }
        node
    }

    /// The `sentinel.conf`.
    fn render(
        &self,
        port: u16,
        dir: &Path,
        tls: Option<&TlsFiles>,
        control: &Endpoint,
        master_port: u16,
    ) -> String {
        let mut conf = Conf::default();
        conf.process(dir).listen(port, tls);
        if let Endpoint::Unix(socket) = control {
            conf.unix_socket(socket);
        }
        self.credentials.write_users(&mut conf);
        let name = self.master_name.as_str();
        let master_port = master_port.to_string();
        conf.line(
            "sentinel",
            &["monitor", name, "127.0.0.1", &master_port, "1"],
        )
        .line("sentinel", &["down-after-milliseconds", name, "1000"])
        .line("sentinel", &["failover-timeout", name, "5000"]);
        if let Some(user) = &self.credentials.acl_user {
            conf.line("sentinel", &["auth-user", name, user.name()])
                .line("sentinel", &["auth-pass", name, user.password()]);
        }
        conf.finish()
    }
}

/// Spawns `redis-server CONF --sentinel` in `dir`, logging to `sentinel.log` there.
fn spawn(binary: &Path, conf_path: &Path, dir: &Path) -> Result<Child, LaunchError> {
    let (_, log, log_err) = builder::open_log(&dir.join("sentinel.log"))?;
    Command::new(binary)
        .arg(conf_path)
        .arg("--sentinel")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })
}

impl fmt::Debug for RedisSentinelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinelBuilder")
            .field("master_name", &self.master_name)
            .field("tls", &self.tls.is_some())
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_sentinel_conf_requires_the_user_and_logs_in_to_the_master_as_it() {
        let builder = RedisSentinel::builder("mymaster").acl_user("alice", "p w");
        let conf = builder.render(
            26379,
            Path::new("/tmp/s"),
            None,
            &Endpoint::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 26379))),
            6379,
        );
        for line in [
            r#"port "26379""#,
            r#"user "alice" "on" ">p w" "~*" "&*" "+@all""#,
            r#"user "default" "off""#,
            r#"sentinel "monitor" "mymaster" "127.0.0.1" "6379" "1""#,
            r#"sentinel "auth-user" "mymaster" "alice""#,
            r#"sentinel "auth-pass" "mymaster" "p w""#,
        ] {
            assert!(conf.contains(line), "{line} missing in {conf}");
        }
        assert!(!conf.contains("tls-port"));
    }

    #[test]
    fn builder_debug_redacts_the_password() {
        let builder = RedisSentinel::builder("mymaster").acl_user("alice", "hunter2");
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("alice"),
            "{debug}"
        );
    }

    #[test]
    fn master_name_with_whitespace_is_invalid_config() {
        for name in ["", "my master"] {
            assert!(matches!(
                RedisSentinel::builder(name).start(),
                Err(LaunchError::InvalidConfig {
                    field: "master_name",
                    ..
                })
            ));
        }
    }
}
