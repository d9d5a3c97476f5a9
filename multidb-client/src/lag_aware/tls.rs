//! The rustls client configuration of the REST calls: certificates always verified, against
//! a custom CA when one is given, else the system's roots (loaded on first use, so a check
//! that only ever speaks plain HTTP never reads them).

use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::error::ConfigError;

/// Certificates given to the builder.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) root_cert_pem: Option<Vec<u8>>,
    pub(crate) client_cert: Option<(Vec<u8>, Vec<u8>)>,
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
    pub(crate) fn lazy() -> Self {
        TlsConfig {
            options: TlsOptions::default(),
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

    pub(crate) fn has_custom_ca(&self) -> bool {
        self.options.root_cert_pem.is_some()
    }

    pub(crate) fn has_client_cert(&self) -> bool {
        self.options.client_cert.is_some()
    }
}

fn build(options: &TlsOptions) -> Result<ClientConfig, ConfigError> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = &options.root_cert_pem {
        let certs = certificates(pem, "lag_aware.root_cert")?;
        for cert in certs {
            roots.add(cert).map_err(|e| {
                ConfigError::invalid("lag_aware.root_cert", e.to_string(), "a CA certificate")
            })?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(ConfigError::invalid(
                "lag_aware.root_cert",
                "none given and no system roots found",
                "a CA certificate (PEM) or system roots",
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid("lag_aware.tls", e.to_string(), "a TLS setup"))?
        .with_root_certificates(roots);
    match &options.client_cert {
        Some((cert_pem, key_pem)) => {
            let certs = certificates(cert_pem, "lag_aware.client_cert")?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
                ConfigError::invalid("lag_aware.client_key", "<redacted>", "a PEM private key")
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                ConfigError::invalid(
                    "lag_aware.client_cert",
                    e.to_string(),
                    "a certificate matching the key",
                )
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
