//! The common parts of every ANPR SOAP payload (platform notes §1.3): `testataRichiesta`,
//! `testataRisposta`, the `RispostaNNNN` choice between an OK element and a KO element with
//! `listaErrori`, and the error/anomaly record shared by errors and warnings.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::xml::{El, XmlOut, date_text, payload_root};
use super::{AnprError, rules};

/// `codDestinatario`: the only rule version ANPR accepts since 2024-07-01 (changelog.md).
pub const COD_DESTINATARIO: &str = "ANPR05";
/// `codMittente` of every ANPR answer.
pub const ANPR_SENDER: &str = "ANPR";

/// `tipoInvio`: must match the environment the request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    Test,
    Prod,
}

impl SendMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::Test => "TEST",
            SendMode::Prod => "PROD",
        }
    }
}

/// What the connector supplies besides the command: the operation id allocated for this command,
/// the comune, the environment and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `idOperazioneComune`: numeric, increasing per comune, reused on every retry.
    pub id_operazione_comune: String,
    /// The comune's ISTAT code (`codMittente`).
    pub istat_code: String,
    pub mode: SendMode,
    pub requested_at: DateTime<FixedOffset>,
}

/// A `testataRichiesta` as read by the simulator (the fields it judges a request on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub id_operazione_comune: String,
    pub cod_mittente: String,
    pub cod_destinatario: String,
    pub operazione_richiesta: String,
    pub data_ora_richiesta: String,
    pub tipo_operazione: String,
    pub tipo_invio: String,
    pub data_decorrenza: Option<chrono::NaiveDate>,
}

/// Checks the context and writes `testataRichiesta` for service `service` (`3002`, …), with the
/// effective date registration services require.
pub(crate) fn write_request_header(
    out: &mut XmlOut,
    ctx: &RequestContext,
    service: &str,
    effective: Option<chrono::NaiveDate>,
) -> Result<(), AnprError> {
    rules::alphanumeric("idOperazioneComune", &ctx.id_operazione_comune, 1, 30)?;
    rules::digits("istat_code", &ctx.istat_code, 6, 6)?;
    out.open("testataRichiesta");
    out.leaf("idOperazioneComune", &ctx.id_operazione_comune);
    out.leaf("codMittente", &ctx.istat_code);
    out.leaf("codDestinatario", COD_DESTINATARIO);
    out.leaf("operazioneRichiesta", service);
    out.leaf(
        "dataOraRichiesta",
        ctx.requested_at.to_rfc3339_opts(SecondsFormat::Millis, false),
    );
    // C: an operation on the citizen's request or the office's own initiative (not a correction).
    out.leaf("tipoOperazione", "C");
    out.leaf("tipoInvio", ctx.mode.as_str());
    out.opt_leaf("dataDecorrenza", effective.map(date_text).as_deref());
    out.leaf("nomeApplicativo", "Snodo");
    out.leaf("versioneApplicativo", env!("CARGO_PKG_VERSION"));
    out.leaf("fornitoreApplicativo", "Snodo");
    out.close("testataRichiesta");
    Ok(())
}

pub(crate) fn read_request_header(payload: &El<'_>) -> Result<RequestHeader, AnprError> {
    let t = payload.req("testataRichiesta")?;
    Ok(RequestHeader {
        id_operazione_comune: t.req_text("idOperazioneComune")?,
        cod_mittente: t.req_text("codMittente")?,
        cod_destinatario: t.req_text("codDestinatario")?,
        operazione_richiesta: t.req_text("operazioneRichiesta")?,
        data_ora_richiesta: t.req_text("dataOraRichiesta")?,
        tipo_operazione: t.req_text("tipoOperazione")?,
        tipo_invio: t.req_text("tipoInvio")?,
        data_decorrenza: t.opt_date("dataDecorrenza")?,
    })
}

/// `esitoOperazione`. The XSD documents 2/3/4/6; traces show `0000` and `XXXX`: all are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    OkWithWarnings,
    Rejected,
    Annulled,
    /// A code outside the documented ones, kept as sent.
    Other(String),
}

impl Outcome {
    pub fn from_code(code: &str) -> Outcome {
        match code.trim() {
            "2" | "0000" => Outcome::Ok,
            "6" => Outcome::OkWithWarnings,
            "3" | "XXXX" => Outcome::Rejected,
            "4" => Outcome::Annulled,
            other => Outcome::Other(other.to_owned()),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Outcome::Ok => "2",
            Outcome::OkWithWarnings => "6",
            Outcome::Rejected => "3",
            Outcome::Annulled => "4",
            Outcome::Other(code) => code,
        }
    }
}

/// A `testataRisposta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    pub id_operazione_comune: String,
    /// The comune the answer goes to (`codDestinatario`).
    pub istat_code: String,
    pub operazione_richiesta: String,
    pub data_ora_richiesta: String,
    pub id_operazione_anpr: String,
    pub outcome: Outcome,
}

impl ResponseHeader {
    /// The header of the answer to `request`.
    pub fn answering(request: &RequestHeader, id_operazione_anpr: &str, outcome: Outcome) -> Self {
        ResponseHeader {
            id_operazione_comune: request.id_operazione_comune.clone(),
            istat_code: request.cod_mittente.clone(),
            operazione_richiesta: request.operazione_richiesta.clone(),
            data_ora_richiesta: request.data_ora_richiesta.clone(),
            id_operazione_anpr: id_operazione_anpr.to_owned(),
            outcome,
        }
    }
}

pub(crate) fn write_response_header(out: &mut XmlOut, h: &ResponseHeader) -> Result<(), AnprError> {
    rules::digits("idOperazioneANPR", &h.id_operazione_anpr, 1, 30)?;
    let code = h.outcome.code();
    if code.is_empty() || code.chars().count() > 4 {
        return Err(AnprError::field(
            "esitoOperazione",
            "must be 1 to 4 characters long",
        ));
    }
    out.open("testataRisposta");
    out.leaf("idOperazioneComune", &h.id_operazione_comune);
    out.leaf("codMittente", ANPR_SENDER);
    out.leaf("codDestinatario", &h.istat_code);
    out.leaf("operazioneRichiesta", &h.operazione_richiesta);
    out.leaf("dataOraRichiesta", &h.data_ora_richiesta);
    out.leaf("idOperazioneANPR", &h.id_operazione_anpr);
    out.leaf("esitoOperazione", code);
    out.close("testataRisposta");
    Ok(())
}

pub(crate) fn read_response_header(t: &El<'_>) -> Result<ResponseHeader, AnprError> {
    Ok(ResponseHeader {
        id_operazione_comune: t.req_text("idOperazioneComune")?,
        istat_code: t.req_text("codDestinatario")?,
        operazione_richiesta: t.req_text("operazioneRichiesta")?,
        data_ora_richiesta: t.req_text("dataOraRichiesta")?,
        id_operazione_anpr: t.req_text("idOperazioneANPR")?,
        outcome: Outcome::from_code(&t.req_text("esitoOperazione")?),
    })
}

/// One `tipoErroriAnomalia`: an error (`E`, blocking) or a warning (`W`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnprMessage {
    /// `codiceErroreAnomalia`, e.g. `EN122`.
    pub code: String,
    /// `E` (blocking) or `W` (warning), as ANPR sent it.
    pub severity: String,
    /// `testoErroreAnomalia`, in Italian.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The offending value; may be personal data, so it travels in events only, never in logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl AnprMessage {
    pub fn error(code: &str, text: &str) -> AnprMessage {
        AnprMessage {
            code: code.to_owned(),
            severity: "E".to_owned(),
            text: text.to_owned(),
            object: None,
            field: None,
            value: None,
        }
    }

    pub fn warning(code: &str, text: &str) -> AnprMessage {
        AnprMessage {
            severity: "W".to_owned(),
            ..AnprMessage::error(code, text)
        }
    }
}

/// Writes each message as element `item` (`errore` or `anomalie`) inside `list`, if any.
pub(crate) fn write_messages(
    out: &mut XmlOut,
    list: &str,
    item: &str,
    messages: &[AnprMessage],
) -> Result<(), AnprError> {
    if messages.is_empty() {
        return Ok(());
    }
    out.open(list);
    for m in messages {
        rules::alphanumeric("codiceErroreAnomalia", &m.code, 1, 6)?;
        if m.severity.chars().count() != 1 {
            return Err(AnprError::field("tipoErroreAnomalia", "must be one character"));
        }
        for (field, text) in [
            ("testoErroreAnomalia", Some(&m.text)),
            ("oggettoErroreAnomalia", m.object.as_ref()),
            ("campoErroreAnomalia", m.field.as_ref()),
            ("valoreErroreAnomalia", m.value.as_ref()),
        ] {
            if text.is_some_and(|t| t.chars().count() > 240) {
                return Err(AnprError::field(field, "must be at most 240 characters long"));
            }
        }
        out.open(item);
        out.leaf("codiceErroreAnomalia", &m.code);
        out.leaf("tipoErroreAnomalia", &m.severity);
        out.leaf("testoErroreAnomalia", &m.text);
        out.opt_leaf("oggettoErroreAnomalia", m.object.as_deref());
        out.opt_leaf("campoErroreAnomalia", m.field.as_deref());
        out.opt_leaf("valoreErroreAnomalia", m.value.as_deref());
        out.close(item);
    }
    out.close(list);
    Ok(())
}

/// Reads every error or anomaly under `list` (its items are `errore` or `anomalie` by service).
pub(crate) fn read_messages(list: Option<El<'_>>) -> Result<Vec<AnprMessage>, AnprError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.elements()
        .iter()
        .map(|e| {
            Ok(AnprMessage {
                code: e.req_text("codiceErroreAnomalia")?,
                severity: e.req_text("tipoErroreAnomalia")?,
                text: e.req_text("testoErroreAnomalia")?,
                object: e.opt_text("oggettoErroreAnomalia"),
                field: e.opt_text("campoErroreAnomalia"),
                value: e.opt_text("valoreErroreAnomalia"),
            })
        })
        .collect()
}

/// ANPR refused the operation (`rispostaKO`): what the connector turns into `rejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub header: ResponseHeader,
    pub errors: Vec<AnprMessage>,
}

impl Rejection {
    /// The code for the failed event's `platform_code`: the first blocking error's, else the first's.
    pub fn platform_code(&self) -> Option<&str> {
        self.first().map(|m| m.code.as_str())
    }

    /// The Italian text for `platform_message`.
    pub fn platform_message(&self) -> Option<&str> {
        self.first().map(|m| m.text.as_str())
    }

    fn first(&self) -> Option<&AnprMessage> {
        self.errors
            .iter()
            .find(|m| m.severity.eq_ignore_ascii_case("E"))
            .or_else(|| self.errors.first())
    }
}

/// The element inside `RispostaNNNN`: the OK element, or a rejection already read.
pub(crate) enum Reply<'d> {
    Ok(El<'d>),
    Rejected(Rejection),
}

/// Reads the `RispostaNNNN` wrapper `payload` in `namespace`: its one child is either a KO element
/// (`rispostaKO`, or `Risposta6001KO` for certificates) or the service's OK element.
pub(crate) fn read_reply<'d>(
    payload: &El<'d>,
    namespace: &str,
    root: &str,
    ko: &str,
) -> Result<Reply<'d>, AnprError> {
    payload.expect(namespace, root)?;
    let children = payload.elements();
    let [inner] = children.as_slice() else {
        return Err(AnprError::invalid(
            payload.path(),
            format!("holds {} elements, not the one OK or KO element", children.len()),
        ));
    };
    if inner.local_name() == ko {
        let header = read_response_header(&inner.req("testataRisposta")?)?;
        let errors = read_messages(Some(inner.req("listaErrori")?))?;
        return Ok(Reply::Rejected(Rejection { header, errors }));
    }
    Ok(Reply::Ok(inner.clone()))
}

/// Writes a KO answer: `<RispostaNNNN><ko><testataRisposta/><listaErrori/></ko></RispostaNNNN>`.
pub(crate) fn write_rejection(
    namespace: &str,
    root: &str,
    ko: &str,
    rejection: &Rejection,
) -> Result<String, AnprError> {
    if rejection.errors.is_empty() {
        return Err(AnprError::field(
            "errors",
            "a rejection carries at least one error",
        ));
    }
    let mut out = payload_root(namespace, root);
    out.open_ns(ko);
    write_response_header(&mut out, &rejection.header)?;
    write_messages(&mut out, "listaErrori", "errore", &rejection.errors)?;
    out.close_ns(ko);
    Ok(out.finish())
}
