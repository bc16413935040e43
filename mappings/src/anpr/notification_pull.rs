//! Service 3003 (`gestione_richieste`) used as the scheduled notification pull: the primary path for
//! a comune's notifications, since the push contract is only a 2017 draft (platform notes §1.2).
//!
//! The request asks by `ricercaElenchiRichieste` for the notifications ready to read
//! (`statoLavorazione` 1) in a period; ANPR answers `Risposta3003_OK` whose `elencoRisposte` carry
//! only the kind and the notification's own XML (base64) — no id beside them. The id a pulled copy
//! shares with the pushed one (`testataNotifica/idOperazioneANPR`) is therefore read from inside
//! that XML, so both copies become the same `message_id` ([`NotificationReceived::platform_key`]).
//! An entry whose XML names no id cannot be de-duplicated and is counted apart, never guessed.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use snodo_security::xml::{Document, Limits, NodeId, parse};

use super::header::{self, Reply};
use super::notification::NotificationReceived;
use super::{AnprError, Answer, RequestContext, SchemaV1, el, ns, rules};

/// The service code (`operazioneRichiesta`).
pub const SERVICE: &str = "3003";

/// `statoLavorazione` of a notification ready to be read.
const READY: &str = "1";

/// ANPR's answer when nothing matches: not a failure of the pull, just an empty mailbox.
pub const NOTHING_FOUND: &str = "EN122";

/// What one pull asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullQuery {
    /// Only notifications of this kind (`N010`, …); all kinds when `None`.
    pub kind: Option<String>,
    /// `periodoRiferimentoRichieste`: when ANPR produced them (at most 180 days back, ANPR05).
    pub from: DateTime<FixedOffset>,
    pub to: DateTime<FixedOffset>,
}

/// A `Richiesta3003` listing the comune's ready notifications of `query`.
pub fn write_request(query: &PullQuery, ctx: &RequestContext) -> Result<String, AnprError> {
    if let Some(kind) = &query.kind {
        rules::alphanumeric("kind", kind, 1, 4)?;
    }
    if query.from > query.to {
        return Err(AnprError::field("from", "is after `to`"));
    }
    let mut out = super::xml::payload_root(ns::CONSULTAZIONE, "Richiesta3003");
    header::write_request_header(&mut out, ctx, SERVICE, None)?;
    out.open("ricercaElenchiRichieste");
    out.leaf("statoLavorazione", READY);
    out.opt_leaf("operazioneRichiesta", query.kind.as_deref());
    out.open("periodoRiferimentoRichieste");
    out.leaf(
        "dataOraIniziale",
        query.from.to_rfc3339_opts(SecondsFormat::Secs, false),
    );
    out.leaf(
        "dataOraFinale",
        query.to.to_rfc3339_opts(SecondsFormat::Secs, false),
    );
    out.close("periodoRiferimentoRichieste");
    out.close("ricercaElenchiRichieste");
    Ok(out.finish())
}

/// The notifications of one `Risposta3003`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    pub notifications: Vec<NotificationReceived>,
    /// Entries whose XML names no `idOperazioneANPR` (or is not XML): reported, not published.
    pub unidentified: u32,
}

/// Reads a `Risposta3003`: its notifications, an empty list for EN122 (nothing to read), or ANPR's
/// refusal.
pub fn read_response(doc: &Document, node: NodeId) -> Result<Answer<Pulled>, AnprError> {
    let ok = match header::read_reply(&el(doc, node), ns::CONSULTAZIONE, "Risposta3003", "rispostaKO")? {
        Reply::Rejected(r) if r.platform_code() == Some(NOTHING_FOUND) => return Ok(Ok(Pulled::default())),
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::CONSULTAZIONE, "Risposta3003_OK")?;
    header::read_response_header(&ok.req("testataRisposta")?)?;
    let mut pulled = Pulled::default();
    for entry in ok.all("elencoRisposte") {
        let Some(kind) = entry.opt_text("tipoOperazione") else {
            continue;
        };
        if !is_notification_kind(&kind) {
            // 3003 also lists the outcome of the comune's own requests: not notifications.
            continue;
        }
        let content: String = entry
            .opt_text("xmlRisposta")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = rules::base64(&format!("{}/xmlRisposta", entry.path()), &content)
            .map_err(|_| AnprError::invalid(format!("{}/xmlRisposta", entry.path()), "is not base64"))?;
        match notification_id(&bytes) {
            Some(id) => pulled.notifications.push(NotificationReceived {
                schema: SchemaV1,
                notification_id: id,
                kind: kind.to_ascii_uppercase(),
                state: entry.opt_u32("statoLavorazione")?,
                content_base64: (!content.is_empty()).then_some(content),
            }),
            None => pulled.unidentified += 1,
        }
    }
    Ok(Ok(pulled))
}

/// `N` and three letters or digits: `N010`, `N030`, `NRIS`.
fn is_notification_kind(kind: &str) -> bool {
    kind.len() == 4
        && (kind.starts_with('N') || kind.starts_with('n'))
        && kind[1..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The notification's own id: the first `idOperazioneANPR` of its XML in document order (the
/// `testataNotifica` comes first), when it is 1 to 30 digits as the schemas require.
pub fn notification_id(xml: &[u8]) -> Option<String> {
    let doc = parse(xml, &Limits::default()).ok()?;
    let mut stack = vec![doc.document_element()];
    while let Some(node) = stack.pop() {
        let is_id = doc
            .element(node)
            .is_some_and(|e| e.name().local_name() == "idOperazioneANPR");
        if is_id {
            let id = doc.text_content(node).trim().to_owned();
            let valid = !id.is_empty() && id.len() <= 30 && id.bytes().all(|b| b.is_ascii_digit());
            return valid.then_some(id);
        }
        let children: Vec<NodeId> = doc.child_elements(node).collect();
        stack.extend(children.into_iter().rev());
    }
    None
}
