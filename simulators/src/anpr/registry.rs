//! What the simulated ANPR holds: the shared synthetic population, seen through an overlay of the
//! changes municipalities registered (a change of residence, a death, a birth), so that a lookup after
//! a change shows it; and the per-comune bookkeeping of `idOperazioneComune` (platform notes §0.2:
//! a repeated id is answered with its first answer, a new id lower than the last is refused, an id
//! reused for another service is EN079).
//!
//! The population is generated and never changes; only the overlay is reset by `POST /admin/reset`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::NaiveDate;
use parking_lot::Mutex;
use snodo_mappings::anpr::contract::{Address, Citizenship, Comune, ForeignPlace, Person, Place, Sex};
use snodo_mappings::anpr::lookup::{FamilyLink, Household, Resident};

use crate::population::person::{
    Address as PopAddress, Citizenship as PopCitizenship, LifeStatus, Person as PopPerson,
};
use crate::population::places::Place as PopPlace;
use crate::population::{Population, codice_fiscale};

/// How many answers are kept for idempotent replays per comune; the oldest are forgotten first
/// (ANPR keeps them for a retention period; a bounded store keeps a long benchmark in memory).
pub const REMEMBERED_ANSWERS: usize = 50_000;

/// ANPR's household ids (`idFamigliaConvivenzaANPR`) of the generated households: this plus the index.
const HOUSEHOLD_ID_BASE: u64 = 900_000_000;

/// A person as ANPR now records them: the generated one with the overlay applied, or one registered
/// by a birth.
#[derive(Clone)]
pub struct Record {
    pub id_anpr: String,
    pub person: Person,
    pub civil_status: u32,
    pub citizenship: Citizenship,
    pub residence: Option<Address>,
    pub household: Option<(String, u32)>,
    pub death_date: Option<NaiveDate>,
    /// Registered in the simulated comune (false: another comune or AIRE).
    pub resident_here: bool,
    /// Not yet born on the day asked about.
    pub not_yet_born: bool,
}

impl Record {
    /// The 3002 view of the record.
    pub fn resident(&self, with_residence: bool, with_family: bool) -> Resident {
        Resident {
            id_anpr: Some(self.id_anpr.clone()),
            person: self.person.clone(),
            civil_status: Some(self.civil_status),
            citizenships: vec![self.citizenship.clone()],
            residence: self.residence.clone().filter(|_| with_residence),
            family_link: self
                .household
                .as_ref()
                .filter(|_| with_family)
                .map(|(_, relationship)| FamilyLink {
                    relationship: *relationship,
                    since: self
                        .residence
                        .as_ref()
                        .and_then(|a| a.since)
                        .unwrap_or(self.person.birth_date.unwrap_or(NaiveDate::MIN)),
                }),
            household: self
                .household
                .as_ref()
                .filter(|_| with_family)
                .map(|(id, _)| Household {
                    id_anpr: Some(id.clone()),
                    kind: 1,
                }),
        }
    }
}

/// A change registered on a generated person.
#[derive(Clone, Default)]
struct Change {
    residence: Option<Address>,
    death_date: Option<NaiveDate>,
}

/// The answer first given to an `idOperazioneComune`.
#[derive(Clone)]
pub struct Remembered {
    pub service: String,
    pub status: u16,
    pub body: Arc<String>,
}

/// What ANPR says of a new `idOperazioneComune` before running the operation.
pub enum IdCheck {
    /// Never seen: run the operation, then [`AnprRegistry::remember`] its answer.
    Fresh,
    /// Seen for the same service: the first answer again.
    Replay(Remembered),
    /// Seen for another service: EN079.
    OtherService,
    /// New but lower than the comune's last: refused (the connector takes a new number).
    NotIncreasing,
}

#[derive(Default)]
struct ComuneIds {
    last: Option<u128>,
    answers: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

#[derive(Default)]
struct Overlay {
    changes: HashMap<u32, Change>,
    born: Vec<Record>,
    born_by_code: HashMap<String, usize>,
    ids: HashMap<String, ComuneIds>,
    next_operation: u64,
    next_protocol: u64,
}

/// The simulated registry.
pub struct AnprRegistry {
    population: Arc<Population>,
    overlay: Mutex<Overlay>,
    operations: Mutex<()>,
    /// New ids refused as lower than their comune's last: what a client sending several requests
    /// at once pays for their overtaking each other (benchmarks and tests read it).
    refused_as_lower: std::sync::atomic::AtomicU64,
}

impl AnprRegistry {
    pub fn new(population: Arc<Population>) -> AnprRegistry {
        AnprRegistry {
            population,
            overlay: Mutex::new(Overlay::default()),
            operations: Mutex::new(()),
            refused_as_lower: Default::default(),
        }
    }

    pub fn population(&self) -> &Arc<Population> {
        &self.population
    }

    /// Held while one operation is judged, run and remembered: operations are quick (no I/O), and
    /// one at a time makes idempotency and the ordering of ids exact under concurrency.
    pub fn operation_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.operations.lock()
    }

    /// How many new ids were refused as lower than their comune's last, since the start.
    pub fn refused_as_lower(&self) -> u64 {
        self.refused_as_lower.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Back to the generated population, with no id remembered.
    pub fn reset(&self) {
        *self.overlay.lock() = Overlay::default();
    }

    /// The comune's ISTAT code the population lives in.
    pub fn city_istat(&self) -> &str {
        &self.population.config().city_istat
    }

    /// A fresh `idOperazioneANPR` (numeric, increasing).
    pub fn next_operation_id(&self) -> String {
        let mut o = self.overlay.lock();
        o.next_operation += 1;
        format!("{}", 7_000_000_000u64 + o.next_operation)
    }

    /// A fresh certificate protocol number (`numeroProtocolloANPR`).
    pub fn next_protocol(&self, year: i32) -> String {
        let mut o = self.overlay.lock();
        o.next_protocol += 1;
        format!("{year}{:08}", o.next_protocol)
    }

    /// Judges `id` of `comune` for `service`. The caller holds [`AnprRegistry::operation_lock`] from
    /// here to [`AnprRegistry::remember`], so a repeat sent while the first is running gets its answer.
    pub fn check_id(&self, comune: &str, id: &str, service: &str) -> IdCheck {
        let mut o = self.overlay.lock();
        let ids = o.ids.entry(comune.to_owned()).or_default();
        if let Some(r) = ids.answers.get(id) {
            return if r.service == service {
                IdCheck::Replay(r.clone())
            } else {
                IdCheck::OtherService
            };
        }
        let numeric = id.parse::<u128>().ok();
        if let (Some(n), Some(last)) = (numeric, ids.last)
            && n < last
        {
            self.refused_as_lower
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return IdCheck::NotIncreasing;
        }
        if let Some(n) = numeric {
            ids.last = Some(ids.last.map_or(n, |l| l.max(n)));
        }
        IdCheck::Fresh
    }

    /// Records the answer to a fresh id (after [`AnprRegistry::check_id`] said `Fresh`).
    pub fn remember(&self, comune: &str, id: &str, answer: Remembered) {
        let mut o = self.overlay.lock();
        let ids = o.ids.entry(comune.to_owned()).or_default();
        if ids.answers.insert(id.to_owned(), answer).is_none() {
            ids.order.push_back(id.to_owned());
        }
        while ids.order.len() > REMEMBERED_ANSWERS {
            if let Some(old) = ids.order.pop_front() {
                ids.answers.remove(&old);
            }
        }
    }

    /// The record of the person holding `code`, as of `date`.
    pub fn by_code(&self, code: &str, date: NaiveDate) -> Option<Record> {
        let o = self.overlay.lock();
        if let Some(&i) = o.born_by_code.get(&code.to_ascii_uppercase()) {
            let mut r = o.born[i].clone();
            r.not_yet_born = r.person.birth_date.is_some_and(|b| b > date);
            return Some(r);
        }
        let person = self.population.find(&code.to_ascii_uppercase())?;
        Some(self.record(&person, o.changes.get(&person.id.0), date))
    }

    /// The record with this `idANPR`, as of `date`.
    pub fn by_id_anpr(&self, id: &str, date: NaiveDate) -> Option<Record> {
        let o = self.overlay.lock();
        if let Some(r) = o.born.iter().find(|r| r.id_anpr == id) {
            return Some(r.clone());
        }
        let person = self
            .population
            .person(crate::population::person::PersonId(index_of_id_anpr(id)?))?;
        Some(self.record(&person, o.changes.get(&person.id.0), date))
    }

    /// Everyone whose surname and given name are these (and sex and birth date, when given).
    pub fn by_name(
        &self,
        surname: &str,
        given_name: &str,
        sex: Option<Sex>,
        birth_date: Option<NaiveDate>,
        date: NaiveDate,
    ) -> Vec<Record> {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let o = self.overlay.lock();
        let mut found: Vec<Record> = o
            .born
            .iter()
            .filter(|r| {
                r.person.surname.as_deref().is_some_and(|s| same(s, surname))
                    && r.person
                        .given_name
                        .as_deref()
                        .is_some_and(|g| same(g, given_name))
            })
            .cloned()
            .collect();
        for p in self.population.iter() {
            if same(p.surname, surname)
                && same(p.given_name, given_name)
                && sex.is_none_or(|s| sex_of(&p) == s)
                && birth_date.is_none_or(|d| d == p.birth_date)
            {
                found.push(self.record(&p, o.changes.get(&p.id.0), date));
            }
        }
        found
    }

    /// The members of the household with this ANPR id, as of `date`.
    pub fn household_members(&self, id_anpr: &str, date: NaiveDate) -> Option<Vec<(u32, Record)>> {
        let index = id_anpr.parse::<u64>().ok()?.checked_sub(HOUSEHOLD_ID_BASE)?;
        let household = self
            .population
            .household(crate::population::person::HouseholdId(u32::try_from(index).ok()?))?;
        let o = self.overlay.lock();
        Some(
            household
                .members
                .iter()
                .map(|p| (p.id.0, self.record(p, o.changes.get(&p.id.0), date)))
                .collect(),
        )
    }

    /// The generated person's index holding `code`.
    pub fn index_of(&self, code: &str) -> Option<u32> {
        let code = codice_fiscale::CodiceFiscale::parse(&code.to_ascii_uppercase()).ok()?;
        self.population.lookup(&code).map(|id| id.0)
    }

    /// Registers a new residence for a generated person.
    pub fn move_person(&self, index: u32, address: Address) {
        self.overlay.lock().changes.entry(index).or_default().residence = Some(address);
    }

    /// Registers the death of a generated person, or of one registered by birth.
    pub fn register_death(&self, code: &str, date: NaiveDate) -> bool {
        let mut o = self.overlay.lock();
        if let Some(&i) = o.born_by_code.get(&code.to_ascii_uppercase()) {
            o.born[i].death_date = Some(date);
            return true;
        }
        match self.index_of(code) {
            Some(index) => {
                o.changes.entry(index).or_default().death_date = Some(date);
                true
            }
            None => false,
        }
    }

    /// Registers a newborn; its codice fiscale must already be set.
    pub fn register_birth(&self, record: Record) {
        let mut o = self.overlay.lock();
        let code = record
            .person
            .codice_fiscale
            .clone()
            .unwrap_or_default()
            .to_ascii_uppercase();
        o.born.push(record);
        let at = o.born.len() - 1;
        o.born_by_code.insert(code, at);
    }

    /// Whether a codice fiscale is taken (generated people or births).
    pub fn code_taken(&self, code: &str) -> bool {
        self.overlay.lock().born_by_code.contains_key(code) || self.population.find(code).is_some()
    }

    /// How many births were registered (for a newborn's idANPR).
    pub fn births(&self) -> usize {
        self.overlay.lock().born.len()
    }

    fn record(&self, p: &PopPerson, change: Option<&Change>, date: NaiveDate) -> Record {
        let death_date = change
            .and_then(|c| c.death_date)
            .or(p.death_date)
            .filter(|d| *d <= date);
        let residence = change
            .and_then(|c| c.residence.clone())
            .or_else(|| address_of(&p.address));
        Record {
            id_anpr: id_anpr(p.id.0),
            person: person_of(p),
            civil_status: u32::from(p.civil_status.anpr_code()),
            citizenship: citizenship_of(&p.citizenship),
            residence,
            household: p.household().and_then(|h| {
                let relationship = match p.registration {
                    crate::population::person::Registration::Resident { relationship, .. } => {
                        u32::from(relationship.anpr_code())
                    }
                    _ => return None,
                };
                Some((household_id_anpr(h), relationship))
            }),
            death_date,
            resident_here: p.is_resident(),
            not_yet_born: p.status_at(date) == LifeStatus::NotYetBorn,
        }
    }
}

/// The generated person's index of an `idANPR` made by [`id_anpr`] (births have other ids).
pub fn index_of_id_anpr(id: &str) -> Option<u32> {
    let b = id.as_bytes();
    if b.len() != 9 || !b[2..7].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let letter = |c: u8| c.is_ascii_uppercase().then(|| u32::from(c - b'A'));
    let high = letter(b[0])? * 676 + letter(b[1])? * 26 + letter(b[7])?;
    let low: u32 = id[2..7].parse().ok()?;
    let index = high.checked_mul(100_000)?.checked_add(low)?;
    (id_anpr(index) == id).then_some(index)
}

/// ANPR's id (`idFamigliaConvivenzaANPR`) of a generated household.
pub fn household_id_anpr(household: crate::population::person::HouseholdId) -> String {
    (HOUSEHOLD_ID_BASE + u64::from(household.0)).to_string()
}

/// The generated person's `idANPR`: two letters, five digits, two letters (like `AF41450AS`), a
/// pure function of the index so every run agrees.
pub fn id_anpr(index: u32) -> String {
    let letter = |n: u32| char::from(b'A' + (n % 26) as u8);
    format!(
        "{}{}{:05}{}{}",
        letter(index / 26 / 26 / 100_000),
        letter(index / 100_000 / 26),
        index % 100_000,
        letter(index / 100_000),
        letter(index.wrapping_mul(7))
    )
}

fn sex_of(p: &PopPerson) -> Sex {
    match p.sex {
        codice_fiscale::Sex::Male => Sex::M,
        codice_fiscale::Sex::Female => Sex::F,
    }
}

pub fn person_of(p: &PopPerson) -> Person {
    Person {
        codice_fiscale: Some(p.codice_fiscale.to_string()),
        surname: Some(p.surname.to_owned()),
        given_name: Some(p.given_name.to_owned()),
        sex: Some(sex_of(p)),
        birth_date: Some(p.birth_date),
        birth_place: Some(place_of(&p.birth_place)),
    }
}

fn place_of(place: &PopPlace) -> Place {
    match place {
        PopPlace::Comune(c) => Place::Comune(Comune {
            name: c.name.to_owned(),
            istat_code: Some(c.istat.to_owned()),
            province: c.province.to_owned(),
        }),
        PopPlace::Abroad(s) => Place::Abroad(ForeignPlace {
            locality: None,
            country_name: s.name.to_owned(),
            country_code: s.istat.to_owned(),
        }),
    }
}

fn citizenship_of(c: &PopCitizenship) -> Citizenship {
    Citizenship {
        country_code: c.istat_code().to_owned(),
        country_name: match c {
            PopCitizenship::Italian => "ITALIA".to_owned(),
            PopCitizenship::Foreign(s) => s.name.to_owned(),
        },
    }
}

fn address_of(a: &PopAddress) -> Option<Address> {
    match a {
        PopAddress::Italy(s) => Some(Address {
            kind: 1,
            postal_code: s.postcode.clone(),
            comune: Comune {
                name: s.comune.name.to_owned(),
                istat_code: Some(s.comune.istat.to_owned()),
                province: s.comune.province.to_owned(),
            },
            street_kind: Some(s.toponym.to_owned()),
            street_name: s.street.clone(),
            house_number: Some(s.civic_number.clone()),
            since: None,
        }),
        // AIRE residents: an address abroad, which the 3002 mapping does not carry.
        PopAddress::Abroad { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_anpr_has_the_published_shape_and_differs_between_people() {
        let a = id_anpr(0);
        let b = id_anpr(1);
        assert_eq!(a.len(), 9);
        assert!(a[..2].chars().all(|c| c.is_ascii_uppercase()));
        assert!(a[2..7].chars().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
        assert_ne!(id_anpr(5), id_anpr(100_005));
        for index in [0, 1, 99_999, 100_000, 1_399_999, 2_000_001] {
            assert_eq!(index_of_id_anpr(&id_anpr(index)), Some(index));
        }
        assert_eq!(index_of_id_anpr("AF41450AS"), None, "not one of ours");
    }
}
