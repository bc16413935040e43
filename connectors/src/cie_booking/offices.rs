//! Where a tenant may book, and how much one availability search answers.
//!
//! `[tenants.cie_booking] offices` lists the offices a comune books in (empty: every office). The
//! booking system itself would let any comune book anywhere, so the limit is the connector's: a
//! command naming another office — a search's `office_id`, a booking's `slot_id`, a reschedule's
//! `new_slot_id` — is `invalid_message` naming that field, and nothing is sent; a search naming no
//! office searches each listed office (one call each, its own operation id derived from the
//! command's) and merges the answers; the office list shows only the listed offices.
//!
//! A search answers at most [`MAX_SEARCH_SLOTS`] slots: 92 days of a large comune's offices are
//! thousands of slots, more than a backend shows and a message should carry. The event keeps the
//! earliest whole days that fit (a single day with more is cut at the cap), so a backend pages by
//! date: when the slots end before `to`, it searches again from the day after the last slot.

use chrono::NaiveDate;
use snodo_mappings::cie_booking::offices::{AvailabilityFound, OfficesListed};
use snodo_mappings::cie_booking::{Command, OperationId};
use snodo_queue::runtime::CommandError;
use uuid::Uuid;

use super::adapter::BookingAdapter;

/// The most slots one `cie_booking.availability.search.completed` carries.
pub const MAX_SEARCH_SLOTS: usize = 200;

/// The offices one tenant books in.
#[derive(Debug, Clone, Copy)]
pub struct OfficeScope<'t> {
    /// Empty: every office.
    offices: &'t [String],
}

impl<'t> OfficeScope<'t> {
    pub fn new(offices: &'t [String]) -> OfficeScope<'t> {
        OfficeScope { offices }
    }

    pub fn is_everywhere(&self) -> bool {
        self.offices.is_empty()
    }

    pub fn offices(&self) -> &'t [String] {
        self.offices
    }

    pub fn allows(&self, office: &str) -> bool {
        self.is_everywhere() || self.offices.iter().any(|o| o == office)
    }

    fn outside(&self, field: &str, what: &str) -> CommandError {
        CommandError::invalid_message(format!(
            "field `{field}`: {what}, and this tenant books only at {} ([tenants.cie_booking] offices)",
            self.offices.join(", ")
        ))
    }

    /// Refuses `command` when it names an office outside the scope, before anything is sent.
    pub fn check(&self, command: &Command, adapter: &dyn BookingAdapter) -> Result<(), CommandError> {
        if self.is_everywhere() {
            return Ok(());
        }
        let slot = |field: &str, slot_id: &str| match adapter.slot_office(slot_id) {
            Some(office) if self.allows(office) => Ok(()),
            Some(office) => Err(self.outside(field, &format!("the slot is at office {office}"))),
            None => Err(self.outside(field, "the slot id does not say which office it is at")),
        };
        match command {
            Command::SearchAvailability(search) => match &search.office_id {
                Some(office) if !self.allows(office) => {
                    Err(self.outside("office_id", &format!("office {office} is not one of them")))
                }
                _ => Ok(()),
            },
            Command::Book(book) => slot("slot_id", &book.slot_id),
            Command::Reschedule(r) => slot("new_slot_id", &r.new_slot_id),
            Command::ListOffices(_) | Command::Confirm(_) | Command::Cancel(_) | Command::Status(_) => Ok(()),
        }
    }

    /// The office list without the offices outside the scope.
    pub fn filter_offices(&self, listed: &mut OfficesListed) {
        listed.offices.retain(|o| self.allows(&o.office_id));
    }
}

/// The operation id of the search of `office` within the command whose id is `command_id`: stable,
/// so a retried command searches with the same ids, and distinct per office, since the service
/// refuses one id for two different requests.
pub fn office_operation_id(command_id: &OperationId, office: &str) -> OperationId {
    let namespace = Uuid::parse_str(command_id.as_str()).expect("an operation id is 32 hex digits");
    OperationId::from_uuid(Uuid::new_v5(&namespace, office.as_bytes()))
        .expect("a version-5 UUID is never nil")
}

/// Merges the answers of several offices' searches: every slot in time order, the earliest first
/// free time.
pub fn merge(found: Vec<AvailabilityFound>) -> AvailabilityFound {
    let mut merged = AvailabilityFound {
        schema: Default::default(),
        first_available: None,
        slots: Vec::new(),
    };
    for f in found {
        merged.first_available = match (merged.first_available, f.first_available) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        merged.slots.extend(f.slots);
    }
    merged
        .slots
        .sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.office_id.cmp(&b.office_id)));
    merged
}

/// Cuts `found` to [`MAX_SEARCH_SLOTS`] at a day's boundary (the slots' local dates); a first day
/// with more slots than the cap is cut at the cap.
pub fn cap(found: &mut AvailabilityFound) {
    if found.slots.len() <= MAX_SEARCH_SLOTS {
        return;
    }
    let day = |i: usize| -> NaiveDate { found.slots[i].starts_at.date_naive() };
    // The first slot that no longer fits; keep everything before the day it starts.
    let cut_day = day(MAX_SEARCH_SLOTS);
    let keep = found.slots[..MAX_SEARCH_SLOTS]
        .iter()
        .position(|s| s.starts_at.date_naive() == cut_day)
        .filter(|&n| n > 0)
        .unwrap_or(MAX_SEARCH_SLOTS);
    found.slots.truncate(keep);
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, FixedOffset};
    use snodo_mappings::cie_booking::{SchemaV1, Slot};

    use super::*;

    fn slots(per_day: &[usize]) -> AvailabilityFound {
        let start: DateTime<FixedOffset> = "2025-04-07T09:00:00+02:00".parse().unwrap();
        let mut slots = Vec::new();
        for (d, n) in per_day.iter().enumerate() {
            for i in 0..*n {
                let at = start + Duration::days(d as i64) + Duration::minutes(i as i64);
                slots.push(Slot {
                    slot_id: format!("X-{}", at.format("%Y%m%d-%H%M")),
                    office_id: "X".into(),
                    starts_at: at,
                    duration_minutes: 5,
                    free_places: 1,
                });
            }
        }
        AvailabilityFound {
            schema: SchemaV1,
            first_available: Some(start),
            slots,
        }
    }

    #[test]
    fn a_search_within_the_cap_is_untouched() {
        let mut found = slots(&[100, 100]);
        cap(&mut found);
        assert_eq!(found.slots.len(), 200);
    }

    #[test]
    fn a_search_over_the_cap_keeps_the_earliest_whole_days() {
        let mut found = slots(&[90, 90, 90]);
        cap(&mut found);
        assert_eq!(found.slots.len(), 180);
        assert_eq!(
            found.slots.last().unwrap().starts_at.date_naive().to_string(),
            "2025-04-08"
        );
        assert!(found.first_available.is_some());
    }

    #[test]
    fn a_single_day_over_the_cap_is_cut_at_the_cap() {
        let mut found = slots(&[250, 10]);
        cap(&mut found);
        assert_eq!(found.slots.len(), MAX_SEARCH_SLOTS);
    }

    #[test]
    fn each_office_search_has_its_own_stable_operation_id() {
        let id = OperationId::parse(&"ab".repeat(16)).unwrap();
        let a = office_operation_id(&id, "MI-ANAGRAFE-01");
        assert_eq!(a, office_operation_id(&id, "MI-ANAGRAFE-01"));
        assert_ne!(a, office_operation_id(&id, "MI-MUNICIPIO-4"));
        assert_ne!(a, id);
    }
}
