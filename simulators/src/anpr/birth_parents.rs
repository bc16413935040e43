//! How the simulated ANPR answers 1001 with `RispostaMultipla1001`: a parent named without a
//! codice fiscale is looked up by surname, given name (and birth date, when given) among the living,
//! and when more than one person fits, ANPR cannot tell whom the comune means. It registers nothing
//! and lists the candidates, so the comune re-submits naming the parent by codice fiscale. With the
//! seeded population this is scriptable: name a parent after any two living namesakes.

use chrono::NaiveDate;
use snodo_mappings::anpr::birth::RegisterBirth;
use snodo_mappings::anpr::birth_candidates::{CandidateParent, ParentsToChoose};
use snodo_mappings::anpr::contract::{Person, Sex};
use snodo_mappings::anpr::{SchemaV1, place_check::PlaceWarning};

use super::registry::{AnprRegistry, Record};

/// The candidates, when a parent of `birth` named without a code matches several living people.
pub fn ambiguous_parents(
    registry: &AnprRegistry,
    birth: &RegisterBirth,
    today: NaiveDate,
    id_operazione_anpr: &str,
) -> Option<ParentsToChoose> {
    let candidate_fathers = candidates(registry, birth.father.as_ref(), Sex::M, today);
    let candidate_mothers = candidates(registry, birth.mother.as_ref(), Sex::F, today);
    if candidate_fathers.len() < 2 && candidate_mothers.len() < 2 {
        return None;
    }
    // Only the ambiguous side is listed: a parent found once is not a question.
    let keep = |list: Vec<CandidateParent>| if list.len() < 2 { Vec::new() } else { list };
    Some(ParentsToChoose {
        schema: SchemaV1,
        id_operazione_anpr: id_operazione_anpr.to_owned(),
        candidate_fathers: keep(candidate_fathers),
        candidate_mothers: keep(candidate_mothers),
        place_warnings: Vec::<PlaceWarning>::new(),
    })
}

/// The living people who could be `parent`, when the comune did not give a code.
fn candidates(
    registry: &AnprRegistry,
    parent: Option<&Person>,
    sex: Sex,
    today: NaiveDate,
) -> Vec<CandidateParent> {
    let Some(parent) = parent.filter(|p| p.codice_fiscale.is_none()) else {
        return Vec::new();
    };
    let (Some(surname), Some(given_name)) = (&parent.surname, &parent.given_name) else {
        return Vec::new();
    };
    registry
        .by_name(surname, given_name, Some(sex), parent.birth_date, today)
        .into_iter()
        .filter(|r: &Record| r.death_date.is_none() && !r.not_yet_born)
        .map(|r| CandidateParent {
            person: r.person,
            citizenship: Some(r.citizenship),
        })
        .collect()
}
