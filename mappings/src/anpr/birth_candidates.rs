//! ANPR's third answer to a birth registration (1001), `RispostaMultipla1001`: the parents named in
//! the command match several registered people, so nothing was registered and ANPR lists the
//! candidates. The backend chooses one and re-submits the birth naming that parent by codice fiscale;
//! the candidates therefore travel on the completed event (`outcome: parents_to_choose`) rather than
//! being lost in an error text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{self, Citizenship, Person, SchemaV1};
use super::header::{self, ResponseHeader};
use super::place_check::PlaceWarning;
use super::registry_change::RegistryUpdated;
use super::xml::{El, payload_root};
use super::{AnprError, ns};

/// The completed event of `anpr.birth.register`: registered, or a choice of parents to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BirthRegistration {
    /// ANPR registered the child (`Risposta_Comune`).
    Registered(RegistryUpdated),
    /// ANPR registered nothing: the parents match several people (`RispostaMultipla1001`).
    ParentsToChoose(ParentsToChoose),
}

impl BirthRegistration {
    /// The registration, when ANPR made one.
    pub fn registered(self) -> Option<RegistryUpdated> {
        match self {
            BirthRegistration::Registered(r) => Some(r),
            BirthRegistration::ParentsToChoose(_) => None,
        }
    }
}

/// The candidates ANPR found for the father and for the mother. Re-submit `anpr.birth.register`
/// (a new command, so a new `idOperazioneComune`) with `father`/`mother` carrying the chosen
/// candidate's `codice_fiscale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParentsToChoose {
    pub schema: SchemaV1,
    pub id_operazione_anpr: String,
    /// `elencoSoggettiPadre`: people who could be the father; empty when the father was unambiguous.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidate_fathers: Vec<CandidateParent>,
    /// `elencoSoggettiMadre`: people who could be the mother.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidate_mothers: Vec<CandidateParent>,
    /// Places of the command the embedded tables could not confirm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub place_warnings: Vec<PlaceWarning>,
}

/// One `genitore` of the list (`tipoGenitore`): the person as ANPR records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateParent {
    pub person: Person,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizenship: Option<Citizenship>,
}

/// The simulator's `RispostaMultipla1001` inside `Risposta1001`. ANPR sends it only with candidates.
pub fn write_response(h: &ResponseHeader, choice: &ParentsToChoose) -> Result<String, AnprError> {
    if choice.candidate_fathers.is_empty() && choice.candidate_mothers.is_empty() {
        return Err(AnprError::field(
            "candidate_fathers",
            "or candidate_mothers must list someone in a multiple answer",
        ));
    }
    let mut out = payload_root(ns::ISCRIZIONE, "Risposta1001");
    out.open_ns("RispostaMultipla1001");
    header::write_response_header(&mut out, h)?;
    for (tag, field, list) in [
        (
            "elencoSoggettiPadre",
            "candidate_fathers",
            &choice.candidate_fathers,
        ),
        (
            "elencoSoggettiMadre",
            "candidate_mothers",
            &choice.candidate_mothers,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        out.open(tag);
        for (i, c) in list.iter().enumerate() {
            out.open("genitore");
            contract::write_person(&mut out, "generalita", &c.person, &format!("{field}[{i}].person"))?;
            if let Some(cz) = &c.citizenship {
                contract::write_citizenship(
                    &mut out,
                    "cittadinanza",
                    cz,
                    &format!("{field}[{i}].citizenship"),
                )?;
            }
            out.close("genitore");
        }
        out.close(tag);
    }
    out.close_ns("RispostaMultipla1001");
    Ok(out.finish())
}

/// Reads the `RispostaMultipla1001` element `ok`.
pub(crate) fn read(ok: &El<'_>, place_warnings: Vec<PlaceWarning>) -> Result<ParentsToChoose, AnprError> {
    let id_operazione_anpr = header::read_response_header(&ok.req("testataRisposta")?)?.id_operazione_anpr;
    let list = |tag: &str| -> Result<Vec<CandidateParent>, AnprError> {
        let Some(list) = ok.child(tag) else {
            return Ok(Vec::new());
        };
        list.all("genitore")
            .iter()
            .map(|g| {
                Ok(CandidateParent {
                    person: contract::read_person(&g.req("generalita")?)?,
                    citizenship: g
                        .child("cittadinanza")
                        .map(|c| contract::read_citizenship(&c))
                        .transpose()?,
                })
            })
            .collect()
    };
    let candidate_fathers = list("elencoSoggettiPadre")?;
    let candidate_mothers = list("elencoSoggettiMadre")?;
    if candidate_fathers.is_empty() && candidate_mothers.is_empty() {
        return Err(AnprError::invalid(
            ok.path(),
            "is a multiple answer that lists no candidate parent",
        ));
    }
    Ok(ParentsToChoose {
        schema: SchemaV1,
        id_operazione_anpr,
        candidate_fathers,
        candidate_mothers,
        place_warnings,
    })
}
