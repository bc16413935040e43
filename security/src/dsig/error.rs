//! Why a signature was refused, or could not be made.
//!
//! One variant per thing that went wrong, named after it, so the SAML and WS-Security layers (and the
//! edge that maps them to DESIGN's error codes) can tell an attack from a misconfiguration. Messages
//! name algorithms, elements and references (`#ID` values are random identifiers, not personal data)
//! but never quote text content, certificates or names, which may identify a person.

use std::fmt;

use crate::c14n::C14nError;
use crate::xml::XmlError;

/// Which part of a signature an algorithm URI was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmRole {
    SignatureMethod,
    DigestMethod,
    CanonicalizationMethod,
    Transform,
}

impl fmt::Display for AlgorithmRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlgorithmRole::SignatureMethod => "SignatureMethod",
            AlgorithmRole::DigestMethod => "DigestMethod",
            AlgorithmRole::CanonicalizationMethod => "CanonicalizationMethod",
            AlgorithmRole::Transform => "Transform",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("node {node:?} is not a ds:Signature element")]
    NotASignature { node: crate::xml::NodeId },

    /// spid-and-cie-id.md §5 "Algorithm downgrade" and "Transform injection": anything outside the
    /// policy's allowlist, known to this crate or not, is refused by name.
    #[error("{role} algorithm {algorithm} is not allowed by the {policy} signature policy")]
    AlgorithmNotAllowed {
        role: AlgorithmRole,
        algorithm: String,
        policy: &'static str,
    },

    #[error("{element} has no Algorithm attribute")]
    MissingAlgorithm { element: &'static str },

    #[error(
        "Reference {reference} has no canonicalization transform, and the implicit Canonical XML 1.0 \
         is not allowed by the {policy} signature policy"
    )]
    ImplicitCanonicalizationNotAllowed { reference: String, policy: &'static str },

    #[error("Reference {reference}: transforms in an unsupported order ({reason})")]
    TransformSequence { reference: String, reason: &'static str },

    #[error("<{element}> is not allowed inside <{parent}> (XML-DSig structure, checked strictly)")]
    UnexpectedElement { parent: &'static str, element: String },

    #[error("attribute {attribute} is not allowed on <{element}>")]
    UnexpectedAttribute {
        element: &'static str,
        attribute: String,
    },

    #[error("<{parent}> lacks its required <{element}> child")]
    MissingElement {
        parent: &'static str,
        element: &'static str,
    },

    #[error("<{element}> contains character data where only elements are allowed")]
    UnexpectedText { element: &'static str },

    #[error("{element} is not valid base64")]
    InvalidBase64 { element: &'static str },

    #[error(
        "Reference has no URI: only same-document references to an element ID (URI=\"#id\") are accepted"
    )]
    MissingReferenceUri,

    #[error(
        "Reference URI {uri:?} is not allowed: only same-document references to an element ID \
         (URI=\"#id\") are accepted, never the whole document, XPointer or external resources"
    )]
    ReferenceUriNotAllowed { uri: String },

    #[error("Reference {reference} names no element of this document")]
    ReferenceTargetNotFound { reference: String },

    /// XML Signature Wrapping relies on two elements answering to one ID (spid-and-cie-id.md §5).
    #[error(
        "ID {id:?} appears on more than one element: IDs must be unique for references to be unambiguous"
    )]
    DuplicateId { id: String },

    #[error("signature has {count} References; the {layout} layout accepts {min} to {max}")]
    ReferenceCount {
        count: usize,
        layout: &'static str,
        min: usize,
        max: usize,
    },

    /// The enveloped layout: the one Reference must name the element that contains the Signature
    /// (pysaml2 CVE-2020-5390: signature not checked to be enveloped).
    #[error("Reference {reference} does not name the element enveloping the signature")]
    NotEnveloped { reference: String },

    #[error("Reference {reference} names the enveloping element but lacks the enveloped-signature transform")]
    MissingEnvelopedTransform { reference: String },

    #[error("Reference {reference} names an element that contains the signature: not a detached signature")]
    NotDetached { reference: String },

    #[error("two References name the element {reference}")]
    DuplicateReference { reference: String },

    #[error("DigestValue of Reference {reference} is {actual} bytes; {method} digests are {expected}")]
    DigestLength {
        reference: String,
        method: &'static str,
        expected: usize,
        actual: usize,
    },

    #[error("digest of Reference {reference} does not match: the referenced element was altered")]
    DigestMismatch { reference: String },

    #[error("SignatureValue does not verify ({method}) with any trusted key it may select")]
    BadSignatureValue { method: &'static str },

    /// Key confusion (spid-and-cie-id.md §5): KeyInfo may point at a trusted certificate, never
    /// introduce one.
    #[error("KeyInfo {hint} does not match any trusted certificate")]
    UntrustedKeyInfo { hint: &'static str },

    /// Fail closed when nothing is configured (SolarWinds WHD CVE-2026-28323 failed open).
    #[error("no trusted keys are configured: nothing can be verified")]
    NoTrustedKeys,

    #[error("no trusted key can verify {method} (wrong key type)")]
    NoKeyForAlgorithm { method: &'static str },

    #[error("trusted RSA key has {bits} bits, under the policy's minimum of {minimum}")]
    KeyTooSmall { bits: u32, minimum: u32 },

    #[error("certificate {index} in the trusted set cannot be used: {reason}")]
    InvalidCertificate { index: usize, reason: String },

    #[error("element to sign has none of the ID attributes {attributes}, or its ID is not an NCName")]
    TargetHasNoId { attributes: String },

    #[error("{prefix:?} cannot be the Signature's namespace prefix")]
    InvalidPrefix { prefix: String },

    #[error("SignaturePlacement::After names a node that is not a child of the element to sign")]
    PlacementNotAChild,

    #[error("internal error: the signed document did not re-parse to the tree that was signed")]
    SerializationMismatch,

    #[error("signing key does not fit {method}")]
    KeyMismatch { method: &'static str },

    #[error("canonicalization failed: {0}")]
    Canonicalization(#[from] C14nError),

    #[error("signed document does not parse: {0}")]
    Reparse(#[from] XmlError),

    #[error("OpenSSL failed during {operation}: {source}")]
    Crypto {
        operation: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
}

impl SignatureError {
    pub(crate) fn crypto(operation: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| SignatureError::Crypto { operation, source }
    }
}
