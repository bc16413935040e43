//! `anpr.residence.change` → service 5005 (mutazione_residenza): a household moves to a new address
//! inside the comune (or between two subentrati comuni). The answer is the shared `Risposta_Comune`
//! ([`RegistryUpdated`]).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use snodo_security::xml::{Document, NodeId};

use super::contract::{self, Address, SchemaV1, date_schema};
use super::header;
use super::place_check::{self, PlaceWarning};
use super::registry_change::{self, Household, Member, RegistryUpdated};
use super::xml::payload_root;
use super::{AnprError, Answer, Rejection, RequestContext, RequestHeader, ResponseHeader, el, ns, rules};

pub const COMMAND: &str = "anpr.residence.change";
pub const COMPLETED: &str = "anpr.residence.change.completed";
pub const SERVICE: &str = "5005";

/// Command `anpr.residence.change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeResidence {
    pub schema: SchemaV1,
    /// The household that moves (`generalitaSchedaFamiglia`).
    pub household: Household,
    /// `tipoMutazione`, `tab_tipo_mutazione_residenza.csv`: 1 senza fissa dimora, 2 residenza,
    /// 3 dimora abituale, 4 domicilio eletto, 6 ripristino residenza ante subentro.
    pub change_kind: u32,
    pub new_residence: Address,
    /// The members that move, when not the whole household (`elencoSoggettiFamiglia`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The date the change takes effect (`dataDecorrenza`).
    #[schemars(schema_with = "date_schema")]
    pub effective_date: NaiveDate,
}

const CHANGE_KINDS: [u32; 5] = [1, 2, 3, 4, 6];

impl ChangeResidence {
    /// The field rules; `Ok` carries the places the tables could not confirm (see
    /// [`place_check`]), which go on the completed event.
    pub fn check(&self) -> Result<Vec<PlaceWarning>, AnprError> {
        let mut warnings = Vec::new();
        registry_change::check_household(&self.household, "household")?;
        if !CHANGE_KINDS.contains(&self.change_kind) {
            return Err(AnprError::field(
                "change_kind",
                "must be a code of tab_tipo_mutazione_residenza (1, 2, 3, 4 or 6)",
            ));
        }
        place_check::check_comune(
            &self.new_residence.comune,
            Some(self.effective_date),
            "new_residence.comune",
            &mut warnings,
        );
        registry_change::check_members(&self.members, "members", &mut warnings)?;
        Ok(warnings)
    }
}

/// The `Richiesta5005` payload for `cmd`, and the place warnings for its completed event.
pub fn write_request(
    cmd: &ChangeResidence,
    ctx: &RequestContext,
) -> Result<(String, Vec<PlaceWarning>), AnprError> {
    let warnings = cmd.check()?;
    rules::digits("istat_code", &ctx.istat_code, 6, 6)?;
    let mut out = payload_root(ns::MUTAZIONE, "Richiesta5005");
    header::write_request_header(&mut out, ctx, SERVICE, Some(cmd.effective_date))?;
    registry_change::write_household(
        &mut out,
        "generalitaSchedaFamiglia",
        &cmd.household,
        &ctx.istat_code,
        "household",
    )?;
    contract::write_address(&mut out, "residenzaFamiglia", &cmd.new_residence, "new_residence")?;
    for (i, m) in cmd.members.iter().enumerate() {
        registry_change::write_member(&mut out, "elencoSoggettiFamiglia", m, &format!("members[{i}]"))?;
    }
    out.open("datiControllo");
    // numerico2: exactly two digits.
    out.leaf("tipoMutazione", format!("{:02}", cmd.change_kind));
    out.leaf("tipoScheda", if cmd.household.cohabitation { "2" } else { "1" });
    out.close("datiControllo");
    Ok((out.finish(), warnings))
}

/// The simulator's reading of a `Richiesta5005`.
pub fn read_request(doc: &Document, node: NodeId) -> Result<(RequestHeader, ChangeResidence), AnprError> {
    let p = el(doc, node);
    p.expect(ns::MUTAZIONE, "Richiesta5005")?;
    let header = header::read_request_header(&p)?;
    let effective_date = header.data_decorrenza.ok_or_else(|| AnprError::Missing {
        path: format!("{}/testataRichiesta/dataDecorrenza", p.path()),
    })?;
    let residence = p.req("residenzaFamiglia")?;
    let new_residence = contract::read_address(&residence)?.ok_or_else(|| {
        AnprError::invalid(
            residence.path(),
            "is a residence abroad, which a change of residence in Italy cannot have",
        )
    })?;
    Ok((
        header,
        ChangeResidence {
            schema: SchemaV1,
            household: registry_change::read_household(&p.req("generalitaSchedaFamiglia")?)?,
            change_kind: p.req("datiControllo")?.req_u32("tipoMutazione")?,
            new_residence,
            members: p
                .all("elencoSoggettiFamiglia")
                .iter()
                .map(registry_change::read_member)
                .collect::<Result<_, _>>()?,
            effective_date,
        },
    ))
}

/// The simulator's OK answer.
pub fn write_response(h: &ResponseHeader, event: &RegistryUpdated) -> Result<String, AnprError> {
    registry_change::write_response(ns::MUTAZIONE, "Risposta5005", h, event)
}

/// Reads a `Risposta5005`; `place_warnings` are those [`write_request`] returned.
pub fn read_response(
    doc: &Document,
    node: NodeId,
    place_warnings: Vec<PlaceWarning>,
) -> Result<Answer<RegistryUpdated>, AnprError> {
    registry_change::read_response(&el(doc, node), ns::MUTAZIONE, "Risposta5005", place_warnings)
}

/// The simulator's `rispostaKO`.
pub fn write_rejection(r: &Rejection) -> Result<String, AnprError> {
    header::write_rejection(ns::MUTAZIONE, "Risposta5005", "rispostaKO", r)
}
