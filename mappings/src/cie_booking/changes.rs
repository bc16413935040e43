//! The change feed (`ElencoVariazioni`): appointments the booking system changed on its own —
//! automatic cancellations, office closures, clearances, applications taken, no-shows — read after a
//! cursor by the shared scheduler, each change becoming one `cie_booking.appointment.changed` event.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Appointment, ChangeCause, SchemaV1, date_time_schema};
use super::xml::{El, XmlOut};
use super::{BookingError, rules};

/// The event type of a change.
pub const CHANGED_EVENT: &str = "cie_booking.appointment.changed";

/// The largest page the contract allows (`tipoMassimo`).
pub const MAX_PAGE: u16 = 500;

/// Event `cie_booking.appointment.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentChanged {
    pub schema: SchemaV1,
    /// The booking system's id of this change: the same change read twice has the same id, so the
    /// event's `message_id` (UUIDv5 of type, tenant and this id) is the same too.
    pub change_id: String,
    #[schemars(schema_with = "date_time_schema")]
    pub changed_at: DateTime<FixedOffset>,
    pub cause: ChangeCause,
    /// The appointment after the change.
    pub appointment: Appointment,
}

/// The body of an `ElencoVariazioniRichiesta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesQuery {
    /// Where the previous page ended; `None` reads from the start of the retained history.
    pub cursor: Option<String>,
    /// At most this many changes, 1 to [`MAX_PAGE`].
    pub max: u16,
}

/// An `ElencoVariazioniOK`: one page of the feed, oldest change first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    pub changes: Vec<AppointmentChanged>,
    /// Where the next request continues (the request's own cursor when nothing changed).
    pub next_cursor: String,
    /// More changes wait after `next_cursor`: poll again at once.
    pub more: bool,
}

impl ChangesQuery {
    pub fn check(&self) -> Result<(), BookingError> {
        if let Some(cursor) = &self.cursor {
            rules::cursor("cursor", cursor)?;
        }
        if !(1..=MAX_PAGE).contains(&self.max) {
            return Err(BookingError::field("max", format!("must be 1 to {MAX_PAGE}")));
        }
        Ok(())
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        out.opt_leaf("cursore", self.cursor.as_deref());
        out.leaf("massimo", self.max.to_string());
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<ChangesQuery, BookingError> {
        let max = payload.req_number("massimo", 1, u32::from(MAX_PAGE))?;
        Ok(ChangesQuery {
            cursor: payload.opt_checked("cursore", rules::cursor)?,
            max: u16::try_from(max).expect("at most MAX_PAGE"),
        })
    }
}

impl ChangesPage {
    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        for (i, change) in self.changes.iter().enumerate() {
            let at = format!("changes[{i}]");
            rules::change_id(&format!("{at}.change_id"), &change.change_id)?;
            out.open("variazione");
            out.leaf("idVariazione", &change.change_id);
            out.leaf(
                "dataOraVariazione",
                rules::date_time_text(&format!("{at}.changed_at"), &change.changed_at)?,
            );
            out.leaf("causale", change.cause.code());
            change
                .appointment
                .write(out, "prenotazione", &format!("{at}.appointment"))?;
            out.close("variazione");
        }
        rules::cursor("next_cursor", &self.next_cursor)?;
        out.leaf("cursoreSuccessivo", &self.next_cursor);
        out.leaf("altreVariazioni", self.more);
        Ok(())
    }

    pub(crate) fn read(ok: &El<'_>) -> Result<ChangesPage, BookingError> {
        let changes = ok
            .all("variazione")
            .iter()
            .map(|v| {
                Ok(AppointmentChanged {
                    schema: SchemaV1,
                    change_id: v.req_checked("idVariazione", rules::change_id)?,
                    changed_at: v.req_date_time("dataOraVariazione")?,
                    cause: v.req_code("causale", ChangeCause::from_code)?,
                    appointment: Appointment::read(&v.req("prenotazione")?)?,
                })
            })
            .collect::<Result<_, BookingError>>()?;
        Ok(ChangesPage {
            changes,
            next_cursor: ok.req_checked("cursoreSuccessivo", rules::cursor)?,
            more: ok.req_bool("altreVariazioni")?,
        })
    }
}
