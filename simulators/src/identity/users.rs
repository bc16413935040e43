//! The IdP's users: the shared synthetic population (DESIGN §8), so that the codice fiscale, names and
//! birth data a login asserts are the ones the ANPR simulator answers for the same person, and the
//! SPID attributes (spid-and-cie-id.md §1.5) each person has.

use chrono::NaiveDate;

use super::Profile;
use super::response::Released;
use crate::population::person::{Address, LifeStatus, Person};
use crate::population::{Population, PopulationConfig, PopulationError};

/// The population every simulator uses by default: the development city (Milano), shared seed and size.
pub const POPULATION_SEED: u64 = crate::population::DEVELOPMENT_SEED;
/// Residents of the default population; the non-residents (a tenth) are known to the IdP too.
pub const POPULATION_RESIDENTS: u32 = crate::population::DEVELOPMENT_RESIDENTS;
/// The four-letter code of this IdP in `spidCode` (`<IdP code><10 characters>`).
const SPID_CODE_PREFIX: &str = "SNDO";
/// CIE ID releases only the eIDAS minimum dataset (cie-eid-saml-docs protocolli.rst).
const CIE_ATTRIBUTES: [&str; 4] = ["name", "familyName", "dateOfBirth", "fiscalNumber"];

pub fn default_population() -> Result<Population, PopulationError> {
    Population::build(PopulationConfig::development(
        POPULATION_SEED,
        POPULATION_RESIDENTS,
    ))
}

/// The attributes of `person` the SP asked for (its AttributeConsumingService), among those this
/// person has. CIE ID releases only its minimum dataset, whatever else is asked.
pub fn release(person: &Person, requested: &[String], profile: Profile) -> Vec<Released> {
    let mut names: Vec<&str> = requested.iter().map(String::as_str).collect();
    if profile == Profile::Cie {
        names.retain(|n| CIE_ATTRIBUTES.contains(n));
        if names.is_empty() {
            names = CIE_ATTRIBUTES.to_vec();
        }
    }
    let mut released = Vec::new();
    for name in names {
        let Some((name, value, date)) = attribute(person, name) else {
            continue;
        };
        if released.iter().any(|r: &Released| r.name == name) {
            continue;
        }
        released.push(Released { name, value, date });
    }
    released
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// One SPID attribute of a person: (name, value, is xs:date), or `None` when the person has none
/// (a private citizen has no company, no VAT number).
fn attribute(person: &Person, name: &str) -> Option<(&'static str, String, bool)> {
    let italy = match &person.address {
        Address::Italy(a) => Some(a),
        Address::Abroad { .. } => None,
    };
    Some(match name {
        "spidCode" => (
            "spidCode",
            format!("{SPID_CODE_PREFIX}{:010}", person.id.0),
            false,
        ),
        "name" => ("name", person.given_name.to_owned(), false),
        "familyName" => ("familyName", person.surname.to_owned(), false),
        "placeOfBirth" => ("placeOfBirth", person.birth_place.code().to_owned(), false),
        "countyOfBirth" => ("countyOfBirth", person.birth_place.province().to_owned(), false),
        "dateOfBirth" => ("dateOfBirth", date(person.birth_date), true),
        "gender" => ("gender", person.sex.code().to_owned(), false),
        "fiscalNumber" => ("fiscalNumber", person.spid_fiscal_number(), false),
        "idCard" => {
            let card = person.identity_card.as_ref()?;
            let issuer = match card.issuer {
                crate::population::person::CardIssuer::Comune(c) => format!("comune{}", c.cadastral_code),
                crate::population::person::CardIssuer::Consulate(s) => format!("consolato{}", s.code),
            };
            (
                "idCard",
                format!(
                    "cartaIdentita {} {issuer} {} {}",
                    card.number,
                    date(card.issued_on),
                    date(card.expires_on)
                ),
                false,
            )
        }
        "mobilePhone" => ("mobilePhone", person.mobile_phone.clone()?, false),
        "email" => ("email", person.email.clone()?, false),
        "address" => ("address", person.address.one_line(), false),
        "domicileStreetAddress" => (
            "domicileStreetAddress",
            italy.map(|a| format!("{} {} {}", a.toponym, a.street, a.civic_number))?,
            false,
        ),
        "domicilePostalCode" => ("domicilePostalCode", italy.map(|a| a.postcode.clone())?, false),
        "domicileMunicipality" => (
            "domicileMunicipality",
            italy.map(|a| a.comune.name.to_owned())?,
            false,
        ),
        "domicileProvince" => (
            "domicileProvince",
            italy.map(|a| a.comune.province.to_owned())?,
            false,
        ),
        "domicileNation" => (
            "domicileNation",
            if italy.is_some() {
                "IT".to_owned()
            } else {
                return None;
            },
            false,
        ),
        "expirationDate" => (
            "expirationDate",
            date(person.identity_card.as_ref()?.expires_on),
            true,
        ),
        _ => return None,
    })
}

/// Whether `person` can log in on `today`: alive (the deceased and the not yet born have no
/// credentials; the IdP answers nr23, identity revoked).
pub fn can_log_in(person: &Person, today: NaiveDate) -> bool {
    person.status_at(today) == LifeStatus::Alive
}

/// Adults of the population to offer on the login page, from `offset`: enough to click on, the rest
/// reachable by typing a codice fiscale.
pub fn sample(population: &Population, today: NaiveDate, offset: u32, limit: usize) -> Vec<Person> {
    (offset..population.len())
        .filter_map(|i| population.person(crate::population::person::PersonId(i)))
        .filter(|p| can_log_in(p, today) && p.age_at(today) >= 18)
        .take(limit)
        .collect()
}
