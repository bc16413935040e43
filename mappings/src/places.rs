//! The places a person can be born in or live in: Italian comuni with the dates their cadastral (Belfiore)
//! codes were valid, and foreign states with their Z codes. Here rather than in the simulators so that
//! the connectors check place codes against the same tables the synthetic population is drawn from.
//!
//! The tables are derived from ANPR's own archives (`mappings/data/README.md` says how), embedded in the
//! binary and parsed once. Validity dates matter: a Belfiore code is only a valid birthplace for a birth
//! date inside one of its intervals (ANPR rejects the others with EC007), and codes were reused. The
//! archive stops in May 2023: a comune created since is unknown here, which callers must treat as a
//! doubt, not as proof that the code is wrong.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};

const COMUNI: &str = include_str!("../data/comuni.csv");
const STATI: &str = include_str!("../data/stati.csv");

/// The last date the embedded comuni archive knows about: codes of comuni created after it are
/// missing from the table.
pub const ARCHIVE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2023, 5, 16) {
    Some(date) => date,
    None => panic!("2023-05-16 is a date"),
};

/// One validity interval of an Italian comune's cadastral code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comune {
    /// The Belfiore code, as in the codice fiscale (`F205`).
    pub cadastral_code: &'static str,
    pub valid_from: NaiveDate,
    /// Inclusive; `9999-12-31` for comuni that still exist.
    pub valid_to: NaiveDate,
    /// The ISTAT code of the latest record of the interval (`015146`).
    pub istat: &'static str,
    /// The province's two-letter abbreviation (`MI`).
    pub province: &'static str,
    /// The official Italian name of the latest record of the interval (`MILANO`).
    pub name: &'static str,
}

impl Comune {
    pub fn valid_at(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && date <= self.valid_to
    }

    /// Whether the comune still exists (its interval is open).
    pub fn is_active(&self) -> bool {
        self.valid_to.year() == 9999
    }
}

/// A foreign state or territory with a Z code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignState {
    /// The cadastral Z code used in codici fiscali (`Z133`).
    pub code: &'static str,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// ISTAT's three-digit state code, as ANPR's citizenship fields use it (`241`).
    pub istat: &'static str,
    /// ISO 3166-1 alpha-3 (`CHE`).
    pub iso3: &'static str,
    /// Whether ANPR accepts it as a citizenship.
    pub citizenship: bool,
    /// Whether ANPR accepts it as a place of birth.
    pub birth: bool,
    pub name: &'static str,
}

impl ForeignState {
    pub fn valid_at(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && date <= self.valid_to
    }
}

/// Where a Belfiore or Z code points to at a given date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Comune(&'static Comune),
    Abroad(&'static ForeignState),
}

impl Place {
    pub fn code(&self) -> &'static str {
        match self {
            Place::Comune(c) => c.cadastral_code,
            Place::Abroad(s) => s.code,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Place::Comune(c) => c.name,
            Place::Abroad(s) => s.name,
        }
    }

    /// The province abbreviation, `EE` abroad as ANPR and the SPID `countyOfBirth` convention write it.
    pub fn province(&self) -> &'static str {
        match self {
            Place::Comune(c) => c.province,
            Place::Abroad(_) => "EE",
        }
    }
}

/// The embedded place tables.
pub struct Places {
    /// Sorted by code, then by start of validity.
    comuni: Vec<Comune>,
    /// Sorted by code.
    states: Vec<ForeignState>,
    /// Indexes into `comuni` by province abbreviation.
    by_province: BTreeMap<&'static str, Vec<u32>>,
}

/// The place tables, parsed on first use.
pub fn places() -> &'static Places {
    static PLACES: OnceLock<Places> = OnceLock::new();
    PLACES.get_or_init(Places::parse)
}

fn date(field: &str) -> NaiveDate {
    NaiveDate::parse_from_str(field, "%Y%m%d").expect("embedded tables hold YYYYMMDD dates")
}

fn fields(line: &'static str, n: usize) -> Vec<&'static str> {
    let fields: Vec<&'static str> = line.splitn(n, ',').collect();
    assert_eq!(fields.len(), n, "embedded table line has {n} fields: {line}");
    fields
}

fn data_lines(table: &'static str) -> impl Iterator<Item = &'static str> {
    table.lines().filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl Places {
    fn parse() -> Places {
        let mut comuni: Vec<Comune> = data_lines(COMUNI)
            .map(|line| {
                let f = fields(line, 6);
                Comune {
                    cadastral_code: f[0],
                    valid_from: date(f[1]),
                    valid_to: date(f[2]),
                    istat: f[3],
                    province: f[4],
                    name: f[5],
                }
            })
            .collect();
        comuni.sort_by(|a, b| (a.cadastral_code, a.valid_from).cmp(&(b.cadastral_code, b.valid_from)));
        let mut states: Vec<ForeignState> = data_lines(STATI)
            .map(|line| {
                let f = fields(line, 8);
                ForeignState {
                    code: f[0],
                    valid_from: date(f[1]),
                    valid_to: date(f[2]),
                    istat: f[3],
                    iso3: f[4],
                    citizenship: f[5] == "S",
                    birth: f[6] == "S",
                    name: f[7],
                }
            })
            .collect();
        states.sort_by(|a, b| a.code.cmp(b.code));
        // A Z code the table lists twice keeps its first row: lookups must have one answer.
        states.dedup_by(|b, a| a.code == b.code);
        let mut by_province: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
        for (i, c) in comuni.iter().enumerate() {
            by_province.entry(c.province).or_default().push(i as u32);
        }
        Places {
            comuni,
            states,
            by_province,
        }
    }

    /// Every validity interval of every comune, sorted by code and start date.
    pub fn comuni(&'static self) -> &'static [Comune] {
        &self.comuni
    }

    /// Every foreign state with a Z code, sorted by code.
    pub fn foreign_states(&'static self) -> &'static [ForeignState] {
        &self.states
    }

    /// The intervals of one Belfiore code, oldest first.
    pub fn comune_intervals(&'static self, code: &str) -> &'static [Comune] {
        let start = self.comuni.partition_point(|c| c.cadastral_code < code);
        let end = self.comuni.partition_point(|c| c.cadastral_code <= code);
        &self.comuni[start..end]
    }

    /// The comune a Belfiore code designated on `date`, if it was valid then.
    pub fn comune_at(&'static self, code: &str, date: NaiveDate) -> Option<&'static Comune> {
        self.comune_intervals(code).iter().find(|c| c.valid_at(date))
    }

    /// The comune that has this ISTAT code on `date`.
    pub fn comune_by_istat(&'static self, istat: &str, date: NaiveDate) -> Option<&'static Comune> {
        self.comuni.iter().find(|c| c.istat == istat && c.valid_at(date))
    }

    pub fn foreign_state(&'static self, code: &str) -> Option<&'static ForeignState> {
        self.states
            .binary_search_by(|s| s.code.cmp(code))
            .ok()
            .map(|i| &self.states[i])
    }

    /// What a place-of-birth code means for someone born on `date`: a comune valid then, or a foreign
    /// state valid then; `None` when the code designated nothing on that date.
    pub fn place_at(&'static self, code: &str, date: NaiveDate) -> Option<Place> {
        if code.starts_with('Z') {
            self.foreign_state(code)
                .filter(|s| s.valid_at(date))
                .map(Place::Abroad)
        } else {
            self.comune_at(code, date).map(Place::Comune)
        }
    }

    /// The comuni of a province (all periods), as indexes into [`Self::comuni`]: the population draws
    /// birthplaces from them.
    pub fn province_comuni(&'static self, province: &str) -> &'static [u32] {
        self.by_province.get(province).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn milano_is_f205_since_1873() {
        let p = places();
        let milano = p.comune_at("F205", d(1980, 1, 1)).expect("Milano exists in 1980");
        assert_eq!(
            (milano.istat, milano.province, milano.name),
            ("015146", "MI", "MILANO")
        );
        assert!(p.comune_at("F205", d(1870, 1, 1)).is_none());
        assert_eq!(
            p.comune_by_istat("015146", d(2025, 1, 1))
                .map(|c| c.cadastral_code),
            Some("F205")
        );
    }

    #[test]
    fn a_ceased_comune_is_valid_only_inside_its_interval() {
        // Abbadia Alpina (A003) existed from 1864 to 1928-12-05.
        let p = places();
        assert!(p.place_at("A003", d(1900, 6, 1)).is_some());
        assert!(p.place_at("A003", d(1950, 6, 1)).is_none());
    }

    #[test]
    fn z_codes_are_foreign_states() {
        let p = places();
        let ch = p.place_at("Z133", d(1970, 1, 1)).expect("Switzerland");
        assert_eq!(ch.name(), "SVIZZERA");
        assert_eq!(ch.province(), "EE");
        assert!(p.place_at("Z999", d(1970, 1, 1)).is_none());
    }
}
