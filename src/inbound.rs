//! The inbound HTTPS listener of `snodo up` (DESIGN §6, default `https://127.0.0.1:7443`): the routes
//! every platform connector contributes, served by the security crate's OpenSSL accept loop so that
//! handlers see the platform's verified client certificate. Its identity is `[tls.server]`, or for a
//! development instance the development PKI's server certificate; client certificates are requested
//! and verified against `tls.client_ca` (or the development CA), not required: the SAML endpoints are
//! visited by citizens' browsers.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use snodo_connectors::config::Config;
use snodo_security::devpki::DevPki;
use snodo_security::pki::{TrustAnchors, read_identity};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds the listener and serves `router` until `shutdown`; returns the bound address.
pub async fn serve(
    config: &Config,
    dev_pki: Option<&DevPki>,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let identity = match (&config.tls.server, dev_pki) {
        (Some(files), _) => {
            let password = match &files.password_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading tls.server.password_file {}", path.display()))?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                None => None,
            };
            read_identity(&files.certificate, files.key.as_deref(), password.as_deref())
                .context("loading tls.server")?
        }
        (None, Some(pki)) => pki.tls_server().identity.clone(),
        (None, None) => anyhow::bail!(
            "the inbound listener needs a certificate: configure [tls.server] (non-development tenants \
             never get the development PKI's)"
        ),
    };
    let client_ca = if !config.tls.client_ca.is_empty() {
        TrustAnchors::read(&config.tls.client_ca).context("loading tls.client_ca")?
    } else if let Some(pki) = dev_pki {
        pki.trust_anchors()
    } else {
        TrustAnchors::new(Vec::new())
    };
    let client_auth = if client_ca.is_empty() {
        ClientAuth::None
    } else {
        ClientAuth::Optional(client_ca)
    };
    let server =
        TlsServer::new(TlsServerConfig::new(identity, client_auth)).context("configuring the inbound TLS")?;
    let listener = TcpListener::bind(config.listeners.inbound)
        .await
        .with_context(|| format!("binding the inbound listener on {}", config.listeners.inbound))?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { server.serve(listener, router, shutdown.cancelled_owned()).await });
    Ok(address)
}
