//! The XSD simple types pagoPA's messages are made of, as Rust values that can only hold what the
//! schema allows: amounts (`stAmount`, exactly two decimals, kept as integer euro cents), dates
//! (`xsd:date`, which may carry a time-zone offset) and date-times, and the length limits of the
//! `stText*` types. Parsing follows XSD's lexical rules exactly (whitespace collapse for numbers,
//! dates and booleans; none for strings), because a value we accept must be one the node accepts.

use std::fmt;

/// The largest `stAmount`: 999 999 999.99 euro, in cents.
pub const MAX_AMOUNT_CENTS: u64 = 99_999_999_999;

/// An amount of euro, in cents, within `stAmount`'s range. Written as `xsd:decimal` with exactly two
/// decimals (`10.00`), the only form the node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// `None` when `cents` exceeds [`MAX_AMOUNT_CENTS`].
    pub fn from_cents(cents: u64) -> Option<Amount> {
        (cents <= MAX_AMOUNT_CENTS).then_some(Amount(cents))
    }

    pub fn cents(self) -> u64 {
        self.0
    }

    /// Reads the lexical form `\d+\.\d{2}` (XSD whitespace collapsed first), up to the maximum.
    pub fn parse(text: &str) -> Option<Amount> {
        let text = collapse(text);
        let (units, decimals) = text.split_once('.')?;
        if units.is_empty()
            || decimals.len() != 2
            || !units.bytes().all(|b| b.is_ascii_digit())
            || !decimals.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        // Leading zeros are lexically valid (`0010.00`); skip them before the overflow check.
        let significant = units.trim_start_matches('0');
        if significant.len() > 9 {
            return None;
        }
        let units: u64 = if significant.is_empty() {
            0
        } else {
            significant.parse().ok()?
        };
        let cents: u64 = decimals.parse().ok()?;
        Amount::from_cents(units * 100 + cents)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// XSD's whitespace characters: space, tab, CR, LF (not U+00A0).
pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `whiteSpace="collapse"` for the types where any inner whitespace is invalid anyway: trim.
pub(crate) fn collapse(text: &str) -> &str {
    text.trim_matches(is_xml_space)
}

/// An `xsd:date`: a calendar day, optionally with a time-zone offset in minutes (`2024-10-05+02:00`
/// is legal and pagopa-mock-ec sends it). Years 0001–9999 only: wider years are legal XSD but no
/// payment is due then, and refusing them keeps the type simple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XsdDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    /// Minutes east of UTC (`Z` = 0); `None` when the lexical form had no zone.
    pub offset_minutes: Option<i16>,
}

impl XsdDate {
    pub fn parse(text: &str) -> Option<XsdDate> {
        let text = collapse(text);
        let (date, zone) = split_zone(text, 10)?;
        let (year, month, day) = parse_ymd(date)?;
        Some(XsdDate {
            year,
            month,
            day,
            offset_minutes: parse_zone(zone)?,
        })
    }

    /// The day alone, `YYYY-MM-DD`.
    pub fn day_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for XsdDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.day_string())?;
        write_zone(f, self.offset_minutes)
    }
}

/// An `xsd:dateTime`, kept in its lexical form once checked (`2021-03-25T17:48:22`, optional
/// fraction and zone): receipts carry it through to the backend unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XsdDateTime(String);

impl XsdDateTime {
    pub fn parse(text: &str) -> Option<XsdDateTime> {
        let text = collapse(text);
        let (date, time) = text.split_once('T')?;
        parse_ymd(date)?;
        let (clock, zone) = split_zone(time, 8)?;
        parse_zone(zone)?;
        let (hms, fraction) = match clock.split_once('.') {
            Some((hms, fraction)) => (hms, Some(fraction)),
            None => (clock, None),
        };
        if let Some(fraction) = fraction
            && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let parts: Vec<&str> = hms.split(':').collect();
        let [h, m, s] = parts.as_slice() else { return None };
        let (h, m, s) = (two_digits(h)?, two_digits(m)?, two_digits(s)?);
        let midnight = h == 24 && m == 0 && s == 0 && fraction.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        if !(h < 24 && m < 60 && s < 60 || midnight) {
            return None;
        }
        Some(XsdDateTime(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for XsdDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn two_digits(s: &str) -> Option<u8> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// Splits `text` into the part before the zone and the zone (`""`, `Z` or `±hh:mm`), the first part
/// having at least `min` characters.
fn split_zone(text: &str, min: usize) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_suffix('Z') {
        return Some((rest, "Z"));
    }
    if text.len() >= min + 6 {
        let at = text.len() - 6;
        if text.is_char_boundary(at) && matches!(text.as_bytes()[at], b'+' | b'-') {
            return Some((&text[..at], &text[at..]));
        }
    }
    Some((text, ""))
}

fn parse_zone(zone: &str) -> Option<Option<i16>> {
    match zone {
        "" => Some(None),
        "Z" => Some(Some(0)),
        _ => {
            let sign: i16 = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let (h, m) = (two_digits(h)? as i16, two_digits(m)? as i16);
            if m > 59 || h > 14 || (h == 14 && m > 0) {
                return None;
            }
            Some(Some(sign * (h * 60 + m)))
        }
    }
}

fn write_zone(f: &mut fmt::Formatter<'_>, offset: Option<i16>) -> fmt::Result {
    match offset {
        None => Ok(()),
        Some(0) => f.write_str("Z"),
        Some(m) => {
            let sign = if m < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
        }
    }
}

fn parse_ymd(date: &str) -> Option<(u16, u8, u8)> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = &date[..4];
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: u16 = year.parse().ok()?;
    let (month, day) = (two_digits(&date[5..7])?, two_digits(&date[8..10])?);
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads an `xsd:boolean` (`true`, `false`, `1`, `0`).
pub fn parse_boolean(text: &str) -> Option<bool> {
    match collapse(text) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Reads an `xsd:int`/`xsd:integer` value (optional sign, leading zeros allowed).
pub fn parse_integer(text: &str) -> Option<i64> {
    let t = collapse(text);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Length of a string as XSD counts it: in characters.
pub fn xsd_length(text: &str) -> usize {
    text.chars().count()
}

/// True when `text` is `n` ASCII digits.
pub fn is_digits(text: &str, n: usize) -> bool {
    text.len() == n && text.bytes().all(|b| b.is_ascii_digit())
}

/// `stEMail`: `[a-zA-Z0-9_\.\+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*`, at most 256 characters.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    let domain_ok = domain
        .split('.')
        .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    text.len() <= 256 && local_ok && domain_ok
}

/// `stNazioneProvincia`: two capital ASCII letters.
pub fn is_country(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_need_exactly_two_decimals() {
        assert_eq!(Amount::parse("10.00").map(Amount::cents), Some(1000));
        assert_eq!(Amount::parse(" 0010.05\n").map(Amount::cents), Some(1005));
        assert_eq!(
            Amount::parse("999999999.99").map(Amount::cents),
            Some(MAX_AMOUNT_CENTS)
        );
        for bad in [
            "10",
            "10.0",
            "10,00",
            "10.001",
            "1219087657.34",
            ".50",
            "1.5e2",
            "+1.00",
            "-1.00",
            "",
        ] {
            assert_eq!(Amount::parse(bad), None, "{bad}");
        }
        assert_eq!(Amount::from_cents(5).unwrap().to_string(), "0.05");
    }

    #[test]
    fn dates_follow_xsd() {
        let d = XsdDate::parse("2024-10-05+02:00").unwrap();
        assert_eq!(
            (d.year, d.month, d.day, d.offset_minutes),
            (2024, 10, 5, Some(120))
        );
        assert_eq!(d.to_string(), "2024-10-05+02:00");
        assert_eq!(XsdDate::parse("2024-02-29Z").unwrap().to_string(), "2024-02-29Z");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "2024-1-01",
            "2024-01-01+15:00",
            "0000-01-01",
        ] {
            assert_eq!(XsdDate::parse(bad), None, "{bad}");
        }
        assert!(XsdDateTime::parse("2021-03-25T17:48:22").is_some());
        assert!(XsdDateTime::parse("2021-03-25T17:48:22.123+01:00").is_some());
        assert!(XsdDateTime::parse("2021-03-25T24:00:00Z").is_some());
        for bad in [
            "2021-03-25",
            "2021-03-25T17:48",
            "2021-03-25T17:60:00",
            "2021-03-25T17:48:22.",
        ] {
            assert_eq!(XsdDateTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_and_countries() {
        assert!(is_email("prova@test.it"));
        assert!(!is_email("prova@test..it"));
        assert!(!is_email("a b@test.it"));
        assert!(is_country("IT"));
        assert!(!is_country("it") && !is_country("ITA"));
    }
}
