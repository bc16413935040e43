//! Why a Response was refused: one variant per kind of check, naming the [`Field`] it failed on.
//!
//! spid-sp-test (spid-and-cie-id.md §2.2) tests each field of a Response for absence, emptiness, bad
//! form and a wrong value separately, and the SP's operators need to know which one an IdP got wrong,
//! so the pair (kind, field) identifies the check exactly. Values are shown only where they cannot be
//! personal data (IDs, URLs, URIs, cut short by `shown`); NameID and attribute values never appear.

use super::level::{Comparison, SpidLevel};
use super::replay::ReplayCacheError;
use super::status::StatusFailure;
use crate::dsig::SignatureError;
use crate::xml::XmlError;

/// A field of a Response, as the path from the Response that error messages print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The Response element itself (its signature).
    Response,
    ResponseId,
    ResponseVersion,
    ResponseIssueInstant,
    ResponseInResponseTo,
    ResponseDestination,
    ResponseIssuer,
    ResponseIssuerFormat,
    Status,
    StatusCode,
    StatusCodeValue,
    Assertion,
    AssertionId,
    AssertionVersion,
    AssertionIssueInstant,
    AssertionIssuer,
    AssertionIssuerFormat,
    Advice,
    Subject,
    NameId,
    NameIdFormat,
    NameIdNameQualifier,
    SubjectConfirmation,
    SubjectConfirmationMethod,
    SubjectConfirmationData,
    Recipient,
    SubjectConfirmationInResponseTo,
    SubjectConfirmationNotBefore,
    SubjectConfirmationNotOnOrAfter,
    Conditions,
    ConditionsNotBefore,
    ConditionsNotOnOrAfter,
    AudienceRestriction,
    Audience,
    AuthnStatement,
    SessionIndex,
    AuthnContext,
    AuthnContextClassRef,
    AttributeStatement,
    Attribute,
    AttributeName,
    AttributeValue,
}

impl Field {
    /// The field's path from the Response, as the SAML schema names it.
    pub const fn path(self) -> &'static str {
        use Field::*;
        match self {
            Response => "Response",
            ResponseId => "Response/@ID",
            ResponseVersion => "Response/@Version",
            ResponseIssueInstant => "Response/@IssueInstant",
            ResponseInResponseTo => "Response/@InResponseTo",
            ResponseDestination => "Response/@Destination",
            ResponseIssuer => "Response/Issuer",
            ResponseIssuerFormat => "Response/Issuer/@Format",
            Status => "Response/Status",
            StatusCode => "Response/Status/StatusCode",
            StatusCodeValue => "Response/Status/StatusCode/@Value",
            Assertion => "Response/Assertion",
            AssertionId => "Assertion/@ID",
            AssertionVersion => "Assertion/@Version",
            AssertionIssueInstant => "Assertion/@IssueInstant",
            AssertionIssuer => "Assertion/Issuer",
            AssertionIssuerFormat => "Assertion/Issuer/@Format",
            Advice => "Assertion/Advice",
            Subject => "Assertion/Subject",
            NameId => "Assertion/Subject/NameID",
            NameIdFormat => "Assertion/Subject/NameID/@Format",
            NameIdNameQualifier => "Assertion/Subject/NameID/@NameQualifier",
            SubjectConfirmation => "Assertion/Subject/SubjectConfirmation",
            SubjectConfirmationMethod => "Assertion/Subject/SubjectConfirmation/@Method",
            SubjectConfirmationData => "Assertion/Subject/SubjectConfirmation/SubjectConfirmationData",
            Recipient => "SubjectConfirmationData/@Recipient",
            SubjectConfirmationInResponseTo => "SubjectConfirmationData/@InResponseTo",
            SubjectConfirmationNotBefore => "SubjectConfirmationData/@NotBefore",
            SubjectConfirmationNotOnOrAfter => "SubjectConfirmationData/@NotOnOrAfter",
            Conditions => "Assertion/Conditions",
            ConditionsNotBefore => "Assertion/Conditions/@NotBefore",
            ConditionsNotOnOrAfter => "Assertion/Conditions/@NotOnOrAfter",
            AudienceRestriction => "Assertion/Conditions/AudienceRestriction",
            Audience => "Assertion/Conditions/AudienceRestriction/Audience",
            AuthnStatement => "Assertion/AuthnStatement",
            SessionIndex => "Assertion/AuthnStatement/@SessionIndex",
            AuthnContext => "Assertion/AuthnStatement/AuthnContext",
            AuthnContextClassRef => "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef",
            AttributeStatement => "Assertion/AttributeStatement",
            Attribute => "Assertion/AttributeStatement/Attribute",
            AttributeName => "Assertion/AttributeStatement/Attribute/@Name",
            AttributeValue => "Assertion/AttributeStatement/Attribute/AttributeValue",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

/// A Response refused by [`verify_response`](super::verify_response). Each variant with a
/// [`Field`] is a distinct check; the edge maps all of them to DESIGN's `security` error, except
/// [`ResponseError::Status`], which is the IdP telling why the user was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("SAMLResponse is {size} bytes of base64, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },

    #[error("SAMLResponse is not valid base64")]
    NotBase64,

    #[error("Response is not well-formed or was refused by the parser: {0}")]
    Xml(#[from] XmlError),

    #[error("the document element is <{found}>, not samlp:Response")]
    NotAResponse { found: String },

    #[error("{field} is missing")]
    Missing { field: Field },

    #[error("{field} is present but empty")]
    Empty { field: Field },

    #[error("{field} appears more than once where SPID allows one")]
    Duplicate { field: Field },

    #[error("{field} must not be present (SPID)")]
    Forbidden { field: Field },

    #[error("{field} contains elements where only text is allowed")]
    ElementInText { field: Field },

    #[error("{field} is not an xs:dateTime in UTC (YYYY-MM-DDThh:mm:ss[.fff]Z)")]
    MalformedInstant { field: Field },

    #[error("{field} is {found:?}; it must be {expected:?}")]
    NotAllowed {
        field: Field,
        found: String,
        expected: &'static str,
    },

    #[error("{field} is {found:?}, not the expected {expected:?}")]
    Mismatch {
        field: Field,
        found: String,
        expected: String,
    },

    #[error("{field} is earlier than the AuthnRequest's IssueInstant (beyond the allowed clock skew)")]
    IssuedBeforeRequest { field: Field },

    #[error("{field} is in the future (beyond the allowed clock skew)")]
    IssuedInTheFuture { field: Field },

    #[error("{field} is in the future: the assertion is not valid yet (beyond the allowed clock skew)")]
    NotYetValid { field: Field },

    #[error("{field} has passed: the assertion has expired (beyond the allowed clock skew)")]
    Expired { field: Field },

    #[error("the IdP reported a failure: {0}")]
    Status(StatusFailure),

    #[error("{field} is not signed: SPID requires its enveloped signature")]
    Unsigned { field: Field },

    #[error("{field} carries more than one ds:Signature")]
    MultipleSignatures { field: Field },

    #[error("the signature of {field} was refused: {source}")]
    Signature {
        field: Field,
        #[source]
        source: SignatureError,
    },

    #[error(
        "the document holds {count} saml:Assertion elements; exactly one, a child of the Response, is allowed"
    )]
    AssertionCount { count: usize },

    #[error("the saml:Assertion is not a child of the Response")]
    AssertionMisplaced,

    #[error("saml:EncryptedAssertion is not accepted (SPID and CIE ID send signed, unencrypted assertions)")]
    EncryptedAssertion,

    #[error("{field} read from outside the signed Assertion (a bug: the reader must follow the signature)")]
    NotCovered { field: Field },

    #[error("AuthnContextClassRef {found:?} is not a SPID level (https://www.spid.gov.it/SpidL1, L2 or L3)")]
    UnknownLevel { found: String },

    #[error(
        "the IdP authenticated at {returned}, which does not satisfy {requested} with Comparison {comparison}"
    )]
    LevelTooLow {
        returned: SpidLevel,
        requested: SpidLevel,
        comparison: Comparison,
    },

    #[error("Attribute {name:?} is not a SPID attribute name")]
    UnknownAttribute { name: String },

    #[error("Attribute {name} appears more than once")]
    DuplicateAttribute { name: &'static str },

    #[error("Attribute {name} has {count} values; SPID attributes have exactly one")]
    AttributeValueCount { name: &'static str, count: usize },

    #[error("Assertion {assertion_id} was already used: a Response is accepted once (replay)")]
    Replayed { assertion_id: String },

    #[error("the replay cache failed, so the Response cannot be accepted: {0}")]
    ReplayCache(#[from] ReplayCacheError),
}

impl ResponseError {
    /// The field a check failed on, for the checks that have one.
    pub fn field(&self) -> Option<Field> {
        use ResponseError::*;
        match self {
            Missing { field }
            | Empty { field }
            | Duplicate { field }
            | Forbidden { field }
            | ElementInText { field }
            | MalformedInstant { field }
            | NotAllowed { field, .. }
            | Mismatch { field, .. }
            | IssuedBeforeRequest { field }
            | IssuedInTheFuture { field }
            | NotYetValid { field }
            | Expired { field }
            | Unsigned { field }
            | MultipleSignatures { field }
            | Signature { field, .. }
            | NotCovered { field } => Some(*field),
            _ => None,
        }
    }
}
