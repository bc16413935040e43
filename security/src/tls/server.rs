//! The HTTPS accept loop: OpenSSL handshakes (`tokio-openssl`) on a `TcpListener`, each connection
//! served by hyper with an axum `Router`, the verified client certificate in every request's
//! extensions.
//!
//! What the loop guarantees: a failed handshake (wrong CA, expired certificate, no certificate when
//! one is required, a port scanner) or a client that never finishes its handshake (bounded by
//! `handshake_timeout`) only ends that connection; at most `max_connections` connections exist at
//! once (past that, new ones wait in the kernel's backlog instead of exhausting memory or file
//! descriptors); on shutdown it stops accepting and lets open requests finish within `shutdown_grace`.
//!
//! A failed handshake is logged and, when the configuration asks for it
//! ([`TlsServerConfig::on_handshake_failure`]), reported to the owner as a [`HandshakeFailure`]: a
//! certification suite must tell a client that its certificate chain was refused, which no handler
//! can do since the refused client never reaches one.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::{X509Name, X509VerifyResult};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_openssl::SslStream;
use tower::ServiceExt;

use super::{PeerCertificate, TlsError};
use crate::pki::{CertificateUse, Identity, TrustAnchors};

/// Whether and how clients authenticate with a certificate.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No certificate requested.
    None,
    /// Requested; a connection without one is served without [`PeerCertificate`], one with a
    /// certificate that does not verify against these CAs is refused.
    Optional(TrustAnchors),
    /// Required and verified against these CAs; the handshake fails otherwise.
    Required(TrustAnchors),
}

/// A client handshake the server could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailure {
    pub remote: SocketAddr,
    pub cause: HandshakeFailureCause,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeFailureCause {
    /// The client's certificate chain did not verify against the client CAs; OpenSSL's verify
    /// result says why ("unable to get local issuer certificate", "certificate has expired", …).
    UntrustedCertificate(X509VerifyResult),
    /// Any other failure, in OpenSSL's words: no certificate when one is required, a protocol
    /// error, a client that refused our certificate, a port scanner.
    Protocol(String),
    /// The client did not finish its handshake within `handshake_timeout`.
    TimedOut,
}

impl HandshakeFailure {
    /// OpenSSL's verify error, when the client's certificate chain is why the handshake failed.
    pub fn verify_error(&self) -> Option<X509VerifyResult> {
        match self.cause {
            HandshakeFailureCause::UntrustedCertificate(result) => Some(result),
            _ => None,
        }
    }
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            HandshakeFailureCause::UntrustedCertificate(result) => write!(
                f,
                "TLS handshake from {} refused: client certificate chain not trusted: {}",
                self.remote,
                result.error_string()
            ),
            HandshakeFailureCause::Protocol(error) => {
                write!(f, "TLS handshake from {} failed: {error}", self.remote)
            }
            HandshakeFailureCause::TimedOut => {
                write!(f, "TLS handshake from {} timed out", self.remote)
            }
        }
    }
}

/// Receives every failed handshake, on the connection's task: it must return quickly (record,
/// count or send on a channel; never block).
#[derive(Clone)]
pub struct HandshakeObserver(Arc<dyn Fn(HandshakeFailure) + Send + Sync>);

impl HandshakeObserver {
    pub fn new(observe: impl Fn(HandshakeFailure) + Send + Sync + 'static) -> HandshakeObserver {
        HandshakeObserver(Arc::new(observe))
    }

    fn report(&self, failure: HandshakeFailure) {
        (self.0)(failure)
    }
}

impl std::fmt::Debug for HandshakeObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandshakeObserver")
    }
}

#[derive(Debug, Clone)]
pub struct TlsServerConfig {
    pub identity: Identity,
    pub client_auth: ClientAuth,
    /// From TCP accept to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    /// How long open connections may take to finish after shutdown is asked.
    pub shutdown_grace: Duration,
    /// Told of every failed handshake, besides the log; none by default.
    pub on_handshake_failure: Option<HandshakeObserver>,
}

impl TlsServerConfig {
    pub fn new(identity: Identity, client_auth: ClientAuth) -> TlsServerConfig {
        TlsServerConfig {
            identity,
            client_auth,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
            on_handshake_failure: None,
        }
    }
}

/// A configured HTTPS server; [`TlsServer::serve`] runs it on a listener.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: Arc<SslAcceptor>,
    config: TlsServerConfig,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn configuration(doing: &'static str) -> impl Fn(openssl::error::ErrorStack) -> TlsError {
    move |e| TlsError::Configuration {
        side: "server",
        doing,
        reason: e.to_string(),
    }
}

impl TlsServer {
    pub fn new(config: TlsServerConfig) -> Result<TlsServer, TlsError> {
        // Mozilla's "intermediate" profile: TLS 1.2 and 1.3 (SPID and pagoPA require >= 1.2).
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .map_err(configuration("choosing the protocol profile"))?;
        b.set_certificate(config.identity.certificate())
            .map_err(configuration("setting the certificate"))?;
        for c in config.identity.chain() {
            b.add_extra_chain_cert(c.clone())
                .map_err(configuration("adding a chain certificate"))?;
        }
        b.set_private_key(config.identity.key())
            .map_err(configuration("setting the private key"))?;
        b.check_private_key()
            .map_err(configuration("checking the private key"))?;
        let anchors = match &config.client_auth {
            ClientAuth::None => None,
            ClientAuth::Optional(a) => Some((a, SslVerifyMode::PEER)),
            ClientAuth::Required(a) => Some((a, SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT)),
        };
        if let Some((anchors, mode)) = anchors {
            if anchors.is_empty() {
                return Err(TlsError::NoClientCa);
            }
            b.set_verify(mode);
            b.set_cert_store(
                anchors
                    .store(CertificateUse::TlsClient)
                    .map_err(configuration("building the client CA store"))?,
            );
            // Tell clients which CAs we accept, so one holding several certificates picks the right one.
            let mut names = Stack::<X509Name>::new().map_err(configuration("listing client CAs"))?;
            for ca in anchors.certificates() {
                names
                    .push(
                        ca.subject_name()
                            .to_owned()
                            .map_err(configuration("listing client CAs"))?,
                    )
                    .map_err(configuration("listing client CAs"))?;
            }
            b.set_client_ca_list(names);
            // Required by OpenSSL for session resumption when peers are verified.
            b.set_session_id_context(b"snodo")
                .map_err(configuration("setting the session id context"))?;
        }
        Ok(TlsServer {
            acceptor: Arc::new(b.build()),
            config,
        })
    }

    /// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits up to
    /// `shutdown_grace` for open connections. Handlers find [`PeerCertificate`] (when the client
    /// presented a verified certificate) and `ConnectInfo<SocketAddr>` in the request extensions.
    pub async fn serve(&self, listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = limit.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "TLS server: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let acceptor = self.acceptor.clone();
            let router = router.clone();
            let handshake_timeout = self.config.handshake_timeout;
            let observer = self.config.on_handshake_failure.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _permit = permit;
                let stream = match handshake(&acceptor, tcp, remote, handshake_timeout).await {
                    Ok(stream) => stream,
                    Err(None) => return,
                    Err(Some(failure)) => {
                        if let Some(observer) = observer {
                            observer.report(failure);
                        }
                        return;
                    }
                };
                let peer = stream
                    .ssl()
                    .peer_certificate()
                    .and_then(|c| PeerCertificate::read(&c));
                let service = router.map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    if let Some(peer) = &peer {
                        request.extensions_mut().insert(peer.clone());
                    }
                    request
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    // A client that stops sending its headers is the slow-loris of HTTP.
                    .header_read_timeout(handshake_timeout)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!(%remote, error = %e, "TLS server: connection ended with an error");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(self.config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "TLS server: connections still open after the shutdown grace period; dropping them"
            );
        }
    }
}

/// The established stream, or the failure to report (`None`: the session could not even start,
/// a fault of this server rather than of the client).
async fn handshake(
    acceptor: &SslAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    timeout: Duration,
) -> Result<SslStream<tokio::net::TcpStream>, Option<HandshakeFailure>> {
    let stream = Ssl::new(acceptor.context()).and_then(|ssl| SslStream::new(ssl, tcp));
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(%remote, error = %e, "TLS server: cannot start a session");
            return Err(None);
        }
    };
    let cause = match tokio::time::timeout(timeout, Pin::new(&mut stream).accept()).await {
        Ok(Ok(())) => return Ok(stream),
        Ok(Err(e)) => {
            // The verify result names what was wrong with the client's certificate, if anything.
            let verify = stream.ssl().verify_result();
            tracing::info!(%remote, error = %e, verify = %verify.error_string(), "TLS server: handshake failed");
            if verify == X509VerifyResult::OK {
                HandshakeFailureCause::Protocol(e.to_string())
            } else {
                HandshakeFailureCause::UntrustedCertificate(verify)
            }
        }
        Err(_) => {
            tracing::info!(%remote, "TLS server: handshake timed out");
            HandshakeFailureCause::TimedOut
        }
    };
    Err(Some(HandshakeFailure { remote, cause }))
}
