//! Mutual TLS on OpenSSL: the HTTPS accept loop every Snodo listener and simulator serves an axum
//! `Router` with, and the HTTPS client connectors call the platforms with.
//!
//! Why our own: axum has no mutual-TLS peer identity (`axum::serve` takes a plain listener; tokio-rs/axum
//! #2697), and rustls refuses the critical certificatePolicies of Italian public-sector chains that
//! OpenSSL accepts (middleware-and-crates.md, TLS rows). ANPR authenticates a municipality by its
//! `<ISTAT>-CO-9999` client certificate (anpr-and-cie-booking.md §1.6) and the pagoPA node calls a
//! municipality with its client certificate (pagopa.md): handlers read the verified certificate as a
//! [`PeerCertificate`] request extension.

mod client;
mod peer;
mod server;

pub use client::{TlsClientConfig, build_client};
pub use peer::PeerCertificate;
pub use server::{
    ClientAuth, HandshakeFailure, HandshakeFailureCause, HandshakeObserver, TlsServer, TlsServerConfig,
};

/// Why a TLS endpoint could not be set up. Failures of single connections are never errors of the
/// server: they are logged (and reported to a [`HandshakeObserver`] when one is configured) and the
/// loop goes on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS {side}: OpenSSL refused the configuration while {doing}: {reason}")]
    Configuration {
        side: &'static str,
        doing: &'static str,
        reason: String,
    },
    #[error("TLS client: {reason}")]
    Client { reason: String },
    #[error("TLS server: the client CA list is empty; requesting a client certificate needs at least one CA")]
    NoClientCa,
}
