//! The `redis.conf` and `sentinel.conf` files the launchers write.
//!
//! A file, not command-line arguments, keeps passwords out of `ps` output. Every argument is
//! quoted the way redis' config parser reads it back, so passwords with spaces, quotes or
//! `#` survive.

use std::fmt::Write as _;
use std::path::Path;

use super::builder::Settings;
use super::tls::TlsFiles;

/// Milliseconds before a silent cluster peer is suspected: short, so chaos tests see a killed
/// node marked failed (and recovered) in seconds rather than redis' default 15 s.
const CLUSTER_NODE_TIMEOUT_MS: &str = "2000";

/// A config file being written: one directive a line, every argument quoted.
#[derive(Default)]
pub(crate) struct Conf {
    text: String,
}

impl Conf {
    /// Appends `key "arg" "arg" …`.
    pub(crate) fn line(&mut self, key: &str, args: &[&str]) -> &mut Self {
        self.text.push_str(key);
        for arg in args {
            self.text.push(' ');
            self.text.push_str(&quote(arg));
        }
        self.text.push('\n');
        self
    }

    /// The directives every launched process starts with: loopback only, in the foreground,
    /// in `dir`, logging to stdout (which the launcher sends to a file there).
    pub(crate) fn process(&mut self, dir: &Path) -> &mut Self {
        self.line("bind", &["127.0.0.1"])
            .line("protected-mode", &["no"])
            .line("daemonize", &["no"])
            .line("dir", &[&dir.display().to_string()])
            .line("logfile", &[""])
    }

    /// Listening on `port`: plain TCP, or with `tls` TLS only. A TLS process also speaks TLS
    /// when it connects out (to a master, a monitored node), presenting the client
    /// certificate: the server certificate is for server authentication only, and peers
    /// verify whatever certificate is presented (`tls-auth-clients optional`).
    pub(crate) fn listen(&mut self, port: u16, tls: Option<&TlsFiles>) -> &mut Self {
        let Some(files) = tls else {
            return self.line("port", &[&port.to_string()]);
        };
        let path = |p: &Path| p.display().to_string();
        self.line("port", &["0"])
            .line("tls-port", &[&port.to_string()])
            .line("tls-cert-file", &[&path(&files.server_cert)])
            .line("tls-key-file", &[&path(&files.server_key)])
            .line("tls-client-cert-file", &[&path(&files.client_cert)])
            .line("tls-client-key-file", &[&path(&files.client_key)])
            .line("tls-ca-cert-file", &[&path(&files.ca_cert)])
            .line("tls-auth-clients", &["optional"])
            .line("tls-replication", &["yes"])
    }

    /// A unix socket only the owner may use: the launcher's way in to a TLS-only process.
    pub(crate) fn unix_socket(&mut self, socket: &Path) -> &mut Self {
        self.line("unixsocket", &[&socket.display().to_string()])
            .line("unixsocketperm", &["700"])
    }

    pub(crate) fn finish(self) -> String {
        self.text
    }
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

/// Renders the `redis.conf` of a data node.
pub(crate) fn render_server(settings: &Settings, listen: &Listen<'_>) -> String {
    let mut conf = Conf::default();
    conf.process(listen.dir)
        .line("save", &[""])
        .line("appendonly", &["no"])
        .listen(listen.port, listen.tls);
    if let Some(socket) = listen.unix_socket {
        conf.unix_socket(socket);
    }
    settings.credentials.write_server(&mut conf);
    if settings.cluster {
        conf.line("cluster-enabled", &["yes"])
            .line("cluster-config-file", &["nodes.conf"])
            .line("cluster-node-timeout", &[CLUSTER_NODE_TIMEOUT_MS])
            // A node learns its own address only when met; a lone node would announce "".
            .line("cluster-announce-ip", &["127.0.0.1"]);
        if let Some(bus) = listen.bus_port {
            conf.line("cluster-port", &[&bus.to_string()]);
        }
        if listen.tls.is_some() {
            // The bus of a TLS-only node speaks TLS too. A node then announces its TLS port,
            // and `CLUSTER SLOTS`/`SHARDS` report it, with no `cluster-announce-tls-port`.
            conf.line("tls-cluster", &["yes"]);
        }
    }
    for (key, value) in &settings.args {
        conf.line(key, &[value]);
    }
    conf.finish()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::launcher::credentials::Credentials;

    #[test]
    fn quotes_values_for_redis_config_parser() {
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("x\ny\u{1}"), r#""x\ny\x01""#);
    }

    fn listen(tls: Option<&TlsFiles>) -> Listen<'_> {
        Listen {
            port: 7000,
            bus_port: Some(17000),
            dir: Path::new("/tmp/x"),
            unix_socket: None,
            tls,
        }
    }

    #[test]
    fn config_has_persistence_off_and_extra_args_last() {
        let settings = Settings {
            credentials: Credentials {
                password: Some("pw".into()),
                acl_user: None,
            },
            args: vec![("maxmemory".into(), "10mb".into())],
            ..Settings::default()
        };
        let conf = render_server(&settings, &listen(None));
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
    fn tls_cluster_node_speaks_tls_on_port_bus_and_outgoing_links() {
        let files = TlsFiles {
            ca_cert: PathBuf::from("/d/ca.crt"),
            server_cert: PathBuf::from("/d/server.crt"),
            server_key: PathBuf::from("/d/server.key"),
            client_cert: PathBuf::from("/d/client.crt"),
            client_key: PathBuf::from("/d/client.key"),
        };
        let settings = Settings {
            cluster: true,
            ..Settings::default()
        };
        let conf = render_server(&settings, &listen(Some(&files)));
        for line in [
            "port \"0\"",
            "tls-port \"7000\"",
            "tls-client-cert-file \"/d/client.crt\"",
            "tls-replication \"yes\"",
            "tls-cluster \"yes\"",
            "cluster-port \"17000\"",
        ] {
            assert!(conf.contains(line), "{line} missing in {conf}");
        }
    }
}
