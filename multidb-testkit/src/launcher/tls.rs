//! Throw-away certificates for TLS servers.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::LaunchError;

/// A throw-away certificate authority with a server certificate for `127.0.0.1` and
/// `localhost` and a client certificate (for mutual TLS), all generated in memory with
/// `rcgen` (ECDSA P-256).
///
/// Hand it to [`RedisServerBuilder::tls`](super::RedisServerBuilder::tls),
/// [`RedisSentinelBuilder::tls`](super::RedisSentinelBuilder::tls) or
/// [`RedisClusterBuilder::tls`](super::RedisClusterBuilder::tls); clients trust
/// [`ca_cert_pem`](Self::ca_cert_pem). Cloning is cheap. `Debug` shows no key material.
#[derive(Clone)]
pub struct TlsMaterial {
    inner: Arc<Pems>,
}

struct Pems {
    ca_cert: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

/// Where a server's copy of the material lies in its temp dir.
#[derive(Debug)]
pub(crate) struct TlsFiles {
    pub(crate) ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
}

fn tls_error(e: &rcgen::Error) -> LaunchError {
    LaunchError::Tls {
        detail: e.to_string(),
    }
}

fn leaf(
    name: &str,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), LaunchError> {
    let key = KeyPair::generate().map_err(|e| tls_error(&e))?;
    let mut params = CertificateParams::new(sans).map_err(|e| tls_error(&e))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).map_err(|e| tls_error(&e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl TlsMaterial {
    /// Generates a fresh CA, a server certificate (SANs `127.0.0.1`, `localhost`) and a client
    /// certificate, all signed by that CA.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Tls`] if key or certificate generation fails.
    pub fn generate() -> Result<Self, LaunchError> {
        let ca_key = KeyPair::generate().map_err(|e| tls_error(&e))?;
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(|e| tls_error(&e))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "multidb-testkit throw-away CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| tls_error(&e))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let (server_cert, server_key) = leaf(
            "localhost",
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )?;
        let (client_cert, client_key) = leaf(
            "multidb-testkit client",
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )?;
        Ok(Self {
            inner: Arc::new(Pems {
                ca_cert: ca_cert.pem(),
                server_cert,
                server_key,
                client_cert,
                client_key,
            }),
        })
    }

    /// The CA certificate (PEM) that clients must trust.
    pub fn ca_cert_pem(&self) -> &str {
        &self.inner.ca_cert
    }

    /// A client certificate (PEM) signed by the CA, for mutual TLS.
    pub fn client_cert_pem(&self) -> &str {
        &self.inner.client_cert
    }

    /// The private key (PEM, PKCS#8) of [`client_cert_pem`](Self::client_cert_pem).
    pub fn client_key_pem(&self) -> &str {
        &self.inner.client_key
    }

    /// The server certificate (PEM), for in-process TLS servers.
    pub(crate) fn server_cert_pem(&self) -> &str {
        &self.inner.server_cert
    }

    /// The server certificate's private key (PEM).
    pub(crate) fn server_key_pem(&self) -> &str {
        &self.inner.server_key
    }

    /// Writes the files `redis-server` needs into `dir`, readable by their owner only: the
    /// server pair for serving, the client pair for its own outgoing TLS links (replication,
    /// cluster bus, a Sentinel's monitoring).
    pub(crate) fn write_files(&self, dir: &Path) -> Result<TlsFiles, LaunchError> {
        let files = TlsFiles {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        };
        write_private(&files.ca_cert, &self.inner.ca_cert)?;
        write_private(&files.server_cert, &self.inner.server_cert)?;
        write_private(&files.server_key, &self.inner.server_key)?;
        write_private(&files.client_cert, &self.inner.client_cert)?;
        write_private(&files.client_key, &self.inner.client_key)?;
        Ok(files)
    }
}

/// Creates or replaces `path` with mode 0600.
pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), LaunchError> {
    let fs_error = |source| LaunchError::Filesystem {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fs_error)?;
    file.write_all(content.as_bytes()).map_err(fs_error)
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("server_names", &["127.0.0.1", "localhost"])
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_material_and_hides_keys_in_debug() {
        let tls = TlsMaterial::generate().expect("generate");
        assert!(tls.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(
            tls.client_cert_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(tls.client_key_pem().contains("PRIVATE KEY"));
        assert_ne!(tls.ca_cert_pem(), tls.client_cert_pem());
        let debug = format!("{tls:?}");
        assert!(
            !debug.contains("PRIVATE KEY") && !debug.contains("BEGIN"),
            "{debug}"
        );
    }
}
