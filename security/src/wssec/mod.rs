//! WS-Security for ANPR's SOAP services: the header the connector signs onto every request, and the
//! checks the ANPR simulator makes before it reads one.
//!
//! ```text
//! connector:  envelope (Body written) ──► RequestSigner::sign(bytes, now) ──► envelope with
//!             wsse:Security { Timestamp, signed SAML Assertion, BinarySecurityToken, ds:Signature }
//! simulator:  bytes ──► RequestVerifier::parse_and_verify(bytes, now)
//!             ──► VerifiedRequest { body: NodeId, attributes: IdSede, IdPostazione, … }
//! ```
//!
//! The facts come from anpr-and-cie-booking.md §1.6 (the example client's configuration and the
//! request traces it cites) and `specs/anpr/soap-client-example/wsdl/policy-X509v3.xml`
//! (AsymmetricBinding, X509 tokens, IncludeTimestamp, Basic128Rsa15, Strict layout, SignedParts
//! Body + Timestamp). Signatures are the [`dsig`](crate::dsig) module's: detached for the message,
//! enveloped for the assertion; `SignaturePolicy::anpr_ws_security()` gives the algorithms.

mod assertion;
mod envelope;
mod error;
mod identity;
mod sign;
mod time;
mod token;
mod verify;

pub use assertion::ANPR_ASSERTION_ISSUER;
pub use envelope::SOAP11_NAMESPACE;
pub use error::WsSecurityError;
pub use identity::{AnprAttributes, AnprIdentity, sign_workstation_id, verify_workstation_id};
pub use sign::{ANPR_LIFETIME, RequestSigner};
pub use verify::{RequestVerifier, VerifiedRequest};

/// OASIS WSS 1.0 SOAP Message Security namespace (`wsse`).
pub const WSSE_NAMESPACE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// SAML 2.0 assertion namespace.
pub const SAML2_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// X.509 Token Profile 1.0: a single v3 certificate (`sp:WssX509V3Token10`).
pub const X509V3_VALUE_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
/// WSS 1.0 base64 encoding of a BinarySecurityToken.
pub const BASE64_ENCODING_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
