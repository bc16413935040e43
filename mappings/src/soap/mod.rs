//! One SOAP 1.1 envelope reader and writer for every connector and simulator.
//!
//! The platforms speak SOAP 1.1 document/literal (pagoPA, ANPR, and the booking simulator's design):
//! an Envelope, an optional Header of blocks (WS-Security for ANPR) and a Body holding exactly one
//! payload element or a Fault. Reading goes through the security crate's screening parser, so a SOAP
//! message is hostile input like any other; the [`Envelope`] keeps that one parsed tree, and the
//! mappings read the payload from it by node, never re-parsing. Dispatch is on the payload's expanded
//! name (namespace + local name): pagoPA's own implementations disagree on `SOAPAction`, and prefixes
//! are generated (`ns2`…) — see pagopa.md "Wire facts".

mod dispatch;
mod error;
mod fault;
mod qname;
mod read;
mod write;

pub use dispatch::Dispatcher;
pub use error::SoapError;
pub use fault::{Fault, FaultCode};
pub use qname::QName;
pub use read::{Envelope, read_envelope, soap_action};
pub use write::{EnvelopeBuilder, escape_attribute, escape_text};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace: recognised only to answer `VersionMismatch`.
pub const SOAP12_NAMESPACE: &str = "http://www.w3.org/2003/05/soap-envelope";
/// `Content-Type` of a SOAP 1.1 message.
pub const SOAP11_CONTENT_TYPE: &str = "text/xml; charset=utf-8";
