//! The checks the registration services make on a command before it is sent, beyond the XSD facets
//! of [`super::rules`]: every codice fiscale is validated (check character, omocodia, or the 11-digit
//! check digit), and every place is looked up in the comuni and foreign-state tables at the date it
//! matters (birth, death, the change's effective date).
//!
//! Issue #5's rule: the comuni archive stops in May 2023, so a place the tables do not know is not
//! proof of an error — ANPR may know a comune created since. It becomes a [`PlaceWarning`] carried on
//! the completed event, and the request is sent all the same; ANPR stays the judge (EC007).

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AnprError;
use super::contract::{Comune, ForeignPlace, Person, Place};
use crate::codice_fiscale::validate_for_command;
use crate::places::{ARCHIVE_DATE, places};

/// A place of a command that the embedded tables could not confirm at its date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceWarning {
    /// The command field holding the place (`child.birth_place.comune`).
    pub field: String,
    /// What was looked up and why it was not found.
    pub reason: String,
}

/// A codice fiscale field of a command: refused, naming the field, unless it is a valid personal
/// code or 11-digit code. The reason never quotes the value.
pub(crate) fn check_codice_fiscale(field: &str, value: &str) -> Result<(), AnprError> {
    validate_for_command(value)
        .map(|_| ())
        .map_err(|e| AnprError::field(field, e.to_string()))
}

/// Checks a person's codice fiscale and birthplace (at the birth date, when it is given).
pub(crate) fn check_person(
    person: &Person,
    field: &str,
    warnings: &mut Vec<PlaceWarning>,
) -> Result<(), AnprError> {
    if let Some(cf) = &person.codice_fiscale {
        check_codice_fiscale(&format!("{field}.codice_fiscale"), cf)?;
    }
    if let Some(place) = &person.birth_place {
        check_place(
            place,
            person.birth_date,
            &format!("{field}.birth_place"),
            warnings,
        );
    }
    Ok(())
}

/// Looks a place up at `date` (at any time in the tables' history when the date is unknown).
pub(crate) fn check_place(
    place: &Place,
    date: Option<NaiveDate>,
    field: &str,
    warnings: &mut Vec<PlaceWarning>,
) {
    match place {
        Place::Comune(c) => check_comune(c, date, &format!("{field}.comune"), warnings),
        Place::Abroad(f) => check_foreign(f, date, &format!("{field}.abroad"), warnings),
    }
}

fn when(date: Option<NaiveDate>) -> String {
    match date {
        Some(d) if d > ARCHIVE_DATE => format!(
            "on {d} (the comuni archive stops on {ARCHIVE_DATE}: a comune created since is unknown to it)"
        ),
        Some(d) => format!("on {d}"),
        None => "at any date".to_owned(),
    }
}

fn valid(from: NaiveDate, to: NaiveDate, date: Option<NaiveDate>) -> bool {
    date.is_none_or(|d| from <= d && d <= to)
}

/// A comune by ISTAT code when the command gives one, else by name and province.
pub(crate) fn check_comune(
    comune: &Comune,
    date: Option<NaiveDate>,
    field: &str,
    warnings: &mut Vec<PlaceWarning>,
) {
    let table = places().comuni();
    let reason = match &comune.istat_code {
        Some(istat) => {
            let found = table
                .iter()
                .any(|c| c.istat == istat && valid(c.valid_from, c.valid_to, date));
            (!found).then(|| format!("ISTAT code {istat} designated no comune {}", when(date)))
        }
        None => {
            let name = comune.name.to_uppercase();
            let province = comune.province.to_uppercase();
            let found = table
                .iter()
                .any(|c| c.name == name && c.province == province && valid(c.valid_from, c.valid_to, date));
            (!found).then(|| format!("no comune named {name} in province {province} {}", when(date)))
        }
    };
    if let Some(reason) = reason {
        warnings.push(PlaceWarning {
            field: field.to_owned(),
            reason,
        });
    }
}

/// A foreign state by its ISTAT three-digit code.
fn check_foreign(
    place: &ForeignPlace,
    date: Option<NaiveDate>,
    field: &str,
    warnings: &mut Vec<PlaceWarning>,
) {
    let found = places()
        .foreign_states()
        .iter()
        .any(|s| s.istat == place.country_code && valid(s.valid_from, s.valid_to, date));
    if !found {
        warnings.push(PlaceWarning {
            field: format!("{field}.country_code"),
            reason: format!(
                "ISTAT state code {} designated no foreign state {}",
                place.country_code,
                when(date)
            ),
        });
    }
}
