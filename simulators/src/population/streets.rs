//! The city's streets: a few thousand for a large city (Milan has about one street per 350 residents),
//! each a toponym species from ANPR's table 04 and a name — a dedication, another comune, or a person —
//! with its own postcode inside the city's range and a highest house number.
//!
//! Streets are the one part of the population built eagerly: they are few, must be unique by name, and
//! every household refers to one by index.

use std::collections::HashSet;

use super::names::names;
use super::places::{PostalArea, places};
use super::rng::Rng;

/// Toponym species and how often a city uses them (ANPR table 04 names).
const TOPONYMS: [(&str, u64); 8] = [
    ("VIA", 700),
    ("VIALE", 80),
    ("PIAZZA", 70),
    ("CORSO", 40),
    ("LARGO", 40),
    ("PIAZZALE", 30),
    ("VICOLO", 30),
    ("ALZAIA", 10),
];

/// Residents per street, roughly Milan's ratio.
const RESIDENTS_PER_STREET: u32 = 350;

/// A stream coordinate for street generation (see `Rng::new`).
const STREET_STREAM: u64 = 0x5354_5245_4554;

pub(crate) struct Street {
    pub toponym: &'static str,
    pub name: String,
    pub postcode: String,
    /// House numbers run from 1 to this.
    pub highest_number: u16,
}

pub(crate) fn build_streets(seed: u64, residents: u32, postal: &PostalArea) -> Vec<Street> {
    let count = (residents / RESIDENTS_PER_STREET).max(30);
    let weights: Vec<u64> = TOPONYMS.iter().map(|(_, w)| *w).collect();
    let n = names();
    let active: Vec<&str> = places()
        .comuni()
        .iter()
        .filter(|c| c.is_active())
        .map(|c| c.name)
        .collect();
    let mut seen = HashSet::new();
    let mut streets = Vec::with_capacity(count as usize);
    for i in 0..count {
        let mut rng = Rng::new(seed, &[STREET_STREAM, u64::from(i)]);
        // Draw until the name is new; each retry consumes the same stream, so the result is fixed.
        let (toponym, name) = loop {
            let toponym = TOPONYMS[rng.weighted(&weights)].0;
            let name = match rng.below(10) {
                0..=3 => (*rng.pick(&n.dedications)).to_owned(),
                4..=6 => (*rng.pick(&active)).to_owned(),
                _ => {
                    let female = rng.chance(300);
                    format!("{} {}", n.given_name(female, &mut rng), n.surname(&mut rng))
                }
            };
            if seen.insert((toponym, name.clone())) {
                break (toponym, name);
            }
        };
        let postcode = postal.first + rng.below(u64::from(postal.last - postal.first + 1)) as u32;
        let highest_number = rng.range(8, 220) as u16;
        streets.push(Street {
            toponym,
            name,
            postcode: format!("{postcode:05}"),
            highest_number,
        });
    }
    streets
}
