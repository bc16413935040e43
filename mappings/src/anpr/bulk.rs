//! `anpr.bulk_lookup.start` → service 4002 (rivestimento_cf), asynchronous: each chunk of at most
//! 2,000 codici fiscali (EN101) is one 4002 request whose answer carries only an
//! `idOperazioneANPR`; the data come later from 4005 (richieste_asincrone) once ANPR has finished,
//! which it announces with an N030 notification. The connector never waits inside a delivery: it
//! emits `anpr.bulk_lookup.submitted` per chunk, polls 4005 on the scheduler, emits
//! `anpr.bulk_lookup.result` per result file and `anpr.bulk_lookup.completed` once every chunk has one.
//!
//! The layout of the base64 file inside `xmlFileCodiciFiscali` is not in the public XSD; this
//! mapping writes `<codiciFiscali><codiceFiscale>…</codiceFiscale>…</codiciFiscali>` and reads the same.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, Limits, NodeId, parse};

use super::contract::{SchemaV1, optional_date_schema};
use super::header::{self, Reply};
use super::lookup::Section;
use super::xml::{El, date_text, payload_root};
use super::{AnprError, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns, rules};

pub const COMMAND: &str = "anpr.bulk_lookup.start";
pub const SUBMIT_SERVICE: &str = "4002";
pub const POLL_SERVICE: &str = "4005";
/// At most this many codici fiscali per 4002 file (ANPR EN101).
pub const MAX_PER_CHUNK: usize = 2_000;

/// Command `anpr.bulk_lookup.start`: the job; its id is the command's `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBulkLookup {
    pub schema: SchemaV1,
    pub codici_fiscali: Vec<String>,
    pub sections: Vec<Section>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub reference_date: Option<NaiveDate>,
}

/// One 4002 request's content: a chunk of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub codici_fiscali: Vec<String>,
    pub sections: Vec<Section>,
    pub reference_date: NaiveDate,
}

/// Event `anpr.bulk_lookup.submitted`, one per chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkSubmitted {
    pub schema: SchemaV1,
    /// 0-based index of the chunk in the job.
    pub chunk: u32,
    pub chunks: u32,
    pub codici_fiscali: u32,
    /// What 4005 is polled with.
    pub id_operazione_anpr: String,
}

/// Event `anpr.bulk_lookup.result`: one result file of one chunk, as 4005 returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkResult {
    pub schema: SchemaV1,
    pub chunk: u32,
    pub id_operazione_anpr: String,
    /// `progressivoCorrente`/`progressivoTotale` when ANPR splits the answer.
    pub page: u32,
    pub pages: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub content_base64: String,
}

/// Event `anpr.bulk_lookup.completed`: every chunk has its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLookupCompleted {
    pub schema: SchemaV1,
    pub chunks: u32,
    pub codici_fiscali: u32,
    pub result_files: u32,
}

impl StartBulkLookup {
    pub fn check(&self) -> Result<(), AnprError> {
        if self.codici_fiscali.is_empty() {
            return Err(AnprError::field(
                "codici_fiscali",
                "name at least one codice fiscale",
            ));
        }
        for (i, cf) in self.codici_fiscali.iter().enumerate() {
            rules::codice_fiscale(&format!("codici_fiscali[{i}]"), cf)?;
        }
        if self.sections.is_empty() {
            return Err(AnprError::field("sections", "name at least one section"));
        }
        Ok(())
    }

    /// The job's chunks, in order, each of at most [`MAX_PER_CHUNK`].
    pub fn chunks(&self, today: NaiveDate) -> Result<Vec<Chunk>, AnprError> {
        self.check()?;
        Ok(self
            .codici_fiscali
            .chunks(MAX_PER_CHUNK)
            .map(|c| Chunk {
                codici_fiscali: c.to_vec(),
                sections: self.sections.clone(),
                reference_date: self.reference_date.unwrap_or(today),
            })
            .collect())
    }
}

fn section_codes(sections: &[Section]) -> Vec<u32> {
    let mut codes = Vec::new();
    for s in sections {
        let more: &[u32] = match s {
            Section::PersonalData => &[2, 3, 6],
            Section::Residence => &[10],
            Section::Family => &[21, 22],
            Section::FullRecord => &[1],
        };
        codes.extend_from_slice(more);
    }
    codes
}

/// The `Richiesta4002` payload for one chunk.
pub fn write_request(chunk: &Chunk, ctx: &RequestContext) -> Result<String, AnprError> {
    if chunk.codici_fiscali.is_empty() || chunk.codici_fiscali.len() > MAX_PER_CHUNK {
        return Err(AnprError::field(
            "codici_fiscali",
            format!(
                "a chunk holds 1 to {MAX_PER_CHUNK} codici fiscali, not {}",
                chunk.codici_fiscali.len()
            ),
        ));
    }
    let mut file = String::from("<codiciFiscali>");
    for (i, cf) in chunk.codici_fiscali.iter().enumerate() {
        rules::codice_fiscale(&format!("codici_fiscali[{i}]"), cf)?;
        file.push_str("<codiceFiscale>");
        file.push_str(cf);
        file.push_str("</codiceFiscale>");
    }
    file.push_str("</codiciFiscali>");
    let mut out = payload_root(ns::ESTRAZIONE, "Richiesta4002");
    header::write_request_header(&mut out, ctx, SUBMIT_SERVICE, None)?;
    out.open("criteriRicerca");
    out.leaf("dataRiferimento", date_text(chunk.reference_date));
    for code in section_codes(&chunk.sections) {
        out.leaf("datiRichiesti", code.to_string());
    }
    out.leaf("xmlFileCodiciFiscali", STANDARD.encode(file));
    // 2: the file lists codici fiscali (1 would be idANPR).
    out.leaf("criterioSelezione", "2");
    out.close("criteriRicerca");
    Ok(out.finish())
}

/// The simulator's reading of a `Richiesta4002`, the codici fiscali decoded from their file.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, Chunk), AnprError> {
    let p = el(doc, node);
    p.expect(ns::ESTRAZIONE, "Richiesta4002")?;
    let header = header::read_request_header(&p)?;
    let c = p.req("criteriRicerca")?;
    let file_el = c.req("xmlFileCodiciFiscali")?;
    let bytes = rules::base64("xmlFileCodiciFiscali", &file_el.text())
        .map_err(|_| AnprError::invalid(file_el.path(), "is not valid base64"))?;
    // The embedded file is hostile input like the envelope: the same screening parser reads it.
    let file = parse(&bytes, &Limits::default())?;
    let root = El::new(&file, file.document_element());
    let codici_fiscali = root.all("codiceFiscale").iter().map(El::text).collect();
    let codes: Vec<String> = c.all("datiRichiesti").iter().map(El::text).collect();
    let mut sections = Vec::new();
    for (code, section) in [
        ("1", Section::FullRecord),
        ("2", Section::PersonalData),
        ("10", Section::Residence),
        ("21", Section::Family),
    ] {
        if codes.iter().any(|c| c == code) {
            sections.push(section);
        }
    }
    Ok((
        header,
        Chunk {
            codici_fiscali,
            sections,
            reference_date: c.req_date("dataRiferimento")?,
        },
    ))
}

/// Accepted: what 4002 answers (`RispostaMultipla4002`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id_operazione_anpr: String,
}

pub fn write_response(h: &ResponseHeader, accepted: &Accepted) -> Result<String, AnprError> {
    rules::digits("id_operazione_anpr", &accepted.id_operazione_anpr, 1, 30)?;
    let mut out = payload_root(ns::ESTRAZIONE, "Risposta4002");
    out.open_ns("RispostaMultipla4002");
    header::write_response_header(&mut out, h)?;
    out.leaf("idOperazioneANPR", &accepted.id_operazione_anpr);
    out.close_ns("RispostaMultipla4002");
    Ok(out.finish())
}

pub fn read_response(doc: &Document, node: NodeId) -> Result<Answer<Accepted>, AnprError> {
    let ok = match header::read_reply(&el(doc, node), ns::ESTRAZIONE, "Risposta4002", "rispostaKO")? {
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::ESTRAZIONE, "RispostaMultipla4002")?;
    header::read_response_header(&ok.req("testataRisposta")?)?;
    Ok(Ok(Accepted {
        id_operazione_anpr: ok.req_text("idOperazioneANPR")?,
    }))
}

pub fn write_rejection(service: &str, r: &Rejection) -> Result<String, AnprError> {
    let root = if service == POLL_SERVICE {
        "Risposta4005"
    } else {
        "Risposta4002"
    };
    header::write_rejection(ns::ESTRAZIONE, root, "rispostaKO", r)
}

/// The 4005 poll for the results of one asynchronous operation (`verificaStato`), page `page`
/// (1-based `progressivo`).
pub fn write_poll_request(
    id_operazione_anpr: &str,
    page: u32,
    ctx: &RequestContext,
) -> Result<String, AnprError> {
    rules::digits("id_operazione_anpr", id_operazione_anpr, 1, 30)?;
    rules::range("page", page, 1, 99_999)?;
    let mut out = payload_root(ns::ESTRAZIONE, "Richiesta4005");
    header::write_request_header(&mut out, ctx, POLL_SERVICE, None)?;
    out.open("verificaStato");
    out.leaf("idOperazioneANPR", id_operazione_anpr);
    out.leaf("progressivo", page.to_string());
    out.close("verificaStato");
    Ok(out.finish())
}

/// The simulator's reading of a 4005 `verificaStato`: (header, idOperazioneANPR, page).
pub fn read_poll_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, String, u32), AnprError> {
    let p = el(doc, node);
    p.expect(ns::ESTRAZIONE, "Richiesta4005")?;
    let header = header::read_request_header(&p)?;
    let v = p.req("verificaStato")?;
    Ok((header, v.req_text("idOperazioneANPR")?, v.req_u32("progressivo")?))
}

/// A 4005 answer (`RispostaMultipla4005`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollResult {
    /// `statoRichiesta`, as ANPR sent it.
    pub status: String,
    pub id_operazione_anpr: String,
    /// `dataDisponibilita`, xs:dateTime as sent.
    pub available_at: String,
    /// (`progressivoCorrente`, `progressivoTotale`).
    pub page: Option<(u32, u32)>,
    pub items: Vec<PollItem>,
}

/// One `elencoRisposte` entry: a result file, or a notification when `kind` is `N0xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollItem {
    pub id_operazione_anpr: String,
    pub state: Option<u32>,
    /// `tipoOperazione`: the service or notification code (`4002`, `N030`, …).
    pub kind: Option<String>,
    pub content_base64: Option<String>,
    pub format: Option<String>,
}

pub fn write_poll_response(h: &ResponseHeader, r: &PollResult) -> Result<String, AnprError> {
    let mut out = payload_root(ns::ESTRAZIONE, "Risposta4005");
    out.open_ns("RispostaMultipla4005");
    header::write_response_header(&mut out, h)?;
    out.leaf("statoRichiesta", &r.status);
    rules::digits("id_operazione_anpr", &r.id_operazione_anpr, 1, 30)?;
    out.leaf("idOperazioneANPR", &r.id_operazione_anpr);
    out.leaf("dataDisponibilita", &r.available_at);
    if let Some((page, pages)) = r.page {
        out.open("datiFornitura");
        out.leaf("progressivoCorrente", page.to_string());
        out.leaf("progressivoTotale", pages.to_string());
        out.close("datiFornitura");
    }
    for (i, item) in r.items.iter().enumerate() {
        rules::digits(
            &format!("items[{i}].id_operazione_anpr"),
            &item.id_operazione_anpr,
            1,
            30,
        )?;
        if let Some(k) = &item.kind
            && k.chars().count() != 4
        {
            return Err(AnprError::field(
                format!("items[{i}].kind"),
                "must be 4 characters",
            ));
        }
        if let Some(c) = &item.content_base64 {
            rules::base64(&format!("items[{i}].content_base64"), c)?;
        }
        out.open("elencoRisposte");
        out.leaf("idOperazioneANPR", &item.id_operazione_anpr);
        out.opt_leaf("statoLavorazione", item.state.map(|s| s.to_string()).as_deref());
        out.opt_leaf("tipoOperazione", item.kind.as_deref());
        out.opt_leaf("contenutoRisposta", item.content_base64.as_deref());
        out.opt_leaf("formatoRisposta", item.format.as_deref());
        out.close("elencoRisposte");
    }
    out.close_ns("RispostaMultipla4005");
    Ok(out.finish())
}

pub fn read_poll_response(doc: &Document, node: NodeId) -> Result<Answer<PollResult>, AnprError> {
    let ok = match header::read_reply(&el(doc, node), ns::ESTRAZIONE, "Risposta4005", "rispostaKO")? {
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::ESTRAZIONE, "RispostaMultipla4005")?;
    header::read_response_header(&ok.req("testataRisposta")?)?;
    let page = match ok.child("datiFornitura") {
        Some(f) => Some((f.req_u32("progressivoCorrente")?, f.req_u32("progressivoTotale")?)),
        None => None,
    };
    let items = ok
        .all("elencoRisposte")
        .iter()
        .map(|e| {
            Ok(PollItem {
                id_operazione_anpr: e.req_text("idOperazioneANPR")?,
                state: e.opt_u32("statoLavorazione")?,
                kind: e.opt_text("tipoOperazione"),
                content_base64: e
                    .opt_text("contenutoRisposta")
                    .map(|t| t.chars().filter(|c| !c.is_ascii_whitespace()).collect()),
                format: e.opt_text("formatoRisposta"),
            })
        })
        .collect::<Result<_, AnprError>>()?;
    Ok(Ok(PollResult {
        status: ok.req_text("statoRichiesta")?,
        id_operazione_anpr: ok.req_text("idOperazioneANPR")?,
        available_at: ok.req_text("dataDisponibilita")?,
        page,
        items,
    }))
}

/// The `anpr.bulk_lookup.result` events of one 4005 answer for chunk `chunk`: its files with content.
pub fn results(chunk: u32, poll: &PollResult) -> Vec<ChunkResult> {
    let (page, pages) = poll.page.unwrap_or((1, 1));
    poll.items
        .iter()
        .filter(|i| !i.kind.as_deref().is_some_and(|k| k.starts_with('N')))
        .filter_map(|i| {
            Some(ChunkResult {
                schema: SchemaV1,
                chunk,
                id_operazione_anpr: i.id_operazione_anpr.clone(),
                page,
                pages,
                format: i.format.clone(),
                content_base64: i.content_base64.clone()?,
            })
        })
        .collect()
}
