//! The common parts of every booking payload: the operation id that makes a request idempotent,
//! `testataRichiesta`, `testataRisposta`, and `rispostaKO` with its list of errors.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::xml::{El, XmlOut};
use super::{BookingError, ErrorCode, rules};

/// `idOperazione`: 32 lowercase hexadecimal digits, unique per logical request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationId(String);

impl OperationId {
    /// The operation id of the command whose AMQP `message_id` is `message_id`: the UUID's 128 bits
    /// in lowercase hex. A retry or replay of the command keeps its `message_id`, so it sends the
    /// same id and the booking service answers it as the same request — a retried booking never
    /// books twice. Any UUID spelling is accepted (hyphenated, simple, braced, URN); the nil UUID is
    /// not, since every command would share it.
    pub fn from_message_id(message_id: &str) -> Result<OperationId, BookingError> {
        let uuid = Uuid::try_parse(message_id).map_err(|_| BookingError::MessageId {
            reason: "is not a UUID, so no operation id can be derived from it",
        })?;
        OperationId::from_uuid(uuid)
    }

    pub fn from_uuid(uuid: Uuid) -> Result<OperationId, BookingError> {
        if uuid.is_nil() {
            return Err(BookingError::MessageId {
                reason: "is the nil UUID, which cannot identify one request",
            });
        }
        Ok(OperationId(uuid.simple().to_string()))
    }

    /// An id as read from the wire.
    pub fn parse(text: &str) -> Option<OperationId> {
        let shaped = text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        shaped.then(|| OperationId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `testataRichiesta`: what the connector supplies besides the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub operation_id: OperationId,
    /// ISTAT code of the comune sending the request (the tenant), `codMittente`.
    pub sender: String,
    pub requested_at: DateTime<FixedOffset>,
    pub application: String,
    pub application_version: Option<String>,
}

/// `nomeApplicativo` of the requests Snodo writes.
pub const APPLICATION: &str = "Snodo";

impl RequestHeader {
    /// The header of a request Snodo sends for tenant `istat_code`.
    pub fn snodo(operation_id: OperationId, istat_code: &str, requested_at: DateTime<FixedOffset>) -> Self {
        RequestHeader {
            operation_id,
            sender: istat_code.to_owned(),
            requested_at,
            application: APPLICATION.to_owned(),
            application_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        rules::istat("header.sender", &self.sender)?;
        rules::application_name("header.application", &self.application)?;
        if let Some(version) = &self.application_version {
            rules::application_name("header.application_version", version)?;
        }
        out.open("testataRichiesta");
        out.leaf("idOperazione", self.operation_id.as_str());
        out.leaf("codMittente", &self.sender);
        out.leaf(
            "dataOraRichiesta",
            rules::date_time_text("header.requested_at", &self.requested_at)?,
        );
        out.leaf("nomeApplicativo", &self.application);
        out.opt_leaf("versioneApplicativo", self.application_version.as_deref());
        out.close("testataRichiesta");
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<RequestHeader, BookingError> {
        let t = payload.req("testataRichiesta")?;
        Ok(RequestHeader {
            operation_id: read_operation_id(&t)?,
            sender: t.req_checked("codMittente", rules::istat)?,
            requested_at: t.req_date_time("dataOraRichiesta")?,
            application: t.req_checked("nomeApplicativo", rules::application_name)?,
            application_version: t.opt_checked("versioneApplicativo", rules::application_name)?,
        })
    }
}

fn read_operation_id(t: &El<'_>) -> Result<OperationId, BookingError> {
    let id = t.req("idOperazione")?;
    OperationId::parse(&id.text())
        .ok_or_else(|| BookingError::invalid(id.path(), "is not an operation id (32 lowercase hex digits)"))
}

/// `testataRisposta`. The outcome (`esito`) is not a field: it follows from the branch written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's `idOperazione`, echoed.
    pub operation_id: OperationId,
    /// The comune the answer goes to, `codDestinatario`.
    pub recipient: String,
    pub answered_at: DateTime<FixedOffset>,
}

impl ResponseHeader {
    /// The header of the answer to `request`.
    pub fn answering(request: &RequestHeader, answered_at: DateTime<FixedOffset>) -> ResponseHeader {
        ResponseHeader {
            operation_id: request.operation_id.clone(),
            recipient: request.sender.clone(),
            answered_at,
        }
    }

    pub(crate) fn write(&self, out: &mut XmlOut, ok: bool) -> Result<(), BookingError> {
        rules::istat("header.recipient", &self.recipient)?;
        out.open("testataRisposta");
        out.leaf("idOperazione", self.operation_id.as_str());
        out.leaf("codDestinatario", &self.recipient);
        out.leaf(
            "dataOraRisposta",
            rules::date_time_text("header.answered_at", &self.answered_at)?,
        );
        out.leaf("esito", if ok { "OK" } else { "KO" });
        out.close("testataRisposta");
        Ok(())
    }

    /// Reads the header of an OK (`ok`) or KO branch; an `esito` contradicting the branch is an
    /// error, since the connector would otherwise have to guess which one the service meant.
    pub(crate) fn read(branch: &El<'_>, ok: bool) -> Result<ResponseHeader, BookingError> {
        let t = branch.req("testataRisposta")?;
        let esito = t.req("esito")?;
        let expected = if ok { "OK" } else { "KO" };
        if esito.text() != expected {
            return Err(BookingError::invalid(
                esito.path(),
                format!("must be {expected} in this branch of the response"),
            ));
        }
        Ok(ResponseHeader {
            operation_id: read_operation_id(&t)?,
            recipient: t.req_checked("codDestinatario", rules::istat)?,
            answered_at: t.req_date_time("dataOraRisposta")?,
        })
    }
}

/// One `errore` of `listaErrori`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformError {
    pub code: ErrorCode,
    /// The service's text, for people (Italian).
    pub text: String,
    /// The request element the error is about, as a path of local names (`richiedente/email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl PlatformError {
    pub fn new(code: ErrorCode, text: &str) -> PlatformError {
        PlatformError {
            code,
            text: text.to_owned(),
            field: None,
        }
    }

    pub fn on_field(mut self, field: &str) -> PlatformError {
        self.field = Some(field.to_owned());
        self
    }
}

/// The booking service's refusal (`rispostaKO`): at least one error, the first being the reason
/// reported as the command's `platform_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub errors: Vec<PlatformError>,
}

impl Rejection {
    pub fn new(error: PlatformError) -> Rejection {
        Rejection { errors: vec![error] }
    }

    /// The stable code of the first error.
    pub fn code(&self) -> &ErrorCode {
        &self.errors[0].code
    }

    /// The failed event's `platform_code` (DESIGN §5).
    pub fn platform_code(&self) -> &str {
        self.code().as_str()
    }

    /// The failed event's `platform_message`.
    pub fn platform_message(&self) -> &str {
        &self.errors[0].text
    }

    /// True when the service said it cannot answer now (the connector's `unavailable`).
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    pub(crate) fn write(&self, out: &mut XmlOut, header: &ResponseHeader) -> Result<(), BookingError> {
        if self.errors.is_empty() {
            return Err(BookingError::field("errors", "must hold at least one error"));
        }
        for (i, e) in self.errors.iter().enumerate() {
            code_rule(&format!("errors[{i}].code"), e.code.as_str())?;
            rules::text(&format!("errors[{i}].text"), &e.text)?;
            if let Some(field) = &e.field {
                field_path_rule(&format!("errors[{i}].field"), field)?;
            }
        }
        out.open("rispostaKO");
        header.write(out, false)?;
        out.open("listaErrori");
        for e in &self.errors {
            out.open("errore");
            out.leaf("codice", e.code.as_str());
            out.leaf("testo", &e.text);
            out.opt_leaf("campo", e.field.as_deref());
            out.close("errore");
        }
        out.close("listaErrori");
        out.close("rispostaKO");
        Ok(())
    }

    pub(crate) fn read(ko: &El<'_>) -> Result<(ResponseHeader, Rejection), BookingError> {
        let header = ResponseHeader::read(ko, false)?;
        let list = ko.req("listaErrori")?;
        let errors = list
            .all("errore")
            .iter()
            .map(|e| {
                Ok(PlatformError {
                    code: ErrorCode::from_wire(&e.req_checked("codice", code_rule)?),
                    text: e.req_checked("testo", rules::text)?,
                    field: e.opt_checked("campo", field_path_rule)?,
                })
            })
            .collect::<Result<Vec<_>, BookingError>>()?;
        if errors.is_empty() {
            return Err(BookingError::Missing {
                path: format!("{}/errore", list.path()),
            });
        }
        Ok((header, Rejection { errors }))
    }
}

/// `tipoCodiceErrore`: `[A-Z][A-Z0-9_]{2,39}`.
fn code_rule(field: &str, code: &str) -> rules::Rule {
    let b = code.as_bytes();
    let shaped = (3..=40).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    if !shaped {
        return Err(BookingError::field(
            field,
            "must be an error code: 3 to 40 of A-Z 0-9 _, a letter first",
        ));
    }
    Ok(())
}

/// `tipoCampo`: local names separated by `/`, at most 200 characters.
fn field_path_rule(field: &str, path: &str) -> rules::Rule {
    let step = |s: &str| {
        s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && s.bytes().all(|c| c.is_ascii_alphanumeric())
    };
    if path.len() > 200 || !path.split('/').all(step) {
        return Err(BookingError::field(
            field,
            "must be a path of element names such as richiedente/email",
        ));
    }
    Ok(())
}
