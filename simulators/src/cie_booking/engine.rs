//! The booking system's state and the one place every request is decided: one lock around offices'
//! taken places, bookings, the change feed and remembered operation ids, so that each request is
//! atomic — the check "is there a free place?" and the taking of it can never interleave with another
//! request's (no double booking), and a reschedule frees the old place and takes the new one, or
//! does neither.
//!
//! Time is the simulator clock's: what falls due (a confirmation deadline, a clearance, an
//! appointment's end) is applied when a request arrives, in due order, before the request is decided,
//! so a test that moves the clock through the admin API sees automatic cancellations on its next
//! call. The rules themselves are in `rules`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use snodo_mappings::cie_booking::appointment::AppointmentsFound;
use snodo_mappings::cie_booking::changes::{AppointmentChanged, ChangesPage, ChangesQuery};
use snodo_mappings::cie_booking::{
    Appointment, AppointmentState, ChangeCause, ErrorCode, PlatformError, Rejection, Reply, Request,
    RequestHeader, Response, ResponseHeader, SchemaV1,
};

use super::calendar::{OfficeSpec, in_rome};
use crate::population::Population;

/// How long an operation id is remembered (the contract promises at least 7 days).
pub const OPERATION_RETENTION: Duration = Duration::days(8);

/// How long the comune of residence takes to clear a non-resident's booking: the simulator clears
/// it after this much simulated time, unless the admin API refused (or granted) it before.
pub const CLEARANCE_DELAY: Duration = Duration::hours(48);

pub(super) type Answer = Result<Response, Rejection>;

pub(super) fn refuse(code: ErrorCode, text: &str) -> Rejection {
    Rejection::new(PlatformError::new(code, text))
}

pub(super) fn refuse_field(code: ErrorCode, text: &str, field: &str) -> Rejection {
    Rejection::new(PlatformError::new(code, text).on_field(field))
}

/// One booking and what the simulator knows beside its public record.
#[derive(Debug, Clone)]
pub(super) struct Booking {
    pub appointment: Appointment,
    /// The comune that asked for it (`codMittente`): whose change feed reports it.
    pub booked_by: String,
    pub created: DateTime<Utc>,
}

/// A change the booking system made on its own, in feed order.
#[derive(Debug, Clone)]
struct Change {
    comune: String,
    event: AppointmentChanged,
}

/// An operation id's first request and, for the operations that change something, its answer.
#[derive(Debug, Clone)]
struct Remembered {
    sender: String,
    request: Request,
    reply: Option<Reply>,
}

#[derive(Default)]
pub(super) struct State {
    /// Places taken per slot id.
    pub taken: HashMap<String, u32>,
    pub bookings: HashMap<String, Booking>,
    /// The active booking of each codice fiscale (one at most).
    pub active: HashMap<String, String>,
    /// Every booking code of a codice fiscale, oldest first.
    pub history: HashMap<String, Vec<String>>,
    /// (when, booking code): something may fall due for that booking then.
    pub timers: BTreeSet<(DateTime<Utc>, String)>,
    changes: Vec<Change>,
    operations: HashMap<String, Remembered>,
    operation_order: VecDeque<(DateTime<Utc>, String)>,
    pub issued: u64,
    /// Days an office is closed on (the Ministry's operators close an office for a date range).
    pub closures: Vec<super::ministry::Closure>,
}

/// The booking system.
pub struct Engine {
    pub(super) offices: Vec<OfficeSpec>,
    pub(super) population: Arc<Population>,
    pub(super) state: Mutex<State>,
}

impl Engine {
    pub fn new(offices: Vec<OfficeSpec>, population: Arc<Population>) -> Engine {
        Engine {
            offices,
            population,
            state: Mutex::new(State::default()),
        }
    }

    /// Back to no bookings, no changes, no remembered operations.
    pub fn reset(&self) {
        *self.state.lock() = State::default();
    }

    pub fn offices(&self) -> &[OfficeSpec] {
        &self.offices
    }

    pub(super) fn office(&self, id: &str) -> Option<&OfficeSpec> {
        self.offices.iter().find(|o| o.office_id == id)
    }

    pub(super) fn comune_enabled(&self, istat: &str) -> bool {
        self.offices.iter().any(|o| o.comune == istat)
    }

    /// Decides one request at simulated time `now`.
    pub fn handle(&self, header: &RequestHeader, request: Request, now: DateTime<Utc>) -> Reply {
        let answered = ResponseHeader::answering(header, in_rome(now));
        let mut state = self.state.lock();
        state.fall_due(now);
        state.forget_operations(now);
        let id = header.operation_id.as_str().to_owned();
        if let Some(first) = state.operations.get(&id) {
            // "The same request" compares the body only: the timestamp differs between attempts.
            if first.sender != header.sender || first.request != request {
                return Reply {
                    header: answered,
                    answer: Err(refuse_field(
                        ErrorCode::OperationIdReused,
                        "idOperazione già usato per una richiesta diversa",
                        "testataRichiesta/idOperazione",
                    )),
                };
            }
            if let Some(reply) = &first.reply {
                return reply.clone();
            }
        }
        let mutates = matches!(
            request,
            Request::Book(_) | Request::Confirm(_) | Request::Cancel { .. } | Request::Reschedule { .. }
        );
        let answer = self.decide(&mut state, &header.sender, &request, now);
        let reply = Reply {
            header: answered,
            answer,
        };
        // Reads are answered afresh on a repeat (they change nothing); only their request is kept,
        // to refuse the id's reuse for another one.
        state.operations.insert(
            id.clone(),
            Remembered {
                sender: header.sender.clone(),
                request,
                reply: mutates.then(|| reply.clone()),
            },
        );
        state.operation_order.push_back((now, id));
        reply
    }

    fn decide(&self, state: &mut State, sender: &str, request: &Request, now: DateTime<Utc>) -> Answer {
        match request {
            Request::ListOffices(q) => self.list_offices(q),
            Request::SearchAvailability(q) => self.search(state, q, now),
            Request::Book(b) => self.book(state, sender, b, now).map(Response::Book),
            Request::Confirm(key) => self.confirm(state, key, now).map(Response::Confirm),
            Request::Cancel { key, cancelled_by } => {
                self.cancel(state, key, *cancelled_by, now).map(Response::Cancel)
            }
            Request::Reschedule { key, new_slot_id } => self
                .reschedule(state, sender, key, new_slot_id, now)
                .map(Response::Reschedule),
            Request::Status(by) => Ok(Response::Status(AppointmentsFound {
                schema: SchemaV1,
                appointments: self.status(state, by, now)?,
            })),
            Request::Changes(q) => state.changes_page(sender, q).map(Response::Changes),
        }
    }

    /// Applies what is due at `now` (for tests and the demo that look without a request).
    pub fn settle(&self, now: DateTime<Utc>) {
        self.state.lock().fall_due(now);
    }

    /// How many places of `slot_id` are taken.
    pub fn taken(&self, slot_id: &str) -> u32 {
        self.state.lock().taken.get(slot_id).copied().unwrap_or(0)
    }

    /// How many bookings exist in any state.
    pub fn booking_count(&self) -> usize {
        self.state.lock().bookings.len()
    }
}

impl State {
    pub(super) fn next_code(&mut self) -> String {
        // A bijection of the counter modulo 36^8 (the multiplier is prime to 36): unique codes that do
        // not look sequential, like a receipt number.
        const SPACE: u64 = 36u64.pow(8);
        self.issued += 1;
        let mut n = (self.issued.wrapping_mul(1_000_003)) % SPACE;
        let mut digits = [b'0'; 8];
        for d in digits.iter_mut().rev() {
            *d = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(n % 36) as usize];
            n /= 36;
        }
        format!("CIE{}", std::str::from_utf8(&digits).expect("ASCII"))
    }

    pub(super) fn release(&mut self, slot_id: &str) {
        if let Some(n) = self.taken.get_mut(slot_id) {
            *n = n.saturating_sub(1);
        }
    }

    /// Puts `booking` in place (new or changed), keeping the indexes and the timer of its next due
    /// moment in step.
    pub(super) fn store(&mut self, booking: Booking) {
        let a = &booking.appointment;
        let code = a.booking_code.clone();
        if a.state.is_active() {
            self.active.insert(a.codice_fiscale.clone(), code.clone());
        } else if self.active.get(&a.codice_fiscale) == Some(&code) {
            self.active.remove(&a.codice_fiscale);
        }
        let history = self.history.entry(a.codice_fiscale.clone()).or_default();
        if !history.contains(&code) {
            history.push(code.clone());
        }
        if let Some(due) = due_at(&booking) {
            self.timers.insert((due, code.clone()));
        }
        self.bookings.insert(code, booking);
    }

    /// Records a change the booking system made on its own, for the feed of the comune that booked.
    pub(super) fn record_change(&mut self, booking: &Booking, cause: ChangeCause, when: DateTime<Utc>) {
        let event = AppointmentChanged {
            schema: SchemaV1,
            change_id: format!("v-{}", self.changes.len() + 1),
            changed_at: in_rome(when),
            cause,
            appointment: booking.appointment.clone(),
        };
        self.changes.push(Change {
            comune: booking.booked_by.clone(),
            event,
        });
    }

    /// Applies every due transition up to `now`, in time order, recording each in the change feed
    /// at the moment it fell due.
    pub(super) fn fall_due(&mut self, now: DateTime<Utc>) {
        while let Some((when, code)) = self.timers.first().cloned() {
            if when > now {
                break;
            }
            self.timers.pop_first();
            let Some(booking) = self.bookings.get(&code).cloned() else {
                continue;
            };
            // A timer left from an earlier state (the booking was confirmed or cancelled since).
            if due_at(&booking) != Some(when) {
                continue;
            }
            let (state, cause) = match booking.appointment.state {
                AppointmentState::Booked => (
                    AppointmentState::CancelledAutomatically,
                    ChangeCause::NotConfirmed,
                ),
                AppointmentState::AwaitingClearance => {
                    (AppointmentState::Booked, ChangeCause::ClearanceGranted)
                }
                AppointmentState::Confirmed if no_show(&code) => {
                    (AppointmentState::NoShow, ChangeCause::NoShow)
                }
                AppointmentState::Confirmed => (AppointmentState::Fulfilled, ChangeCause::ApplicationTaken),
                _ => continue,
            };
            let mut changed = booking.clone();
            let a = &mut changed.appointment;
            a.state = state;
            a.updated_at = in_rome(when);
            a.confirm_by = None;
            match state {
                AppointmentState::Booked => {
                    a.confirm_by = Some(super::rules::confirm_deadline(a.starts_at, when));
                }
                AppointmentState::Fulfilled => a.application_number = Some(format!("PR{}", &code[3..])),
                _ => {}
            }
            if !state.is_active() && !matches!(state, AppointmentState::Fulfilled | AppointmentState::NoShow)
            {
                self.release(&a.slot_id.clone());
            }
            self.record_change(&changed, cause, when);
            self.store(changed);
        }
    }

    fn forget_operations(&mut self, now: DateTime<Utc>) {
        while let Some((at, id)) = self.operation_order.front() {
            if now - *at < OPERATION_RETENTION {
                break;
            }
            self.operations.remove(id);
            self.operation_order.pop_front();
        }
    }

    /// A page of `sender`'s changes after the cursor `c<position>` (a position in the whole feed).
    fn changes_page(&self, sender: &str, query: &ChangesQuery) -> Result<ChangesPage, Rejection> {
        let start = match &query.cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix('c')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= self.changes.len() && cursor == &format!("c{n}"))
                .ok_or_else(|| {
                    refuse_field(
                        ErrorCode::InvalidCursor,
                        "cursore sconosciuto o scaduto",
                        "cursore",
                    )
                })?,
        };
        let mine = self.changes[start..]
            .iter()
            .enumerate()
            .filter(|(_, c)| c.comune == sender);
        let mut changes = Vec::new();
        let mut next = self.changes.len();
        let mut more = false;
        for (offset, change) in mine {
            if changes.len() == usize::from(query.max) {
                more = true;
                break;
            }
            changes.push(change.event.clone());
            next = start + offset + 1;
        }
        if !more {
            next = self.changes.len();
        }
        Ok(ChangesPage {
            changes,
            next_cursor: format!("c{next}"),
            more,
        })
    }
}

/// When something next happens to `booking` on its own: its confirmation deadline, its clearance,
/// or the end of its appointment.
fn due_at(booking: &Booking) -> Option<DateTime<Utc>> {
    let a = &booking.appointment;
    match a.state {
        AppointmentState::Booked => a.confirm_by.map(|d| d.with_timezone(&Utc)),
        AppointmentState::AwaitingClearance => Some(booking.created + CLEARANCE_DELAY),
        AppointmentState::Confirmed => {
            Some(a.starts_at.with_timezone(&Utc) + Duration::minutes(i64::from(a.duration_minutes)))
        }
        _ => None,
    }
}

/// One confirmed appointment in ten is missed: decided by the code, so a run is reproducible.
fn no_show(code: &str) -> bool {
    code.bytes().map(u32::from).sum::<u32>() % 10 == 0
}
