//! SOAP over HTTP for every SOAP connector and simulator: the client that calls a platform and
//! classifies what went wrong (DESIGN §5), and the endpoint that serves platform calls.
//!
//! The envelope itself is `snodo_mappings::soap` (pure); the TLS under both sides is
//! `snodo_security::tls` (OpenSSL, mutual TLS); WS-Security plugs in through [`OutboundSecurity`]
//! on the client and the endpoint's handler on the server, which gets the parsed [`Envelope`] — the
//! same tree a signature verification names nodes of.

mod classify;
mod client;
mod server;

pub use classify::SoapCallError;
pub use client::{OutboundSecurity, SoapClient, SoapClientConfig};
pub use server::{SoapEndpoint, SoapEndpointConfig, SoapHandler, SoapReply, SoapRequest};

pub use snodo_mappings::soap::{Envelope, Fault, FaultCode, QName};
