//! What the three registration services (5005 change of residence, 1001 birth, 2001 death) share:
//! the household a change is about (`tipoFamigliaConvivenza`), its members with their relationship
//! (`tipoSoggettoFamiglia`, `tipoLegameSoggetto`), a civil-status record (`tipoAtto`), and the answer
//! they all get, `Risposta_Comune` (`rispostaComune.xsd`: the subjects ANPR changed and its
//! anomalies), mapped to one completed-event type.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{self, Comune, Person, SchemaV1, date_schema};
use super::header::{self, Reply};
use super::place_check::{self, PlaceWarning};
use super::xml::{El, XmlOut, date_text, payload_root};
use super::{AnprError, AnprMessage, Answer, ResponseHeader, ns, rules};

/// Which household: ANPR's id, or the comune's own (`idFamigliaConvivenzaComune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HouseholdId {
    /// `idFamigliaConvivenzaANPR`, up to 20 digits.
    Anpr(String),
    /// The comune's id of the household (up to 20 letters or digits), in the sending comune.
    Comune(String),
}

/// A household (`famiglia`) or a cohabitation (`convivenza`, an institution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Household {
    pub id: HouseholdId,
    /// `tipoScheda`: false = famiglia (1), true = convivenza (2).
    #[serde(default)]
    pub cohabitation: bool,
}

/// A person's relationship in a household (`tipoLegameSoggetto`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    /// `codiceLegame`, `tab_relazione_di_parentela___famiglia.csv` (1 = intestatario, 2 = spouse,
    /// 3 = child, …, 99 = not stated).
    pub code: u32,
    #[schemars(schema_with = "date_schema")]
    pub since: NaiveDate,
}

/// A member of a household with their relationship to its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub person: Person,
    pub relationship: Relationship,
}

/// A civil-status record (`tipoAtto`): where and in which register it was drawn up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CivilRecord {
    pub comune: Comune,
    pub year: u32,
    /// `parte` (1–2 letters or digits, e.g. `1`).
    pub part: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    pub number: String,
}

/// The completed event of 5005, 1001 and 2001: what ANPR reports having changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryUpdated {
    pub schema: SchemaV1,
    /// Absent only when ANPR left out `testataRisposta`, which `Risposta_Comune` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_operazione_anpr: Option<String>,
    /// `listaSoggettiVariati`: the people the operation changed, as ANPR now records them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<ChangedSubject>,
    /// ANPR's anomalies (`listaAnomalie`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<AnprMessage>,
    /// Places of the command the embedded tables could not confirm (sent all the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub place_warnings: Vec<PlaceWarning>,
}

/// One `datiSoggetto` of `listaSoggettiVariati`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangedSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_anpr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
}

pub(crate) fn check_household(h: &Household, field: &str) -> Result<(), AnprError> {
    match &h.id {
        HouseholdId::Anpr(id) => rules::digits(&format!("{field}.id.anpr"), id, 1, 20),
        HouseholdId::Comune(id) => rules::alphanumeric(&format!("{field}.id.comune"), id, 1, 20),
    }
}

/// `tipoFamigliaConvivenza`; the comune's id is qualified by the sending comune's ISTAT code.
pub(crate) fn write_household(
    out: &mut XmlOut,
    tag: &str,
    h: &Household,
    istat: &str,
    field: &str,
) -> Result<(), AnprError> {
    check_household(h, field)?;
    out.open(tag);
    match &h.id {
        HouseholdId::Comune(id) => {
            out.open("idFamigliaConvivenzaComune");
            out.leaf("idFamigliaConvivenzaComuneIstat", istat);
            out.leaf("idFamigliaConvivenza", id);
            out.close("idFamigliaConvivenzaComune");
        }
        HouseholdId::Anpr(id) => {
            out.leaf("idFamigliaConvivenzaANPR", id);
        }
    }
    out.leaf("tipoScheda", if h.cohabitation { "2" } else { "1" });
    out.close(tag);
    Ok(())
}

pub(crate) fn read_household(e: &El<'_>) -> Result<Household, AnprError> {
    let id = if let Some(anpr) = e.opt_text("idFamigliaConvivenzaANPR") {
        HouseholdId::Anpr(anpr)
    } else if let Some(c) = e.child("idFamigliaConvivenzaComune") {
        HouseholdId::Comune(c.req_text("idFamigliaConvivenza")?)
    } else {
        return Err(AnprError::Missing {
            path: format!("{}/idFamigliaConvivenzaANPR", e.path()),
        });
    };
    Ok(Household {
        id,
        cohabitation: e.req_u32("tipoScheda")? == 2,
    })
}

pub(crate) fn write_relationship(
    out: &mut XmlOut,
    tag: &str,
    r: &Relationship,
    field: &str,
) -> Result<(), AnprError> {
    rules::range(&format!("{field}.code"), r.code, 1, 99)?;
    out.open(tag);
    out.leaf("dataDecorrenza", date_text(r.since));
    out.leaf("codiceLegame", r.code.to_string());
    out.close(tag);
    Ok(())
}

pub(crate) fn read_relationship(e: &El<'_>) -> Result<Relationship, AnprError> {
    Ok(Relationship {
        code: e.req_u32("codiceLegame")?,
        since: e.req_date("dataDecorrenza")?,
    })
}

/// `tipoSoggettoFamiglia`: generalità and relationship.
pub(crate) fn write_member(out: &mut XmlOut, tag: &str, m: &Member, field: &str) -> Result<(), AnprError> {
    out.open(tag);
    contract::write_person(out, "generalita", &m.person, &format!("{field}.person"))?;
    write_relationship(
        out,
        "legameSoggetto",
        &m.relationship,
        &format!("{field}.relationship"),
    )?;
    out.close(tag);
    Ok(())
}

pub(crate) fn read_member(e: &El<'_>) -> Result<Member, AnprError> {
    Ok(Member {
        person: contract::read_person(&e.req("generalita")?)?,
        relationship: read_relationship(&e.req("legameSoggetto")?)?,
    })
}

/// Codice fiscale and birthplace of each member, naming them `field[i]`.
pub(crate) fn check_members(
    members: &[Member],
    field: &str,
    warnings: &mut Vec<PlaceWarning>,
) -> Result<(), AnprError> {
    for (i, m) in members.iter().enumerate() {
        place_check::check_person(&m.person, &format!("{field}[{i}].person"), warnings)?;
    }
    Ok(())
}

/// `tipoAtto`.
pub(crate) fn write_record(
    out: &mut XmlOut,
    tag: &str,
    r: &CivilRecord,
    field: &str,
) -> Result<(), AnprError> {
    rules::range(&format!("{field}.year"), r.year, 1000, 9999)?;
    rules::alphanumeric(&format!("{field}.part"), &r.part, 1, 2)?;
    if let Some(s) = &r.series {
        rules::alphanumeric(&format!("{field}.series"), s, 1, 10)?;
    }
    if r.number.is_empty()
        || r.number.chars().count() > 20
        || !r.number.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
    {
        return Err(AnprError::field(
            format!("{field}.number"),
            "must be 1 to 20 letters, digits or spaces",
        ));
    }
    out.open(tag);
    contract::write_comune(out, "comuneRegistrazione", &r.comune, &format!("{field}.comune"))?;
    out.leaf("anno", r.year.to_string());
    out.leaf("parte", &r.part);
    out.opt_leaf("serie", r.series.as_deref());
    out.leaf("numeroAtto", &r.number);
    out.close(tag);
    Ok(())
}

pub(crate) fn read_record(e: &El<'_>) -> Result<CivilRecord, AnprError> {
    Ok(CivilRecord {
        comune: contract::read_comune(&e.req("comuneRegistrazione")?)?,
        year: e.req_u32("anno")?,
        part: e.req_text("parte")?,
        series: e.opt_text("serie"),
        number: e.req_text("numeroAtto")?,
    })
}

/// The simulator's OK answer of service `root` (`Risposta5005`, …): `Risposta_Comune` with the
/// header, the changed subjects and the anomalies (place warnings are the connector's, not ANPR's).
pub(crate) fn write_response(
    namespace: &str,
    root: &str,
    h: &ResponseHeader,
    event: &RegistryUpdated,
) -> Result<String, AnprError> {
    let mut out = payload_root(namespace, root);
    out.open_qualified("r", ns::RISPOSTA_COMUNE, "Risposta_Comune");
    header::write_response_header(&mut out, h)?;
    if !event.subjects.is_empty() {
        out.open("listaSoggettiVariati");
        for (i, s) in event.subjects.iter().enumerate() {
            out.open("datiSoggetto");
            if let Some(id) = &s.id_anpr {
                rules::alphanumeric(&format!("subjects[{i}].id_anpr"), id, 1, 30)?;
                out.open("identificativi");
                out.leaf("idANPR", id);
                out.close("identificativi");
            }
            if let Some(p) = &s.person {
                contract::write_person(&mut out, "generalitaAttuali", p, &format!("subjects[{i}].person"))?;
            }
            out.close("datiSoggetto");
        }
        out.close("listaSoggettiVariati");
    }
    header::write_messages(&mut out, "listaAnomalie", "anomalie", &event.warnings)?;
    out.close_qualified("r", "Risposta_Comune");
    Ok(out.finish())
}

/// Reads `RispostaNNNN`: `Risposta_Comune` or `rispostaKO`; the command's place warnings are added
/// to the event. (1001's third answer, `RispostaMultipla1001`, is read by `birth` before this.)
pub(crate) fn read_response(
    payload: &El<'_>,
    namespace: &str,
    root: &str,
    place_warnings: Vec<PlaceWarning>,
) -> Result<Answer<RegistryUpdated>, AnprError> {
    let ok = match header::read_reply(payload, namespace, root, "rispostaKO")? {
        Reply::Rejected(r) => return Ok(Err(r)),
        Reply::Ok(ok) => ok,
    };
    ok.expect(ns::RISPOSTA_COMUNE, "Risposta_Comune")?;
    let id_operazione_anpr = match ok.child("testataRisposta") {
        Some(t) => Some(header::read_response_header(&t)?.id_operazione_anpr),
        None => None,
    };
    let subjects = match ok.child("listaSoggettiVariati") {
        Some(list) => list
            .all("datiSoggetto")
            .iter()
            .map(|d| {
                Ok(ChangedSubject {
                    id_anpr: d.child("identificativi").and_then(|i| i.opt_text("idANPR")),
                    person: d
                        .child("generalitaAttuali")
                        .map(|g| contract::read_person(&g))
                        .transpose()?,
                })
            })
            .collect::<Result<_, AnprError>>()?,
        None => Vec::new(),
    };
    Ok(Ok(RegistryUpdated {
        schema: SchemaV1,
        id_operazione_anpr,
        subjects,
        warnings: header::read_messages(ok.child("listaAnomalie"))?,
        place_warnings,
    }))
}
