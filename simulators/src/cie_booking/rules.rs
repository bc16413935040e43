//! The booking rules of the contract (`mappings/contracts/cie-booking/README.md`, from the public
//! facts of `anpr-and-cie-booking.md` §4.2), each a method of the [`Engine`] called with the state
//! already locked: offices, availability, book, confirm, cancel, reschedule and status.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, Utc};
use snodo_mappings::cie_booking::appointment::{
    AppointmentCompleted, AppointmentKey, BookingRequest, StatusKey,
};
use snodo_mappings::cie_booking::offices::{
    AvailabilityFound, AvailabilityQuery, OfficesListed, OfficesQuery,
};
use snodo_mappings::cie_booking::{
    Appointment, AppointmentState, CancelledBy, ErrorCode, Office, Reason, Rejection, Response, SchemaV1,
    Slot,
};

use super::calendar::{OfficeSpec, SlotRef, in_rome, rome};
use super::engine::{Answer, Booking, Engine, State, refuse, refuse_field};
use crate::population::codice_fiscale::CodiceFiscale;

/// Renewal on expiry is possible from this many days before the card expires (DL 76/2020).
pub const RENEWAL_WINDOW_DAYS: i64 = 180;

/// Confirmation is due by the end of the third day before the appointment (Rome's rule, notes §4.2);
/// a booking made later than that has a day, and never past the appointment itself.
pub fn confirm_deadline(starts_at: DateTime<FixedOffset>, booked: DateTime<Utc>) -> DateTime<FixedOffset> {
    let day = starts_at.date_naive() - Duration::days(3);
    let end_of_day = rome(day.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid")));
    let latest = in_rome(booked + Duration::hours(24));
    end_of_day.max(latest).min(starts_at)
}

/// How far ahead `first_available` looks.
const HORIZON_DAYS: i64 = 366;

impl Engine {
    pub(super) fn list_offices(&self, q: &OfficesQuery) -> Answer {
        if !self.comune_enabled(&q.comune) {
            return Err(not_enabled());
        }
        let offices = self
            .offices
            .iter()
            .filter(|o| o.comune == q.comune)
            .map(|o| Office {
                office_id: o.office_id.clone(),
                name: o.name.clone(),
                address: o.address.clone(),
                open: o.open,
            })
            .collect();
        Ok(Response::ListOffices(OfficesListed {
            schema: SchemaV1,
            offices,
        }))
    }

    pub(super) fn search(&self, state: &State, q: &AvailabilityQuery, now: DateTime<Utc>) -> Answer {
        if !self.comune_enabled(&q.comune) {
            return Err(not_enabled());
        }
        let offices: Vec<&OfficeSpec> = match &q.office_id {
            Some(id) => {
                let office = self
                    .office(id)
                    .filter(|o| o.comune == q.comune)
                    .ok_or_else(|| refuse_field(ErrorCode::OfficeNotFound, "sede non trovata", "idSede"))?;
                if !office.open {
                    return Err(refuse_field(
                        ErrorCode::OfficeClosed,
                        "la sede non accetta prenotazioni",
                        "idSede",
                    ));
                }
                vec![office]
            }
            None => self
                .offices
                .iter()
                .filter(|o| o.comune == q.comune && o.open)
                .collect(),
        };
        let free = |office: &OfficeSpec, day| free_slots(state, office, day, now);
        let mut slots = Vec::new();
        for day in q.from.iter_days().take_while(|d| *d <= q.to) {
            for office in &offices {
                slots.extend(free(office, day));
            }
        }
        slots.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.office_id.cmp(&b.office_id)));
        let today = in_rome(now).date_naive();
        let first_available = today.iter_days().take(HORIZON_DAYS as usize).find_map(|day| {
            offices
                .iter()
                .filter_map(|o| free(o, day).first().map(|s| s.starts_at))
                .min()
        });
        Ok(Response::SearchAvailability(AvailabilityFound {
            schema: SchemaV1,
            first_available,
            slots,
        }))
    }

    /// The office and start of a slot that can be booked now, or why not.
    fn bookable(
        &self,
        state: &State,
        slot_id: &str,
        field: &str,
        now: DateTime<Utc>,
    ) -> Result<(SlotRef, &OfficeSpec), Rejection> {
        let not_found = || refuse_field(ErrorCode::SlotNotFound, "slot inesistente o passato", field);
        let slot = SlotRef::parse(slot_id).ok_or_else(not_found)?;
        let office = self.office(&slot.office_id).ok_or_else(not_found)?;
        if !office.has_slot_at(slot.local_start) || slot.starts_at().with_timezone(&Utc) <= now {
            return Err(not_found());
        }
        if !office.open {
            return Err(refuse_field(
                ErrorCode::OfficeClosed,
                "la sede non accetta prenotazioni",
                field,
            ));
        }
        if state.closed(&office.office_id, slot.local_start.date()) {
            return Err(refuse_field(
                ErrorCode::OfficeClosed,
                "la sede è chiusa in quel giorno",
                field,
            ));
        }
        if state.taken.get(slot_id).copied().unwrap_or(0) >= office.counters {
            return Err(refuse_field(
                ErrorCode::SlotFull,
                "tutti i posti dello slot sono occupati",
                field,
            ));
        }
        Ok((slot, office))
    }

    pub(super) fn book(
        &self,
        state: &mut State,
        sender: &str,
        b: &BookingRequest,
        now: DateTime<Utc>,
    ) -> Result<AppointmentCompleted, Rejection> {
        let cf = &b.citizen.codice_fiscale;
        // The check character is the service's to verify (the XSD checks only the shape).
        if cf.len() == 16 && CodiceFiscale::parse(cf).is_err() {
            return Err(refuse_field(
                ErrorCode::InvalidRequest,
                "codice fiscale non valido",
                "richiedente/codiceFiscale",
            ));
        }
        if state.active.contains_key(cf) {
            return Err(refuse(
                ErrorCode::ActiveBookingExists,
                "il codice fiscale ha già una prenotazione attiva",
            ));
        }
        if b.reason == Reason::RenewalOnExpiry {
            let today = in_rome(now).date_naive();
            let expiry = self
                .population
                .find(cf)
                .and_then(|p| p.identity_card)
                .map(|card| card.expires_on);
            if let Some(expiry) = expiry
                && today < expiry - Duration::days(RENEWAL_WINDOW_DAYS)
            {
                return Err(refuse_field(
                    ErrorCode::RenewalTooEarly,
                    "rinnovo possibile solo dai 180 giorni precedenti la scadenza",
                    "motivo",
                ));
            }
        }
        let (slot, office) = self.bookable(state, &b.slot_id, "idSlot", now)?;
        let resident = b.residence_comune == office.comune;
        let appointment = self.new_appointment(
            state,
            &slot,
            office,
            cf,
            b.reason,
            &b.residence_comune,
            resident,
            now,
        );
        Ok(self.take(state, sender, appointment, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn new_appointment(
        &self,
        state: &mut State,
        slot: &SlotRef,
        office: &OfficeSpec,
        cf: &str,
        reason: Reason,
        residence: &str,
        cleared: bool,
        now: DateTime<Utc>,
    ) -> Appointment {
        let starts_at = slot.starts_at();
        Appointment {
            booking_code: state.next_code(),
            state: if cleared {
                AppointmentState::Booked
            } else {
                AppointmentState::AwaitingClearance
            },
            codice_fiscale: cf.to_owned(),
            reason,
            office_id: office.office_id.clone(),
            slot_id: slot.id(),
            starts_at,
            duration_minutes: office.slot_minutes,
            residence_comune: residence.to_owned(),
            confirm_by: cleared.then(|| confirm_deadline(starts_at, now)),
            application_number: None,
            replaces: None,
            updated_at: in_rome(now),
        }
    }

    fn take(
        &self,
        state: &mut State,
        sender: &str,
        appointment: Appointment,
        now: DateTime<Utc>,
    ) -> AppointmentCompleted {
        *state.taken.entry(appointment.slot_id.clone()).or_default() += 1;
        state.store(Booking {
            appointment: appointment.clone(),
            booked_by: sender.to_owned(),
            created: now,
        });
        AppointmentCompleted {
            schema: SchemaV1,
            appointment,
        }
    }

    /// The booking `key` names, if its codice fiscale matches: a mismatch is "not found", so codes
    /// cannot be probed.
    fn find(state: &State, key: &AppointmentKey) -> Result<Booking, Rejection> {
        state
            .bookings
            .get(&key.booking_code)
            .filter(|b| b.appointment.codice_fiscale == key.codice_fiscale)
            .cloned()
            .ok_or_else(|| {
                refuse(
                    ErrorCode::BookingNotFound,
                    "nessuna prenotazione con questo codice per questo codice fiscale",
                )
            })
    }

    pub(super) fn confirm(
        &self,
        state: &mut State,
        key: &AppointmentKey,
        now: DateTime<Utc>,
    ) -> Result<AppointmentCompleted, Rejection> {
        let mut booking = Self::find(state, key)?;
        match booking.appointment.state {
            AppointmentState::Booked => {}
            AppointmentState::AwaitingClearance => {
                return Err(refuse(
                    ErrorCode::AwaitingClearance,
                    "in attesa del nulla osta del comune di residenza",
                ));
            }
            AppointmentState::CancelledAutomatically => {
                return Err(refuse(
                    ErrorCode::DeadlinePassed,
                    "termine per la conferma scaduto",
                ));
            }
            _ => {
                return Err(refuse(
                    ErrorCode::StateNotAllowed,
                    "lo stato della prenotazione non consente la conferma",
                ));
            }
        }
        let a = &mut booking.appointment;
        a.state = AppointmentState::Confirmed;
        a.confirm_by = None;
        a.updated_at = in_rome(now);
        let appointment = a.clone();
        state.store(booking);
        Ok(AppointmentCompleted {
            schema: SchemaV1,
            appointment,
        })
    }

    pub(super) fn cancel(
        &self,
        state: &mut State,
        key: &AppointmentKey,
        by: CancelledBy,
        now: DateTime<Utc>,
    ) -> Result<AppointmentCompleted, Rejection> {
        let mut booking = Self::find(state, key)?;
        Self::changeable(&booking, now)?;
        let a = &mut booking.appointment;
        a.state = match by {
            CancelledBy::Citizen => AppointmentState::CancelledByCitizen,
            CancelledBy::Comune => AppointmentState::CancelledByComune,
        };
        a.confirm_by = None;
        a.updated_at = in_rome(now);
        let appointment = a.clone();
        state.release(&appointment.slot_id);
        state.store(booking);
        Ok(AppointmentCompleted {
            schema: SchemaV1,
            appointment,
        })
    }

    /// An active booking whose appointment has not begun may be cancelled or moved.
    fn changeable(booking: &Booking, now: DateTime<Utc>) -> Result<(), Rejection> {
        if !booking.appointment.state.is_active() {
            return Err(refuse(ErrorCode::StateNotAllowed, "la prenotazione non è attiva"));
        }
        if booking.appointment.starts_at.with_timezone(&Utc) <= now {
            return Err(refuse(ErrorCode::DeadlinePassed, "l'appuntamento è già iniziato"));
        }
        Ok(())
    }

    /// Cancel + book as one step: the lock is held throughout, and nothing is changed until the new
    /// slot is known to have a place (the booking's own place counts as free when it stays put).
    pub(super) fn reschedule(
        &self,
        state: &mut State,
        sender: &str,
        key: &AppointmentKey,
        new_slot_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AppointmentCompleted, Rejection> {
        let mut old = Self::find(state, key)?;
        Self::changeable(&old, now)?;
        let same_slot = old.appointment.slot_id == new_slot_id;
        if same_slot {
            state.release(new_slot_id);
        }
        let (slot, office) = match self.bookable(state, new_slot_id, "nuovoIdSlot", now) {
            Ok(found) => found,
            Err(refusal) => {
                if same_slot {
                    *state.taken.entry(new_slot_id.to_owned()).or_default() += 1;
                }
                return Err(refusal);
            }
        };
        // A booking still awaiting clearance moves still awaiting it; a booked or confirmed one is
        // booked again and must be confirmed for its new day.
        let cleared = old.appointment.state != AppointmentState::AwaitingClearance;
        let mut appointment = self.new_appointment(
            state,
            &slot,
            office,
            &old.appointment.codice_fiscale,
            old.appointment.reason,
            &old.appointment.residence_comune,
            cleared,
            now,
        );
        appointment.replaces = Some(old.appointment.booking_code.clone());
        if !same_slot {
            state.release(&old.appointment.slot_id);
        }
        let a = &mut old.appointment;
        a.state = AppointmentState::CancelledByCitizen;
        a.confirm_by = None;
        a.updated_at = in_rome(now);
        state.store(old);
        Ok(self.take(state, sender, appointment, now))
    }

    pub(super) fn status(
        &self,
        state: &State,
        by: &StatusKey,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, Rejection> {
        match by {
            StatusKey::BookingCode(code) => state
                .bookings
                .get(code)
                .map(|b| vec![b.appointment.clone()])
                .ok_or_else(|| {
                    refuse(
                        ErrorCode::BookingNotFound,
                        "nessuna prenotazione con questo codice",
                    )
                }),
            StatusKey::CodiceFiscale(cf) => {
                let since = now - Duration::days(365);
                let codes = state.history.get(cf).map(Vec::as_slice).unwrap_or_default();
                Ok(codes
                    .iter()
                    .rev()
                    .filter_map(|c| state.bookings.get(c))
                    .filter(|b| b.created >= since)
                    .map(|b| b.appointment.clone())
                    .collect())
            }
        }
    }
}

/// The slots of `office` on `day` with a free place, after `now`.
fn free_slots(state: &State, office: &OfficeSpec, day: NaiveDate, now: DateTime<Utc>) -> Vec<Slot> {
    if state.closed(&office.office_id, day) {
        return Vec::new();
    }
    office
        .slot_starts(day)
        .filter_map(|start| {
            let slot = SlotRef {
                office_id: office.office_id.clone(),
                local_start: start,
            };
            let starts_at = slot.starts_at();
            let id = slot.id();
            let places = office
                .counters
                .saturating_sub(state.taken.get(&id).copied().unwrap_or(0));
            (starts_at.with_timezone(&Utc) > now && places > 0).then(|| Slot {
                slot_id: id,
                office_id: office.office_id.clone(),
                starts_at,
                duration_minutes: office.slot_minutes,
                free_places: places,
            })
        })
        .collect()
}

fn not_enabled() -> Rejection {
    refuse_field(
        ErrorCode::ComuneNotEnabled,
        "il comune non usa il sistema di prenotazione",
        "codIstatComune",
    )
}
