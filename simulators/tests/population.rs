//! The synthetic population against rules checked independently: every codice fiscale verified with a
//! check-character implementation written here from the platform notes (not the crate's), the known
//! codes of the notes, omocodia variants valid and resolvable, households that hold together, the mix of
//! people the simulators need, determinism, masking, and the memory a large city takes.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use snodo_simulators::population::codice_fiscale::CodiceFiscale;
use snodo_simulators::population::person::{
    Citizenship, CivilStatus, LifeStatus, Person, PersonId, Registration, Relationship, Sex,
};
use snodo_simulators::population::places::{Place, places};
use snodo_simulators::population::{Population, PopulationConfig, PopulationError};

/// The check character as `anpr-and-cie-booking.md` §3 states it, table by table: odd 1-based positions
/// map digits and letters through the odd table, even positions to their ordinal; the sum mod 26 is
/// the letter.
fn independent_check_character(first15: &str) -> char {
    const ODD: [u32; 36] = [
        // '0'..='9'
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, //
        // 'A'..='Z'
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
    ];
    const EVEN: [u32; 36] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, //
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    ];
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut sum = 0;
    for (i, c) in first15.chars().enumerate() {
        let slot = ALPHABET.find(c).expect("codes are upper-case letters and digits");
        sum += if (i + 1) % 2 == 1 { ODD[slot] } else { EVEN[slot] };
    }
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        .chars()
        .nth((sum % 26) as usize)
        .expect("26 letters")
}

fn independently_valid(code: &str) -> bool {
    code.len() == 16 && independent_check_character(&code[..15]) == code.chars().nth(15).expect("16 chars")
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}

fn small(seed: u64) -> Population {
    Population::build(PopulationConfig::development(seed, 4_000)).expect("the development city builds")
}

/// The decoding reference for a person: the code cannot say which century, so read it on a date the
/// person has been born by.
fn reading_date(population: &Population, person: &Person) -> NaiveDate {
    population.config().reference_date.max(person.birth_date)
}

#[test]
fn the_independent_check_character_agrees_with_the_notes_and_the_collaudo_subjects() {
    // The notes' three codes and fictitious subjects of ANPR's collaudo environment.
    for code in [
        "RSSMRA80A01H501U",
        "RSSMRA45D25F205N",
        "MRTMTT25D09F205Z",
        "SGGNNA90R50F839T",
        "DLGBNC70E60Z509S",
        "NRENTN80B22G393L",
        "LGUCCE40R10Z600T",
        "TTRPNN00R51F839V",
    ] {
        assert!(independently_valid(code), "{code}");
        assert!(CodiceFiscale::parse(code).is_ok(), "{code}");
    }
    assert!(!independently_valid("RSSMRA80A01H501V"));
}

#[test]
fn the_known_codes_of_the_notes_are_computed_exactly() {
    let cases = [
        ("ROSSI", "MARIO", d(1980, 1, 1), "H501", "RSSMRA80A01H501U"),
        ("ROSSI", "MARIO", d(1945, 4, 25), "F205", "RSSMRA45D25F205N"),
        ("MARTINI", "MATTEO", d(1925, 4, 9), "F205", "MRTMTT25D09F205Z"),
    ];
    for (surname, name, born, place, expected) in cases {
        let code = CodiceFiscale::compute(surname, name, Sex::Male, born, place).expect("computes");
        assert_eq!(code.as_str(), expected);
    }
    // Women: day + 40.
    let anna =
        CodiceFiscale::compute("SOGGETTA", "ANNA", Sex::Female, d(1990, 10, 10), "F839").expect("computes");
    assert_eq!(anna.as_str(), "SGGNNA90R50F839T");
}

#[test]
fn every_code_of_a_full_small_population_is_valid_and_decodes_to_its_holder() {
    let population = small(11);
    let mut codes = HashSet::new();
    let mut count = 0;
    for person in population.iter() {
        count += 1;
        let code = person.codice_fiscale.to_string();
        assert!(independently_valid(&code), "person {:?}", person.id);
        let (_, decoded) = CodiceFiscale::validate(&code, reading_date(&population, &person))
            .unwrap_or_else(|e| panic!("person {:?}: {e}", person.id));
        assert_eq!(decoded.birth_date, person.birth_date, "person {:?}", person.id);
        assert_eq!(decoded.sex, person.sex);
        assert_eq!(decoded.place.code(), person.birth_place.code());
        assert!(
            places()
                .place_at(person.birth_place.code(), person.birth_date)
                .is_some(),
            "the birthplace of {:?} was valid at the birth date",
            person.id
        );
        assert!(
            codes.insert(code.clone()),
            "codes are unique; {:?} repeats one",
            person.id
        );
        assert_eq!(population.find(&code).map(|p| p.id), Some(person.id));
    }
    assert_eq!(count, population.len());
}

#[test]
fn omocodic_codes_exist_are_valid_and_resolve_to_their_holder() {
    let population = small(11);
    let omocodic: Vec<PersonId> = population.omocodic_people().collect();
    assert!(
        omocodic.len() >= 4,
        "namesakes give omocodia in every population: {}",
        omocodic.len()
    );
    let mut levels = HashSet::new();
    for id in omocodic {
        let person = population.person(id).expect("exists");
        let code = person.codice_fiscale;
        let mask = code.omocodia_mask();
        assert_ne!(mask, 0);
        levels.insert(mask.count_ones());
        assert!(independently_valid(code.as_str()));
        // The substituted positions hold letters, the Agenzia's order: from the right.
        let letters: Vec<usize> = [14, 13, 12, 10, 9, 7, 6]
            .into_iter()
            .filter(|&p| code.as_str().as_bytes()[p].is_ascii_alphabetic())
            .collect();
        assert_eq!(letters.len(), mask.count_ones() as usize);
        assert_eq!(letters[0], 14, "the first substitution is the last digit");
        // The base code belongs to someone registered earlier with the same generalità.
        let holder = population
            .find(code.base().as_str())
            .expect("someone holds the base code");
        assert!(holder.id < person.id);
        assert_eq!(
            (
                holder.surname,
                holder.given_name,
                holder.birth_date,
                holder.birth_place.code()
            ),
            (
                person.surname,
                person.given_name,
                person.birth_date,
                person.birth_place.code()
            )
        );
        assert_eq!(population.find(code.as_str()).map(|p| p.id), Some(id));
        let decoded = code.decode(reading_date(&population, &person)).expect("decodes");
        assert_eq!(decoded.birth_date, person.birth_date);
    }
    assert!(
        levels.contains(&1) && levels.contains(&2),
        "levels seen: {levels:?}"
    );
}

#[test]
fn variants_no_one_holds_find_no_one() {
    let population = small(11);
    let person = population.person(PersonId(0)).expect("exists");
    let unassigned = person
        .codice_fiscale
        .base()
        .omocodia_variant(7)
        .expect("level 7 exists");
    assert!(population.find(unassigned.as_str()).is_none());
    assert!(
        population.find("RSSMRA80A01H501V").is_none(),
        "a wrong check character finds no one"
    );
    assert!(population.find("not a code").is_none());
}

#[test]
fn households_hold_together() {
    let population = small(5);
    for h in 0..population.household_count() {
        let household = population
            .household(snodo_simulators::population::person::HouseholdId(h))
            .expect("exists");
        let head = &household.members[0];
        assert!(matches!(
            head.registration,
            Registration::Resident {
                relationship: Relationship::Head,
                ..
            }
        ));
        let parents: Vec<&Person> = household
            .members
            .iter()
            .filter(|m| {
                !matches!(
                    m.registration,
                    Registration::Resident {
                        relationship: Relationship::Child,
                        ..
                    }
                )
            })
            .collect();
        assert!(parents.len() <= 2);
        for member in &household.members {
            assert_eq!(member.address, household.address);
            assert_eq!(population.household_of(member.id), Some(household.id));
            let Registration::Resident { relationship, .. } = member.registration else {
                panic!("household members are residents");
            };
            if relationship == Relationship::Child {
                for parent in &parents {
                    let gap = member.birth_date - parent.birth_date;
                    assert!(gap.num_days() >= 18 * 365, "a parent is at least 18 years older");
                }
                if let Some(father) = parents.iter().find(|p| p.sex == Sex::Male) {
                    assert_eq!(
                        member.surname, father.surname,
                        "children take the father's surname"
                    );
                }
            }
            if relationship == Relationship::Spouse {
                let statuses = [head.civil_status, member.civil_status];
                assert!(
                    statuses
                        .iter()
                        .all(|s| matches!(s, CivilStatus::Married | CivilStatus::Widowed))
                );
                assert_ne!(head.sex, member.sex);
            }
            if relationship == Relationship::CivilPartner {
                assert_eq!(head.sex, member.sex);
            }
        }
    }
}

#[test]
fn the_population_has_every_kind_of_person_the_simulators_need() {
    let population = small(3);
    let reference = population.config().reference_date;
    let people: Vec<Person> = population.iter().collect();
    let count = |f: &dyn Fn(&Person) -> bool| people.iter().filter(|p| f(p)).count();
    let kinds = [
        (
            "deceased",
            count(&|p| p.status_at(reference) == LifeStatus::Deceased),
        ),
        (
            "dying later",
            count(&|p| p.death_date.is_some_and(|d| d > reference)),
        ),
        (
            "not yet born",
            count(&|p| p.status_at(reference) == LifeStatus::NotYetBorn),
        ),
        (
            "newborn",
            count(&|p| p.status_at(reference) == LifeStatus::Alive && p.age_at(reference) == 0),
        ),
        (
            "foreign citizen",
            count(&|p| matches!(p.citizenship, Citizenship::Foreign(_))),
        ),
        (
            "born abroad",
            count(&|p| matches!(p.birth_place, Place::Abroad(_))),
        ),
        (
            "born elsewhere in Italy",
            count(&|p| matches!(p.birth_place, Place::Comune(c) if c.cadastral_code != "F205")),
        ),
        (
            "other comune",
            count(&|p| matches!(p.registration, Registration::OtherComune(_))),
        ),
        (
            "AIRE",
            count(&|p| matches!(p.registration, Registration::Aire(_))),
        ),
        ("married", count(&|p| p.civil_status == CivilStatus::Married)),
        ("widowed", count(&|p| p.civil_status == CivilStatus::Widowed)),
        ("divorced", count(&|p| p.civil_status == CivilStatus::Divorced)),
        (
            "civil union",
            count(&|p| p.civil_status == CivilStatus::CivilUnion),
        ),
        (
            "valid card",
            count(&|p| p.identity_card.as_ref().is_some_and(|c| c.is_valid_at(reference))),
        ),
        (
            "expired card",
            count(&|p| p.identity_card.as_ref().is_some_and(|c| c.expires_on < reference)),
        ),
        ("no card", count(&|p| p.identity_card.is_none())),
    ];
    for (kind, n) in kinds {
        assert!(n > 0, "no {kind} person in a population of {}", people.len());
    }
    let mut cards = HashSet::new();
    let mut mails = HashSet::new();
    let mut phones = HashSet::new();
    for p in &people {
        if let Some(card) = &p.identity_card {
            let b = card.number.as_bytes();
            let shape = b.len() == 9
                && b[..2].iter().all(u8::is_ascii_uppercase)
                && b[2..7].iter().all(u8::is_ascii_digit)
                && b[7..].iter().all(u8::is_ascii_uppercase);
            assert!(shape, "CIE numbers are two letters, five digits, two letters");
            assert!(card.issued_on < card.expires_on && card.issued_on >= p.birth_date);
            assert_eq!(
                (card.expires_on.month(), card.expires_on.day()),
                (
                    p.birthday_in(card.expires_on.year()).month(),
                    p.birthday_in(card.expires_on.year()).day()
                ),
                "a CIE expires on the holder's birthday"
            );
            assert!(cards.insert(card.number.clone()), "card numbers are unique");
        }
        if let Some(mail) = &p.email {
            let domain = mail.rsplit('@').next().expect("an address has a domain");
            assert!(domain.ends_with(".example") || domain == "example.org" || domain == "example.net");
            assert!(mails.insert(mail.clone()), "emails are unique");
        }
        if let Some(phone) = &p.mobile_phone {
            assert!(
                phone.starts_with("+393")
                    && phone.len() == 13
                    && phone[1..].bytes().all(|b| b.is_ascii_digit())
            );
            assert!(phones.insert(phone.clone()), "phone numbers are unique");
        }
        if let snodo_simulators::population::person::Address::Italy(a) = &p.address {
            assert!(a.postcode.len() == 5 && a.postcode.bytes().all(|b| b.is_ascii_digit()));
            if p.is_resident() {
                let cap: u32 = a.postcode.parse().expect("digits");
                assert!((20121..=20162).contains(&cap), "Milano's postcodes");
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_people_and_another_seed_other_people() {
    let a: Vec<Person> = small(42).iter().collect();
    let b: Vec<Person> = small(42).iter().collect();
    assert!(a == b, "same seed, same population");
    let c: Vec<Person> = small(43).iter().collect();
    let same = a
        .iter()
        .zip(&c)
        .filter(|(x, y)| x.codice_fiscale == y.codice_fiscale)
        .count();
    assert!(
        same < a.len() / 100,
        "another seed gives other people ({same} equal codes)"
    );
    // Random access agrees with iteration.
    let population = small(42);
    for id in [0, 1, 999, 3_999, 4_000, 4_399] {
        assert!(
            population.person(PersonId(id)).as_ref() == a.get(id as usize),
            "person {id}"
        );
    }
    assert!(population.person(PersonId(4_400)).is_none());
}

#[test]
fn debug_output_masks_personal_data() {
    let population = small(9);
    for person in population.iter().take(300) {
        let shown = format!("{person:?}");
        let mut secrets = vec![person.codice_fiscale.to_string(), person.address.one_line()];
        secrets.extend(person.email.clone());
        secrets.extend(person.mobile_phone.clone());
        secrets.extend(person.identity_card.as_ref().map(|c| c.number.clone()));
        // Names short enough to be masked entirely stand out less; long ones must not appear.
        secrets.extend(
            [person.surname, person.given_name]
                .iter()
                .filter(|n| n.len() > 4)
                .map(|n| n.to_string()),
        );
        for secret in secrets {
            assert!(
                !shown.contains(&secret),
                "Debug of {:?} shows personal data",
                person.id
            );
        }
    }
}

#[test]
fn a_city_must_exist_and_have_postcodes() {
    let mut config = PopulationConfig::development(1, 10);
    config.city_istat = "999999".to_owned();
    assert!(matches!(
        Population::build(config),
        Err(PopulationError::UnknownComune { .. })
    ));
    // Abbadia Cerreto exists, but its postcodes are not embedded: they must be configured.
    let mut config = PopulationConfig::development(1, 10);
    config.city_istat = "098001".to_owned();
    assert!(matches!(
        Population::build(config.clone()),
        Err(PopulationError::NoPostcodes { .. })
    ));
    config.postcodes = Some((26834, 26834));
    let population = Population::build(config).expect("with postcodes it builds");
    assert_eq!(population.city().cadastral_code, "A004");
}

#[test]
fn a_large_population_is_stored_in_a_few_bytes_a_person() {
    // The 1.4 million figure is measured by `examples/population_figures.rs`; CI builds a smaller city.
    let population = Population::build(PopulationConfig::development(1, 150_000)).expect("builds");
    let footprint = population.footprint();
    assert_eq!(footprint.people, 165_000);
    let per_person = footprint.heap_bytes as f64 / f64::from(footprint.people);
    assert!(per_person < 16.0, "{per_person:.1} bytes a person");
    let last = population.person(PersonId(149_999)).expect("the last resident");
    assert_eq!(
        population.find(last.codice_fiscale.as_str()).map(|p| p.id),
        Some(last.id)
    );
}
