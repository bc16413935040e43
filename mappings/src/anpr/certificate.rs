//! `anpr.certificate.issue` → service 6001 (emissioneCertificato): a registry certificate of one of
//! the types of `tables/tab_tipo_di_certificato.csv`; its completed event carries the PDF (base64,
//! as ANPR sends it) and ANPR's protocol number.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, NodeId};

use super::contract::{self, Person, SchemaV1};
use super::header::{self, Reply};
use super::xml::{XmlOut, payload_root};
use super::{
    AnprError, AnprMessage, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns, rules,
};

pub const COMMAND: &str = "anpr.certificate.issue";
pub const SERVICE: &str = "6001";

/// The certificate type codes of `tab_tipo_di_certificato.csv` (1 = nascita … 8 = residenza,
/// 12 = stato di famiglia, … 20 = storico di residenza alla data).
pub const CERTIFICATE_TYPES: std::ops::RangeInclusive<u32> = 1..=20;

/// Command `anpr.certificate.issue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    pub schema: SchemaV1,
    /// The person the certificate is about (`soggettoIntestatario`).
    pub holder: Person,
    /// Codes of `tab_tipo_di_certificato.csv`, 1 to 20, at least one.
    pub certificate_types: Vec<u32>,
    pub requester: Requester,
    pub delivery: Delivery,
    /// Only the data, no PDF (`tipoRichiesta` 2).
    #[serde(default)]
    pub data_only: bool,
    /// For a foreign authority (`paEstera`).
    #[serde(default)]
    pub foreign_authority: bool,
    /// Stamp duty paid, in euro cents (`bollo`).
    pub stamp_duty_cents: u32,
    /// Secretarial fees paid, in euro cents (`diritti`).
    pub fees_cents: u32,
    /// Stamp-duty exemption code (`tab_esenzione_bollo.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp_duty_exemption: Option<u32>,
    /// The registry officer issuing it (`cognome/nomeUffAnagrafe`).
    pub officer: Officer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Requester {
    ThirdParty,
    Holder,
    PublicAdministration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Counter,
    Internet,
    Preview,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Officer {
    pub surname: String,
    pub given_name: String,
}

/// Event `anpr.certificate.issue.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateIssued {
    pub schema: SchemaV1,
    pub id_operazione_anpr: String,
    /// `numeroProtocolloANPR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_number: Option<String>,
    /// The certificate, base64 (absent for `data_only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<AnprMessage>,
}

fn code<T: Copy + PartialEq>(table: &[(T, u32)], v: T) -> u32 {
    table
        .iter()
        .find(|(t, _)| *t == v)
        .map(|(_, c)| *c)
        .expect("every variant is in its table")
}

const REQUESTERS: [(Requester, u32); 3] = [
    (Requester::ThirdParty, 1),
    (Requester::Holder, 2),
    (Requester::PublicAdministration, 3),
];
const DELIVERIES: [(Delivery, u32); 3] = [
    (Delivery::Counter, 1),
    (Delivery::Internet, 2),
    (Delivery::Preview, 3),
];

fn from_code<T: Copy>(table: &[(T, u32)], c: u32, path: &str) -> Result<T, AnprError> {
    table
        .iter()
        .find(|(_, k)| *k == c)
        .map(|(t, _)| *t)
        .ok_or_else(|| AnprError::invalid(path, "holds a code this mapping does not know"))
}

impl IssueCertificate {
    pub fn check(&self) -> Result<(), AnprError> {
        contract::check_person(&self.holder, "holder")?;
        if self.certificate_types.is_empty() {
            return Err(AnprError::field(
                "certificate_types",
                "name at least one certificate type",
            ));
        }
        for (i, t) in self.certificate_types.iter().enumerate() {
            rules::range(
                &format!("certificate_types[{i}]"),
                *t,
                *CERTIFICATE_TYPES.start(),
                *CERTIFICATE_TYPES.end(),
            )?;
        }
        rules::range("stamp_duty_cents", self.stamp_duty_cents, 0, 99_999)?;
        rules::range("fees_cents", self.fees_cents, 0, 99_999)?;
        if let Some(e) = self.stamp_duty_exemption {
            rules::range("stamp_duty_exemption", e, 0, 99)?;
        }
        rules::name("officer.surname", &self.officer.surname)?;
        rules::name("officer.given_name", &self.officer.given_name)
    }
}

/// The `Richiesta6001` payload for `cmd`.
pub fn write_request(cmd: &IssueCertificate, ctx: &RequestContext) -> Result<String, AnprError> {
    cmd.check()?;
    let mut out = payload_root(ns::CERTIFICAZIONE, "Richiesta6001");
    header::write_request_header(&mut out, ctx, SERVICE, None)?;
    write_types(&mut out, "listaTipiCertificati", &cmd.certificate_types);
    out.open("soggettoIntestatario");
    contract::write_person(&mut out, "generalita", &cmd.holder, "holder")?;
    out.close("soggettoIntestatario");
    out.open("datiControllo");
    out.leaf("cognomeUffAnagrafe", &cmd.officer.surname);
    out.leaf("nomeUffAnagrafe", &cmd.officer.given_name);
    write_parameters(&mut out, cmd);
    out.close("datiControllo");
    Ok(out.finish())
}

fn write_types(out: &mut XmlOut, tag: &str, types: &[u32]) {
    out.open(tag);
    for t in types {
        out.leaf("tipoCertificato", t.to_string());
    }
    out.close(tag);
}

/// The fields `datiControllo` and `parametriRichiesta` share, in their common order.
fn write_parameters(out: &mut XmlOut, cmd: &IssueCertificate) {
    out.leaf("tipoRichiedente", code(&REQUESTERS, cmd.requester).to_string());
    out.leaf("tipoRichiesta", if cmd.data_only { "2" } else { "1" });
    out.leaf("paEstera", if cmd.foreign_authority { "1" } else { "0" });
    out.leaf("emissione", code(&DELIVERIES, cmd.delivery).to_string());
    out.leaf("bollo", cmd.stamp_duty_cents.to_string());
    out.leaf("diritti", cmd.fees_cents.to_string());
    out.opt_leaf(
        "esenzioneBollo",
        cmd.stamp_duty_exemption.map(|e| e.to_string()).as_deref(),
    );
}

/// The simulator's reading of a `Richiesta6001`.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, IssueCertificate), AnprError> {
    let p = el(doc, node);
    p.expect(ns::CERTIFICAZIONE, "Richiesta6001")?;
    let header = header::read_request_header(&p)?;
    let certificate_types = p
        .req("listaTipiCertificati")?
        .all("tipoCertificato")
        .iter()
        .map(|t| {
            t.text()
                .parse()
                .map_err(|_| AnprError::invalid(t.path(), "is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let d = p.req("datiControllo")?;
    let path = d.path().to_owned();
    Ok((
        header,
        IssueCertificate {
            schema: SchemaV1,
            holder: contract::read_person(&p.req("soggettoIntestatario")?.req("generalita")?)?,
            certificate_types,
            requester: from_code(
                &REQUESTERS,
                d.req_u32("tipoRichiedente")?,
                &format!("{path}/tipoRichiedente"),
            )?,
            delivery: from_code(&DELIVERIES, d.req_u32("emissione")?, &format!("{path}/emissione"))?,
            data_only: d.req_u32("tipoRichiesta")? == 2,
            foreign_authority: d.req_u32("paEstera")? != 0,
            stamp_duty_cents: d.req_u32("bollo")?,
            fees_cents: d.req_u32("diritti")?,
            stamp_duty_exemption: d.opt_u32("esenzioneBollo")?,
            officer: Officer {
                surname: d.req_text("cognomeUffAnagrafe")?,
                given_name: d.req_text("nomeUffAnagrafe")?,
            },
        },
    ))
}

/// The simulator's `Risposta6001OK` to `request` (whose parameters ANPR echoes).
pub fn write_response(
    h: &ResponseHeader,
    request: &IssueCertificate,
    event: &CertificateIssued,
) -> Result<String, AnprError> {
    let mut out = payload_root(ns::CERTIFICAZIONE, "Risposta6001");
    out.open_ns("Risposta6001OK");
    header::write_response_header(&mut out, h)?;
    write_types(&mut out, "listaTipiCertificato", &request.certificate_types);
    if let Some(p) = &event.protocol_number {
        rules::digits("protocol_number", p, 1, 30)?;
        out.open("protocolloANPR");
        out.leaf("numeroProtocolloANPR", p);
        out.close("protocolloANPR");
    }
    out.open("parametriRichiesta");
    write_parameters(&mut out, request);
    out.close("parametriRichiesta");
    if let Some(pdf) = &event.pdf_base64 {
        rules::base64("pdf_base64", pdf)?;
        out.open("file");
        out.leaf("certificatoPdf", pdf);
        out.close("file");
    }
    header::write_messages(&mut out, "listaAnomalie", "anomalie", &event.warnings)?;
    out.close_ns("Risposta6001OK");
    Ok(out.finish())
}

/// Reads a `Risposta6001`.
pub fn read_response(doc: &Document, node: NodeId) -> Result<Answer<CertificateIssued>, AnprError> {
    let ok = match header::read_reply(
        &el(doc, node),
        ns::CERTIFICAZIONE,
        "Risposta6001",
        "Risposta6001KO",
    )? {
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::CERTIFICAZIONE, "Risposta6001OK")?;
    let h = header::read_response_header(&ok.req("testataRisposta")?)?;
    let pdf_base64 = match ok.child("file").and_then(|f| f.child("certificatoPdf")) {
        Some(pdf) => {
            // base64Binary may be folded over lines; the event carries it unfolded.
            let text: String = pdf.text().chars().filter(|c| !c.is_ascii_whitespace()).collect();
            rules::base64("certificatoPdf", &text)
                .map_err(|_| AnprError::invalid(pdf.path(), "is not valid base64"))?;
            Some(text)
        }
        None => None,
    };
    // An OK answer may still list blocking errors (`listaErrori`, 0..n); they are kept as warnings
    // of the completed event: ANPR issued the certificate.
    let mut warnings = Vec::new();
    for list in ok.all("listaErrori") {
        warnings.extend(header::read_messages(Some(list))?);
    }
    warnings.extend(header::read_messages(ok.child("listaAnomalie"))?);
    Ok(Ok(CertificateIssued {
        schema: SchemaV1,
        id_operazione_anpr: h.id_operazione_anpr,
        protocol_number: ok
            .child("protocolloANPR")
            .map(|p| p.req_text("numeroProtocolloANPR"))
            .transpose()?,
        pdf_base64,
        warnings,
    }))
}

/// The simulator's `Risposta6001KO`.
pub fn write_rejection(r: &Rejection) -> Result<String, AnprError> {
    header::write_rejection(ns::CERTIFICAZIONE, "Risposta6001", "Risposta6001KO", r)
}
