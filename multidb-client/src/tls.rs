//! rustls client configurations, for `rediss://` members and for the lag-aware check's REST
//! calls: certificates always verified, against a custom CA when one is given, else the
//! system's roots (loaded on first use, so a client that never opens a TLS connection never
//! reads them).

use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::error::ConfigError;

/// Certificates given to a builder, and the config fields they came from (named in errors).
#[derive(Clone)]
pub(crate) struct TlsOptions {
    pub(crate) root_cert_pem: Option<Vec<u8>>,
    pub(crate) client_cert: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) fields: Fields,
}

/// Config field names: `[root cert, client cert, client key, the setup as a whole]`.
pub(crate) type Fields = [&'static str; 4];

#[cfg(feature = "lag-aware")]
pub(crate) const LAG_AWARE_FIELDS: Fields = [
    "lag_aware.root_cert",
    "lag_aware.client_cert",
    "lag_aware.client_key",
    "lag_aware.tls",
];
pub(crate) const MEMBER_FIELDS: Fields =
    ["tls_root_cert", "tls_client_cert", "tls_client_key", "tls"];

impl TlsOptions {
    pub(crate) fn new(fields: Fields) -> Self {
        TlsOptions {
            root_cert_pem: None,
            client_cert: None,
            fields,
        }
    }
}

/// A configuration built once and shared by every probe.
pub(crate) struct TlsConfig {
    options: TlsOptions,
    config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl TlsConfig {
    /// Checks the PEMs now (a bad certificate is a configuration error, not a failed probe).
    pub(crate) fn new(options: TlsOptions) -> Result<Self, ConfigError> {
        let config = OnceLock::new();
        if options.root_cert_pem.is_some() || options.client_cert.is_some() {
            let built = build(&options)?;
            let _ = config.set(Ok(Arc::new(built)));
        }
        Ok(TlsConfig { options, config })
    }

    /// System roots, loaded on first use.
    #[cfg(feature = "lag-aware")]
    pub(crate) fn lazy(fields: Fields) -> Self {
        TlsConfig {
            options: TlsOptions::new(fields),
            config: OnceLock::new(),
        }
    }

    /// The configuration; an error when the system's roots cannot be loaded.
    pub(crate) fn get(&self) -> Result<&Arc<ClientConfig>, String> {
        self.config
            .get_or_init(|| {
                build(&self.options)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    #[cfg(feature = "lag-aware")]
    pub(crate) fn has_custom_ca(&self) -> bool {
        self.options.root_cert_pem.is_some()
    }

    #[cfg(feature = "lag-aware")]
    pub(crate) fn has_client_cert(&self) -> bool {
        self.options.client_cert.is_some()
    }
}

fn build(options: &TlsOptions) -> Result<ClientConfig, ConfigError> {
    let [root_field, cert_field, key_field, tls_field] = options.fields;
    let mut roots = RootCertStore::empty();
    if let Some(pem) = &options.root_cert_pem {
        let certs = certificates(pem, root_field)?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ConfigError::invalid(root_field, e.to_string(), "a CA certificate"))?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(ConfigError::invalid(
                root_field,
                "none given and no system roots found",
                "a CA certificate (PEM) or system roots",
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid(tls_field, e.to_string(), "a TLS setup"))?
        .with_root_certificates(roots);
    match &options.client_cert {
        Some((cert_pem, key_pem)) => {
            let certs = certificates(cert_pem, cert_field)?;
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|_| ConfigError::invalid(key_field, "<redacted>", "a PEM private key"))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                ConfigError::invalid(cert_field, e.to_string(), "a certificate matching the key")
            })
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

fn certificates(
    pem: &[u8],
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::invalid(field, e.to_string(), "PEM certificates"))?;
    if certs.is_empty() {
        return Err(ConfigError::invalid(
            field,
            "no certificate",
            "PEM certificates",
        ));
    }
    Ok(certs)
}
