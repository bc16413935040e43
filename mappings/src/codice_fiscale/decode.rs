//! Reading a codice fiscale that came from outside: its structure, its check character, and what it
//! says about the person — birth date, sex and place, which must have existed on that date (ANPR answers
//! EC007 for a Belfiore code that was not valid at the birth date). Also the check a connector makes on
//! a command's code before sending it ([`validate_for_command`]), which also admits the 11-digit
//! numeric codes ANPR accepts.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::{
    CodiceFiscale, CodiceFiscaleError, MONTHS, OMOCODIA_LETTERS, OMOCODIA_POSITIONS, Sex, check_character,
    mask,
};
use crate::places::{Place, places};

/// What a valid codice fiscale says about its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub place: Place,
    /// The code's omocodia substitutions (see [`CodiceFiscale::omocodia_mask`]); 0 for a base code.
    pub omocodia_mask: u8,
}

/// A digit, or the omocodia letter standing for one.
fn digit_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        _ => OMOCODIA_LETTERS.iter().position(|&l| l == c).map(|d| d as u8),
    }
}

impl CodiceFiscale {
    /// Checks the structure — letters and digits where they belong (a digit or its omocodia letter in
    /// the seven digit positions), a month letter, a day of 01–31 or 41–71 — and the check character.
    /// Lower case is accepted and stored upper case. The place is not looked up: see [`Self::decode`].
    pub fn parse(text: &str) -> Result<CodiceFiscale, CodiceFiscaleError> {
        let length = text.chars().count();
        if length != 16 {
            return Err(CodiceFiscaleError::Length(length));
        }
        let mut code = [0u8; 16];
        for (slot, c) in code.iter_mut().zip(text.bytes()) {
            *slot = c.to_ascii_uppercase();
        }
        for (i, &c) in code.iter().enumerate() {
            let (ok, expected) = if OMOCODIA_POSITIONS.contains(&i) {
                (
                    digit_value(c).is_some(),
                    "a digit or an omocodia letter (LMNPQRSTUV)",
                )
            } else {
                (c.is_ascii_uppercase(), "a letter")
            };
            if !ok {
                return Err(CodiceFiscaleError::Character {
                    position: i + 1,
                    expected,
                });
            }
        }
        if !MONTHS.contains(&code[8]) {
            return Err(CodiceFiscaleError::Month);
        }
        let day = day_number(&code);
        if !(1..=31).contains(&day) && !(41..=71).contains(&day) {
            return Err(CodiceFiscaleError::Day);
        }
        let expected = check_character(&code[..15]);
        if code[15] != expected {
            return Err(CodiceFiscaleError::CheckCharacter {
                expected: expected as char,
                found: code[15] as char,
            });
        }
        Ok(CodiceFiscale(code))
    }

    /// Birth date, sex and place. The code gives only two digits of the year: the birth year is the
    /// latest one not after `reference` (no one is born after the date the code is read at) at which
    /// the place code was valid, looking back one century at most. The place must have been a valid
    /// comune or foreign state at the birth date.
    pub fn decode(&self, reference: NaiveDate) -> Result<Decoded, CodiceFiscaleError> {
        let code = &self.0;
        let two_digits = |i: usize| {
            let tens = digit_value(code[i]).expect("parsed codes have digits here");
            let units = digit_value(code[i + 1]).expect("parsed codes have digits here");
            i32::from(tens * 10 + units)
        };
        let yy = two_digits(6);
        let month = MONTHS
            .iter()
            .position(|&m| m == code[8])
            .expect("parsed codes have a month letter") as u32;
        let day = day_number(code);
        let (sex, day) = if day > 40 {
            (Sex::Female, day - 40)
        } else {
            (Sex::Male, day)
        };
        let mut place_code = [code[11], b'0', b'0', b'0'];
        for i in 0..3 {
            place_code[i + 1] = b'0' + digit_value(code[12 + i]).expect("parsed codes have digits here");
        }
        let place_code = std::str::from_utf8(&place_code).expect("ASCII place code");
        // The latest century first; the one before when that date is in the future, impossible, or
        // outside the place code's validity (a centenarian born in a comune that no longer exists).
        let latest = reference.year() - reference.year().rem_euclid(100) + yy;
        let mut first_error = None;
        for year in [latest, latest - 100] {
            let Some(birth_date) = NaiveDate::from_ymd_opt(year, month + 1, u32::from(day)) else {
                first_error.get_or_insert(CodiceFiscaleError::Date);
                continue;
            };
            if birth_date > reference {
                continue;
            }
            match places().place_at(place_code, birth_date) {
                Some(place) => {
                    return Ok(Decoded {
                        birth_date,
                        sex,
                        place,
                        omocodia_mask: self.omocodia_mask(),
                    });
                }
                None => {
                    first_error.get_or_insert(CodiceFiscaleError::UnknownPlace {
                        code: place_code.to_owned(),
                    });
                }
            }
        }
        Err(first_error.unwrap_or(CodiceFiscaleError::Date))
    }

    /// [`Self::parse`] then [`Self::decode`]: everything a registry checks before looking the code up.
    pub fn validate(
        text: &str,
        reference: NaiveDate,
    ) -> Result<(CodiceFiscale, Decoded), CodiceFiscaleError> {
        let code = CodiceFiscale::parse(text)?;
        let decoded = code.decode(reference)?;
        Ok((code, decoded))
    }
}

fn day_number(code: &[u8; 16]) -> u8 {
    two_digit_value(code, 9)
}

/// An 11-digit numeric codice fiscale: the provisional code of a person, or an organisation's.
/// `Display` prints it; `Debug` masks it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericCodiceFiscale([u8; 11]);

impl NumericCodiceFiscale {
    /// Eleven digits whose last is the check digit of the first ten (platform notes §3: odd positions
    /// summed as they are, even positions doubled with 9 taken off a two-digit result).
    pub fn parse(text: &str) -> Result<NumericCodiceFiscale, CodiceFiscaleError> {
        let bytes = text.as_bytes();
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CodiceFiscaleError::NumericCharacter);
        }
        let Ok(code) = <[u8; 11]>::try_from(bytes) else {
            return Err(CodiceFiscaleError::CommandLength(text.chars().count()));
        };
        if code[10] - b'0' != numeric_check_digit(&code[..10]) {
            return Err(CodiceFiscaleError::NumericCheckDigit);
        }
        Ok(NumericCodiceFiscale(code))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a NumericCodiceFiscale holds ASCII digits only")
    }
}

/// The check digit of the first ten digits of a numeric codice fiscale.
pub fn numeric_check_digit(first10: &[u8]) -> u8 {
    let sum: u32 = first10
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            // 1-based odd positions are the even indexes.
            if i % 2 == 0 {
                d
            } else if 2 * d > 9 {
                2 * d - 9
            } else {
                2 * d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A codice fiscale a command may carry: a person's 16-character code or an 11-digit numeric one —
/// both are what ANPR's `codiceFiscale` admits (11 to 16 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum FiscalCode {
    Personal(CodiceFiscale),
    Numeric(NumericCodiceFiscale),
}

impl FiscalCode {
    /// The code as it is sent: upper case.
    pub fn as_str(&self) -> &str {
        match self {
            FiscalCode::Personal(code) => code.as_str(),
            FiscalCode::Numeric(code) => code.as_str(),
        }
    }
}

/// What a connector checks on a command's codice fiscale before sending it: an 11-digit code must
/// have its check digit; a 16-character one its structure, a birth date that exists in the calendar
/// and its check character, omocodic variants included. Lower case is accepted and returned upper case.
///
/// The birthplace is deliberately not looked up: the embedded archive stops in May 2023, so a person
/// born since in a new comune has a correct code this table does not know; ANPR is the judge of that.
/// Errors never quote the code.
pub fn validate_for_command(text: &str) -> Result<FiscalCode, CodiceFiscaleError> {
    match text.chars().count() {
        16 => {
            let code = CodiceFiscale::parse(text)?;
            // 2000 + yy is a leap year exactly when yy is a multiple of 4, as 1900 + yy is except for
            // yy = 00 (1900 was not, 2000 was): so 29 February is admitted when some century has it.
            let yy = i32::from(two_digit_value(&code.0, 6));
            let month = MONTHS
                .iter()
                .position(|&m| m == code.0[8])
                .expect("parsed codes have a month letter") as u32;
            let day = u32::from(day_number(&code.0) % 40);
            NaiveDate::from_ymd_opt(2000 + yy, month + 1, day).ok_or(CodiceFiscaleError::Date)?;
            Ok(FiscalCode::Personal(code))
        }
        11 => NumericCodiceFiscale::parse(text).map(FiscalCode::Numeric),
        n => Err(CodiceFiscaleError::CommandLength(n)),
    }
}

fn two_digit_value(code: &[u8; 16], i: usize) -> u8 {
    let tens = digit_value(code[i]).expect("checked digit position");
    let units = digit_value(code[i + 1]).expect("checked digit position");
    tens * 10 + units
}

impl fmt::Display for NumericCodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NumericCodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NumericCodiceFiscale({})", mask(self.as_str()))
    }
}

impl fmt::Display for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FiscalCode::Personal(code) => write!(f, "Personal({code:?})"),
            FiscalCode::Numeric(code) => write!(f, "Numeric({code:?})"),
        }
    }
}
