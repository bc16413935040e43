//! The synthetic population every simulator shares, so that a SPID login, an ANPR lookup and a CIE
//! booking agree about the same person (DESIGN.md §8).
//!
//! A person is a pure function of (seed, index): residents come first, grouped in households numbered
//! from 0, then the non-residents (other comuni, AIRE). Only three things are stored: the first index
//! of every household, the city's streets, and the index by codice fiscale (which also settles omocodia).
//! Everything else is regenerated on demand, so a city of 1.4 million fits in a few tens of megabytes
//! and is the same on every run and platform for a given seed.

use std::num::NonZeroUsize;
use std::ops::Range;

use chrono::NaiveDate;

pub use snodo_mappings::codice_fiscale;
mod documents;
mod household;
mod index;
mod names;
mod others;
pub mod person;
pub mod places;
mod rng;
mod streets;

use codice_fiscale::CodiceFiscale;
use household::{Identity, World, household_size};
use index::CodeIndex;
use person::{Address, CardIssuer, HouseholdId, Person, PersonId, Registration, StreetAddress};
use places::{Comune, PostalArea, places, postal_area};
use streets::{Street, build_streets};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulationConfig {
    pub seed: u64,
    /// Residents of the city, in households.
    pub residents: u32,
    /// People elsewhere (other comuni, AIRE) that identity providers know.
    pub non_residents: u32,
    /// ISTAT code of the city (`015146`, Milano, in development).
    pub city_istat: String,
    /// The date ages, civil statuses and documents are generated for. People are also born and die
    /// around it, which a simulator's clock reveals through `Person::status_at`.
    pub reference_date: NaiveDate,
    /// The city's postcode range, when the embedded table does not have it.
    pub postcodes: Option<(u32, u32)>,
}

impl PopulationConfig {
    /// `residents` residents of the comune `city_istat`, and a tenth as many non-residents.
    pub fn new(seed: u64, residents: u32, city_istat: &str, reference_date: NaiveDate) -> Self {
        PopulationConfig {
            seed,
            residents,
            non_residents: residents / 10,
            city_istat: city_istat.to_owned(),
            reference_date,
            postcodes: None,
        }
    }

    /// The development city, Milano (ISTAT 015146, Belfiore F205), as of 1 January 2025.
    pub fn development(seed: u64, residents: u32) -> Self {
        let reference = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a real date");
        PopulationConfig::new(seed, residents, "015146", reference)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopulationError {
    #[error("no comune has ISTAT code {istat} on {date}")]
    UnknownComune { istat: String, date: NaiveDate },
    #[error("the postcodes of comune {istat} are not in the embedded table: set `postcodes`")]
    NoPostcodes { istat: String },
    #[error("the postcode range {first}-{last} is empty or not five digits")]
    BadPostcodes { first: u32, last: u32 },
    #[error("{people} people requested, more than the {max} that can have distinct documents")]
    TooLarge { people: u64, max: u64 },
    #[error("{people} people share one base codice fiscale, more than its 128 variants")]
    OmocodiaExhausted { people: usize },
}

/// A household of the city with its members, head first.
#[derive(Debug, Clone)]
pub struct Household {
    pub id: HouseholdId,
    pub address: Address,
    pub members: Vec<Person>,
}

/// Figures about a built population, for the README and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub people: u32,
    pub households: u32,
    pub streets: u32,
    /// Heap bytes of everything the population stores.
    pub heap_bytes: usize,
}

/// The seed of the population every simulator serves by default, so that a SPID login, an ANPR
/// lookup and a CIE booking agree about one person (DESIGN §8). Simulators take their population from
/// [`PopulationConfig::development`] with these two values, never their own.
pub const DEVELOPMENT_SEED: u64 = 1;
/// Residents of the default population (the non-residents, a tenth more, come with them).
pub const DEVELOPMENT_RESIDENTS: u32 = 10_000;

/// The synthetic population of one city.
pub struct Population {
    config: PopulationConfig,
    world: World,
    streets: Vec<Street>,
    /// First person index of every household; households cover `0..residents` in order.
    household_starts: Vec<u32>,
    index: CodeIndex,
}

impl Population {
    pub fn build(config: PopulationConfig) -> Result<Population, PopulationError> {
        let people = u64::from(config.residents) + u64::from(config.non_residents);
        if people > documents::MAX_PEOPLE {
            return Err(PopulationError::TooLarge {
                people,
                max: documents::MAX_PEOPLE,
            });
        }
        let p = places();
        let city: &'static Comune = p
            .comune_by_istat(&config.city_istat, config.reference_date)
            .ok_or_else(|| PopulationError::UnknownComune {
                istat: config.city_istat.clone(),
                date: config.reference_date,
            })?;
        let postal = match config.postcodes {
            Some((first, last)) if first <= last && last <= 99_999 => PostalArea {
                istat: city.istat,
                first,
                last,
                name: city.name,
            },
            Some((first, last)) => return Err(PopulationError::BadPostcodes { first, last }),
            None => postal_area(city.istat)
                .cloned()
                .ok_or_else(|| PopulationError::NoPostcodes {
                    istat: config.city_istat.clone(),
                })?,
        };
        let streets = build_streets(config.seed, config.residents, &postal);
        let world = World {
            seed: config.seed,
            city,
            reference: config.reference_date,
            street_count: streets.len() as u32,
            highest_numbers: streets.iter().map(|s| s.highest_number).collect(),
        };
        let mut household_starts = Vec::new();
        let mut next = 0u32;
        while next < config.residents {
            household_starts.push(next);
            next += household_size(config.seed, household_starts.len() as u32 - 1);
        }
        household_starts.shrink_to_fit();
        let mut population = Population {
            config,
            world,
            streets,
            household_starts,
            index: CodeIndex::build(Vec::new())?,
        };
        population.index = CodeIndex::build(population.base_keys())?;
        Ok(population)
    }

    /// Every person's (base key, index), computed on all cores: generation is the costly part of the
    /// build, and the result does not depend on how the work is split.
    fn base_keys(&self) -> Vec<(u64, u32)> {
        let total = self.len();
        let threads = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(8) as u32;
        let chunk = total.div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * chunk).min(total)..((t + 1) * chunk).min(total);
                    scope.spawn(move || {
                        let mut keys = Vec::with_capacity(range.len());
                        self.for_each_identity(range, |id, identity, _| {
                            keys.push((identity.base_code().base_key(), id));
                        });
                        keys
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(total as usize);
            for worker in workers {
                all.extend(worker.join().expect("key generation does not panic"));
            }
            all
        })
    }

    pub fn config(&self) -> &PopulationConfig {
        &self.config
    }

    /// The city's comune record (its Belfiore code, name, province).
    pub fn city(&self) -> &'static Comune {
        self.world.city
    }

    /// Everyone: residents and non-residents.
    pub fn len(&self) -> u32 {
        self.config.residents + self.config.non_residents
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn residents(&self) -> u32 {
        self.config.residents
    }

    pub fn household_count(&self) -> u32 {
        self.household_starts.len() as u32
    }

    pub fn footprint(&self) -> Footprint {
        let streets: usize = self
            .streets
            .iter()
            .map(|s| size_of::<Street>() + s.name.capacity() + s.postcode.capacity())
            .sum();
        Footprint {
            people: self.len(),
            households: self.household_count(),
            streets: self.streets.len() as u32,
            heap_bytes: self.index.heap_bytes()
                + self.household_starts.capacity() * size_of::<u32>()
                + self.world.highest_numbers.capacity() * size_of::<u16>()
                + streets,
        }
    }

    /// The person at an index, or `None` past the end.
    pub fn person(&self, id: PersonId) -> Option<Person> {
        if id.0 >= self.len() {
            return None;
        }
        let mut found = None;
        self.for_each_identity(id.0..id.0 + 1, |_, identity, placement| {
            found = Some(self.assemble(id.0, identity, placement));
        });
        found
    }

    /// The person holding exactly this code (base or omocodic variant), if any. Codes that are not
    /// well-formed, or variants no one was assigned, find no one.
    pub fn find(&self, codice_fiscale: &str) -> Option<Person> {
        let code = CodiceFiscale::parse(codice_fiscale).ok()?;
        self.lookup(&code).and_then(|id| self.person(id))
    }

    /// The index of the person holding exactly this code.
    pub fn lookup(&self, code: &CodiceFiscale) -> Option<PersonId> {
        let run = self.index.run(code.base_key());
        (0..run.len())
            .find(|&level| code.omocodia_variant(level).is_ok_and(|v| v == *code))
            .map(|level| PersonId(run[level]))
    }

    /// The household a resident belongs to.
    pub fn household_of(&self, id: PersonId) -> Option<HouseholdId> {
        (id.0 < self.config.residents)
            .then(|| HouseholdId(self.household_starts.partition_point(|&s| s <= id.0) as u32 - 1))
    }

    pub fn household(&self, id: HouseholdId) -> Option<Household> {
        let range = self.household_range(id.0)?;
        let mut members = Vec::with_capacity(range.len());
        self.for_each_identity(range, |index, identity, placement| {
            members.push(self.assemble(index, identity, placement));
        });
        let address = members.first()?.address.clone();
        Some(Household { id, address, members })
    }

    /// Everyone in index order: residents household by household, then non-residents.
    pub fn iter(&self) -> impl Iterator<Item = Person> + '_ {
        let households = (0..self.household_count()).flat_map(|h| {
            self.household(HouseholdId(h))
                .map(|household| household.members)
                .unwrap_or_default()
        });
        let others = (self.config.residents..self.len()).filter_map(|id| self.person(PersonId(id)));
        households.chain(others)
    }

    /// People whose code is an omocodic variant, because someone with a lower index has their base code.
    pub fn omocodic_people(&self) -> impl Iterator<Item = PersonId> + '_ {
        self.index.omocodic().map(PersonId)
    }

    fn household_range(&self, household: u32) -> Option<Range<u32>> {
        let start = *self.household_starts.get(household as usize)?;
        let end = self
            .household_starts
            .get(household as usize + 1)
            .copied()
            .unwrap_or(self.config.residents);
        Some(start..end)
    }

    /// Calls `f` with the identity and placement of every person in `range`, generating each household
    /// once however many of its members the range covers.
    fn for_each_identity(&self, range: Range<u32>, mut f: impl FnMut(u32, Identity, Placement)) {
        let residents = self.config.residents;
        let mut id = range.start;
        while id < range.end.min(residents) {
            let household = self.household_starts.partition_point(|&s| s <= id) as u32 - 1;
            let span = self
                .household_range(household)
                .expect("the household of a resident exists");
            let plan = self.world.household(household, span.len() as u32);
            for (offset, member) in plan.members.into_iter().enumerate() {
                let member_id = span.start + offset as u32;
                if member_id < id || member_id >= range.end {
                    continue;
                }
                let street = &self.streets[plan.street as usize];
                let placement = Placement {
                    registration: Registration::Resident {
                        household: HouseholdId(household),
                        relationship: member.relationship,
                    },
                    address: Address::Italy(StreetAddress {
                        toponym: street.toponym,
                        street: street.name.clone(),
                        civic_number: plan.civic_number.clone(),
                        postcode: street.postcode.clone(),
                        comune: self.world.city,
                    }),
                };
                f(member_id, member.identity, placement);
            }
            id = span.end;
        }
        for id in range.start.max(residents)..range.end {
            let k = id - residents;
            let namesake = others::namesake_candidates(self.config.seed, k, residents)
                .and_then(|candidates| self.adult_resident_identity(candidates));
            let plan = self.world.non_resident(k, namesake.as_ref());
            let placement = Placement {
                registration: plan.registration,
                address: plan.address,
            };
            f(id, plan.identity, placement);
        }
    }

    /// The identity of the first candidate resident who is an adult at the reference date.
    fn adult_resident_identity(&self, candidates: impl Iterator<Item = u32>) -> Option<Identity> {
        let adult_born_by = self
            .world
            .reference
            .checked_sub_months(chrono::Months::new(18 * 12))?;
        for candidate in candidates {
            let mut identity = None;
            self.for_each_identity(candidate..candidate + 1, |_, i, _| identity = Some(i));
            if let Some(identity) = identity.filter(|i| i.birth_date <= adult_born_by) {
                return Some(identity);
            }
        }
        None
    }

    fn assemble(&self, id: u32, identity: Identity, placement: Placement) -> Person {
        let Placement {
            registration,
            address,
        } = placement;
        let base = identity.base_code();
        let level = self.index.level(base.base_key(), id);
        let codice_fiscale = base
            .omocodia_variant(level)
            .expect("the index holds no run longer than the variants");
        let issuer = match registration {
            Registration::Resident { .. } => CardIssuer::Comune(self.world.city),
            Registration::OtherComune(comune) => CardIssuer::Comune(comune),
            Registration::Aire(state) => CardIssuer::Consulate(state),
        };
        let (seed, reference) = (self.config.seed, self.world.reference);
        Person {
            id: PersonId(id),
            codice_fiscale,
            surname: identity.surname,
            given_name: identity.given_name,
            sex: identity.sex,
            birth_date: identity.birth_date,
            birth_place: identity.birth_place,
            citizenship: identity.citizenship,
            civil_status: identity.civil_status,
            death_date: identity.death_date,
            registration,
            identity_card: documents::identity_card(seed, id, &identity, reference, issuer),
            email: documents::email(seed, id, &identity, reference),
            mobile_phone: documents::mobile_phone(seed, id, &identity, reference),
            address,
        }
    }
}

/// Where a generated person is registered and lives.
struct Placement {
    registration: Registration,
    address: Address,
}
