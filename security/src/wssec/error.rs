//! Why a WS-Security request was refused, or could not be signed.
//!
//! One variant per failure, so the ANPR simulator can answer each the way ANPR does and tests can
//! tell a wrapping attack from an expired Timestamp. Messages name elements, attributes and
//! `wsu:Id`s, never their text: the operator's codice fiscale and the workstation id are personal or
//! identifying data.

use crate::dsig::SignatureError;
use crate::xml::XmlError;

#[derive(Debug, thiserror::Error)]
pub enum WsSecurityError {
    #[error("message is not well-formed or breaks a parsing limit: {0}")]
    Xml(#[from] XmlError),

    #[error("document element is not a SOAP 1.1 Envelope")]
    NotAnEnvelope,

    /// SOAP 1.1 §4.1: an optional Header, then exactly one Body, nothing else.
    #[error("SOAP Envelope structure: {reason}")]
    EnvelopeStructure { reason: &'static str },

    #[error("the SOAP Header carries no wsse:Security header")]
    MissingSecurityHeader,

    /// Two Security headers let a verifier and an application read different ones.
    #[error("the SOAP Header carries {count} wsse:Security headers; exactly one is accepted")]
    DuplicateSecurityHeader { count: usize },

    #[error("wsse:Security must carry exactly one {element}, found {count}")]
    SecurityElementCount { element: &'static str, count: usize },

    #[error("<{element}> is not expected inside wsse:Security")]
    UnexpectedSecurityElement { element: String },

    #[error("wsu:Timestamp: {reason}")]
    TimestampMalformed { reason: &'static str },

    #[error("wsu:Timestamp expired at {expires} (now {now}, skew allowed {skew_ms} ms)")]
    TimestampExpired {
        expires: String,
        now: String,
        skew_ms: i64,
    },

    #[error("wsu:Timestamp was created at {created}, in the future (now {now}, skew allowed {skew_ms} ms)")]
    TimestampInFuture {
        created: String,
        now: String,
        skew_ms: i64,
    },

    #[error("wsu:Timestamp lifetime {lifetime_ms} ms is not within 1 ms to {max_ms} ms")]
    TimestampLifetime { lifetime_ms: i64, max_ms: i64 },

    /// Signature of the message (Body and Timestamp) failed in the XML-DSig layer.
    #[error("message signature: {0}")]
    MessageSignature(#[source] SignatureError),

    /// Signature of the SAML assertion failed in the XML-DSig layer.
    #[error("SAML assertion signature: {0}")]
    AssertionSignature(#[source] SignatureError),

    #[error("the ds:Signature's KeyInfo has no wsse:SecurityTokenReference")]
    MissingTokenReference,

    #[error("wsse:SecurityTokenReference: {reason}")]
    TokenReference { reason: &'static str },

    #[error(
        "wsse:SecurityTokenReference names {reference}, which is no BinarySecurityToken of this Security header"
    )]
    TokenNotFound { reference: String },

    #[error("wsse:BinarySecurityToken {reference}: {reason}")]
    TokenMalformed { reference: String, reason: &'static str },

    /// Key confusion: a token may select a trusted certificate, never introduce one.
    #[error("the security token {token} is not a trusted certificate")]
    UntrustedToken { token: String },

    /// Wrapping: the signature verifies but over a Body that is not the Envelope's.
    #[error("the message signature does not cover the SOAP Body")]
    BodyNotSigned,

    #[error("the message signature does not cover the Security header's Timestamp")]
    TimestampNotSigned,

    #[error(
        "the message signature references {reference}, which is neither the Body, the Timestamp nor a token of the Security header"
    )]
    UnexpectedReference { reference: String },

    #[error("the SAML assertion carries {count} ds:Signature children; exactly one is required")]
    AssertionSignatureCount { count: usize },

    #[error("SAML assertion: {reason}")]
    AssertionMalformed { reason: &'static str },

    #[error("SAML assertion attribute {name} is missing or appears more than once")]
    AssertionAttribute { name: &'static str },

    #[error("SAML assertion is not valid now: {reason}")]
    AssertionNotValidNow { reason: &'static str },

    #[error("signing configuration: {reason}")]
    Configuration { reason: &'static str },

    #[error("signing: {0}")]
    Signing(#[source] SignatureError),

    #[error("OpenSSL failed during {operation}: {source}")]
    Crypto {
        operation: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
}

impl WsSecurityError {
    pub(crate) fn crypto(operation: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| WsSecurityError::Crypto { operation, source }
    }
}
