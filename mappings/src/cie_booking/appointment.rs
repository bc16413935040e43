//! The operations on one appointment: `cie_booking.appointment.book` → `Prenota`, `.confirm` →
//! `ConfermaPrenotazione`, `.cancel` → `AnnullaPrenotazione`, `.reschedule` → `SpostaPrenotazione`
//! (atomic: the new appointment or nothing), and `.status` → `StatoPrenotazione` by booking code or
//! codice fiscale. All but the last answer with the appointment as it now is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Appointment, CancelledBy, Citizen, Reason, SchemaV1};
use super::xml::{El, XmlOut};
use super::{BookingError, rules};

/// Command `cie_booking.appointment.book`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookAppointment {
    pub schema: SchemaV1,
    /// A slot from `cie_booking.availability.search`.
    pub slot_id: String,
    pub citizen: Citizen,
    pub reason: Reason,
    /// ISTAT code of the citizen's comune of residence; default: the tenant. Another comune's
    /// resident is booked `awaiting_clearance` until that comune clears the appointment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_comune: Option<String>,
}

/// Command `cie_booking.appointment.confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmAppointment {
    pub schema: SchemaV1,
    pub booking_code: String,
    /// The holder's codice fiscale: a booking code alone does not identify the citizen.
    pub codice_fiscale: String,
}

/// Command `cie_booking.appointment.cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAppointment {
    pub schema: SchemaV1,
    pub booking_code: String,
    pub codice_fiscale: String,
    /// Whose decision: the appointment ends `cancelled_by_citizen` or `cancelled_by_comune`.
    pub cancelled_by: CancelledBy,
}

/// Command `cie_booking.appointment.reschedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleAppointment {
    pub schema: SchemaV1,
    pub booking_code: String,
    pub codice_fiscale: String,
    pub new_slot_id: String,
}

/// Command `cie_booking.appointment.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentStatus {
    pub schema: SchemaV1,
    pub by: StatusKey,
}

/// What the status is asked by: `{"booking_code": "…"}` or `{"codice_fiscale": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StatusKey {
    BookingCode(String),
    CodiceFiscale(String),
}

/// Event `cie_booking.appointment.{book,confirm,cancel,reschedule}.completed`: the appointment as it
/// now is. After a reschedule it is the new appointment, whose `replaces` names the old code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentCompleted {
    pub schema: SchemaV1,
    pub appointment: Appointment,
}

/// Event `cie_booking.appointment.status.completed`: by booking code, that appointment; by codice
/// fiscale, the person's appointments of the last 12 months, newest first, possibly none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentsFound {
    pub schema: SchemaV1,
    pub appointments: Vec<Appointment>,
}

/// The body of a `PrenotaRichiesta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub slot_id: String,
    pub citizen: Citizen,
    pub reason: Reason,
    pub residence_comune: String,
}

/// An appointment and its holder: what confirm, cancel and reschedule name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentKey {
    pub booking_code: String,
    pub codice_fiscale: String,
}

impl BookAppointment {
    pub fn to_request(&self, tenant: &str) -> BookingRequest {
        BookingRequest {
            slot_id: self.slot_id.clone(),
            citizen: self.citizen.clone(),
            reason: self.reason,
            residence_comune: self.residence_comune.clone().unwrap_or_else(|| tenant.to_owned()),
        }
    }
}

macro_rules! key_of {
    ($($command:ty),+) => {$(
        impl $command {
            pub fn key(&self) -> AppointmentKey {
                AppointmentKey {
                    booking_code: self.booking_code.clone(),
                    codice_fiscale: self.codice_fiscale.clone(),
                }
            }
        }
    )+};
}
key_of!(ConfirmAppointment, CancelAppointment, RescheduleAppointment);

impl BookingRequest {
    pub fn check(&self) -> Result<(), BookingError> {
        rules::slot_id("slot_id", &self.slot_id)?;
        self.citizen.check("citizen")?;
        rules::istat("residence_comune", &self.residence_comune)
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        out.leaf("idSlot", &self.slot_id);
        self.citizen.write(out);
        out.leaf("motivo", self.reason.code());
        out.leaf("codIstatComuneResidenza", &self.residence_comune);
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<BookingRequest, BookingError> {
        Ok(BookingRequest {
            slot_id: payload.req_checked("idSlot", rules::slot_id)?,
            citizen: Citizen::read(&payload.req("richiedente")?)?,
            reason: payload.req_code("motivo", Reason::from_code)?,
            residence_comune: payload.req_checked("codIstatComuneResidenza", rules::istat)?,
        })
    }
}

impl AppointmentKey {
    pub fn check(&self) -> Result<(), BookingError> {
        rules::booking_code("booking_code", &self.booking_code)?;
        rules::codice_fiscale("codice_fiscale", &self.codice_fiscale)
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        out.leaf("codicePrenotazione", &self.booking_code);
        out.leaf("codiceFiscale", &self.codice_fiscale);
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<AppointmentKey, BookingError> {
        Ok(AppointmentKey {
            booking_code: payload.req_checked("codicePrenotazione", rules::booking_code)?,
            codice_fiscale: payload.req_checked("codiceFiscale", rules::codice_fiscale)?,
        })
    }
}

pub(crate) fn write_cancel(
    out: &mut XmlOut,
    key: &AppointmentKey,
    by: CancelledBy,
) -> Result<(), BookingError> {
    key.write(out)?;
    out.leaf("annullataDa", by.code());
    Ok(())
}

pub(crate) fn read_cancel(payload: &El<'_>) -> Result<(AppointmentKey, CancelledBy), BookingError> {
    Ok((
        AppointmentKey::read(payload)?,
        payload.req_code("annullataDa", CancelledBy::from_code)?,
    ))
}

pub(crate) fn write_reschedule(
    out: &mut XmlOut,
    key: &AppointmentKey,
    new_slot: &str,
) -> Result<(), BookingError> {
    key.write(out)?;
    rules::slot_id("new_slot_id", new_slot)?;
    out.leaf("nuovoIdSlot", new_slot);
    Ok(())
}

pub(crate) fn read_reschedule(payload: &El<'_>) -> Result<(AppointmentKey, String), BookingError> {
    Ok((
        AppointmentKey::read(payload)?,
        payload.req_checked("nuovoIdSlot", rules::slot_id)?,
    ))
}

impl StatusKey {
    pub fn check(&self) -> Result<(), BookingError> {
        match self {
            StatusKey::BookingCode(code) => rules::booking_code("by.booking_code", code),
            StatusKey::CodiceFiscale(cf) => rules::codice_fiscale("by.codice_fiscale", cf),
        }
    }

    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.check()?;
        match self {
            StatusKey::BookingCode(code) => out.leaf("codicePrenotazione", code),
            StatusKey::CodiceFiscale(cf) => out.leaf("codiceFiscale", cf),
        };
        Ok(())
    }

    pub(crate) fn read(payload: &El<'_>) -> Result<StatusKey, BookingError> {
        let code = payload.opt_checked("codicePrenotazione", rules::booking_code)?;
        let cf = payload.opt_checked("codiceFiscale", rules::codice_fiscale)?;
        match (code, cf) {
            (Some(code), None) => Ok(StatusKey::BookingCode(code)),
            (None, Some(cf)) => Ok(StatusKey::CodiceFiscale(cf)),
            (None, None) => Err(BookingError::Missing {
                path: format!("{}/codicePrenotazione", payload.path()),
            }),
            (Some(_), Some(_)) => Err(BookingError::invalid(
                payload.path(),
                "names both a booking code and a codice fiscale; the contract allows one",
            )),
        }
    }
}

impl AppointmentCompleted {
    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        self.appointment.write(out, "prenotazione", "appointment")
    }

    pub(crate) fn read(ok: &El<'_>) -> Result<AppointmentCompleted, BookingError> {
        Ok(AppointmentCompleted {
            schema: SchemaV1,
            appointment: Appointment::read(&ok.req("prenotazione")?)?,
        })
    }
}

impl AppointmentsFound {
    pub(crate) fn write(&self, out: &mut XmlOut) -> Result<(), BookingError> {
        for (i, a) in self.appointments.iter().enumerate() {
            a.write(out, "prenotazione", &format!("appointments[{i}]"))?;
        }
        Ok(())
    }

    pub(crate) fn read(ok: &El<'_>) -> Result<AppointmentsFound, BookingError> {
        Ok(AppointmentsFound {
            schema: SchemaV1,
            appointments: ok
                .all("prenotazione")
                .iter()
                .map(Appointment::read)
                .collect::<Result<_, _>>()?,
        })
    }
}
