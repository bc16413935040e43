//! The SAML 2.0 Web SSO profile as SPID and CIE ID define it, for Snodo as Service Provider, and the
//! HTTP-Redirect binding.
//!
//! ```text
//! SAMLResponse ─► base64 ─► xml::parse (once) ─► Response checks (ID, Version, instants, InResponseTo,
//!      Destination, Issuer, Status) ─► Response signature, when present ─► exactly one saml:Assertion in
//!      the whole document, a child of the Response ─► its enveloped signature (SignaturePolicy::spid,
//!      the IdP's TrustedKeys) ─► every value read from the VerifiedSignature's signed element, by
//!      absolute path, each node checked to be covered ─► replay cache ─► VerifiedAssertion
//! ```
//!
//! An attacker controls every byte of a Response (spid-and-cie-id.md §5). The signature layer
//! ([`crate::dsig`]) says *which element* was signed; this layer reads that element and nothing else:
//! no search by ID, no descendant search, no second parse. Each rule of the Regole Tecniche and of
//! spid-sp-test's 111 cases (spid-and-cie-id.md §1.3, §2.2) that applies to an SP is one check with
//! its own typed error ([`ResponseError`], naming a [`Field`]); errors never carry personal data.
//!
//! The other direction: [`AuthnRequest`] builds and signs the SP's request for the HTTP-POST binding
//! (§1.1), and [`redirect`] encodes, signs and verifies messages of the HTTP-Redirect binding.

mod assertion;
mod attributes;
mod authn_request;
mod error;
mod level;
pub mod logout;
mod read;
pub mod redirect;
mod replay;
mod response;
pub mod sp_metadata;
mod status;
mod time;
mod verified;

pub use attributes::{Attributes, SpidAttribute};
pub use authn_request::{
    AssertionConsumerService, AuthnRequest, AuthnRequestError, PendingRequest, new_message_id,
};
pub use error::{Field, ResponseError};
pub use level::{Comparison, SpidLevel};
pub use replay::{InMemoryReplayCache, ReplayCache, ReplayCacheError, Seen};
pub use response::{Federation, ResponseExpectations, verify_response, verify_response_xml};
pub use status::{SpidErrorCode, StatusFailure};
pub use time::{format_instant, parse_instant};
pub use verified::{NameId, VerifiedAssertion};

/// SAML 2.0 protocol namespace (`samlp:`).
pub const PROTOCOL_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace (`saml:`).
pub const ASSERTION_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// Issuer `Format` of an entity (SAML Core §8.3.6).
pub const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// NameID `Format` SPID and CIE ID use: an opaque identifier per session.
pub const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// SubjectConfirmation `Method` of the Web SSO profile.
pub const BEARER_METHOD: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The top-level StatusCode of a successful Response.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The HTTP-POST binding, the only one an IdP may answer an SPID AuthnRequest on.
pub const HTTP_POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
