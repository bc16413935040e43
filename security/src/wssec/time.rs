//! The instants of a WS-Security header: `xs:dateTime` written the way ANPR's traces show them
//! (UTC, `Z`, milliseconds: `2021-02-18T08:22:49.985Z`) and read the way the schema allows them
//! (any fraction, `Z` or a numeric offset).
//!
//! A few lines of calendar arithmetic instead of a date crate: the crate needs exactly one format out
//! and one in, and the conversion (proleptic Gregorian, days from 1970-01-01) is the standard one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since 1970-01-01T00:00:00Z (negative before), the resolution of the header.
pub(crate) type Millis = i64;

pub(crate) fn to_millis(t: SystemTime) -> Millis {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_millis(ms: Millis) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

pub(crate) fn duration_millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `YYYY-MM-DDThh:mm:ss.sssZ`.
pub(crate) fn format(ms: Millis) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// An `xs:dateTime` with a time zone (`Z` or `±hh:mm`), to the millisecond (further digits are
/// truncated). A value without a zone is refused: its instant is unknown.
pub(crate) fn parse(text: &str) -> Option<Millis> {
    let s = text.trim_matches([' ', '\t', '\n', '\r']);
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    // Four-digit years only: ANPR writes no other, and it keeps the grammar small.
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let mut scale = 100;
        for &c in &b[start..end.min(start + 3)] {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        at = end;
    }
    let offset_minutes = match &b[at..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(at + 1..at + 3)?;
            let minutes = digits(at + 4..at + 6)?;
            if hours > 14 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[usize::try_from(month - 1).ok()?]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
            - offset_minutes * 60_000,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_anpr_traces() {
        // 2021-02-18T08:22:49.985Z, the Created of the italia/anpr#2504 trace.
        let ms = 1_613_636_569_985;
        assert_eq!(format(ms), "2021-02-18T08:22:49.985Z");
        assert_eq!(parse("2021-02-18T08:22:49.985Z"), Some(ms));
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reads_offsets_and_fractions() {
        let ms = parse("2017-03-27T19:20:11.543+02:00").expect("offset");
        assert_eq!(format(ms), "2017-03-27T17:20:11.543Z");
        assert_eq!(parse("2017-03-27T17:20:11Z"), Some(ms - 543));
        assert_eq!(parse("2017-03-27T17:20:11.5439Z"), Some(ms));
        assert_eq!(parse("2017-03-27T16:50:11.543-00:30"), Some(ms));
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for bad in [
            "2017-03-27T17:20:11",
            "2017-03-27T17:20:11.Z",
            "2017-02-29T00:00:00Z",
            "2017-13-01T00:00:00Z",
            "2017-03-27T24:00:00Z",
            "2017-03-27 17:20:11Z",
            "2017-03-27T17:20:11+2:00",
            "+017-03-27T17:20:11Z",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
