//! The notifications ANPR keeps for each comune and the pull that reads them: service 3003
//! (`gestione_richieste`, `ricercaElenchiRichieste` by state, service code and period, or
//! `ricercaSingolaRichiesta` by `idOperazioneANPR`), for a comune that exposes no push endpoint
//! (platform notes §1.2). Since ANPR05 the pull reaches back 180 days only.
//!
//! The mappings have no 3003 (the connector pulls with 4005), so the answer is written here, in the
//! schema's element order; the tests validate it against the official XSD.

use chrono::{DateTime, TimeDelta, Utc};
use openssl::base64::encode_block;
use parking_lot::Mutex;
use snodo_mappings::soap::escape_text;
use snodo_security::xml::{Document, NodeId};

use super::push::Notification;

/// How far back a pull reaches (changelog.md, ANPR05).
pub const PULL_WINDOW_DAYS: i64 = 180;

/// `statoLavorazione` of a notification ready to be read.
const AVAILABLE: &str = "1";

#[derive(Default)]
pub struct Mailbox {
    items: Mutex<Vec<(DateTime<Utc>, Notification)>>,
}

impl Mailbox {
    pub fn deposit(&self, at: DateTime<Utc>, notification: Notification) {
        self.items.lock().push((at, notification));
    }

    pub fn clear(&self) {
        self.items.lock().clear();
    }

    fn matching(&self, comune: &str, now: DateTime<Utc>, filter: &Filter) -> Vec<Notification> {
        let oldest = now - TimeDelta::days(PULL_WINDOW_DAYS);
        self.items
            .lock()
            .iter()
            .filter(|(at, n)| {
                n.comune == comune
                    && *at >= oldest
                    && *at <= now
                    && filter.id.as_ref().is_none_or(|id| *id == n.id_operazione_anpr)
                    && filter.kind.as_ref().is_none_or(|k| *k == n.kind)
                    && filter
                        .state
                        .as_deref()
                        .is_none_or(|s| s.trim_start_matches('0') == AVAILABLE)
                    && filter.from.is_none_or(|from| *at >= from)
                    && filter.to.is_none_or(|to| *at <= to)
            })
            .map(|(_, n)| n.clone())
            .collect()
    }
}

/// What a `Richiesta3003` asks for.
#[derive(Default)]
struct Filter {
    id: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn child(doc: &Document, parent: NodeId, local: &str) -> Option<NodeId> {
    doc.child_elements(parent)
        .find(|&c| doc.element(c).is_some_and(|e| e.name().local_name() == local))
}

fn text(doc: &Document, parent: NodeId, local: &str) -> Option<String> {
    child(doc, parent, local).map(|c| doc.text_content(c).trim().to_owned())
}

fn instant(text: Option<String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The request's `testataRichiesta` fields an answer echoes: (idOperazioneComune, codMittente,
/// dataOraRichiesta).
pub fn header(doc: &Document, payload: NodeId) -> Option<(String, String, String)> {
    let t = child(doc, payload, "testataRichiesta")?;
    Some((
        text(doc, t, "idOperazioneComune")?,
        text(doc, t, "codMittente")?,
        text(doc, t, "dataOraRichiesta")?,
    ))
}

/// The `Risposta3003` payload for a schema-valid `Richiesta3003` from `comune`.
pub fn answer(
    mailbox: &Mailbox,
    doc: &Document,
    payload: NodeId,
    echo: &(String, String, String),
    city: (&str, &str, &str),
    id_operazione_anpr: &str,
    now: DateTime<Utc>,
) -> String {
    let mut filter = Filter::default();
    if let Some(single) = child(doc, payload, "ricercaSingolaRichiesta") {
        filter.id = text(doc, single, "idOperazioneANPR");
    }
    if let Some(list) = child(doc, payload, "ricercaElenchiRichieste") {
        filter.state = text(doc, list, "statoLavorazione");
        filter.kind = text(doc, list, "operazioneRichiesta");
        if let Some(period) = child(doc, list, "periodoRiferimentoRichieste") {
            filter.from = instant(text(doc, period, "dataOraIniziale"));
            filter.to = instant(text(doc, period, "dataOraFinale"));
        }
    }
    let comune = &echo.1;
    let found = mailbox.matching(comune, now, &filter);
    if found.is_empty() {
        return rejection(
            echo,
            id_operazione_anpr,
            "EN122",
            "La richiesta effettuata non produce alcun risultato",
        );
    }
    let ns = snodo_mappings::anpr::ns::CONSULTAZIONE;
    let (name, istat, province) = city;
    let mut out = format!(
        "<ns:Risposta3003 xmlns:ns=\"{ns}\"><ns:Risposta3003_OK>{}<comuneRichiesta><nomeComune>{}</nomeComune>\
         <codiceIstat>{}</codiceIstat><siglaProvinciaIstat>{}</siglaProvinciaIstat></comuneRichiesta>",
        testata(echo, id_operazione_anpr, "2"),
        escape_text(name),
        escape_text(istat),
        escape_text(province)
    );
    for n in found {
        out.push_str(&format!(
            "<elencoRisposte><statoLavorazione>{AVAILABLE}</statoLavorazione><tipoOperazione>{}</tipoOperazione>\
             <xmlRisposta>{}</xmlRisposta></elencoRisposte>",
            escape_text(&n.kind),
            encode_block(n.content.as_bytes())
        ));
    }
    out.push_str("</ns:Risposta3003_OK></ns:Risposta3003>");
    out
}

fn testata(echo: &(String, String, String), id_operazione_anpr: &str, outcome: &str) -> String {
    let (id, comune, at) = echo;
    format!(
        "<testataRisposta><idOperazioneComune>{}</idOperazioneComune><codMittente>ANPR</codMittente>\
         <codDestinatario>{}</codDestinatario><operazioneRichiesta>3003</operazioneRichiesta>\
         <dataOraRichiesta>{}</dataOraRichiesta><idOperazioneANPR>{id_operazione_anpr}</idOperazioneANPR>\
         <esitoOperazione>{outcome}</esitoOperazione></testataRisposta>",
        escape_text(id),
        escape_text(comune),
        escape_text(at)
    )
}

/// A `Risposta3003` with `rispostaKO` and one blocking error.
pub fn rejection(
    echo: &(String, String, String),
    id_operazione_anpr: &str,
    code: &str,
    text: &str,
) -> String {
    format!(
        "<ns:Risposta3003 xmlns:ns=\"{}\"><ns:rispostaKO>{}<listaErrori><errore>\
         <codiceErroreAnomalia>{}</codiceErroreAnomalia><tipoErroreAnomalia>E</tipoErroreAnomalia>\
         <testoErroreAnomalia>{}</testoErroreAnomalia></errore></listaErrori></ns:rispostaKO></ns:Risposta3003>",
        snodo_mappings::anpr::ns::CONSULTAZIONE,
        testata(echo, id_operazione_anpr, "3"),
        escape_text(code),
        escape_text(text)
    )
}
