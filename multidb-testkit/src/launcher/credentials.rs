//! Who may log in to a launched process, and who the launcher logs in as.
//!
//! A process either takes anyone (the default), a password for the `default` user
//! (`requirepass`), or a named ACL user. With an ACL user and no password the `default`
//! user is switched off, so a client that forgets to authenticate gets `NOAUTH` instead of
//! silently working: a test can prove its client logs in. The launcher's own control
//! connection logs in as the ACL user when there is one, else as `default` with the
//! password, so it keeps working whichever the server requires.

use std::fmt::{self, Write as _};

use super::LaunchError;
use super::config::Conf;
use super::control::Login;

/// A name a config line takes as one word: not empty, no whitespace or control characters
/// (ACL user names, Sentinel master names).
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An ACL user with every permission (`~* &* +@all`) and one password.
#[derive(Clone)]
pub(crate) struct AclUser {
    name: String,
    password: String,
}

impl AclUser {
    pub(crate) fn new(name: String, password: String) -> Self {
        Self { name, password }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// Refuses names redis' ACL parser rejects, before anything is started.
    pub(crate) fn validate(&self) -> Result<(), LaunchError> {
        if !is_plain_name(&self.name) {
            return Err(LaunchError::InvalidConfig {
                field: "acl_user",
                value: self.name.clone(),
                reason: "a user name is non-empty, without whitespace or control characters",
            });
        }
        Ok(())
    }

    /// The `user` directive that creates this user, every argument quoted.
    pub(crate) fn write_user(&self, conf: &mut Conf) {
        let password = format!(">{}", self.password);
        conf.line("user", &[&self.name, "on", &password, "~*", "&*", "+@all"]);
    }

    /// `user:password@`, both percent-encoded, for a connect URL.
    pub(crate) fn userinfo(&self) -> String {
        format!(
            "{}:{}@",
            encode_userinfo(&self.name),
            encode_userinfo(&self.password)
        )
    }

    fn login(&self) -> Login<'_> {
        Login {
            user: &self.name,
            password: &self.password,
        }
    }
}

impl fmt::Debug for AclUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What a data node requires of its clients.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    pub(crate) password: Option<String>,
    pub(crate) acl_user: Option<AclUser>,
}

impl Credentials {
    /// The `redis.conf` directives of a data node: [`write_users`](Self::write_users), and
    /// the same login for replication (`masteruser`/`masterauth`), so a node made a replica
    /// (by `replicaof` or a Sentinel failover) can sync with a master like itself.
    pub(crate) fn write_server(&self, conf: &mut Conf) {
        self.write_users(conf);
        if let Some(login) = self.login() {
            conf.line("masteruser", &[login.user]);
            conf.line("masterauth", &[login.password]);
        }
    }

    /// Who may log in: the `default` user's password, the ACL user, and the `default` user
    /// switched off when only the ACL user may.
    pub(crate) fn write_users(&self, conf: &mut Conf) {
        if let Some(password) = &self.password {
            conf.line("requirepass", &[password]);
        }
        if let Some(user) = &self.acl_user {
            user.write_user(conf);
            if self.password.is_none() && user.name() != "default" {
                conf.line("user", &["default", "off"]);
            }
        }
    }

    /// Who the launcher logs in as: the ACL user, else `default` with the password.
    pub(crate) fn login(&self) -> Option<Login<'_>> {
        match (&self.acl_user, &self.password) {
            (Some(user), _) => Some(user.login()),
            (None, Some(password)) => Some(Login {
                user: "default",
                password,
            }),
            (None, None) => None,
        }
    }

    /// The userinfo of a connect URL: `user:password@` for the ACL user, else `:password@`,
    /// else empty.
    pub(crate) fn userinfo(&self) -> String {
        match (&self.acl_user, &self.password) {
            (Some(user), _) => user.userinfo(),
            (None, Some(password)) => format!(":{}@", encode_userinfo(password)),
            (None, None) => String::new(),
        }
    }

    /// `text` with every password replaced by `<redacted>`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let secrets = self
            .password
            .iter()
            .map(String::as_str)
            .chain(self.acl_user.iter().map(AclUser::password));
        secrets
            .filter(|secret| !secret.is_empty())
            .fold(text.to_owned(), |text, secret| {
                text.replace(secret, "<redacted>")
            })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("acl_user", &self.acl_user)
            .finish()
    }
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

    fn alice() -> AclUser {
        AclUser::new("alice".into(), "p@ss w\"rd".into())
    }

    #[test]
    fn userinfo_is_percent_encoded() {
        assert_eq!(encode_userinfo("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(encode_userinfo("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
        assert_eq!(alice().userinfo(), "alice:p%40ss%20w%22rd@");
    }

    #[test]
    fn acl_user_switches_default_off_and_replicates_as_itself() {
        let credentials = Credentials {
            password: None,
            acl_user: Some(alice()),
        };
        let mut conf = Conf::default();
        credentials.write_server(&mut conf);
        let conf = conf.finish();
        for line in [
            r#"user "alice" "on" ">p@ss w\"rd" "~*" "&*" "+@all""#,
            r#"user "default" "off""#,
            r#"masteruser "alice""#,
            r#"masterauth "p@ss w\"rd""#,
        ] {
            assert!(conf.contains(line), "{line} missing in {conf}");
        }
        assert_eq!(credentials.login().map(|l| l.user), Some("alice"));
    }

    #[test]
    fn password_keeps_default_user_and_logs_in_as_it() {
        let credentials = Credentials {
            password: Some("pw".into()),
            acl_user: Some(alice()),
        };
        let mut conf = Conf::default();
        credentials.write_server(&mut conf);
        assert!(!conf.finish().contains("\"default\""));
        let only_password = Credentials {
            password: Some("pw".into()),
            acl_user: None,
        };
        assert_eq!(only_password.login().map(|l| l.user), Some("default"));
        assert_eq!(only_password.userinfo(), ":pw@");
    }

    #[test]
    fn user_names_with_whitespace_are_invalid() {
        assert!(alice().validate().is_ok());
        for name in ["", "a b", "a\tb", "a\0b"] {
            let user = AclUser::new(name.into(), "pw".into());
            assert!(matches!(
                user.validate(),
                Err(LaunchError::InvalidConfig {
                    field: "acl_user",
                    ..
                })
            ));
        }
    }

    #[test]
    fn debug_and_redaction_hide_every_password() {
        let credentials = Credentials {
            password: Some("hunter2".into()),
            acl_user: Some(alice()),
        };
        let debug = format!("{credentials:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("p@ss"),
            "{debug}"
        );
        assert!(debug.contains("alice"));
        let redacted = credentials.redact("auth hunter2 and p@ss w\"rd");
        assert_eq!(redacted, "auth <redacted> and <redacted>");
    }
}
