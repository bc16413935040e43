//! The Status of a Response: success, or why the IdP did not authenticate the user.
//!
//! SPID (`messaggi-errore.rst`, spid-and-cie-id.md §1.4) and CIE ID encode user anomalies as
//! `Responder` / `AuthnFailed` with `<StatusMessage>ErrorCode nrNN</StatusMessage>`; the SP must show a
//! page explaining the reason, so the code comes back typed. These Responses are unsigned and carry
//! no Assertion (spid-sp-test 104–108, 111).

use super::error::{Field, ResponseError};
use super::read::{attribute, child, text, value_shown};
use super::{PROTOCOL_NAMESPACE, STATUS_SUCCESS};
use crate::xml::{Document, NodeId};

/// A SPID/CIE ID error code from `StatusMessage` (`ErrorCode nrNN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpidErrorCode {
    /// nr19: repeated submission of wrong credentials.
    RepeatedWrongCredentials,
    /// nr20: the user has no credentials for the requested level.
    NoCredentialsForLevel,
    /// nr21: timeout during authentication.
    Timeout,
    /// nr22: the user denied consent to send the data.
    ConsentDenied,
    /// nr23: identity suspended or revoked, or credentials locked (CIE: card expired or revoked).
    IdentitySuspendedOrRevoked,
    /// nr25: the user cancelled the authentication.
    Cancelled,
    /// nr30: the identity is of another type than requested (Avviso 18).
    WrongIdentityType,
    /// Another code (nr01–nr18 are request anomalies, which point at an SP bug).
    Other(u8),
}

impl SpidErrorCode {
    pub fn from_number(n: u8) -> SpidErrorCode {
        match n {
            19 => SpidErrorCode::RepeatedWrongCredentials,
            20 => SpidErrorCode::NoCredentialsForLevel,
            21 => SpidErrorCode::Timeout,
            22 => SpidErrorCode::ConsentDenied,
            23 => SpidErrorCode::IdentitySuspendedOrRevoked,
            25 => SpidErrorCode::Cancelled,
            30 => SpidErrorCode::WrongIdentityType,
            other => SpidErrorCode::Other(other),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            SpidErrorCode::RepeatedWrongCredentials => 19,
            SpidErrorCode::NoCredentialsForLevel => 20,
            SpidErrorCode::Timeout => 21,
            SpidErrorCode::ConsentDenied => 22,
            SpidErrorCode::IdentitySuspendedOrRevoked => 23,
            SpidErrorCode::Cancelled => 25,
            SpidErrorCode::WrongIdentityType => 30,
            SpidErrorCode::Other(n) => n,
        }
    }

    /// The code in `ErrorCode nrNN`, the whole message (surrounding whitespace aside).
    pub fn from_status_message(message: &str) -> Option<SpidErrorCode> {
        let digits = message.trim().strip_prefix("ErrorCode nr")?;
        if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(SpidErrorCode::from_number)
    }
}

/// A non-success Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFailure {
    /// The top-level StatusCode (`…:status:Responder`, `…:status:Requester`, …).
    pub code: String,
    /// The nested StatusCode, if any (`…:status:AuthnFailed`, …).
    pub subcode: Option<String>,
    /// The SPID/CIE ID error code, when StatusMessage carries one.
    pub spid_error: Option<SpidErrorCode>,
}

impl std::fmt::Display for StatusFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusCode {}", self.code)?;
        if let Some(sub) = &self.subcode {
            write!(f, " / {sub}")?;
        }
        if let Some(code) = self.spid_error {
            write!(f, ", ErrorCode nr{:02}", code.number())?;
        }
        Ok(())
    }
}

/// Reads `Response/Status`; `Ok` when the top-level StatusCode is Success.
pub(super) fn check_status(doc: &Document, response: NodeId) -> Result<(), ResponseError> {
    let status = child(doc, response, PROTOCOL_NAMESPACE, "Status", Field::Status)?
        .ok_or(ResponseError::Missing { field: Field::Status })?;
    let code = child(doc, status, PROTOCOL_NAMESPACE, "StatusCode", Field::StatusCode)?.ok_or(
        if doc.child_elements(status).next().is_none() {
            ResponseError::Empty { field: Field::Status }
        } else {
            ResponseError::Missing {
                field: Field::StatusCode,
            }
        },
    )?;
    let value = attribute(doc, code, "Value", Field::StatusCodeValue)?;
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let subcode = child(doc, code, PROTOCOL_NAMESPACE, "StatusCode", Field::StatusCode)?
        .and_then(|sub| doc.element(sub)?.attribute(None, "Value"))
        .map(value_shown);
    let message = child(doc, status, PROTOCOL_NAMESPACE, "StatusMessage", Field::Status)?
        .map(|m| text(doc, m, Field::Status))
        .transpose()?;
    Err(ResponseError::Status(StatusFailure {
        code: value_shown(value),
        subcode,
        spid_error: message.as_deref().and_then(SpidErrorCode::from_status_message),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spid_rule_error_codes_from_status_message() {
        assert_eq!(
            SpidErrorCode::from_status_message("ErrorCode nr19"),
            Some(SpidErrorCode::RepeatedWrongCredentials)
        );
        assert_eq!(
            SpidErrorCode::from_status_message(" ErrorCode nr25\n"),
            Some(SpidErrorCode::Cancelled)
        );
        assert_eq!(
            SpidErrorCode::from_status_message("ErrorCode nr09"),
            Some(SpidErrorCode::Other(9))
        );
        for bad in [
            "ErrorCode nr1",
            "ErrorCode nr123",
            "errorcode nr19",
            "nr19",
            "ErrorCode nr1x",
        ] {
            assert_eq!(SpidErrorCode::from_status_message(bad), None, "{bad}");
        }
    }
}
