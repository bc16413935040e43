//! `anpr.birth.register` → service 1001 (iscrizione_nascita): a child born to residents is
//! registered, with the civil-status record, citizenship, parents and the household the child joins
//! (`attribuzioneFamiglia`). The answer is the shared `Risposta_Comune` ([`RegistryUpdated`]), or
//! the candidate parents to choose from ([`super::birth_candidates`]).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, NodeId};

use super::birth_candidates::{self, BirthRegistration};
use super::contract::{self, Citizenship, Person, SchemaV1};
use super::header::{self, Reply};
use super::place_check::{self, PlaceWarning};
use super::registry_change::{self, CivilRecord, Household, RegistryUpdated, Relationship};
use super::xml::payload_root;
use super::{AnprError, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns};

pub const COMMAND: &str = "anpr.birth.register";
pub const COMPLETED: &str = "anpr.birth.register.completed";
pub const SERVICE: &str = "1001";

/// Command `anpr.birth.register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBirth {
    pub schema: SchemaV1,
    /// The child; without a codice fiscale, ANPR is asked to have one assigned (`gestioneCF` 1).
    pub child: Person,
    pub citizenship: Citizenship,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_record: Option<CivilRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother: Option<Person>,
    /// The household the child joins (`attribuzioneFamiglia`).
    pub joins: Joins,
    /// For `institution` and `other_family`: the household (`famConv`) and the child's relationship
    /// in it (`legameSoggetto`), both required by ANPR (EF030).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Household>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<Relationship>,
    /// `dataDecorrenza`; the birth date when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "contract::optional_date_schema")]
    pub effective_date: Option<NaiveDate>,
}

/// `attribuzioneFamiglia` (ANPR errors EF014, ES042, ES043, EF030 give the codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Joins {
    /// 1: the parents' household.
    Parents,
    /// 2: the father's.
    Father,
    /// 3: the mother's.
    Mother,
    /// 4: a cohabitation or institution.
    Institution,
    /// 5: another household.
    OtherFamily,
}

const JOINS: [(Joins, u32); 5] = [
    (Joins::Parents, 1),
    (Joins::Father, 2),
    (Joins::Mother, 3),
    (Joins::Institution, 4),
    (Joins::OtherFamily, 5),
];

fn joins_code(j: Joins) -> u32 {
    JOINS
        .iter()
        .find(|(k, _)| *k == j)
        .map(|(_, c)| *c)
        .expect("every variant is in the table")
}

impl RegisterBirth {
    /// The field rules ANPR would otherwise answer with EF030/ES042/ES043, the codici fiscali, and
    /// the places; `Ok` carries the places the tables could not confirm.
    pub fn check(&self) -> Result<Vec<PlaceWarning>, AnprError> {
        let mut warnings = Vec::new();
        let Some(born) = self.child.birth_date else {
            return Err(AnprError::field(
                "child.birth_date",
                "is required to register a birth",
            ));
        };
        if self.child.birth_place.is_none() {
            return Err(AnprError::field(
                "child.birth_place",
                "is required to register a birth",
            ));
        }
        if self.child.sex.is_none() {
            return Err(AnprError::field("child.sex", "is required to register a birth"));
        }
        place_check::check_person(&self.child, "child", &mut warnings)?;
        for (field, parent) in [("father", &self.father), ("mother", &self.mother)] {
            if let Some(p) = parent {
                if p.surname.is_none() && p.given_name.is_none() {
                    // ES044: at least the parent's surname or given name.
                    return Err(AnprError::field(
                        field,
                        "needs at least a surname or a given name",
                    ));
                }
                place_check::check_person(p, field, &mut warnings)?;
            }
        }
        if matches!(self.joins, Joins::Parents | Joins::Father) && self.father.is_none() {
            return Err(AnprError::field(
                "father",
                "is required when the child joins the parents' or the father's household",
            ));
        }
        if matches!(self.joins, Joins::Parents | Joins::Mother) && self.mother.is_none() {
            return Err(AnprError::field(
                "mother",
                "is required when the child joins the parents' or the mother's household",
            ));
        }
        let elsewhere = matches!(self.joins, Joins::Institution | Joins::OtherFamily);
        match (&self.household, elsewhere) {
            (None, true) => {
                return Err(AnprError::field(
                    "household",
                    "is required when the child joins an institution or another household",
                ));
            }
            (Some(_), false) => {
                return Err(AnprError::field(
                    "household",
                    "is only for a child joining an institution or another household",
                ));
            }
            (Some(h), true) => registry_change::check_household(h, "household")?,
            (None, false) => {}
        }
        if elsewhere && self.relationship.is_none() {
            return Err(AnprError::field(
                "relationship",
                "is required when the child joins an institution or another household",
            ));
        }
        if let Some(record) = &self.birth_record {
            place_check::check_comune(&record.comune, Some(born), "birth_record.comune", &mut warnings);
        }
        Ok(warnings)
    }
}

/// The `Richiesta1001` payload for `cmd`, and the place warnings for its completed event.
pub fn write_request(
    cmd: &RegisterBirth,
    ctx: &RequestContext,
) -> Result<(String, Vec<PlaceWarning>), AnprError> {
    let warnings = cmd.check()?;
    let effective = cmd.effective_date.or(cmd.child.birth_date);
    let mut out = payload_root(ns::ISCRIZIONE, "Richiesta1001");
    header::write_request_header(&mut out, ctx, SERVICE, effective)?;
    out.open("generalita1001");
    contract::write_person(&mut out, "generalita", &cmd.child, "child")?;
    out.close("generalita1001");
    if let Some(r) = &cmd.birth_record {
        registry_change::write_record(&mut out, "attoNascita", r, "birth_record")?;
    }
    contract::write_citizenship(&mut out, "cittadinanza", &cmd.citizenship, "citizenship")?;
    for (tag, field, parent) in [
        ("paternita", "father", &cmd.father),
        ("maternita", "mother", &cmd.mother),
    ] {
        if let Some(p) = parent {
            out.open(tag);
            contract::write_person(&mut out, "generalita", p, field)?;
            out.close(tag);
        }
    }
    if let Some(h) = &cmd.household {
        registry_change::write_household(&mut out, "famConv", h, &ctx.istat_code, "household")?;
    }
    if let Some(r) = &cmd.relationship {
        registry_change::write_relationship(&mut out, "legameSoggetto", r, "relationship")?;
    }
    out.open("datiControllo");
    out.leaf("attribuzioneFamiglia", joins_code(cmd.joins).to_string());
    if cmd.child.codice_fiscale.is_none() {
        // EN146/EN147: without a code, ANPR must be asked to have the Agenzia assign one.
        out.leaf("gestioneCF", "1");
    }
    out.close("datiControllo");
    Ok((out.finish(), warnings))
}

/// The simulator's reading of a `Richiesta1001`.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, RegisterBirth), AnprError> {
    let p = el(doc, node);
    p.expect(ns::ISCRIZIONE, "Richiesta1001")?;
    let header = header::read_request_header(&p)?;
    let child = contract::read_person(&p.req("generalita1001")?.req("generalita")?)?;
    let parent = |tag: &str| {
        p.child(tag)
            .map(|g| g.req("generalita").and_then(|g| contract::read_person(&g)))
            .transpose()
    };
    let controls = p.req("datiControllo")?;
    let code = controls.req_u32("attribuzioneFamiglia")?;
    let joins = JOINS
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(j, _)| *j)
        .ok_or_else(|| {
            AnprError::invalid(
                format!("{}/attribuzioneFamiglia", controls.path()),
                "is not 1 to 5 (EF014)",
            )
        })?;
    // The effective date is echoed only when it is not the birth date, so a command reads back equal.
    let effective_date = header.data_decorrenza.filter(|d| Some(*d) != child.birth_date);
    Ok((
        header,
        RegisterBirth {
            schema: SchemaV1,
            birth_record: p
                .child("attoNascita")
                .map(|a| registry_change::read_record(&a))
                .transpose()?,
            citizenship: contract::read_citizenship(&p.req("cittadinanza")?)?,
            father: parent("paternita")?,
            mother: parent("maternita")?,
            joins,
            household: p
                .child("famConv")
                .map(|h| registry_change::read_household(&h))
                .transpose()?,
            relationship: p
                .child("legameSoggetto")
                .map(|r| registry_change::read_relationship(&r))
                .transpose()?,
            effective_date,
            child,
        },
    ))
}

/// The simulator's OK answer.
pub fn write_response(h: &ResponseHeader, event: &RegistryUpdated) -> Result<String, AnprError> {
    registry_change::write_response(ns::ISCRIZIONE, "Risposta1001", h, event)
}

/// Reads a `Risposta1001`: registered, ANPR's list of candidate parents (`RispostaMultipla1001`),
/// or `rispostaKO`; `place_warnings` are those [`write_request`] returned.
pub fn read_response(
    doc: &Document,
    node: NodeId,
    place_warnings: Vec<PlaceWarning>,
) -> Result<Answer<BirthRegistration>, AnprError> {
    let payload = el(doc, node);
    if let Reply::Ok(ok) = header::read_reply(&payload, ns::ISCRIZIONE, "Risposta1001", "rispostaKO")?
        && ok.local_name() == "RispostaMultipla1001"
    {
        ok.expect(ns::ISCRIZIONE, "RispostaMultipla1001")?;
        let choice = birth_candidates::read(&ok, place_warnings)?;
        return Ok(Ok(BirthRegistration::ParentsToChoose(choice)));
    }
    let answer = registry_change::read_response(&payload, ns::ISCRIZIONE, "Risposta1001", place_warnings)?;
    Ok(answer.map(BirthRegistration::Registered))
}

/// The simulator's `rispostaKO`.
pub fn write_rejection(r: &Rejection) -> Result<String, AnprError> {
    header::write_rejection(ns::ISCRIZIONE, "Risposta1001", "rispostaKO", r)
}
