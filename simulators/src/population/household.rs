//! Households of the city, each a pure function of (seed, household number): its size, its members'
//! identities (head, spouse or partner, children, with ages that fit together, shared surname rules,
//! birthplaces valid at their birth dates), its civil statuses and its address.
//!
//! The proportions are rough figures for a large Italian city (many people living alone, about one
//! resident in seven foreign); they aim at plausibility for tests, not at statistics.

use chrono::{Days, NaiveDate};

use super::codice_fiscale::CodiceFiscale;
use super::names::{Community, names};
use super::person::{Citizenship, CivilStatus, Relationship, Sex};
use super::places::{Comune, Place, places};
use super::rng::Rng;

/// Stream coordinates (see `Rng::new`): one per purpose, so that adding a draw to one never shifts
/// another.
pub(crate) const SIZE_STREAM: u64 = 1;
pub(crate) const HOUSEHOLD_STREAM: u64 = 2;

/// The oldest age generated. The codice fiscale holds two digits of the year, so a centenarian born in
/// a comune that still exists reads as a child; keeping everyone under 100 keeps decoding exact.
const MAX_AGE: i64 = 98;

/// Household sizes 1 to 6, per thousand.
const SIZE_WEIGHTS: [u64; 6] = [420, 270, 160, 110, 30, 10];

/// Foreign communities and their weights among foreign households (Z codes of `stranieri.csv`).
const COMMUNITY_WEIGHTS: [(&str, u64); 11] = [
    ("Z216", 160),
    ("Z336", 150),
    ("Z210", 110),
    ("Z611", 80),
    ("Z209", 70),
    ("Z129", 70),
    ("Z138", 50),
    ("Z605", 50),
    ("Z330", 40),
    ("Z100", 40),
    ("Z249", 40),
];

/// Foreign states where Italians are often born, weighted (emigration countries).
pub(crate) const ITALIANS_BORN_ABROAD: [(&str, u64); 6] = [
    ("Z133", 30),
    ("Z112", 25),
    ("Z110", 15),
    ("Z103", 10),
    ("Z600", 15),
    ("Z602", 5),
];

/// What one member of the population is, apart from where they live and their documents: everything
/// the codice fiscale is computed from and what ANPR's generalità and family sections say.
#[derive(Clone)]
pub(crate) struct Identity {
    pub surname: &'static str,
    pub given_name: &'static str,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub birth_place: Place,
    pub citizenship: Citizenship,
    pub civil_status: CivilStatus,
    pub death_date: Option<NaiveDate>,
}

impl Identity {
    /// The code before omocodia. The lists only hold names with letters and the places only valid codes,
    /// so a failure here is a broken embedded table.
    pub(crate) fn base_code(&self) -> CodiceFiscale {
        CodiceFiscale::compute(
            self.surname,
            self.given_name,
            self.sex,
            self.birth_date,
            self.birth_place.code(),
        )
        .expect("embedded names and places always make a codice fiscale")
    }
}

pub(crate) struct Member {
    pub identity: Identity,
    pub relationship: Relationship,
}

pub(crate) struct HouseholdPlan {
    pub members: Vec<Member>,
    pub street: u32,
    pub civic_number: String,
}

/// The context every generated person depends on.
pub(crate) struct World {
    pub seed: u64,
    pub city: &'static Comune,
    pub reference: NaiveDate,
    pub street_count: u32,
    pub highest_numbers: Vec<u16>,
}

pub(crate) fn household_size(seed: u64, household: u32) -> u32 {
    let mut rng = Rng::new(seed, &[SIZE_STREAM, u64::from(household)]);
    rng.weighted(&SIZE_WEIGHTS) as u32 + 1
}

enum Shape {
    Single,
    Couple(Relationship),
    SingleParent,
}

impl World {
    /// The household's members and address; `size` may be smaller than `household_size` for the last
    /// household of the city, cut to fit the requested number of residents.
    pub(crate) fn household(&self, household: u32, size: u32) -> HouseholdPlan {
        let mut rng = Rng::new(self.seed, &[HOUSEHOLD_STREAM, u64::from(household)]);
        let n = names();
        let community = if rng.chance(150) {
            let weights: Vec<u64> = COMMUNITY_WEIGHTS.iter().map(|(_, w)| *w).collect();
            let state = COMMUNITY_WEIGHTS[rng.weighted(&weights)].0;
            n.communities.iter().find(|c| c.state == state)
        } else {
            None
        };
        let shape = match size {
            1 => Shape::Single,
            2 if !rng.chance(780) => Shape::SingleParent,
            _ if size > 2 && !rng.chance(880) => Shape::SingleParent,
            _ => Shape::Couple(match rng.below(1000) {
                0..900 => Relationship::Spouse,
                900..930 => Relationship::CivilPartner,
                _ => Relationship::Cohabitant,
            }),
        };
        let adults = if matches!(shape, Shape::Couple(_)) { 2 } else { 1 };
        let children = size - adults;

        let head_female = match shape {
            Shape::Single => rng.chance(530),
            Shape::Couple(_) => rng.chance(250),
            Shape::SingleParent => rng.chance(800),
        };
        let head_age = if children > 0 {
            rng.range(25, 68)
        } else {
            adult_age(&mut rng, 20)
        };
        let mut members = Vec::with_capacity(size as usize);
        let head = self.adult(&mut rng, community, head_female, head_age);
        members.push(Member {
            identity: head,
            relationship: Relationship::Head,
        });
        let mut youngest_parent = head_age;
        if let Shape::Couple(relationship) = shape {
            let same_sex = relationship == Relationship::CivilPartner;
            let age = (head_age + rng.range(-6, 6)).clamp(20, MAX_AGE);
            youngest_parent = youngest_parent.min(age);
            let partner = self.adult(&mut rng, community, head_female == same_sex, age);
            members.push(Member {
                identity: partner,
                relationship,
            });
        }
        let oldest_child = (youngest_parent - 19).clamp(0, 32);
        let mut ages: Vec<i64> = (0..children).map(|_| rng.range(0, oldest_child)).collect();
        ages.sort_unstable_by(|a, b| b.cmp(a));
        let family_surname = self.children_surname(&mut rng, community, &members);
        for age in ages {
            let female = rng.chance(490);
            let mut given_name = self.given_name(&mut rng, community, female);
            // Siblings do not share a first name.
            for _ in 0..4 {
                let taken = members.iter().any(|m| m.identity.given_name == given_name);
                if !taken {
                    break;
                }
                given_name = self.given_name(&mut rng, community, female);
            }
            let birth_date = self.child_birth_date(&mut rng, age);
            let birth_place = self.birth_place(&mut rng, community, birth_date, age < 18);
            members.push(Member {
                identity: Identity {
                    surname: family_surname,
                    given_name,
                    sex: if female { Sex::Female } else { Sex::Male },
                    birth_date,
                    birth_place,
                    citizenship: citizenship(community),
                    civil_status: CivilStatus::Single,
                    death_date: None,
                },
                relationship: Relationship::Child,
            });
        }
        self.set_civil_statuses(&mut rng, &shape, &mut members, head_age);

        let street = rng.below(u64::from(self.street_count)) as u32;
        let highest = self.highest_numbers[street as usize];
        let mut civic_number = (1 + rng.below(u64::from(highest))).to_string();
        if rng.chance(50) {
            civic_number.push('/');
            civic_number.push(*rng.pick(&['A', 'B', 'C']));
        }
        HouseholdPlan {
            members,
            street,
            civic_number,
        }
    }

    /// An adult of the given age: name, birth, citizenship, and perhaps a death date near the reference
    /// date (more likely with age), so that a simulator's clock sees people die.
    pub(crate) fn adult(
        &self,
        rng: &mut Rng,
        community: Option<&Community>,
        female: bool,
        age: i64,
    ) -> Identity {
        let surname = match community {
            Some(c) => rng.pick_word(&c.surnames),
            None => names().surname(rng),
        };
        let given_name = self.given_name(rng, community, female);
        let birth_date = birth_date_for_age(rng, self.reference, age);
        let birth_place = self.birth_place(rng, community, birth_date, false);
        let death_date = (age >= 60 && rng.chance(((age as u64 - 55) * 4).min(400))).then(|| {
            let offset = rng.range(-1095, 730);
            let death = add_days(self.reference, offset);
            death.max(birth_date + Days::new(365 * 60))
        });
        Identity {
            surname,
            given_name,
            sex: if female { Sex::Female } else { Sex::Male },
            birth_date,
            birth_place,
            citizenship: citizenship(community),
            civil_status: CivilStatus::Single,
            death_date,
        }
    }

    fn given_name(&self, rng: &mut Rng, community: Option<&Community>, female: bool) -> &'static str {
        match community {
            Some(c) if female => rng.pick_word(&c.female),
            Some(c) => rng.pick_word(&c.male),
            None => names().given_name(female, rng),
        }
    }

    /// Children take the father's surname; a mother alone may have given them an absent father's.
    fn children_surname(
        &self,
        rng: &mut Rng,
        community: Option<&Community>,
        adults: &[Member],
    ) -> &'static str {
        let father = adults.iter().find(|m| m.identity.sex == Sex::Male);
        match father {
            Some(f) => f.identity.surname,
            None if adults.len() == 1 && rng.chance(700) => match community {
                Some(c) => rng.pick_word(&c.surnames),
                None => names().surname(rng),
            },
            None => adults[0].identity.surname,
        }
    }

    /// Newborns: a fifth of the youngest are born after the reference date, so that births happen while
    /// a simulator runs.
    fn child_birth_date(&self, rng: &mut Rng, age: i64) -> NaiveDate {
        if age == 0 && rng.chance(200) {
            return add_days(self.reference, rng.range(1, 270));
        }
        birth_date_for_age(rng, self.reference, age)
    }

    /// Where someone was born: mostly the city for children; for adults also the province, anywhere in
    /// Italy or abroad; foreigners mostly in their state. Always a place valid at the birth date.
    pub(crate) fn birth_place(
        &self,
        rng: &mut Rng,
        community: Option<&Community>,
        birth_date: NaiveDate,
        child: bool,
    ) -> Place {
        let p = places();
        let city = Place::Comune(self.city);
        if let Some(c) = community {
            let born_here = if child { 600 } else { 50 };
            if rng.chance(born_here) {
                return city;
            }
            return p.foreign_state(c.state).map(Place::Abroad).unwrap_or(city);
        }
        let draw = rng.below(1000);
        let (city_share, province_share, italy_share) =
            if child { (850, 950, 1000) } else { (500, 650, 950) };
        if draw < city_share {
            return city;
        }
        if draw < province_share {
            let list = p.province_comuni(self.city.province);
            return self.comune_valid_at(rng, Some(list), birth_date).unwrap_or(city);
        }
        if draw < italy_share {
            return self.comune_valid_at(rng, None, birth_date).unwrap_or(city);
        }
        let weights: Vec<u64> = ITALIANS_BORN_ABROAD.iter().map(|(_, w)| *w).collect();
        let state = ITALIANS_BORN_ABROAD[rng.weighted(&weights)].0;
        p.foreign_state(state).map(Place::Abroad).unwrap_or(city)
    }

    /// A comune of `list` (of the whole table when `None`) whose code was valid at `date`, by
    /// rejection: most intervals are open, so a few draws suffice; `None` after 16 misses.
    fn comune_valid_at(&self, rng: &mut Rng, list: Option<&[u32]>, date: NaiveDate) -> Option<Place> {
        let comuni = places().comuni();
        for _ in 0..16 {
            let index = match list {
                Some(list) if !list.is_empty() => *rng.pick(list) as usize,
                _ => rng.below(comuni.len() as u64) as usize,
            };
            let comune = &comuni[index];
            if comune.valid_at(date) {
                return Some(Place::Comune(comune));
            }
        }
        None
    }

    fn set_civil_statuses(&self, rng: &mut Rng, shape: &Shape, members: &mut [Member], head_age: i64) {
        match shape {
            Shape::Single => members[0].identity.civil_status = single_status(rng, head_age),
            Shape::SingleParent => {
                members[0].identity.civil_status = match rng.below(100) {
                    0..60 => CivilStatus::Divorced,
                    60..75 if head_age > 40 => CivilStatus::Widowed,
                    _ => CivilStatus::Single,
                }
            }
            Shape::Couple(relationship) => {
                let status = match relationship {
                    Relationship::Spouse => CivilStatus::Married,
                    Relationship::CivilPartner => CivilStatus::CivilUnion,
                    _ => {
                        if rng.chance(300) {
                            CivilStatus::Divorced
                        } else {
                            CivilStatus::Single
                        }
                    }
                };
                members[0].identity.civil_status = status;
                members[1].identity.civil_status = status;
                // A spouse who died before the reference date leaves a widow or widower.
                let dead = |m: &Member| m.identity.death_date.is_some_and(|d| d <= self.reference);
                if status == CivilStatus::Married {
                    let (first, second) = (dead(&members[0]), dead(&members[1]));
                    if first && !second {
                        members[1].identity.civil_status = CivilStatus::Widowed;
                    } else if second && !first {
                        members[0].identity.civil_status = CivilStatus::Widowed;
                    }
                }
            }
        }
    }
}

pub(crate) fn citizenship(community: Option<&Community>) -> Citizenship {
    community
        .and_then(|c| places().foreign_state(c.state))
        .map(Citizenship::Foreign)
        .unwrap_or(Citizenship::Italian)
}

/// Civil status of someone living alone, by age.
pub(crate) fn single_status(rng: &mut Rng, age: i64) -> CivilStatus {
    let draw = rng.below(100);
    match age {
        ..40 if draw < 90 => CivilStatus::Single,
        ..40 => CivilStatus::Divorced,
        40..70 if draw < 50 => CivilStatus::Single,
        40..70 if draw < 85 => CivilStatus::Divorced,
        40..70 => CivilStatus::Widowed,
        _ if draw < 20 => CivilStatus::Single,
        _ if draw < 30 => CivilStatus::Divorced,
        _ => CivilStatus::Widowed,
    }
}

/// An adult age of at least `minimum`, from broad brackets (young adults, middle age, older, elderly).
pub(crate) fn adult_age(rng: &mut Rng, minimum: i64) -> i64 {
    const BRACKETS: [(i64, i64, u64); 4] = [(20, 34, 25), (35, 54, 32), (55, 74, 25), (75, 97, 18)];
    let (low, high, _) = BRACKETS[rng.weighted(&BRACKETS.map(|(_, _, w)| w))];
    debug_assert!(high < MAX_AGE);
    rng.range(low.max(minimum), high.max(minimum))
}

/// A birth date `age` years (and some days) before the reference date.
pub(crate) fn birth_date_for_age(rng: &mut Rng, reference: NaiveDate, age: i64) -> NaiveDate {
    let days = age * 365 + age / 4 + rng.range(1, 364);
    add_days(reference, -days)
}

pub(crate) fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    if days >= 0 {
        date + Days::new(days as u64)
    } else {
        date - Days::new(days.unsigned_abs())
    }
}
