//! The HTTPS client towards a platform: reqwest on native-tls (OpenSSL on Linux), presenting the
//! municipality's certificate and trusting only the configured CA (no built-in roots: ANPR's server
//! chains to ANPR's own CA, anpr-and-cie-booking.md §1.5), with timeouts.

use std::time::Duration;

use super::TlsError;
use crate::pki::{Identity, TrustAnchors};

/// How to reach one platform.
#[derive(Debug, Clone)]
pub struct TlsClientConfig {
    /// The certificate to present (ANPR `<ISTAT>-CO-9999`), if the platform asks for one.
    pub identity: Option<Identity>,
    /// The only CAs the server's certificate may chain to.
    pub trusted: TrustAnchors,
    pub connect_timeout: Duration,
    /// Whole request, connection included.
    pub timeout: Duration,
}

impl TlsClientConfig {
    pub fn new(trusted: TrustAnchors) -> TlsClientConfig {
        TlsClientConfig {
            identity: None,
            trusted,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn with_identity(mut self, identity: Identity) -> TlsClientConfig {
        self.identity = Some(identity);
        self
    }
}

/// A reqwest client for `config`. Refuses an empty CA set: with no roots nothing would verify, and
/// built-in roots are never used.
pub fn build_client(config: &TlsClientConfig) -> Result<reqwest::Client, TlsError> {
    if config.trusted.is_empty() {
        return Err(TlsError::Client {
            reason: "no CA configured to verify the server with".into(),
        });
    }
    let client_error = |doing: &str| {
        let doing = doing.to_owned();
        move |e: reqwest::Error| TlsError::Client {
            reason: format!("{doing}: {e}"),
        }
    };
    let mut roots = Vec::new();
    for ca in config.trusted.certificates() {
        let pem = ca.to_pem().map_err(|e| TlsError::Client {
            reason: format!("encoding a CA certificate: {e}"),
        })?;
        roots.push(reqwest::Certificate::from_pem(&pem).map_err(client_error("reading a CA certificate"))?);
    }
    let mut builder = reqwest::Client::builder()
        .tls_backend_native()
        .tls_certs_only(roots)
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout);
    if let Some(identity) = &config.identity {
        let identity =
            reqwest::Identity::from_pkcs8_pem(&identity.certificate_chain_pem(), &identity.key_pkcs8_pem())
                .map_err(client_error("reading the client identity"))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(client_error("building the client"))
}
