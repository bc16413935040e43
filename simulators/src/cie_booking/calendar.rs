//! The offices of the simulated booking system and their calendars: weekly opening hours, slot
//! length and counters per office (the public notes, `anpr-and-cie-booking.md` §4.2: per-office
//! planners with capped slot counts), the slots those hours make, and Italian local time.
//!
//! A slot is not stored: it is a function of its office and its start, and its id spells both
//! (`MI-ANAGRAFE-01-20250407-0900`), so the availability of a year of calendars costs nothing until
//! someone books. Only the places taken are counted (in the engine).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};

/// One office where CIE applications are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeSpec {
    pub office_id: String,
    /// ISTAT code of the comune the office belongs to.
    pub comune: String,
    pub name: String,
    pub address: String,
    /// False: the office takes no bookings (`SEDE_CHIUSA`).
    pub open: bool,
    /// Opening hours: (day, from, to), local time; several entries per day for split hours.
    pub hours: Vec<(Weekday, NaiveTime, NaiveTime)>,
    pub slot_minutes: u16,
    /// Counters working in parallel: the places of every slot.
    pub counters: u32,
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a valid time of day")
}

/// The development comune (Milano), whose offices are seeded.
pub const SEEDED_COMUNE: &str = "015146";

/// The seeded offices: Milano's central registry office, a municipio office, a closed one and the
/// Saturday "open day" hall with twenty counters (where the concurrency tests book).
pub fn seeded_offices() -> Vec<OfficeSpec> {
    use Weekday::*;
    let weekdays = |from: NaiveTime, to: NaiveTime| {
        [Mon, Tue, Wed, Thu, Fri]
            .into_iter()
            .map(move |d| (d, from, to))
            .collect::<Vec<_>>()
    };
    let mut central = weekdays(time(8, 30), time(12, 30));
    central.extend([(Tue, time(14, 0), time(16, 0)), (Thu, time(14, 0), time(16, 0))]);
    vec![
        OfficeSpec {
            office_id: "MI-ANAGRAFE-01".into(),
            comune: SEEDED_COMUNE.into(),
            name: "Anagrafe centrale".into(),
            address: "Via Larga 12, 20122 Milano".into(),
            open: true,
            hours: central,
            slot_minutes: 15,
            counters: 3,
        },
        OfficeSpec {
            office_id: "MI-MUNICIPIO-4".into(),
            comune: SEEDED_COMUNE.into(),
            name: "Municipio 4".into(),
            address: "Via Oglio 18, 20139 Milano".into(),
            open: true,
            hours: weekdays(time(9, 0), time(12, 0)),
            slot_minutes: 20,
            counters: 1,
        },
        OfficeSpec {
            office_id: "MI-MUNICIPIO-9".into(),
            comune: SEEDED_COMUNE.into(),
            name: "Municipio 9".into(),
            address: "Via Guerzoni 38, 20158 Milano".into(),
            open: false,
            hours: weekdays(time(9, 0), time(12, 0)),
            slot_minutes: 15,
            counters: 2,
        },
        OfficeSpec {
            office_id: "MI-OPENDAY".into(),
            comune: SEEDED_COMUNE.into(),
            name: "CIE open day, Palazzo Marino".into(),
            address: "Piazza della Scala 2, 20121 Milano".into(),
            open: true,
            hours: vec![(Sat, time(9, 0), time(13, 0))],
            slot_minutes: 30,
            counters: 20,
        },
    ]
}

/// A bookable time, as its id spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotRef {
    pub office_id: String,
    pub local_start: NaiveDateTime,
}

impl SlotRef {
    /// `<office>-<YYYYMMDD>-<HHMM>`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.office_id, self.local_start.format("%Y%m%d-%H%M"))
    }

    /// Reads a slot id; `None` when it is not one this simulator could have issued.
    pub fn parse(id: &str) -> Option<SlotRef> {
        let mut parts = id.rsplitn(3, '-');
        let hhmm = parts.next()?;
        let day = parts.next()?;
        let office = parts.next()?;
        if hhmm.len() != 4 || day.len() != 8 || office.is_empty() {
            return None;
        }
        let local_start = NaiveDateTime::parse_from_str(&format!("{day}{hhmm}"), "%Y%m%d%H%M").ok()?;
        Some(SlotRef {
            office_id: office.to_owned(),
            local_start,
        })
    }

    pub fn starts_at(&self) -> DateTime<FixedOffset> {
        rome(self.local_start)
    }
}

impl OfficeSpec {
    /// Whether `start` (local) begins a slot of this office's calendar.
    pub fn has_slot_at(&self, start: NaiveDateTime) -> bool {
        self.slot_starts(start.date()).any(|s| s == start)
    }

    /// The slot starts of `day`, in order: every whole slot that fits in each opening period.
    pub fn slot_starts(&self, day: NaiveDate) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let step = Duration::minutes(i64::from(self.slot_minutes));
        let mut periods: Vec<_> = self
            .hours
            .iter()
            .filter(move |(d, _, _)| *d == day.weekday())
            .map(|(_, from, to)| (*from, *to))
            .collect();
        periods.sort();
        periods.into_iter().flat_map(move |(from, to)| {
            let end = day.and_time(to);
            std::iter::successors(Some(day.and_time(from)), move |t| Some(*t + step))
                .take_while(move |t| *t + step <= end)
        })
    }
}

/// Italian local time (CET, CEST from the last Sunday of March to the last Sunday of October, the
/// changes at 01:00 UTC as in the whole EU): the offset of an instant.
pub fn rome_offset(at: DateTime<Utc>) -> FixedOffset {
    let year = at.year();
    let start = last_sunday(year, 3).and_time(time(1, 0)).and_utc();
    let end = last_sunday(year, 10).and_time(time(1, 0)).and_utc();
    let hours = if start <= at && at < end { 2 } else { 1 };
    FixedOffset::east_opt(hours * 3600).expect("a valid offset")
}

/// A local time of Rome as an instant with its offset. Office hours never fall in the hour the
/// clocks skip or repeat (02:00–03:00), so the offset in force an hour either side is the answer.
pub fn rome(local: NaiveDateTime) -> DateTime<FixedOffset> {
    let guess = FixedOffset::east_opt(3600).expect("a valid offset");
    let utc = guess
        .from_local_datetime(&local)
        .single()
        .expect("fixed offsets are unambiguous")
        .with_timezone(&Utc);
    let offset = rome_offset(utc);
    offset
        .from_local_datetime(&local)
        .single()
        .expect("fixed offsets are unambiguous")
}

/// An instant shown in Rome's local time.
pub fn in_rome(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&rome_offset(at))
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next_month = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("a valid date");
    let last = next_month.pred_opt().expect("a valid date");
    last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_round_trip_with_hyphenated_office_ids() {
        let slot = SlotRef {
            office_id: "MI-ANAGRAFE-01".into(),
            local_start: NaiveDate::from_ymd_opt(2025, 4, 7).unwrap().and_time(time(9, 0)),
        };
        assert_eq!(slot.id(), "MI-ANAGRAFE-01-20250407-0900");
        assert_eq!(SlotRef::parse(&slot.id()), Some(slot));
        assert_eq!(SlotRef::parse("MI-20250407"), None);
        assert_eq!(SlotRef::parse("MI-20251307-0900"), None);
    }

    #[test]
    fn rome_switches_to_summer_time_on_the_last_sunday_of_march() {
        let before = NaiveDate::from_ymd_opt(2025, 3, 29).unwrap().and_time(time(9, 0));
        let after = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap().and_time(time(9, 0));
        assert_eq!(rome(before).to_rfc3339(), "2025-03-29T09:00:00+01:00");
        assert_eq!(rome(after).to_rfc3339(), "2025-03-31T09:00:00+02:00");
        let october = NaiveDate::from_ymd_opt(2025, 10, 27)
            .unwrap()
            .and_time(time(9, 0));
        assert_eq!(rome(october).to_rfc3339(), "2025-10-27T09:00:00+01:00");
    }

    #[test]
    fn slots_fill_each_opening_period_with_whole_slots() {
        let office = &seeded_offices()[0];
        // 2025-04-08 is a Tuesday: 08:30–12:30 and 14:00–16:00 in 15-minute slots.
        let day = NaiveDate::from_ymd_opt(2025, 4, 8).unwrap();
        let starts: Vec<_> = office.slot_starts(day).collect();
        assert_eq!(starts.len(), 16 + 8);
        assert_eq!(starts[0].time(), time(8, 30));
        assert_eq!(starts[15].time(), time(12, 15));
        assert_eq!(starts[16].time(), time(14, 0));
        assert!(office.has_slot_at(day.and_time(time(14, 45))));
        assert!(!office.has_slot_at(day.and_time(time(14, 50))));
        let sunday = NaiveDate::from_ymd_opt(2025, 4, 6).unwrap();
        assert_eq!(office.slot_starts(sunday).count(), 0);
    }
}
