//! What the Ministry's side does to bookings on its own, beyond the clock: an operator closes an
//! office for some days (its bookings on those days are cancelled, `CHIUSURA_SEDE`), cancels one
//! booking from the Ministry's web application (`ANNULLAMENTO_OPERATORE`), or the comune of
//! residence decides a non-resident's clearance (`NULLA_OSTA_NEGATO`, or `NULLA_OSTA_CONCESSO`
//! before the simulator's automatic clearance). The real system does these through its web
//! application; here tests and the demo trigger them through the admin API (`admin`), and each one
//! reaches the comune the way the contract says: as a change in `ElencoVariazioni`.
//!
//! Every change is made under the engine's lock, after what fell due on the clock, like a request.

use chrono::{DateTime, NaiveDate, Utc};
use snodo_mappings::cie_booking::{AppointmentState, ChangeCause};

use super::calendar::in_rome;
use super::engine::{Booking, Engine, State};
use super::rules::confirm_deadline;

/// Days an office takes no appointments, both ends included (Italian local dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub office_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Why the Ministry's side could not make a change; the admin API answers it as `{"error": …}`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MinistryError {
    #[error("no office {0:?} in this simulator")]
    UnknownOffice(String),
    #[error("`to` ({to}) is before `from` ({from})")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
    #[error("no booking {0:?}")]
    UnknownBooking(String),
    #[error("booking {code} is {state}: only an active booking can be cancelled")]
    NotActive { code: String, state: &'static str },
    #[error("booking {code} is {state}: only a booking awaiting clearance can be cleared or refused")]
    NotAwaitingClearance { code: String, state: &'static str },
}

/// One booking changed by the Ministry's side: its code, its new state and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MinistryChange {
    pub booking_code: String,
    pub state: AppointmentState,
    pub cause: ChangeCause,
}

impl State {
    /// Whether `office_id` is closed on the local date `day`.
    pub(super) fn closed(&self, office_id: &str, day: NaiveDate) -> bool {
        self.closures
            .iter()
            .any(|c| c.office_id == office_id && c.from <= day && day <= c.to)
    }

    /// Ends an active booking as cancelled by the comune, freeing its place, and reports it.
    fn cancel_for(&mut self, mut booking: Booking, cause: ChangeCause, now: DateTime<Utc>) -> MinistryChange {
        let a = &mut booking.appointment;
        a.state = AppointmentState::CancelledByComune;
        a.confirm_by = None;
        a.updated_at = in_rome(now);
        let slot = a.slot_id.clone();
        self.release(&slot);
        self.record_change(&booking, cause, now);
        let change = MinistryChange {
            booking_code: booking.appointment.booking_code.clone(),
            state: booking.appointment.state,
            cause,
        };
        self.store(booking);
        change
    }
}

fn state_name(state: AppointmentState) -> &'static str {
    state.code()
}

impl Engine {
    /// Closes `office_id` from `from` to `to`: no slot of those days is offered or bookable
    /// (`SEDE_CHIUSA`), and every active booking on them is cancelled by the comune, earliest
    /// appointment first, each a `CHIUSURA_SEDE` change.
    pub fn close_office(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<MinistryChange>, MinistryError> {
        if self.office(office_id).is_none() {
            return Err(MinistryError::UnknownOffice(office_id.to_owned()));
        }
        if to < from {
            return Err(MinistryError::EmptyRange { from, to });
        }
        let mut state = self.state.lock();
        state.fall_due(now);
        state.closures.push(Closure {
            office_id: office_id.to_owned(),
            from,
            to,
        });
        let mut affected: Vec<Booking> = state
            .bookings
            .values()
            .filter(|b| {
                let a = &b.appointment;
                let day = a.starts_at.date_naive();
                a.office_id == office_id && a.state.is_active() && from <= day && day <= to
            })
            .cloned()
            .collect();
        affected.sort_by(|a, b| {
            (a.appointment.starts_at, &a.appointment.booking_code)
                .cmp(&(b.appointment.starts_at, &b.appointment.booking_code))
        });
        Ok(affected
            .into_iter()
            .map(|b| state.cancel_for(b, ChangeCause::OfficeClosed, now))
            .collect())
    }

    /// A municipal operator cancels booking `code` in the Ministry's application
    /// (`ANNULLAMENTO_OPERATORE`).
    pub fn cancel_as_operator(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<MinistryChange, MinistryError> {
        let mut state = self.state.lock();
        state.fall_due(now);
        let booking = state
            .bookings
            .get(code)
            .cloned()
            .ok_or_else(|| MinistryError::UnknownBooking(code.to_owned()))?;
        if !booking.appointment.state.is_active() {
            return Err(MinistryError::NotActive {
                code: code.to_owned(),
                state: state_name(booking.appointment.state),
            });
        }
        Ok(state.cancel_for(booking, ChangeCause::CancelledByOperator, now))
    }

    /// The comune of residence decides booking `code`'s clearance: refused, it is cancelled by the
    /// comune (`NULLA_OSTA_NEGATO`); granted, it is booked and must be confirmed by its deadline
    /// (`NULLA_OSTA_CONCESSO`), before the automatic clearance would have come.
    pub fn decide_clearance(
        &self,
        code: &str,
        granted: bool,
        now: DateTime<Utc>,
    ) -> Result<MinistryChange, MinistryError> {
        let mut state = self.state.lock();
        state.fall_due(now);
        let mut booking = state
            .bookings
            .get(code)
            .cloned()
            .ok_or_else(|| MinistryError::UnknownBooking(code.to_owned()))?;
        if booking.appointment.state != AppointmentState::AwaitingClearance {
            return Err(MinistryError::NotAwaitingClearance {
                code: code.to_owned(),
                state: state_name(booking.appointment.state),
            });
        }
        if !granted {
            return Ok(state.cancel_for(booking, ChangeCause::ClearanceRefused, now));
        }
        let a = &mut booking.appointment;
        a.state = AppointmentState::Booked;
        a.confirm_by = Some(confirm_deadline(a.starts_at, now));
        a.updated_at = in_rome(now);
        state.record_change(&booking, ChangeCause::ClearanceGranted, now);
        let change = MinistryChange {
            booking_code: code.to_owned(),
            state: AppointmentState::Booked,
            cause: ChangeCause::ClearanceGranted,
        };
        state.store(booking);
        Ok(change)
    }
}
