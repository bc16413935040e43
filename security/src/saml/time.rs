//! SAML instants: `xs:dateTime` in UTC, read strictly.
//!
//! SAML Core §1.3.3 requires UTC; SPID writes `2017-03-05T18:03:10.531Z`. spid-sp-test sends a date
//! alone (case 13) and `2018-09-06 16:00` (case 38) and expects them refused, and microseconds
//! (case 110) and expects them accepted. General-purpose parsers accept more (lower-case `t`, a
//! space, offsets, leap seconds), so the grammar is written out here:
//! `YYYY-MM-DDThh:mm:ss(.d+)?Z`, four-digit years, real calendar dates.

use chrono::{DateTime, NaiveDate, Utc};

/// The instant `text` denotes, or `None` when it is not `YYYY-MM-DDThh:mm:ss[.fraction]Z`. Digits of
/// the fraction beyond nanoseconds are accepted and dropped.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    // ASCII only: the slicing below is then always on character boundaries.
    if !text.is_ascii()
        || b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &text[range];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let rest = &text[19..];
    let fraction = match rest.strip_suffix('Z')? {
        "" => "",
        f => f.strip_prefix('.')?,
    };
    if !fraction.bytes().all(|c| c.is_ascii_digit()) || (rest.len() > 1 && fraction.is_empty()) {
        return None;
    }
    let mut nanos = 0u32;
    for (i, c) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(c - b'0') * 10u32.pow(8 - u32::try_from(i).ok()?);
    }
    // Leap seconds (ss = 60) are refused: SAML Core §1.3.3 forbids generating them.
    let time = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    (second < 60).then(|| time.and_utc())
}

/// `instant` as SPID writes it: UTC with milliseconds (`2026-12-01T10:00:00.000Z`).
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_utc_with_and_without_fractions() {
        let at = |s| parse_instant(s).map(|t| t.timestamp_nanos_opt());
        assert!(at("2026-12-01T10:00:00Z").is_some());
        assert_eq!(
            parse_instant("2026-12-01T10:00:05.000000Z"),
            parse_instant("2026-12-01T10:00:05Z")
        );
        assert_eq!(
            parse_instant("2026-12-01T10:00:05.5Z").map(|t| t.timestamp_subsec_millis()),
            Some(500)
        );
        assert_eq!(
            parse_instant("2026-12-01T10:00:05.1234567891Z").map(|t| t.timestamp_subsec_nanos()),
            Some(123_456_789)
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "2018-09-04",
            "2018-09-06 16:00",
            "2026-12-01t10:00:00Z",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00:00+01:00",
            "2026-12-01T10:00:00.Z",
            "2026-02-30T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-31T23:59:60Z",
            "+2026-12-01T10:00:00Z",
            "2026-12-01T10:00:0aZ",
            "2026-12-01T10:00:00.1a2Z",
            "2026-12-01T10:00:00ZZ",
            "２０２６-12-01T10:00:00Z",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_with_milliseconds() {
        let t = parse_instant("2026-12-01T10:00:00.531Z").expect("valid");
        assert_eq!(format_instant(t), "2026-12-01T10:00:00.531Z");
        assert_eq!(parse_instant(&format_instant(t)), Some(t));
    }
}
