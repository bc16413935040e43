//! The codice fiscale: computing, parsing and decoding personal codes (moved here with the code from the
//! simulators' population), and the check a connector makes on a command's code, for the 16-character
//! personal codes and the 11-digit numeric ones (platform notes §3). The check characters and digits
//! expected here are the notes' known codes, not values produced by the crate.

use chrono::NaiveDate;
use snodo_mappings::codice_fiscale::{
    CodiceFiscale, CodiceFiscaleError, FiscalCode, Sex, check_character, validate_for_command,
};

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
    let before = CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1920, 3, 3), "A003").expect("code");
    assert!(before.decode(d(2025, 1, 1)).is_ok());
    let after = CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1950, 3, 3), "A003").expect("code");
    assert_eq!(
        after.decode(d(2025, 1, 1)),
        Err(CodiceFiscaleError::UnknownPlace {
            code: "A003".to_owned()
        })
    );
}

/// A code for 31 February with a correct check character.
fn thirty_first_of_february() -> String {
    let mut code = *b"RSSMRA80B31H501_";
    code[15] = check_character(&code[..15]);
    String::from_utf8(code.to_vec()).expect("ascii")
}

#[test]
fn a_date_that_does_not_exist_is_refused() {
    assert_eq!(
        CodiceFiscale::validate(&thirty_first_of_february(), d(2025, 1, 1)).map(|_| ()),
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
    let numeric = validate_for_command("01199250158").expect("valid");
    assert_eq!(
        format!("{numeric:?}"),
        "Numeric(NumericCodiceFiscale(011*******8))"
    );
}

#[test]
fn a_command_may_carry_a_personal_code_its_omocodic_variants_and_lower_case() {
    for text in [
        "RSSMRA80A01H501U",
        "MRTMTT25D09F205Z",
        "SGGNNA90R50F839T",
        "DLGBNC70E60Z509S",
    ] {
        let code = validate_for_command(text).expect("a known valid code");
        assert!(matches!(code, FiscalCode::Personal(_)));
        assert_eq!(code.as_str(), text);
    }
    let base = CodiceFiscale::parse("RSSMRA80A01H501U").expect("valid");
    for level in 1..=7 {
        let variant = base.omocodia_variant(level).expect("level exists");
        assert_eq!(
            validate_for_command(variant.as_str()).map(|c| c.to_string()),
            Ok(variant.to_string())
        );
    }
    assert_eq!(
        validate_for_command("rssmra80a01h501u").map(|c| c.to_string()),
        Ok("RSSMRA80A01H501U".to_owned())
    );
}

#[test]
fn a_command_may_carry_an_eleven_digit_code_with_its_check_digit() {
    // The notes' example and the development tenant's (Comune di Milano) codice fiscale.
    for text in ["12345678903", "01199250158"] {
        let code = validate_for_command(text).expect("a known valid numeric code");
        assert!(matches!(code, FiscalCode::Numeric(_)));
        assert_eq!(code.as_str(), text);
    }
    assert_eq!(
        validate_for_command("12345678901"),
        Err(CodiceFiscaleError::NumericCheckDigit)
    );
    assert_eq!(
        validate_for_command("1234567890A"),
        Err(CodiceFiscaleError::NumericCharacter)
    );
}

#[test]
fn every_single_character_change_of_a_command_code_is_refused() {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for valid in [
        "RSSMRA80A01H501U",
        "RSSMRA80A01H50MM",
        "01199250158",
        "12345678903",
    ] {
        for position in 0..valid.len() {
            for &replacement in ALPHABET {
                let mut changed = valid.as_bytes().to_vec();
                if changed[position] == replacement {
                    continue;
                }
                changed[position] = replacement;
                let changed = String::from_utf8(changed).expect("ascii");
                assert!(
                    validate_for_command(&changed).is_err(),
                    "{changed} (from {valid}) was accepted"
                );
            }
        }
    }
}

#[test]
fn a_command_code_with_an_impossible_date_or_length_is_refused() {
    assert_eq!(
        validate_for_command(&thirty_first_of_february()),
        Err(CodiceFiscaleError::Date)
    );
    // 29 February exists in 1980 (and 2080): the century cannot be known, so it is admitted.
    let mut leap = *b"RSSMRA80B29H501_";
    leap[15] = check_character(&leap[..15]);
    assert!(validate_for_command(std::str::from_utf8(&leap).expect("ascii")).is_ok());
    // 29 February 1981 or 2081: neither exists.
    let mut not_leap = *b"RSSMRA81B69H501_";
    not_leap[15] = check_character(&not_leap[..15]);
    assert_eq!(
        validate_for_command(std::str::from_utf8(&not_leap).expect("ascii")),
        Err(CodiceFiscaleError::Date)
    );
    for (text, length) in [
        ("", 0),
        ("0119925015", 10),
        ("RSSMRA80A01H501UX", 17),
        ("RSSMRA80A01H501", 15),
    ] {
        assert_eq!(
            validate_for_command(text),
            Err(CodiceFiscaleError::CommandLength(length))
        );
    }
}

#[test]
fn a_command_code_is_not_refused_for_a_birthplace_missing_from_the_archive() {
    // Z999 designates nothing: decoding refuses it, the command check leaves it to ANPR (the archive
    // stops in May 2023 and cannot prove a code wrong).
    let code = CodiceFiscale::compute("ROSSI", "MARIO", Sex::Male, d(1980, 1, 1), "Z999").expect("code");
    assert!(code.decode(d(2025, 1, 1)).is_err());
    assert!(validate_for_command(code.as_str()).is_ok());
}

#[test]
fn error_messages_never_quote_the_code() {
    let inputs = [
        "RSSMRA80A01H501A",
        "RSSMRA8AA01H501U",
        "RSSMRA80A01H501",
        "12345678901",
        "1234567890A",
    ];
    for text in inputs {
        let message = validate_for_command(text).expect_err("invalid").to_string();
        assert!(!message.contains(text), "{message}");
        assert!(!message.contains("RSSMRA"), "{message}");
        assert!(!message.contains("123456"), "{message}");
    }
}
