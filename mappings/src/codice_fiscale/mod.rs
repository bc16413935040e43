//! The personal codice fiscale: computing it from a person's generalità, the check character, and the
//! omocodia substitutions the Agenzia delle Entrate applies when two people's codes would collide.
//! Parsing, validation and decoding are in [`decode`](self::decode).
//!
//! It lives in `mappings` so that one implementation serves both sides: the connectors validate the
//! codes of commands before sending them, and the simulators' synthetic population computes its codes,
//! with the same rules and the same place tables ([`crate::places`]).
//!
//! The rules are those of DM 23/12/1976 as summarised in the platform notes
//! (`anpr-and-cie-booking.md` §3): 3 surname letters, 3 name letters, year, month letter, day (+40 for
//! women), Belfiore code, check character.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

mod decode;

pub use decode::{Decoded, FiscalCode, NumericCodiceFiscale, validate_for_command};

/// A person's sex as the codice fiscale encodes it (the day of birth +40 for women).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// `M` or `F`, as ANPR's `sesso` and SPID's `gender`.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// Month letters, January to December.
pub(crate) const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// The letters that replace the digits 0–9 in an omocodic code.
pub(crate) const OMOCODIA_LETTERS: &[u8; 10] = b"LMNPQRSTUV";

/// The digit positions (0-based) the Agenzia substitutes, in the order it substitutes them: from the
/// right, so the first omocode differs from the base only in the last digit of the place code.
pub const OMOCODIA_POSITIONS: [usize; 7] = [14, 13, 12, 10, 9, 7, 6];

/// The check-character values of characters at odd (1-based) positions: digits 0–9, then letters A–Z.
const ODD_DIGITS: [u8; 10] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21];
const ODD_LETTERS: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// What is wrong with a codice fiscale or with the data it is computed from. Messages never quote the
/// code itself: it is personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("a personal codice fiscale has 16 characters, this one has {0}")]
    Length(usize),
    #[error("a codice fiscale has 16 characters (a person's) or 11 digits (a numeric one), this one has {0}")]
    CommandLength(usize),
    #[error("an 11-character codice fiscale must be made of digits only")]
    NumericCharacter,
    #[error("the check digit (character 11) of the numeric codice fiscale does not match the first ten")]
    NumericCheckDigit,
    #[error("character {position} (1-based) of the codice fiscale must be {expected}")]
    Character { position: usize, expected: &'static str },
    #[error("the month letter (character 9) must be one of ABCDEHLMPRST")]
    Month,
    #[error("the day (characters 10-11) must be 01-31 for men or 41-71 for women")]
    Day,
    #[error("the encoded birth date does not exist in the calendar")]
    Date,
    // The message names neither character: together with a masked code they would give one more
    // character of personal data away.
    #[error("the check character (character 16) does not match the first 15 characters")]
    CheckCharacter { expected: char, found: char },
    #[error("place code {code} designated no comune or foreign state at the encoded birth date")]
    UnknownPlace { code: String },
    #[error("the {part} has no latin letters to build a codice fiscale from")]
    NoLetters { part: &'static str },
    #[error("a place code is a letter and three digits, got {code:?}")]
    PlaceCode { code: String },
    #[error("omocodia level {0} does not exist: a code has at most 127 omocodic variants")]
    OmocodiaLevel(usize),
}

/// A 16-character personal codice fiscale, upper case. `Display` prints it in full (it is what platforms
/// exchange); `Debug` masks it, so that it cannot reach a log by accident.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodiceFiscale([u8; 16]);

impl CodiceFiscale {
    /// The code of a person, without omocodia: what the Agenzia assigns when no one else has it.
    pub fn compute(
        surname: &str,
        given_name: &str,
        sex: Sex,
        birth_date: NaiveDate,
        place_code: &str,
    ) -> Result<CodiceFiscale, CodiceFiscaleError> {
        let place = place_code.as_bytes();
        if place.len() != 4 || !place[0].is_ascii_uppercase() || !place[1..].iter().all(u8::is_ascii_digit) {
            return Err(CodiceFiscaleError::PlaceCode {
                code: place_code.to_owned(),
            });
        }
        let mut code = [0u8; 16];
        code[0..3].copy_from_slice(&surname_code(surname)?);
        code[3..6].copy_from_slice(&name_code(given_name)?);
        let year = birth_date.year().rem_euclid(100) as u8;
        code[6] = b'0' + year / 10;
        code[7] = b'0' + year % 10;
        code[8] = MONTHS[birth_date.month0() as usize];
        let day = birth_date.day() as u8 + if sex == Sex::Female { 40 } else { 0 };
        code[9] = b'0' + day / 10;
        code[10] = b'0' + day % 10;
        code[11..15].copy_from_slice(place);
        code[15] = check_character(&code[..15]);
        Ok(CodiceFiscale(code))
    }

    /// The code as text, upper case.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CodiceFiscale holds ASCII only")
    }

    /// The code with every omocodia letter turned back into its digit and the check character
    /// recomputed: the code the person would have had without a collision.
    pub fn base(&self) -> CodiceFiscale {
        let mut code = self.0;
        for &p in &OMOCODIA_POSITIONS {
            if let Some(digit) = OMOCODIA_LETTERS.iter().position(|&l| l == code[p]) {
                code[p] = b'0' + digit as u8;
            }
        }
        code[15] = check_character(&code[..15]);
        CodiceFiscale(code)
    }

    /// Which of [`OMOCODIA_POSITIONS`] carry a letter, as bits in that order (bit 0 = position 15).
    pub fn omocodia_mask(&self) -> u8 {
        OMOCODIA_POSITIONS
            .iter()
            .enumerate()
            .filter(|(_, p)| self.0[**p].is_ascii_uppercase())
            .fold(0, |mask, (bit, _)| mask | 1 << bit)
    }

    /// The variant of this code's base at an omocodia level: 0 is the base itself, 1 to 7 substitute
    /// the 1 to 7 rightmost digits (the Agenzia's order); levels 8 to 127 take the remaining
    /// combinations of positions, fewest substitutions first, for the implausible case of more than
    /// eight people sharing one base code.
    pub fn omocodia_variant(&self, level: usize) -> Result<CodiceFiscale, CodiceFiscaleError> {
        let mask = omocodia_mask_for_level(level).ok_or(CodiceFiscaleError::OmocodiaLevel(level))?;
        let mut code = self.base().0;
        for (bit, &p) in OMOCODIA_POSITIONS.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                code[p] = OMOCODIA_LETTERS[(code[p] - b'0') as usize];
            }
        }
        code[15] = check_character(&code[..15]);
        Ok(CodiceFiscale(code))
    }

    /// The base code packed into 62 bits, bijectively: the key of the simulators' population index.
    pub fn base_key(&self) -> u64 {
        let base = self.base().0;
        let mut key: u64 = 0;
        for &letter in &base[..6] {
            key = key * 26 + u64::from(letter - b'A');
        }
        let digits = |i: usize| u64::from(base[i] - b'0');
        key = key * 100 + digits(6) * 10 + digits(7);
        let month = MONTHS
            .iter()
            .position(|&m| m == base[8])
            .expect("base codes have a month letter");
        key = key * 12 + month as u64;
        key = key * 72 + digits(9) * 10 + digits(10);
        key = key * 26 + u64::from(base[11] - b'A');
        key * 1000 + digits(12) * 100 + digits(13) * 10 + digits(14)
    }
}

/// The omocodia substitution mask (bits over [`OMOCODIA_POSITIONS`]) of a level; see
/// [`CodiceFiscale::omocodia_variant`].
pub fn omocodia_mask_for_level(level: usize) -> Option<u8> {
    if level <= 7 {
        return Some(((1u16 << level) - 1) as u8);
    }
    // Beyond the Agenzia's documented order: the other non-empty masks, fewest bits first, then by value.
    let mut others: Vec<u8> = (1u8..128).filter(|m| (m + 1) & m != 0).collect();
    others.sort_by_key(|m| (m.count_ones(), *m));
    others.get(level - 8).copied()
}

/// The check character of the first 15 characters of a code (upper-case ASCII letters and digits).
pub fn check_character(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            // Positions are 1-based in the rule, so index 0 is an odd position.
            let odd = i % 2 == 0;
            let value = match (c, odd) {
                (b'0'..=b'9', true) => ODD_DIGITS[(c - b'0') as usize],
                (b'A'..=b'Z', true) => ODD_LETTERS[(c - b'A') as usize],
                (b'0'..=b'9', false) => c - b'0',
                (_, false) => c - b'A',
                _ => unreachable!("check_character is given upper-case letters and digits only"),
            };
            u32::from(value)
        })
        .sum();
    b'A' + (sum % 26) as u8
}

/// Upper-case latin letters of a name, accents folded, everything else (spaces, apostrophes) dropped.
fn letters(text: &str) -> Vec<u8> {
    text.chars()
        .flat_map(char::to_uppercase)
        .filter_map(|c| {
            let folded = match c {
                'À' | 'Á' | 'Â' | 'Ä' | 'Ã' => 'A',
                'È' | 'É' | 'Ê' | 'Ë' => 'E',
                'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
                'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'O',
                'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
                'Ç' => 'C',
                'Ñ' => 'N',
                c => c,
            };
            folded.is_ascii_uppercase().then_some(folded as u8)
        })
        .collect()
}

fn is_vowel(c: &u8) -> bool {
    b"AEIOU".contains(c)
}

/// Consonants, then vowels, then X: the surname rule, and the name rule when it has under 4 consonants.
fn pad_code(consonants: &[u8], vowels: &[u8]) -> [u8; 3] {
    let mut code = [b'X'; 3];
    for (slot, c) in code.iter_mut().zip(consonants.iter().chain(vowels)) {
        *slot = *c;
    }
    code
}

fn split(text: &str, part: &'static str) -> Result<(Vec<u8>, Vec<u8>), CodiceFiscaleError> {
    let all = letters(text);
    if all.is_empty() {
        return Err(CodiceFiscaleError::NoLetters { part });
    }
    Ok(all.into_iter().partition(|c| !is_vowel(c)))
}

/// The three surname letters: its consonants, then its vowels, then X.
pub fn surname_code(surname: &str) -> Result<[u8; 3], CodiceFiscaleError> {
    let (consonants, vowels) = split(surname, "surname")?;
    Ok(pad_code(&consonants, &vowels))
}

/// The three name letters: the 1st, 3rd and 4th consonant when there are four or more, otherwise as for
/// the surname.
pub fn name_code(given_name: &str) -> Result<[u8; 3], CodiceFiscaleError> {
    let (consonants, vowels) = split(given_name, "given name")?;
    if consonants.len() >= 4 {
        return Ok([consonants[0], consonants[2], consonants[3]]);
    }
    Ok(pad_code(&consonants, &vowels))
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodiceFiscale({})", mask(self.as_str()))
    }
}

impl FromStr for CodiceFiscale {
    type Err = CodiceFiscaleError;

    /// Structure and check character; see [`CodiceFiscale::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CodiceFiscale::parse(s)
    }
}

/// The first three and the last character around asterisks (`RSS************U`), the project's
/// masking of codici fiscali (as `snodo_queue::privacy::mask`, which this crate does not depend on).
pub(crate) fn mask(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let mut masked: String = chars[..3].iter().collect();
    masked.push_str(&"*".repeat(chars.len() - 4));
    masked.push(chars[chars.len() - 1]);
    masked
}
