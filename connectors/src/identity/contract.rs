//! The JSON the backend sees (DESIGN §2): `identity.login.succeeded`, `identity.login.failed`,
//! `identity.logout`, and `identity.ticket.redeem` with its completed body. No SAML in any of it.
//!
//! Attributes are keyed by their SPID names; `fiscalNumber` loses its `TINIT-` prefix (the backend
//! wants the codice fiscale), dates (`dateOfBirth`, `expirationDate`) are checked to be ISO dates
//! (`YYYY-MM-DD`) and kept as such, everything else is passed as the IdP wrote it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use snodo_security::saml::{SpidAttribute, SpidLevel, VerifiedAssertion};

pub const LOGIN_SUCCEEDED: &str = "identity.login.succeeded";
pub const LOGIN_FAILED: &str = "identity.login.failed";
pub const LOGOUT: &str = "identity.logout";
pub const TICKET_REDEEM: &str = "identity.ticket.redeem";

/// Who logged in. The body of `identity.login.succeeded` (with the ticket) and of
/// `identity.ticket.redeem.completed` (without).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// `spid` or `cie`.
    pub federation: String,
    /// The IdP's entity ID.
    pub idp: String,
    /// 1, 2 or 3 (SpidL1–3), as authenticated (may exceed the level requested).
    pub level: u8,
    /// The transient NameID and its qualifier (the IdP), needed for logout.
    pub name_id: String,
    pub name_qualifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub authenticated_at: DateTime<Utc>,
    pub assertion_id: String,
    pub request_id: String,
    /// Where the backend asked the citizen to be sent back.
    pub return_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

impl std::fmt::Debug for Login {
    /// Personal data stays out of logs: attribute names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("federation", &self.federation)
            .field("idp", &self.idp)
            .field("level", &self.level)
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A login that did not happen: `identity.login.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFailed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// `idp_error` (the IdP said why: see `spid_error_code`), `invalid_response`, `unsolicited`,
    /// `replayed`, `expired_request`.
    pub reason: String,
    /// What was wrong, without personal data.
    pub message: String,
    /// The SPID/CIE `ErrorCode nrNN`, when the IdP gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spid_error_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

/// `identity.logout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logout {
    pub federation: String,
    pub idp: String,
    pub name_id: String,
    /// `idp` (the IdP's LogoutRequest) or `sp` (the backend's logout, confirmed by the IdP).
    pub initiated_by: String,
}

/// The body of `identity.ticket.redeem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRedeem {
    pub ticket: String,
}

pub(crate) fn level_number(level: SpidLevel) -> u8 {
    match level {
        SpidLevel::L1 => 1,
        SpidLevel::L2 => 2,
        SpidLevel::L3 => 3,
    }
}

/// A date attribute that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {name} is not an ISO date (YYYY-MM-DD)")]
pub struct BadAttribute {
    pub name: &'static str,
}

/// The attributes as the backend receives them.
pub fn normalise_attributes(assertion: &VerifiedAssertion) -> Result<BTreeMap<String, String>, BadAttribute> {
    let mut out = BTreeMap::new();
    for (attribute, value) in assertion.attributes.iter() {
        let value = match attribute {
            SpidAttribute::FiscalNumber => value.strip_prefix("TINIT-").unwrap_or(value).to_owned(),
            SpidAttribute::DateOfBirth | SpidAttribute::ExpirationDate => {
                NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .map_err(|_| BadAttribute {
                        name: attribute.name(),
                    })?
                    .format("%Y-%m-%d")
                    .to_string()
            }
            _ => value.to_owned(),
        };
        out.insert(attribute.name().to_owned(), value);
    }
    Ok(out)
}
