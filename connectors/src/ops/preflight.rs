//! `snodo check`'s pre-flight of the platforms: a TLS handshake with each configured
//! `[platforms.<name>]` endpoint, trusting only its configured CAs and checking the host name, so that a
//! wrong URL, a closed firewall or a CA the platform changed shows up before the first command does.
//!
//! The handshake presents no client certificate: a TLS 1.3 server asks for it after the handshake,
//! so mutual TLS is proved by the first real call, not here.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use snodo_security::pki::TrustAnchors;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreflightError {
    #[error("the URL {0:?} is not https://host[:port]/…")]
    Url(String),
    #[error("no CA configured for the server certificate ([platforms.<name>] ca)")]
    NoCa,
    #[error("cannot reach {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("TLS handshake with {address} failed: {reason}")]
    Handshake { address: String, reason: String },
}

/// What a successful handshake showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub address: String,
    pub protocol: String,
    /// The server certificate's subject, as OpenSSL prints it.
    pub subject: String,
}

/// Host and port of an `https://` URL.
fn host_port(url: &str) -> Result<(String, u16), PreflightError> {
    let bad = || PreflightError::Url(url.to_owned());
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().ok_or_else(bad)?;
    let authority = authority.rsplit('@').next().ok_or_else(bad)?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h.to_owned(), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        },
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 443,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// Connects to `url` and completes a TLS handshake that verifies the server against `trusted` and the
/// URL's host name. Blocking: call it from a blocking context.
pub fn tls_handshake(url: &str, trusted: &TrustAnchors) -> Result<Handshake, PreflightError> {
    if trusted.is_empty() {
        return Err(PreflightError::NoCa);
    }
    let (host, port) = host_port(url)?;
    let address = format!("{host}:{port}");
    let handshake_error = |reason: String| PreflightError::Handshake {
        address: address.clone(),
        reason,
    };
    let mut store = X509StoreBuilder::new().map_err(|e| handshake_error(e.to_string()))?;
    for ca in trusted.certificates() {
        store
            .add_cert(ca.clone())
            .map_err(|e| handshake_error(e.to_string()))?;
    }
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| handshake_error(e.to_string()))?;
    builder.set_verify(SslVerifyMode::PEER);
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| handshake_error(e.to_string()))?;
    builder.set_cert_store(store.build());
    let connector = builder.build();
    let connect_error = |reason: String| PreflightError::Connect {
        address: address.clone(),
        reason,
    };
    let socket = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| connect_error(e.to_string()))?
        .next()
        .ok_or_else(|| connect_error("the name resolves to no address".into()))?;
    let tcp =
        TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT).map_err(|e| connect_error(e.to_string()))?;
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .map_err(|e| connect_error(e.to_string()))?;
    let stream = connector.connect(&host, tcp).map_err(|e| {
        let reason = match &e {
            openssl::ssl::HandshakeError::Failure(mid)
                if mid.ssl().verify_result() != openssl::x509::X509VerifyResult::OK =>
            {
                format!(
                    "the server certificate is not trusted: {}",
                    mid.ssl().verify_result().error_string()
                )
            }
            other => other.to_string(),
        };
        handshake_error(reason)
    })?;
    let ssl = stream.ssl();
    let subject = ssl
        .peer_certificate()
        .map(|c| {
            c.subject_name()
                .entries()
                .map(|e| {
                    let value = String::from_utf8_lossy(e.data().as_slice()).into_owned();
                    format!("{}={value}", e.object().nid().short_name().unwrap_or("?"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(Handshake {
        address: address.clone(),
        protocol: ssl.version_str().to_owned(),
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(
            host_port("https://ws.anpr.example/ws").unwrap(),
            ("ws.anpr.example".into(), 443)
        );
        assert_eq!(
            host_port("https://127.0.0.1:9441/x?y").unwrap(),
            ("127.0.0.1".into(), 9441)
        );
        assert_eq!(host_port("https://[::1]:8443/").unwrap(), ("::1".into(), 8443));
        assert!(host_port("http://plain.example/").is_err());
        assert!(host_port("https://host:port/").is_err());
    }
}
