//! The places of the population. The comuni and foreign states (with their validity dates) are
//! [`snodo_mappings::places`], re-exported here, so that the population's codici fiscali and the
//! connectors' checks use one table; the postcodes of a few comuni are the population's own concern
//! (it gives residents an address) and stay here.

use std::sync::OnceLock;

pub use snodo_mappings::places::{ARCHIVE_DATE, Comune, ForeignState, Place, Places, places};

const CAP: &str = include_str!("../../data/cap.csv");

/// The postcodes of one comune: a single code for most, a range for the cities split into zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalArea {
    pub istat: &'static str,
    pub first: u32,
    pub last: u32,
    pub name: &'static str,
}

/// Every postal area of the embedded table, parsed on first use.
pub fn postal_areas() -> &'static [PostalArea] {
    static POSTAL: OnceLock<Vec<PostalArea>> = OnceLock::new();
    POSTAL.get_or_init(|| {
        CAP.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let f: Vec<&'static str> = line.splitn(4, ',').collect();
                assert_eq!(f.len(), 4, "embedded postcode line has 4 fields: {line}");
                PostalArea {
                    istat: f[0],
                    first: f[1].parse().expect("embedded postcodes are numbers"),
                    last: f[2].parse().expect("embedded postcodes are numbers"),
                    name: f[3],
                }
            })
            .collect()
    })
}

/// The postcodes of a comune, when the embedded table knows them.
pub fn postal_area(istat: &str) -> Option<&'static PostalArea> {
    postal_areas().iter().find(|p| p.istat == istat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milano_has_its_postcodes() {
        let area = postal_area("015146").expect("Milano's postcodes");
        assert_eq!((area.first, area.last), (20121, 20162));
    }

    #[test]
    fn every_postal_area_is_a_comune_of_the_archive() {
        for area in postal_areas() {
            assert!(
                places().comune_by_istat(area.istat, ARCHIVE_DATE).is_some(),
                "{} ({})",
                area.name,
                area.istat
            );
        }
    }
}
