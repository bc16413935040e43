//! A person's identity card, email and mobile number: what the CIE booking simulator and the identity
//! providers need beyond the registry data.
//!
//! Card and phone numbers must be unique across the population without a table of numbers in use, so
//! they are a bijective scramble of the person's index (multiplication by an odd prime modulo the number
//! space, plus a seed-derived offset): distinct people always get distinct numbers.

use chrono::{Datelike, NaiveDate};

use super::household::Identity;
use super::person::{CardIssuer, IdentityCard, birthday_in};
use super::rng::{Rng, mix};

pub(crate) const DOCUMENT_STREAM: u64 = 5;

/// CIE 3.0 cards exist since 4 July 2016 (first issued in that summer's rollout).
const CIE_FIRST_ISSUE: (i32, u32, u32) = (2016, 7, 4);

/// Knuth's multiplicative-hash prime: coprime with both number spaces below.
const SCRAMBLE: u64 = 2_654_435_761;

/// Two letters and five digits after the two-letter series: 676 × 100,000 numbers per series.
const CARD_SPACE: u64 = 676 * 100_000;

/// Seven digits after the mobile prefix.
const PHONE_SPACE: u64 = 10_000_000;

/// The most a population may hold and still give everyone a distinct card and phone number.
pub(crate) const MAX_PEOPLE: u64 = PHONE_SPACE;

/// Italian mobile prefixes in common use.
const MOBILE_PREFIXES: [&str; 16] = [
    "320", "324", "327", "328", "329", "330", "333", "334", "335", "338", "339", "340", "347", "348", "349",
    "351",
];

/// Reserved example domains (RFC 2606, RFC 6761): mail sent there goes nowhere.
const MAIL_DOMAINS: [&str; 4] = ["posta.example", "mail.example", "example.org", "example.net"];

fn scramble(seed: u64, id: u32, space: u64, purpose: u64) -> u64 {
    let offset = mix(seed ^ purpose) % space;
    (u64::from(id) * SCRAMBLE % space + offset) % space
}

/// A CIE for people who have one (most adults, fewer children): issued at a random date between the
/// later of birth and the CIE's introduction and the reference date (or death), valid 3, 5 or 10 years
/// by age at issue and extended to the following birthday. Early cards of children are expired by now.
pub(crate) fn identity_card(
    seed: u64,
    id: u32,
    identity: &Identity,
    reference: NaiveDate,
    issuer: CardIssuer,
) -> Option<IdentityCard> {
    let mut rng = Rng::new(seed, &[DOCUMENT_STREAM, u64::from(id), 1]);
    if identity.birth_date > reference {
        return None;
    }
    let age = reference.years_since(identity.birth_date).unwrap_or(0);
    let per_mille = match age {
        0..3 => 300,
        3..18 => 700,
        _ => 900,
    };
    if !rng.chance(per_mille) {
        return None;
    }
    let (y, m, d) = CIE_FIRST_ISSUE;
    let first = NaiveDate::from_ymd_opt(y, m, d).expect("a real date");
    let lower = first.max(identity.birth_date + chrono::Days::new(30));
    let upper = identity
        .death_date
        .map_or(reference, |death| death.min(reference));
    if lower > upper {
        return None;
    }
    let span = (upper - lower).num_days() as u64 + 1;
    let issued_on = lower + chrono::Days::new(rng.below(span));
    let age_at_issue = issued_on.years_since(identity.birth_date).unwrap_or(0);
    let years = match age_at_issue {
        0..3 => 3,
        3..18 => 5,
        _ => 10,
    };
    let nominal = issued_on
        .with_year(issued_on.year() + years)
        .unwrap_or_else(|| birthday_in(issued_on, issued_on.year() + years));
    let mut expires_on = birthday_in(identity.birth_date, nominal.year());
    if expires_on < nominal {
        expires_on = birthday_in(identity.birth_date, nominal.year() + 1);
    }
    let series = b'A' + ((issued_on.year() - 2016).clamp(0, 12) / 2) as u8;
    let n = scramble(seed, id, CARD_SPACE, 0xC1E);
    let (letters, digits) = (n / 100_000, n % 100_000);
    let number = format!(
        "C{}{digits:05}{}{}",
        series as char,
        (b'A' + (letters / 26) as u8) as char,
        (b'A' + (letters % 26) as u8) as char
    );
    Some(IdentityCard {
        number,
        issued_on,
        expires_on,
        issuer,
    })
}

/// Lower-case letters of a name, for an email address.
fn mail_word(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `given.surname.<index in base 36>@<reserved domain>` for most people from 16; unique by the index.
pub(crate) fn email(seed: u64, id: u32, identity: &Identity, reference: NaiveDate) -> Option<String> {
    let mut rng = Rng::new(seed, &[DOCUMENT_STREAM, u64::from(id), 2]);
    let age = reference.years_since(identity.birth_date)?;
    if age < 16 || !rng.chance(850) {
        return None;
    }
    let mut tag = String::new();
    let mut rest = id;
    loop {
        tag.insert(0, char::from_digit(rest % 36, 36).expect("a base-36 digit"));
        rest /= 36;
        if rest == 0 {
            break;
        }
    }
    Some(format!(
        "{}.{}.{tag}@{}",
        mail_word(identity.given_name),
        mail_word(identity.surname),
        rng.pick(&MAIL_DOMAINS)
    ))
}

/// An Italian mobile number for most people from 14, unique by the index.
pub(crate) fn mobile_phone(seed: u64, id: u32, identity: &Identity, reference: NaiveDate) -> Option<String> {
    let mut rng = Rng::new(seed, &[DOCUMENT_STREAM, u64::from(id), 3]);
    let age = reference.years_since(identity.birth_date)?;
    if age < 14 || !rng.chance(850) {
        return None;
    }
    let prefix = rng.pick(&MOBILE_PREFIXES);
    Some(format!(
        "+39{prefix}{:07}",
        scramble(seed, id, PHONE_SPACE, 0x7E1)
    ))
}
