//! What the simulators know about a person: the union of what ANPR answers (generalità, birth, residence,
//! family, citizenship, civil status, identity card) and what a SPID or CIE ID identity provider asserts
//! (name, familyName, fiscalNumber, dateOfBirth, placeOfBirth, gender, email, mobilePhone, address,
//! idCard).
//!
//! Names and codes borrow from the embedded tables (`&'static str`), so a `Person` is cheap to make and
//! to throw away: the population stores none of them, it regenerates them on demand. `Debug` masks every
//! personal field (project rule: no personal data in logs).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use snodo_queue::privacy::mask;

use super::codice_fiscale::CodiceFiscale;
use super::places::{Comune, ForeignState, Place};

/// Index of a person in the population: residents first, by household, then the non-residents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonId(pub u32);

/// Index of a household (famiglia anagrafica) of the city.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HouseholdId(pub u32);

/// The codice fiscale's, so that a person's code and sex cannot disagree.
pub use snodo_mappings::codice_fiscale::Sex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Citizenship {
    Italian,
    Foreign(&'static ForeignState),
}

impl Citizenship {
    /// ISTAT's state code as ANPR's `cittadinanza/codiceStato` carries it: 100 is Italy.
    pub fn istat_code(&self) -> &'static str {
        match self {
            Citizenship::Italian => "100",
            Citizenship::Foreign(state) => state.istat,
        }
    }
}

/// Stato civile, with ANPR's codes (`tab_stato_civile.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CivilStatus {
    Single,
    Married,
    Widowed,
    Divorced,
    CivilUnion,
}

impl CivilStatus {
    pub fn anpr_code(self) -> u8 {
        match self {
            CivilStatus::Single => 1,
            CivilStatus::Married => 2,
            CivilStatus::Widowed => 3,
            CivilStatus::Divorced => 4,
            CivilStatus::CivilUnion => 6,
        }
    }
}

/// Relation to the head of the household, with ANPR's codes (`tab_relazione_di_parentela___famiglia.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    CivilPartner,
    Cohabitant,
}

impl Relationship {
    pub fn anpr_code(self) -> u8 {
        match self {
            Relationship::Head => 1,
            Relationship::Spouse => 2,
            Relationship::Child => 3,
            Relationship::Cohabitant => 23,
            Relationship::CivilPartner => 28,
        }
    }
}

/// Where the person is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// In the city's anagrafe, member of a household.
    Resident {
        household: HouseholdId,
        relationship: Relationship,
    },
    /// Resident in another Italian comune: unknown to the city's registry, known to the identity providers.
    OtherComune(&'static Comune),
    /// Living abroad, registered in the city's AIRE.
    Aire(&'static ForeignState),
}

/// A street address in Italy.
#[derive(Clone, PartialEq, Eq)]
pub struct StreetAddress {
    /// The toponym species (`VIA`, `PIAZZA`, …; ANPR table 04).
    pub toponym: &'static str,
    /// The street's name after the species (`GIUSEPPE VERDI`).
    pub street: String,
    /// House number, with a letter when there is one (`12/A`).
    pub civic_number: String,
    pub postcode: String,
    pub comune: &'static Comune,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Address {
    Italy(StreetAddress),
    Abroad {
        state: &'static ForeignState,
        locality: &'static str,
        street: String,
    },
}

impl Address {
    /// One line, as SPID's `address` attribute and a certificate print it.
    pub fn one_line(&self) -> String {
        match self {
            Address::Italy(a) => format!(
                "{} {} {} {} {} {}",
                a.toponym, a.street, a.civic_number, a.postcode, a.comune.name, a.comune.province
            ),
            Address::Abroad {
                state,
                locality,
                street,
            } => format!("{street} {locality} {}", state.name),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The comune or state only: the street and number identify a home.
        match self {
            Address::Italy(a) => write!(f, "Address(Italy, {})", a.comune.name),
            Address::Abroad { state, .. } => write!(f, "Address(Abroad, {})", state.name),
        }
    }
}

/// Who issued an identity card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardIssuer {
    Comune(&'static Comune),
    /// An Italian consulate in this state (AIRE residents).
    Consulate(&'static ForeignState),
}

/// A carta d'identità elettronica (CIE 3.0).
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityCard {
    /// Two letters, five digits, two letters (`CA00000AA`), the format printed on CIE 3.0 cards.
    pub number: String,
    pub issued_on: NaiveDate,
    /// The holder's birthday after 3 (under 3), 5 (under 18) or 10 years (DL 5/2012, art. 7).
    pub expires_on: NaiveDate,
    pub issuer: CardIssuer,
}

impl IdentityCard {
    pub fn is_valid_at(&self, date: NaiveDate) -> bool {
        self.issued_on <= date && date <= self.expires_on
    }
}

impl fmt::Debug for IdentityCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityCard")
            .field("number", &mask(&self.number))
            .field("issued_on", &self.issued_on)
            .field("expires_on", &self.expires_on)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Whether a person exists on a date: the population holds people born after its reference date (they
/// appear when a simulator's clock reaches their birth) and people who die before or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifeStatus {
    NotYetBorn,
    Alive,
    Deceased,
}

/// One person of the synthetic population.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    pub id: PersonId,
    /// The code the Agenzia would have assigned, omocodic when someone earlier took the base code.
    pub codice_fiscale: CodiceFiscale,
    pub surname: &'static str,
    pub given_name: &'static str,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub birth_place: Place,
    pub citizenship: Citizenship,
    /// At the population's reference date.
    pub civil_status: CivilStatus,
    pub death_date: Option<NaiveDate>,
    pub registration: Registration,
    pub address: Address,
    pub identity_card: Option<IdentityCard>,
    /// On a reserved domain (`.example`, RFC 2606): never a real mailbox.
    pub email: Option<String>,
    /// E.164, `+393…`.
    pub mobile_phone: Option<String>,
}

impl Person {
    pub fn status_at(&self, date: NaiveDate) -> LifeStatus {
        if date < self.birth_date {
            LifeStatus::NotYetBorn
        } else if self.death_date.is_some_and(|d| d <= date) {
            LifeStatus::Deceased
        } else {
            LifeStatus::Alive
        }
    }

    /// Completed years at `date` (0 before the first birthday, and before birth).
    pub fn age_at(&self, date: NaiveDate) -> u32 {
        date.years_since(self.birth_date).unwrap_or(0)
    }

    pub fn is_resident(&self) -> bool {
        matches!(self.registration, Registration::Resident { .. })
    }

    pub fn household(&self) -> Option<HouseholdId> {
        match self.registration {
            Registration::Resident { household, .. } => Some(household),
            _ => None,
        }
    }

    /// SPID's `fiscalNumber`: `TINIT-` and the code.
    pub fn spid_fiscal_number(&self) -> String {
        format!("TINIT-{}", self.codice_fiscale)
    }

    /// The person's birthday in `year` (28 February for those born on 29 February, in common years).
    pub fn birthday_in(&self, year: i32) -> NaiveDate {
        birthday_in(self.birth_date, year)
    }
}

pub(crate) fn birthday_in(birth: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
        .expect("28 February exists every year")
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("codice_fiscale", &self.codice_fiscale)
            .field("surname", &mask(self.surname))
            .field("given_name", &mask(self.given_name))
            .field("sex", &self.sex)
            .field("birth_year", &self.birth_date.year())
            .field("registration", &self.registration)
            .field("civil_status", &self.civil_status)
            .field("deceased", &self.death_date.is_some())
            .field("address", &self.address)
            .field("identity_card", &self.identity_card)
            .field("email", &self.email.as_deref().map(mask))
            .field("mobile_phone", &self.mobile_phone.as_deref().map(mask))
            .finish_non_exhaustive()
    }
}
