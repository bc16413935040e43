//! `anpr.death.register` → service 2001 (decesso): a resident's death (or presumed death declared by
//! a court) cancels them from the registry. When the deceased headed a household, ANPR needs the
//! household's new composition (EN483/EN484). The answer is the shared `Risposta_Comune`
//! ([`RegistryUpdated`]).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, NodeId};

use super::contract::{self, Person, Place, SchemaV1, date_schema};
use super::header;
use super::place_check::{self, PlaceWarning};
use super::registry_change::{self, CivilRecord, Member, RegistryUpdated};
use super::xml::{date_text, payload_root};
use super::{AnprError, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns};

pub const COMMAND: &str = "anpr.death.register";
pub const COMPLETED: &str = "anpr.death.register.completed";
pub const SERVICE: &str = "2001";

/// Command `anpr.death.register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDeath {
    pub schema: SchemaV1,
    /// Who died, as the registry knows them (`generalitaPerRicerca`).
    pub person: Person,
    #[schemars(schema_with = "date_schema")]
    pub death_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub death_place: Option<Place>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub death_record: Option<CivilRecord>,
    /// Presumed death declared by a court (`tipoMotivoCancellazione` 2) rather than ascertained (1).
    #[serde(default)]
    pub presumed: bool,
    /// When the deceased headed the household: its remaining members with their new relationships
    /// (`ruoloSoggetto` 1); empty otherwise (`ruoloSoggetto` 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remaining_household: Vec<Member>,
    /// Whether the deceased headed the household.
    #[serde(default)]
    pub head_of_household: bool,
}

impl RegisterDeath {
    /// EN483/EN484, the codici fiscali and the places; `Ok` carries the places the tables could
    /// not confirm.
    pub fn check(&self) -> Result<Vec<PlaceWarning>, AnprError> {
        let mut warnings = Vec::new();
        place_check::check_person(&self.person, "person", &mut warnings)?;
        if self.person.birth_date.is_some_and(|born| born > self.death_date) {
            return Err(AnprError::field("death_date", "is before the birth date"));
        }
        match (self.head_of_household, self.remaining_household.is_empty()) {
            (true, true) => {
                return Err(AnprError::field(
                    "remaining_household",
                    "must list the household's remaining members when the deceased headed it (EN483)",
                ));
            }
            (false, false) => {
                return Err(AnprError::field(
                    "remaining_household",
                    "must be empty unless the deceased headed the household (EN484)",
                ));
            }
            _ => {}
        }
        registry_change::check_members(&self.remaining_household, "remaining_household", &mut warnings)?;
        if let Some(place) = &self.death_place {
            place_check::check_place(place, Some(self.death_date), "death_place", &mut warnings);
        }
        if let Some(record) = &self.death_record {
            place_check::check_comune(
                &record.comune,
                Some(self.death_date),
                "death_record.comune",
                &mut warnings,
            );
        }
        Ok(warnings)
    }
}

/// The `Richiesta2001` payload for `cmd`, and the place warnings for its completed event.
pub fn write_request(
    cmd: &RegisterDeath,
    ctx: &RequestContext,
) -> Result<(String, Vec<PlaceWarning>), AnprError> {
    let warnings = cmd.check()?;
    let mut out = payload_root(ns::CANCELLAZIONE, "Richiesta2001");
    header::write_request_header(&mut out, ctx, SERVICE, Some(cmd.death_date))?;
    out.open("motivoCancellazione");
    out.leaf("tipoMotivoCancellazione", if cmd.presumed { "2" } else { "1" });
    out.close("motivoCancellazione");
    contract::write_person(&mut out, "generalitaPerRicerca", &cmd.person, "person")?;
    out.open("datiDecesso");
    out.leaf("dataEvento", date_text(cmd.death_date));
    if let Some(place) = &cmd.death_place {
        contract::write_place(&mut out, "luogoEvento", place, "death_place")?;
    }
    if let Some(record) = &cmd.death_record {
        registry_change::write_record(&mut out, "attoEvento", record, "death_record")?;
    }
    out.close("datiDecesso");
    for (i, m) in cmd.remaining_household.iter().enumerate() {
        registry_change::write_member(
            &mut out,
            "elencoSoggettiFamiglia",
            m,
            &format!("remaining_household[{i}]"),
        )?;
    }
    out.open("datiControllo");
    out.leaf("ruoloSoggetto", if cmd.head_of_household { "1" } else { "2" });
    out.close("datiControllo");
    Ok((out.finish(), warnings))
}

/// The simulator's reading of a `Richiesta2001`.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, RegisterDeath), AnprError> {
    let p = el(doc, node);
    p.expect(ns::CANCELLAZIONE, "Richiesta2001")?;
    let header = header::read_request_header(&p)?;
    let reason = p.req("motivoCancellazione")?;
    let presumed = match reason.opt_u32("tipoMotivoCancellazione")? {
        Some(1) => false,
        Some(2) => true,
        _ => {
            return Err(AnprError::invalid(
                reason.path(),
                "is not death (1) or presumed death (2): 2001 cancels for death only",
            ));
        }
    };
    let event = p.req("datiDecesso")?;
    let death_place = match event.child("luogoEvento") {
        Some(l) => contract::read_place(&l)?,
        None => None,
    };
    Ok((
        header,
        RegisterDeath {
            schema: SchemaV1,
            person: contract::read_person(&p.req("generalitaPerRicerca")?)?,
            death_date: event.req_date("dataEvento")?,
            death_place,
            death_record: event
                .child("attoEvento")
                .map(|a| registry_change::read_record(&a))
                .transpose()?,
            presumed,
            remaining_household: p
                .all("elencoSoggettiFamiglia")
                .iter()
                .map(registry_change::read_member)
                .collect::<Result<_, _>>()?,
            head_of_household: p.req("datiControllo")?.req_u32("ruoloSoggetto")? == 1,
        },
    ))
}

/// The simulator's OK answer.
pub fn write_response(h: &ResponseHeader, event: &RegistryUpdated) -> Result<String, AnprError> {
    registry_change::write_response(ns::CANCELLAZIONE, "Risposta2001", h, event)
}

/// Reads a `Risposta2001`; `place_warnings` are those [`write_request`] returned.
pub fn read_response(
    doc: &Document,
    node: NodeId,
    place_warnings: Vec<PlaceWarning>,
) -> Result<Answer<RegistryUpdated>, AnprError> {
    registry_change::read_response(&el(doc, node), ns::CANCELLAZIONE, "Risposta2001", place_warnings)
}

/// The simulator's `rispostaKO`.
pub fn write_rejection(r: &Rejection) -> Result<String, AnprError> {
    header::write_rejection(ns::CANCELLAZIONE, "Risposta2001", "rispostaKO", r)
}
