//! What a verified Response yields: the authenticated user, every field read from the signed
//! Assertion. `Debug` masks personal data, so the struct can be logged whole.

use chrono::{DateTime, Utc};

use super::attributes::{Attributes, Masked};
use super::level::SpidLevel;

/// The transient NameID: opaque, per session, but still an identifier of a person.
#[derive(Clone, PartialEq, Eq)]
pub struct NameId {
    /// The identifier (trimmed).
    pub value: String,
    /// `NameQualifier`: the IdP that issued it.
    pub name_qualifier: String,
}

impl std::fmt::Debug for NameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameId")
            .field("value", &Masked(self.value.chars().count()))
            .field("name_qualifier", &self.name_qualifier)
            .finish()
    }
}

/// A SPID or CIE ID login that passed every check of [`verify_response`](super::verify_response).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The IdP's entity ID (Assertion `Issuer`).
    pub issuer: String,
    /// `Response/@ID`.
    pub response_id: String,
    /// `Assertion/@ID`, recorded in the replay cache.
    pub assertion_id: String,
    /// The AuthnRequest this answers (`InResponseTo`, equal on the Response and the confirmation).
    pub in_response_to: String,
    pub name_id: NameId,
    /// `AuthnStatement/@SessionIndex`: present for L1 only (no IdP session for L2/L3), needed for
    /// Single Logout.
    pub session_index: Option<String>,
    /// The level the IdP authenticated at.
    pub level: SpidLevel,
    pub attributes: Attributes,
    /// `Assertion/@IssueInstant`.
    pub issue_instant: DateTime<Utc>,
    /// The earlier of `SubjectConfirmationData/@NotOnOrAfter` and `Conditions/@NotOnOrAfter`.
    pub not_on_or_after: DateTime<Utc>,
}

impl std::fmt::Debug for VerifiedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedAssertion")
            .field("issuer", &self.issuer)
            .field("response_id", &self.response_id)
            .field("assertion_id", &self.assertion_id)
            .field("in_response_to", &self.in_response_to)
            .field("name_id", &self.name_id)
            .field(
                "session_index",
                &self.session_index.as_ref().map(|s| Masked(s.len())),
            )
            .field("level", &self.level)
            .field("attributes", &self.attributes)
            .field("issue_instant", &self.issue_instant)
            .field("not_on_or_after", &self.not_on_or_after)
            .finish()
    }
}
