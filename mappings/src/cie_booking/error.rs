//! Why a CIE booking mapping refused its input, and the booking service's own stable error codes.
//!
//! Commands that break a field rule name the JSON field (the connector answers `invalid_message`);
//! payloads from the wire are missing or malformed elements, named by path. No variant quotes a
//! value: codici fiscali, names and e-mail addresses must not reach logs through error texts.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use snodo_security::xml::XmlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    /// A command (or a value a simulator wants to write) breaks a field rule of the contract.
    #[error("field `{field}`: {reason}")]
    Field { field: String, reason: String },

    /// The command body is not JSON of its type (syntax, unknown or missing field, wrong type).
    #[error("`{command}` body: {reason}")]
    Json { command: String, reason: String },

    /// A message type this contract does not define.
    #[error("`{command}` is not a cie_booking command")]
    UnknownCommand { command: String },

    /// The command's `message_id` cannot become an operation id.
    #[error("message_id {reason}")]
    MessageId { reason: &'static str },

    /// A required element is absent from a booking payload.
    #[error("booking payload: required element `{path}` is missing")]
    Missing { path: String },

    /// An element of a booking payload has content the contract does not allow.
    #[error("booking payload: element `{path}` {reason}")]
    Invalid { path: String, reason: String },

    /// The payload is not the element this mapping reads.
    #[error("booking payload: expected element `{expected}`, found `{found}`")]
    UnexpectedElement { expected: String, found: String },

    /// An answer of one operation was handed to the writer of another.
    #[error("a {response} answer cannot be written as the response of {operation}")]
    OperationMismatch {
        operation: &'static str,
        response: &'static str,
    },

    /// The bytes are not XML the screening parser accepts.
    #[error("booking payload: {0}")]
    Xml(#[from] XmlError),
}

impl BookingError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> BookingError {
        BookingError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> BookingError {
        BookingError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Turns a field rule broken while reading a payload into an error naming the element's path.
    pub(crate) fn at(self, path: &str) -> BookingError {
        match self {
            BookingError::Field { reason, .. } => BookingError::invalid(path, reason),
            other => other,
        }
    }
}

/// The stable error codes of the booking service (`codice` in `listaErrori/errore`). The wire code
/// is Italian like the rest of the contract; a code this version does not know is kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `SLOT_ESAURITO`: every place of the slot is taken.
    SlotFull,
    /// `SLOT_NON_TROVATO`: no such slot (or it is in the past).
    SlotNotFound,
    /// `SEDE_NON_TROVATA`: no such office in that comune.
    OfficeNotFound,
    /// `SEDE_CHIUSA`: the office takes no bookings (closed, or closed on that day).
    OfficeClosed,
    /// `COMUNE_NON_ABILITATO`: the comune does not use the booking system.
    ComuneNotEnabled,
    /// `PRENOTAZIONE_NON_TROVATA`: no booking with that code for that codice fiscale.
    BookingNotFound,
    /// `PRENOTAZIONE_ATTIVA_ESISTENTE`: one active booking per codice fiscale.
    ActiveBookingExists,
    /// `RINNOVO_ANTICIPATO`: renewal is possible only from 180 days before the card expires.
    RenewalTooEarly,
    /// `IN_ATTESA_NULLA_OSTA`: a non-resident's booking awaits the clearance of the comune of
    /// residence and cannot be confirmed yet.
    AwaitingClearance,
    /// `TERMINE_SCADUTO`: the deadline for this operation has passed (confirmation, cancellation,
    /// rescheduling).
    DeadlinePassed,
    /// `STATO_NON_AMMESSO`: the booking's state does not allow the operation (e.g. confirming a
    /// cancelled booking).
    StateNotAllowed,
    /// `RICHIESTA_NON_VALIDA`: the request breaks a rule of the contract; `campo` names the element.
    InvalidRequest,
    /// `ID_OPERAZIONE_RIUSATO`: the operation id was used before for a different request.
    OperationIdReused,
    /// `CURSORE_NON_VALIDO`: the change-feed cursor is unknown or too old.
    InvalidCursor,
    /// `SERVIZIO_NON_DISPONIBILE`: the service cannot answer now; the only code worth retrying.
    ServiceUnavailable,
    /// A code outside this list, kept as sent.
    Other(String),
}

const CODES: [(ErrorCode, &str); 15] = [
    (ErrorCode::SlotFull, "SLOT_ESAURITO"),
    (ErrorCode::SlotNotFound, "SLOT_NON_TROVATO"),
    (ErrorCode::OfficeNotFound, "SEDE_NON_TROVATA"),
    (ErrorCode::OfficeClosed, "SEDE_CHIUSA"),
    (ErrorCode::ComuneNotEnabled, "COMUNE_NON_ABILITATO"),
    (ErrorCode::BookingNotFound, "PRENOTAZIONE_NON_TROVATA"),
    (ErrorCode::ActiveBookingExists, "PRENOTAZIONE_ATTIVA_ESISTENTE"),
    (ErrorCode::RenewalTooEarly, "RINNOVO_ANTICIPATO"),
    (ErrorCode::AwaitingClearance, "IN_ATTESA_NULLA_OSTA"),
    (ErrorCode::DeadlinePassed, "TERMINE_SCADUTO"),
    (ErrorCode::StateNotAllowed, "STATO_NON_AMMESSO"),
    (ErrorCode::InvalidRequest, "RICHIESTA_NON_VALIDA"),
    (ErrorCode::OperationIdReused, "ID_OPERAZIONE_RIUSATO"),
    (ErrorCode::InvalidCursor, "CURSORE_NON_VALIDO"),
    (ErrorCode::ServiceUnavailable, "SERVIZIO_NON_DISPONIBILE"),
];

impl ErrorCode {
    /// Every code this version defines, in the order of the README's table.
    pub fn known() -> impl Iterator<Item = ErrorCode> {
        CODES.iter().map(|(code, _)| code.clone())
    }

    pub fn from_wire(code: &str) -> ErrorCode {
        CODES
            .iter()
            .find(|(_, wire)| *wire == code)
            .map(|(known, _)| known.clone())
            .unwrap_or_else(|| ErrorCode::Other(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(code) => code,
            known => {
                CODES
                    .iter()
                    .find(|(c, _)| c == known)
                    .expect("every named code is in CODES")
                    .1
            }
        }
    }

    /// True for the one code that says "try again later" rather than "no".
    pub fn is_transient(&self) -> bool {
        *self == ErrorCode::ServiceUnavailable
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from_wire(&String::deserialize(d)?))
    }
}

impl JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BookingErrorCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[A-Z][A-Z0-9_]{2,39}$" })
    }
}

/// Masks the parts of a serde message that echo the input: double-quoted values (`invalid type:
/// string "RSSMRA…"`), the value of an unknown variant (`unknown variant \`RSSMRA…\``), and any
/// backticked name that is not a `snake_case` identifier. The field names of the contract stay, so
/// the message still says which field is wrong.
pub(crate) fn mask_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(['"', '`']) {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let quote = from.chars().next().expect("found above");
        let body = &from[1..];
        // serde quotes strings with Debug formatting: an inner quote is escaped with a backslash.
        let mut end = None;
        let mut escaped = false;
        for (j, c) in body.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') if quote == '"' => escaped = true,
                (false, c) if c == quote => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push(quote);
            out.push('…');
            return out;
        };
        let inner = &body[..end];
        let keep = quote == '`' && !out.ends_with("unknown variant ") && is_identifier(inner);
        out.push(quote);
        out.push_str(if keep { inner } else { "…" });
        out.push(quote);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
