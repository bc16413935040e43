//! The word lists people and streets are made of: Italian given names and surnames (most frequent
//! first, so that a rough Zipf draw gives realistic repetition), names of the largest foreign communities,
//! street dedications and the towns abroad where AIRE residents live.
//!
//! Lists are embedded text (`simulators/data/`), split once into `&'static str` slices so that a person
//! borrows names instead of owning copies: 1.4 million people must stay cheap to generate.

use std::sync::OnceLock;

use super::rng::{Rng, Zipf};

const MALE: &str = include_str!("../../data/nomi_maschili.txt");
const FEMALE: &str = include_str!("../../data/nomi_femminili.txt");
const SURNAMES: &str = include_str!("../../data/cognomi.txt");
const FOREIGN: &str = include_str!("../../data/stranieri.csv");
const DEDICATIONS: &str = include_str!("../../data/dedicazioni.txt");
const ABROAD: &str = include_str!("../../data/estero.csv");

/// Names of one foreign community, by the Z code of its state.
pub(crate) struct Community {
    pub state: &'static str,
    pub male: Vec<&'static str>,
    pub female: Vec<&'static str>,
    pub surnames: Vec<&'static str>,
}

/// Where AIRE residents of one state live.
pub(crate) struct AbroadArea {
    pub state: &'static str,
    pub localities: Vec<&'static str>,
    pub streets: Vec<&'static str>,
}

pub(crate) struct Names {
    pub male: Vec<&'static str>,
    pub female: Vec<&'static str>,
    pub surnames: Vec<&'static str>,
    pub communities: Vec<Community>,
    pub dedications: Vec<&'static str>,
    pub abroad: Vec<AbroadArea>,
    male_rank: Zipf,
    female_rank: Zipf,
    surname_rank: Zipf,
}

pub(crate) fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(Names::parse)
}

fn words(list: &'static str) -> Vec<&'static str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn csv_rows(table: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    words(table).into_iter().map(|l| l.split(',').collect())
}

impl Names {
    fn parse() -> Names {
        let mut communities: Vec<Community> = Vec::new();
        for row in csv_rows(FOREIGN) {
            assert_eq!(row.len(), 3, "stranieri.csv rows are state,kind,names");
            let list: Vec<&'static str> = row[2].split('|').collect();
            let index = match communities.iter().position(|c| c.state == row[0]) {
                Some(i) => i,
                None => {
                    communities.push(Community {
                        state: row[0],
                        male: Vec::new(),
                        female: Vec::new(),
                        surnames: Vec::new(),
                    });
                    communities.len() - 1
                }
            };
            let community = &mut communities[index];
            match row[1] {
                "M" => community.male = list,
                "F" => community.female = list,
                "S" => community.surnames = list,
                other => panic!("stranieri.csv: unknown kind {other}"),
            }
        }
        let abroad = csv_rows(ABROAD)
            .map(|row| {
                assert_eq!(row.len(), 3, "estero.csv rows are state,localities,streets");
                AbroadArea {
                    state: row[0],
                    localities: row[1].split('|').collect(),
                    streets: row[2].split('|').collect(),
                }
            })
            .collect();
        let (male, female, surnames) = (words(MALE), words(FEMALE), words(SURNAMES));
        Names {
            male_rank: Zipf::new(male.len()),
            female_rank: Zipf::new(female.len()),
            surname_rank: Zipf::new(surnames.len()),
            male,
            female,
            surnames,
            communities,
            dedications: words(DEDICATIONS),
            abroad,
        }
    }

    /// An Italian given name, the frequent ones more often.
    pub(crate) fn given_name(&self, female: bool, rng: &mut Rng) -> &'static str {
        if female {
            self.female[self.female_rank.sample(rng)]
        } else {
            self.male[self.male_rank.sample(rng)]
        }
    }

    /// An Italian surname, the frequent ones more often.
    pub(crate) fn surname(&self, rng: &mut Rng) -> &'static str {
        self.surnames[self.surname_rank.sample(rng)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::places::places;

    #[test]
    fn every_list_is_filled_and_every_state_exists() {
        let n = names();
        assert!(n.male.len() > 50 && n.female.len() > 50 && n.surnames.len() > 150);
        assert!(n.dedications.len() > 100);
        for c in &n.communities {
            assert!(
                !c.male.is_empty() && !c.female.is_empty() && !c.surnames.is_empty(),
                "{}",
                c.state
            );
            let state = places()
                .foreign_state(c.state)
                .expect("community state in the ANPR table");
            assert!(state.citizenship && state.birth, "{}", c.state);
        }
        for a in &n.abroad {
            assert!(places().foreign_state(a.state).is_some(), "{}", a.state);
        }
    }

    #[test]
    fn names_are_upper_case_latin_letters() {
        let n = names();
        let all = n.male.iter().chain(&n.female).chain(&n.surnames);
        for name in all {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b' ' || b == b'\''),
                "{name}"
            );
        }
    }
}
