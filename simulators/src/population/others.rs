//! People who are not residents of the city but exist for the identity providers and for ANPR's national
//! lookups: residents of other comuni, and Italians abroad registered in the city's AIRE.
//!
//! Some of them are namesakes of residents — same names, same birth date and place — which is how
//! omocodia happens in reality: the later registration gets a substituted code. Every fortieth
//! non-resident is one, and they come in pairs on the same resident, so every population large enough
//! has both first-level and second-level omocodic codes.

use super::household::{Identity, World, adult_age, single_status};
use super::names::names;
use super::person::{Address, CivilStatus, Registration, StreetAddress};
use super::places::{Place, places, postal_areas};
use super::rng::Rng;

pub(crate) const NON_RESIDENT_STREAM: u64 = 3;
pub(crate) const NAMESAKE_STREAM: u64 = 4;

/// One non-resident in forty is a namesake of a resident.
const NAMESAKE_EVERY: u32 = 40;

pub(crate) struct NonResidentPlan {
    pub identity: Identity,
    pub registration: Registration,
    pub address: Address,
}

/// Candidate residents (in order) a non-resident is the namesake of, when it is one. Two consecutive
/// namesakes share their candidates, hence their resident, giving omocodia levels 1 and 2.
pub(crate) fn namesake_candidates(seed: u64, k: u32, residents: u32) -> Option<impl Iterator<Item = u32>> {
    if residents == 0 || !k.is_multiple_of(NAMESAKE_EVERY) {
        return None;
    }
    let mut rng = Rng::new(seed, &[NAMESAKE_STREAM, u64::from(k / (2 * NAMESAKE_EVERY))]);
    Some((0..32).map(move |_| rng.below(u64::from(residents)) as u32))
}

impl World {
    /// The `k`-th non-resident; `namesake` is the identity to copy the generalità of, if any.
    pub(crate) fn non_resident(&self, k: u32, namesake: Option<&Identity>) -> NonResidentPlan {
        let mut rng = Rng::new(self.seed, &[NON_RESIDENT_STREAM, u64::from(k)]);
        let p = places();
        let n = names();
        // Seven in ten live in another comune, three abroad.
        let abroad = rng.below(10) >= 7;
        let area = rng.pick(&n.abroad);
        let state = p
            .foreign_state(area.state)
            .expect("estero.csv states are in the ANPR table");
        let mut identity = match namesake {
            Some(original) => Identity {
                death_date: None,
                ..original.clone()
            },
            None => {
                let age = adult_age(&mut rng, 18);
                let female = rng.chance(500);
                // A tenth of the residents of other comuni are foreign; AIRE residents are Italians.
                let community = (!abroad && rng.chance(100))
                    .then(|| &n.communities[rng.below(n.communities.len() as u64) as usize]);
                let mut identity = self.adult(&mut rng, community, female, age);
                identity.civil_status = if rng.chance(450) {
                    CivilStatus::Married
                } else {
                    single_status(&mut rng, age)
                };
                if abroad && rng.chance(300) {
                    identity.birth_place = Place::Abroad(state);
                }
                identity
            }
        };
        // Non-residents are alive at the reference date: simulators look them up as living users.
        identity.death_date = None;

        if abroad {
            let street = format!("{} {}", rng.pick(&area.streets), rng.range(1, 180));
            return NonResidentPlan {
                identity,
                registration: Registration::Aire(state),
                address: Address::Abroad {
                    state,
                    locality: rng.pick_word(&area.localities),
                    street,
                },
            };
        }
        let others: Vec<_> = postal_areas()
            .iter()
            .filter(|a| a.istat != self.city.istat)
            .collect();
        let postal = *rng.pick(&others);
        let comune = p
            .comune_by_istat(postal.istat, self.reference)
            .expect("cap.csv comuni exist in the ANPR archive");
        let toponym = if rng.chance(800) { "VIA" } else { "PIAZZA" };
        let postcode = postal.first + rng.below(u64::from(postal.last - postal.first + 1)) as u32;
        NonResidentPlan {
            identity,
            registration: Registration::OtherComune(comune),
            address: Address::Italy(StreetAddress {
                toponym,
                street: (*rng.pick(&n.dedications)).to_owned(),
                civic_number: rng.range(1, 150).to_string(),
                postcode: format!("{postcode:05}"),
                comune,
            }),
        }
    }
}
