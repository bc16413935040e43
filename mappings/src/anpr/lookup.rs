//! `anpr.resident.lookup` → service 3002 (interrogazioneCittadino_famiglia_convivenza): a resident
//! found by codice fiscale or by generalità, with the sections wanted; its completed event carries
//! each person ANPR returned (generalità, civil status, citizenship, residence, family link, idANPR)
//! and ANPR's warnings.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, NodeId};

use super::contract::{self, Address, Citizenship, Person, Place, SchemaV1, Sex, optional_date_schema};
use super::header::{self, Reply};
use super::xml::{XmlOut, date_text, payload_root};
use super::{
    AnprError, AnprMessage, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns, rules,
};

pub const COMMAND: &str = "anpr.resident.lookup";
pub const SERVICE: &str = "3002";

/// Command `anpr.resident.lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupResident {
    pub schema: SchemaV1,
    pub by: LookupKey,
    /// What to return, at least one; `full_record` cannot be combined with others (ANPR EC020).
    pub sections: Vec<Section>,
    /// The registry's state on this day; default: the day of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub reference_date: Option<NaiveDate>,
    /// Search every comune, not only this one.
    #[serde(default)]
    pub nationwide: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LookupKey {
    CodiceFiscale(String),
    Generalita(SearchByName),
}

/// Search by surname, name and optionally sex and birth data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchByName {
    pub surname: String,
    pub given_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub birth_date: Option<NaiveDate>,
    /// Only with `birth_date` (the XSD's `datiNascita` requires the date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_place: Option<Place>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Generalità, civil status, citizenship (`datiAnagraficiRichiesti` 2, 3, 6).
    PersonalData,
    /// Residence (10).
    Residence,
    /// Family link and household (21, 22).
    Family,
    /// The whole individual record (1).
    FullRecord,
}

impl Section {
    fn codes(self) -> &'static [u32] {
        match self {
            Section::PersonalData => &[2, 3, 6],
            Section::Residence => &[10],
            Section::Family => &[21, 22],
            Section::FullRecord => &[1],
        }
    }
}

/// Event `anpr.resident.lookup.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupCompleted {
    pub schema: SchemaV1,
    pub id_operazione_anpr: String,
    pub persons: Vec<Resident>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<AnprMessage>,
}

/// One person of a 3002 answer (`tipoDatiRispostaEstrazioneSoggetti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resident {
    /// The national unique identifier (`idANPR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_anpr: Option<String>,
    pub person: Person,
    /// Civil status code (`tab_stato_civile.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civil_status: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citizenships: Vec<Citizenship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_link: Option<FamilyLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Household>,
}

/// The person's place in the household (`legameSoggetto`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyLink {
    /// `codiceLegame` (1 = intestatario scheda, 2 = coniuge, 3 = figlio, …).
    pub relationship: u32,
    #[schemars(schema_with = "contract::date_schema")]
    pub since: NaiveDate,
}

/// The household or cohabitation the person belongs to (`famigliaConvivenza`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Household {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_anpr: Option<String>,
    /// `tipoScheda`: 1 = family, 2 = cohabitation.
    pub kind: u32,
}

impl LookupResident {
    /// The field rules beyond the types.
    pub fn check(&self) -> Result<(), AnprError> {
        if self.sections.is_empty() {
            return Err(AnprError::field("sections", "name at least one section"));
        }
        for (i, s) in self.sections.iter().enumerate() {
            if self.sections[..i].contains(s) {
                return Err(AnprError::field(format!("sections[{i}]"), "is repeated"));
            }
        }
        if self.sections.contains(&Section::FullRecord) && self.sections.len() > 1 {
            return Err(AnprError::field(
                "sections",
                "full_record cannot be combined with other sections (ANPR EC020)",
            ));
        }
        match &self.by {
            LookupKey::CodiceFiscale(cf) => rules::codice_fiscale("by.codice_fiscale", cf),
            LookupKey::Generalita(g) => {
                rules::name("by.generalita.surname", &g.surname)?;
                rules::name("by.generalita.given_name", &g.given_name)?;
                if g.birth_place.is_some() && g.birth_date.is_none() {
                    return Err(AnprError::field(
                        "by.generalita.birth_place",
                        "needs birth_date as well",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The `Richiesta3002` payload for `cmd`.
pub fn write_request(cmd: &LookupResident, ctx: &RequestContext) -> Result<String, AnprError> {
    cmd.check()?;
    let mut out = payload_root(ns::CONSULTAZIONE, "Richiesta3002");
    header::write_request_header(&mut out, ctx, SERVICE, None)?;
    out.open("criteriRicerca");
    let mut birth = None;
    match &cmd.by {
        LookupKey::CodiceFiscale(cf) => {
            out.leaf("codiceFiscale", cf);
        }
        LookupKey::Generalita(g) => {
            out.leaf("cognome", &g.surname);
            out.leaf("nome", &g.given_name);
            out.opt_leaf("sesso", g.sex.map(contract::sex_code));
            birth = g.birth_date.map(|d| (d, g.birth_place.as_ref()));
        }
    }
    out.close("criteriRicerca");
    if let Some((date, place)) = birth {
        out.open("datiNascita");
        out.leaf("dataEvento", date_text(date));
        if let Some(place) = place {
            contract::write_place(&mut out, "luogoNascita", place, "by.generalita.birth_place")?;
        }
        out.close("datiNascita");
    }
    out.open("datiRichiesta");
    // 1: the individual record (the sample requests' value); the sections choose its parts.
    out.leaf("schedaAnagraficaRichiesta", "1");
    let day = cmd.reference_date.unwrap_or(ctx.requested_at.date_naive());
    out.leaf("dataRiferimentoRichiesta", date_text(day));
    for code in cmd.sections.iter().flat_map(|s| s.codes()) {
        out.leaf("datiAnagraficiRichiesti", code.to_string());
    }
    out.leaf("ricercaNazionale", if cmd.nationwide { "1" } else { "0" });
    out.close("datiRichiesta");
    Ok(out.finish())
}

/// The simulator's reading of a `Richiesta3002`: its header and the command it stands for.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, LookupResident), AnprError> {
    let p = el(doc, node);
    p.expect(ns::CONSULTAZIONE, "Richiesta3002")?;
    let header = header::read_request_header(&p)?;
    let c = p.req("criteriRicerca")?;
    let by = match c.opt_text("codiceFiscale") {
        Some(cf) => LookupKey::CodiceFiscale(cf),
        None => {
            let birth = p.child("datiNascita");
            LookupKey::Generalita(SearchByName {
                surname: c.req_text("cognome")?,
                given_name: c.req_text("nome")?,
                sex: match c.opt_text("sesso").as_deref() {
                    Some("M" | "m") => Some(Sex::M),
                    Some("F" | "f") => Some(Sex::F),
                    _ => None,
                },
                birth_date: match &birth {
                    Some(b) => Some(b.req_date("dataEvento")?),
                    None => None,
                },
                birth_place: match birth.as_ref().and_then(|b| b.child("luogoNascita")) {
                    Some(l) => contract::read_place(&l)?,
                    None => None,
                },
            })
        }
    };
    let d = p.req("datiRichiesta")?;
    let mut sections = Vec::new();
    for code in d.all("datiAnagraficiRichiesti") {
        let section = match code.text().as_str() {
            "1" => Some(Section::FullRecord),
            "2" => Some(Section::PersonalData),
            "10" => Some(Section::Residence),
            "21" => Some(Section::Family),
            _ => None,
        };
        if let Some(s) = section.filter(|s| !sections.contains(s)) {
            sections.push(s);
        }
    }
    Ok((
        header,
        LookupResident {
            schema: SchemaV1,
            by,
            sections,
            reference_date: Some(d.req_date("dataRiferimentoRichiesta")?),
            nationwide: d.opt_text("ricercaNazionale").as_deref() == Some("1"),
        },
    ))
}

/// The simulator's `Risposta3002_OK`.
pub fn write_response(h: &ResponseHeader, event: &LookupCompleted) -> Result<String, AnprError> {
    let mut out = payload_root(ns::CONSULTAZIONE, "Risposta3002");
    out.open_ns("Risposta3002_OK");
    header::write_response_header(&mut out, h)?;
    if !event.persons.is_empty() {
        out.open("listaSoggetti");
        for (i, r) in event.persons.iter().enumerate() {
            write_resident(&mut out, "datiSoggetto", r, &format!("persons[{i}]"))?;
        }
        out.close("listaSoggetti");
    }
    header::write_messages(&mut out, "listaAnomalie", "errore", &event.warnings)?;
    out.close_ns("Risposta3002_OK");
    Ok(out.finish())
}

/// `tipoDatiRispostaEstrazioneSoggetti`, in the schema's element order.
pub(crate) fn write_resident(
    out: &mut XmlOut,
    tag: &str,
    r: &Resident,
    field: &str,
) -> Result<(), AnprError> {
    out.open(tag);
    if let Some(id) = &r.id_anpr {
        out.open("identificativi");
        out.leaf("idANPR", id);
        out.close("identificativi");
    }
    contract::write_person(out, "generalita", &r.person, &format!("{field}.person"))?;
    if let Some(code) = r.civil_status {
        rules::range(&format!("{field}.civil_status"), code, 0, 99)?;
        out.open("statoCivile");
        out.leaf("statoCivile", code.to_string());
        out.close("statoCivile");
    }
    for (i, c) in r.citizenships.iter().enumerate() {
        contract::write_citizenship(out, "cittadinanza", c, &format!("{field}.citizenships[{i}]"))?;
    }
    if let Some(a) = &r.residence {
        contract::write_address(out, "residenza", a, &format!("{field}.residence"))?;
    }
    if let Some(l) = &r.family_link {
        rules::range(
            &format!("{field}.family_link.relationship"),
            l.relationship,
            0,
            99,
        )?;
        out.open("legameSoggetto");
        out.leaf("dataDecorrenza", date_text(l.since));
        out.leaf("codiceLegame", l.relationship.to_string());
        out.close("legameSoggetto");
    }
    if let Some(h) = &r.household {
        if let Some(id) = &h.id_anpr {
            rules::digits(&format!("{field}.household.id_anpr"), id, 1, 20)?;
        }
        rules::range(&format!("{field}.household.kind"), h.kind, 0, 9)?;
        out.open("famigliaConvivenza");
        out.opt_leaf("idFamigliaConvivenzaANPR", h.id_anpr.as_deref());
        out.leaf("tipoScheda", h.kind.to_string());
        out.close("famigliaConvivenza");
    }
    out.close(tag);
    Ok(())
}

pub(crate) fn read_resident(e: &super::xml::El<'_>) -> Result<Resident, AnprError> {
    let mut residence = None;
    for r in e.all("residenza") {
        // The first Italian address is the residence; later ones are dimora or domicilio.
        if residence.is_none() {
            residence = contract::read_address(&r)?;
        }
    }
    Ok(Resident {
        id_anpr: e.child("identificativi").and_then(|i| i.opt_text("idANPR")),
        person: contract::read_person(&e.req("generalita")?)?,
        civil_status: match e.child("statoCivile") {
            Some(s) => Some(s.req_u32("statoCivile")?),
            None => None,
        },
        citizenships: e
            .all("cittadinanza")
            .iter()
            .map(contract::read_citizenship)
            .collect::<Result<_, _>>()?,
        residence,
        family_link: match e.child("legameSoggetto") {
            Some(l) => Some(FamilyLink {
                relationship: l.req_u32("codiceLegame")?,
                since: l.req_date("dataDecorrenza")?,
            }),
            None => None,
        },
        household: match e.child("famigliaConvivenza") {
            Some(h) => Some(Household {
                id_anpr: h.opt_text("idFamigliaConvivenzaANPR"),
                kind: h.req_u32("tipoScheda")?,
            }),
            None => None,
        },
    })
}

/// Reads a `Risposta3002`.
pub fn read_response(doc: &Document, node: NodeId) -> Result<Answer<LookupCompleted>, AnprError> {
    let ok = match header::read_reply(&el(doc, node), ns::CONSULTAZIONE, "Risposta3002", "rispostaKO")? {
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::CONSULTAZIONE, "Risposta3002_OK")?;
    let h = header::read_response_header(&ok.req("testataRisposta")?)?;
    let persons = match ok.child("listaSoggetti") {
        Some(l) => l
            .all("datiSoggetto")
            .iter()
            .map(read_resident)
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(Ok(LookupCompleted {
        schema: SchemaV1,
        id_operazione_anpr: h.id_operazione_anpr,
        persons,
        warnings: header::read_messages(ok.child("listaAnomalie"))?,
    }))
}

/// The simulator's `rispostaKO` for 3002.
pub fn write_rejection(r: &Rejection) -> Result<String, AnprError> {
    header::write_rejection(ns::CONSULTAZIONE, "Risposta3002", "rispostaKO", r)
}
