//! The field rules of the contract, one function per simple type of `cieBooking.xsd`: checked on
//! every command before anything is written (so a request is valid by construction) and on every
//! value read from the wire (so a typed value always writes back valid). Each returns the error
//! naming `field`; none quotes the value.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, Timelike};

use super::BookingError;

pub(crate) type Rule = Result<(), BookingError>;

/// The XSD's `\s`: the four XML whitespace characters.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A character the text types allow: XML 1.0 can carry it and the XSD's `[^\p{Cc}]` admits it.
fn text_char(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

fn chars_in(value: &str, min: usize, max: usize, allowed: impl Fn(char) -> bool) -> bool {
    let n = value.chars().count();
    (min..=max).contains(&n) && value.chars().all(allowed)
}

pub(crate) fn istat(field: &str, value: &str) -> Rule {
    if !chars_in(value, 6, 6, |c| c.is_ascii_digit()) {
        return Err(BookingError::field(field, "must be a six-digit ISTAT code"));
    }
    Ok(())
}

/// `tipoCodiceFiscale`: the 16-character structure with omocodia letters, upper case, or 11 digits.
/// The check character is the service's business (and the connector's, before sending).
pub(crate) fn codice_fiscale(field: &str, value: &str) -> Rule {
    let b = value.as_bytes();
    let letter = |i: usize| b[i].is_ascii_uppercase();
    let digit = |i: usize| b[i].is_ascii_digit() || b"LMNPQRSTUV".contains(&b[i]);
    let personal = b.len() == 16
        && (0..6).all(letter)
        && [6, 7, 9, 10, 12, 13, 14].into_iter().all(digit)
        && b"ABCDEHLMPRST".contains(&b[8])
        && letter(11)
        && letter(15);
    let provisional = b.len() == 11 && b.iter().all(u8::is_ascii_digit);
    if !personal && !provisional {
        return Err(BookingError::field(
            field,
            "must be a codice fiscale: 16 characters in upper case, or 11 digits",
        ));
    }
    Ok(())
}

/// `tipoNominativo`: 1 to 80 characters, no control characters.
pub(crate) fn name(field: &str, value: &str) -> Rule {
    if !chars_in(value, 1, 80, text_char) {
        return Err(BookingError::field(
            field,
            "must be 1 to 80 characters without control characters",
        ));
    }
    Ok(())
}

/// `tipoTesto`: 1 to 240 characters, no control characters.
pub(crate) fn text(field: &str, value: &str) -> Rule {
    if !chars_in(value, 1, 240, text_char) {
        return Err(BookingError::field(
            field,
            "must be 1 to 240 characters without control characters",
        ));
    }
    Ok(())
}

/// `tipoEmail`: `[^@\s]+@[^@\s]+\.[^@\s]+`, at most 254 characters.
pub(crate) fn email(field: &str, value: &str) -> Rule {
    let shaped = value.chars().count() <= 254
        && !value.chars().any(is_xml_space)
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain
                        .char_indices()
                        .any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len())
            }
            None => false,
        };
    if !shaped {
        return Err(BookingError::field(field, "must be an e-mail address"));
    }
    Ok(())
}

/// `tipoTelefono`: an optional `+` and 6 to 15 digits.
pub(crate) fn phone(field: &str, value: &str) -> Rule {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !chars_in(digits, 6, 15, |c| c.is_ascii_digit()) {
        return Err(BookingError::field(
            field,
            "must be a telephone number: an optional + and 6 to 15 digits",
        ));
    }
    Ok(())
}

fn id(field: &str, value: &str, max: usize, what: &str, extra: &[char]) -> Rule {
    if !chars_in(value, 1, max, |c| c.is_ascii_alphanumeric() || extra.contains(&c)) {
        return Err(BookingError::field(field, format!("must be {what}")));
    }
    Ok(())
}

pub(crate) fn office_id(field: &str, value: &str) -> Rule {
    id(
        field,
        value,
        20,
        "an office id: 1 to 20 of A-Z a-z 0-9 _ -",
        &['_', '-'],
    )
}

pub(crate) fn slot_id(field: &str, value: &str) -> Rule {
    id(
        field,
        value,
        40,
        "a slot id: 1 to 40 of A-Z a-z 0-9 _ -",
        &['_', '-'],
    )
}

pub(crate) fn change_id(field: &str, value: &str) -> Rule {
    id(
        field,
        value,
        40,
        "a change id: 1 to 40 of A-Z a-z 0-9 _ -",
        &['_', '-'],
    )
}

pub(crate) fn cursor(field: &str, value: &str) -> Rule {
    id(
        field,
        value,
        128,
        "a cursor: 1 to 128 of A-Z a-z 0-9 _ = -",
        &['_', '=', '-'],
    )
}

pub(crate) fn booking_code(field: &str, value: &str) -> Rule {
    if !chars_in(value, 8, 20, |c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return Err(BookingError::field(
            field,
            "must be a booking code: 8 to 20 of A-Z 0-9",
        ));
    }
    Ok(())
}

pub(crate) fn application_number(field: &str, value: &str) -> Rule {
    if !chars_in(value, 1, 30, |c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return Err(BookingError::field(
            field,
            "must be a CIE application number: 1 to 30 of A-Z 0-9",
        ));
    }
    Ok(())
}

pub(crate) fn application_name(field: &str, value: &str) -> Rule {
    id(
        field,
        value,
        50,
        "1 to 50 of A-Z a-z 0-9 . _ - and space",
        &['.', '_', '-', ' '],
    )
}

/// `tipoDurataMinuti`.
pub(crate) fn duration(field: &str, minutes: u16) -> Rule {
    if !(5..=240).contains(&minutes) {
        return Err(BookingError::field(field, "must be 5 to 240 minutes"));
    }
    Ok(())
}

/// The longest availability search, inclusive of both ends.
pub const MAX_SEARCH_DAYS: i64 = 92;

/// `dataDa`/`dataA`: in order, and at most [`MAX_SEARCH_DAYS`] apart.
pub(crate) fn date_range(from_field: &str, to_field: &str, from: NaiveDate, to: NaiveDate) -> Rule {
    if to < from {
        return Err(BookingError::field(
            to_field,
            format!("must not be before `{from_field}`"),
        ));
    }
    if (to - from).num_days() > MAX_SEARCH_DAYS {
        return Err(BookingError::field(
            to_field,
            format!("must be at most {MAX_SEARCH_DAYS} days after `{from_field}`"),
        ));
    }
    Ok(())
}

/// `tipoData` text: a four-digit year, no zone.
pub(crate) fn date_text(field: &str, day: NaiveDate) -> Result<String, BookingError> {
    if !(1..=9999).contains(&day.year()) {
        return Err(BookingError::field(
            field,
            "must be a date in the years 0001 to 9999",
        ));
    }
    Ok(day.format("%Y-%m-%d").to_string())
}

/// `tipoDataOra` text: RFC 3339 with the offset, which is also a valid `xs:dateTime` once the year
/// has four digits, the second is not a leap second and the offset is whole minutes within ±14:00.
pub(crate) fn date_time_text(field: &str, at: &DateTime<FixedOffset>) -> Result<String, BookingError> {
    let offset = at.offset().local_minus_utc();
    if !(1..=9999).contains(&at.year())
        || at.nanosecond() >= 1_000_000_000
        || offset % 60 != 0
        || offset.abs() > 14 * 3600
    {
        return Err(BookingError::field(
            field,
            "must be an instant in the years 0001 to 9999 with an offset in whole minutes within ±14:00",
        ));
    }
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// An `xs:dateTime` with an offset, as `tipoDataOra` requires.
pub(crate) fn parse_date_time(text: &str) -> Option<DateTime<FixedOffset>> {
    // RFC 3339 also allows a space or a lower-case `t` for the separator; xs:dateTime does not.
    if text.as_bytes().get(10) != Some(&b'T') || text.ends_with('z') {
        return None;
    }
    // xs:dateTime allows 24:00:00 (with zero fractions) for the end of a day, which is the next
    // day's midnight; RFC 3339 does not.
    let rest = text.get(19..)?;
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
        None => ("", rest),
    };
    let midnight = text.get(11..19) == Some("24:00:00") && fraction.bytes().all(|b| b == b'0');
    let at = if midnight {
        let rewritten = format!("{}00:00:00{zone}", &text[..11]);
        DateTime::parse_from_rfc3339(&rewritten).ok()? + chrono::Days::new(1)
    } else {
        DateTime::parse_from_rfc3339(text).ok()?
    };
    // xs:dateTime has no leap second, and its offsets stay within ±14:00.
    let offset = at.offset().local_minus_utc();
    (at.nanosecond() < 1_000_000_000 && offset.abs() <= 14 * 3600).then_some(at)
}
