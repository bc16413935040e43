//! Reading a codice fiscale that came from outside: its structure, its check character, and what it
//! says about the person — birth date, sex and place, which must have existed on that date (ANPR answers
//! EC007 for a Belfiore code that was not valid at the birth date).

use chrono::{Datelike, NaiveDate};

use super::{
    CodiceFiscale, CodiceFiscaleError, MONTHS, OMOCODIA_LETTERS, OMOCODIA_POSITIONS, check_character,
};
use crate::population::person::Sex;
use crate::population::places::{Place, places};

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
    let tens = digit_value(code[9]).expect("checked digit position");
    let units = digit_value(code[10]).expect("checked digit position");
    tens * 10 + units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn known_codes_compute_exactly() {
        let rossi = CodiceFiscale::compute("Rossi", "Mario", Sex::Male, d(1980, 1, 1), "H501");
        assert_eq!(rossi.map(|c| c.to_string()), Ok("RSSMRA80A01H501U".to_owned()));
        let milano = CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1945, 4, 25), "F205");
        assert_eq!(milano.map(|c| c.to_string()), Ok("RSSMRA45D25F205N".to_owned()));
    }

    #[test]
    fn decode_reads_date_sex_and_place() {
        let (_, decoded) = CodiceFiscale::validate("MRTMTT25D09F205Z", d(2025, 1, 1)).expect("valid");
        assert_eq!(decoded.birth_date, d(1925, 4, 9));
        assert_eq!(decoded.sex, Sex::Male);
        assert_eq!(decoded.place.name(), "MILANO");
        let (_, anna) = CodiceFiscale::validate("SGGNNA90R50F839T", d(2025, 1, 1)).expect("valid");
        assert_eq!((anna.birth_date, anna.sex), (d(1990, 10, 10), Sex::Female));
    }

    #[test]
    fn structure_errors_name_the_position() {
        assert_eq!(
            CodiceFiscale::parse("RSSMRA80A01H501"),
            Err(CodiceFiscaleError::Length(15))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA8AA01H501U"),
            Err(CodiceFiscaleError::Character {
                position: 8,
                expected: "a digit or an omocodia letter (LMNPQRSTUV)"
            })
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA80F01H501U"),
            Err(CodiceFiscaleError::Month)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA80A35H501U"),
            Err(CodiceFiscaleError::Day)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA80A01H501A"),
            Err(CodiceFiscaleError::CheckCharacter {
                expected: 'U',
                found: 'A'
            })
        );
    }

    #[test]
    fn a_place_must_exist_at_the_birth_date() {
        // A003 (Abbadia Alpina) ceased in 1928: valid for a birth in 1920, not in 1950.
        let before =
            CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1920, 3, 3), "A003").expect("code");
        assert!(before.decode(d(2025, 1, 1)).is_ok());
        let after = CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1950, 3, 3), "A003").expect("code");
        assert_eq!(
            after.decode(d(2025, 1, 1)),
            Err(CodiceFiscaleError::UnknownPlace {
                code: "A003".to_owned()
            })
        );
    }

    #[test]
    fn a_date_that_does_not_exist_is_refused() {
        // 31 February, with a correct check character.
        let mut code = *b"RSSMRA80B31H501_";
        code[15] = check_character(&code[..15]);
        let text = std::str::from_utf8(&code).expect("ascii");
        assert_eq!(
            CodiceFiscale::validate(text, d(2025, 1, 1)).map(|_| ()),
            Err(CodiceFiscaleError::Date)
        );
    }

    #[test]
    fn omocodia_variants_decode_to_the_same_person() {
        let base = CodiceFiscale::parse("RSSMRA80A01H501U").expect("valid");
        for level in 1..=7 {
            let variant = base.omocodia_variant(level).expect("level exists");
            assert_eq!(variant.omocodia_mask().count_ones() as usize, level);
            let reparsed = CodiceFiscale::parse(variant.as_str()).expect("variants are valid codes");
            assert_eq!(reparsed.base(), base);
            let decoded = reparsed.decode(d(2025, 1, 1)).expect("decodes");
            assert_eq!(decoded.birth_date, d(1980, 1, 1));
        }
        assert_eq!(
            base.omocodia_variant(1).expect("level 1").as_str(),
            "RSSMRA80A01H50MM"
        );
        assert_eq!(
            base.omocodia_variant(128),
            Err(CodiceFiscaleError::OmocodiaLevel(128))
        );
    }

    #[test]
    fn debug_masks_the_code() {
        let code = CodiceFiscale::parse("RSSMRA80A01H501U").expect("valid");
        assert_eq!(format!("{code:?}"), "CodiceFiscale(RSS************U)");
    }
}
