//! The JSON building blocks shared by the `cie_booking.*` commands and events — the schema version,
//! reasons, states, offices, slots, the citizen and the appointment — with their wire codes and the
//! mapping of the shared XSD types (`tipoSede`, `tipoSlot`, `tipoRichiedente`, `tipoPrenotazione`).
//!
//! Conventions, as in the other contracts: `snake_case` field names, dates as `YYYY-MM-DD`,
//! instants as RFC 3339 with their offset, unknown fields refused.

use chrono::{DateTime, FixedOffset};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::xml::{El, XmlOut};
use super::{BookingError, rules};

pub use crate::json_contract::SchemaV1;
pub(crate) use crate::json_contract::date_schema;

pub(crate) fn date_time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date-time" })
}

pub(crate) fn optional_date_time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "null"], "format": "date-time" })
}

/// Defines a JSON enum whose values map one-to-one to the contract's wire codes.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order of the XSD's enumeration.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value on the wire.
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            pub fn from_code(code: &str) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

coded_enum! {
    /// Why the citizen needs a card (`tipoMotivo`).
    Reason {
        FirstDocument = "1",
        /// Possible only from 180 days before the current card expires (DL 76/2020).
        RenewalOnExpiry = "2",
        Theft = "3",
        Loss = "4",
        Deterioration = "5",
    }
}

coded_enum! {
    /// The state of an appointment (`tipoStatoPrenotazione`); README.md draws the transitions.
    AppointmentState {
        /// Booked; to be confirmed by `confirm_by`.
        Booked = "PRENOTATA",
        /// Booked by a non-resident; waits for the clearance (nulla osta) of the comune of residence.
        AwaitingClearance = "IN_ATTESA_NULLA_OSTA",
        Confirmed = "CONFERMATA",
        CancelledByCitizen = "ANNULLATA_CITTADINO",
        CancelledByComune = "ANNULLATA_COMUNE",
        /// Not confirmed by the deadline.
        CancelledAutomatically = "ANNULLATA_AUTOMATICA",
        /// The CIE application was taken; `application_number` links it.
        Fulfilled = "EROGATA",
        NoShow = "NON_PRESENTATO",
    }
}

impl AppointmentState {
    /// Active states count against the rule of one active booking per codice fiscale.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AppointmentState::Booked | AppointmentState::AwaitingClearance | AppointmentState::Confirmed
        )
    }
}

coded_enum! {
    /// Who asks for a cancellation (`tipoAnnullataDa`).
    CancelledBy {
        Citizen = "CITTADINO",
        Comune = "COMUNE",
    }
}

coded_enum! {
    /// Why the booking system changed an appointment on its own (`tipoCausaleVariazione`).
    ChangeCause {
        /// Not confirmed by the deadline: cancelled automatically.
        NotConfirmed = "MANCATA_CONFERMA",
        /// The office closed on that day: cancelled by the comune.
        OfficeClosed = "CHIUSURA_SEDE",
        /// A municipal operator cancelled it in the Ministry's web application.
        CancelledByOperator = "ANNULLAMENTO_OPERATORE",
        /// The comune of residence cleared it: booked.
        ClearanceGranted = "NULLA_OSTA_CONCESSO",
        /// The comune of residence refused: cancelled by the comune.
        ClearanceRefused = "NULLA_OSTA_NEGATO",
        /// The application was taken at the counter: fulfilled.
        ApplicationTaken = "PRATICA_APERTA",
        /// The citizen did not come.
        NoShow = "MANCATA_PRESENTAZIONE",
    }
}

/// An office where CIE applications are taken (`tipoSede`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Office {
    pub office_id: String,
    pub name: String,
    pub address: String,
    /// False while the office takes no bookings.
    pub open: bool,
}

/// A bookable time at an office (`tipoSlot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub slot_id: String,
    pub office_id: String,
    #[schemars(schema_with = "date_time_schema")]
    pub starts_at: DateTime<FixedOffset>,
    /// 5 to 240.
    pub duration_minutes: u16,
    /// At least 1.
    pub free_places: u32,
}

/// The person the appointment is for (`tipoRichiedente`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    pub codice_fiscale: String,
    pub surname: String,
    pub given_name: String,
    /// Where the receipt and the confirmation request go.
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An appointment as the booking system holds it (`tipoPrenotazione`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Appointment {
    pub booking_code: String,
    pub state: AppointmentState,
    pub codice_fiscale: String,
    pub reason: Reason,
    pub office_id: String,
    pub slot_id: String,
    #[schemars(schema_with = "date_time_schema")]
    pub starts_at: DateTime<FixedOffset>,
    pub duration_minutes: u16,
    /// ISTAT code of the citizen's comune of residence.
    pub residence_comune: String,
    /// While `booked`: confirm by then or the appointment is cancelled automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_time_schema")]
    pub confirm_by: Option<DateTime<FixedOffset>>,
    /// The CIE application number, once `fulfilled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_number: Option<String>,
    /// The booking code this appointment replaced when it was rescheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// When the appointment last changed state.
    #[schemars(schema_with = "date_time_schema")]
    pub updated_at: DateTime<FixedOffset>,
}

impl Office {
    pub(crate) fn check(&self, at: &str) -> Result<(), BookingError> {
        rules::office_id(&format!("{at}.office_id"), &self.office_id)?;
        rules::text(&format!("{at}.name"), &self.name)?;
        rules::text(&format!("{at}.address"), &self.address)
    }

    pub(crate) fn write(&self, out: &mut XmlOut, at: &str) -> Result<(), BookingError> {
        self.check(at)?;
        out.open("sede");
        out.leaf("idSede", &self.office_id);
        out.leaf("denominazione", &self.name);
        out.leaf("indirizzo", &self.address);
        out.leaf("aperta", self.open);
        out.close("sede");
        Ok(())
    }

    pub(crate) fn read(el: &El<'_>) -> Result<Office, BookingError> {
        Ok(Office {
            office_id: el.req_checked("idSede", rules::office_id)?,
            name: el.req_checked("denominazione", rules::text)?,
            address: el.req_checked("indirizzo", rules::text)?,
            open: el.req_bool("aperta")?,
        })
    }
}

impl Slot {
    pub(crate) fn write(&self, out: &mut XmlOut, at: &str) -> Result<(), BookingError> {
        rules::slot_id(&format!("{at}.slot_id"), &self.slot_id)?;
        rules::office_id(&format!("{at}.office_id"), &self.office_id)?;
        rules::duration(&format!("{at}.duration_minutes"), self.duration_minutes)?;
        if self.free_places == 0 {
            return Err(BookingError::field(
                format!("{at}.free_places"),
                "must be at least 1",
            ));
        }
        out.open("slot");
        out.leaf("idSlot", &self.slot_id);
        out.leaf("idSede", &self.office_id);
        out.leaf(
            "dataOra",
            rules::date_time_text(&format!("{at}.starts_at"), &self.starts_at)?,
        );
        out.leaf("durataMinuti", self.duration_minutes.to_string());
        out.leaf("postiLiberi", self.free_places.to_string());
        out.close("slot");
        Ok(())
    }

    pub(crate) fn read(el: &El<'_>) -> Result<Slot, BookingError> {
        Ok(Slot {
            slot_id: el.req_checked("idSlot", rules::slot_id)?,
            office_id: el.req_checked("idSede", rules::office_id)?,
            starts_at: el.req_date_time("dataOra")?,
            duration_minutes: read_duration(el)?,
            free_places: el.req_number("postiLiberi", 1, u32::MAX)?,
        })
    }
}

fn read_duration(el: &El<'_>) -> Result<u16, BookingError> {
    let minutes = el.req_number("durataMinuti", 5, 240)?;
    Ok(u16::try_from(minutes).expect("at most 240"))
}

impl Citizen {
    pub(crate) fn check(&self, at: &str) -> Result<(), BookingError> {
        rules::codice_fiscale(&format!("{at}.codice_fiscale"), &self.codice_fiscale)?;
        rules::name(&format!("{at}.surname"), &self.surname)?;
        rules::name(&format!("{at}.given_name"), &self.given_name)?;
        rules::email(&format!("{at}.email"), &self.email)?;
        if let Some(phone) = &self.phone {
            rules::phone(&format!("{at}.phone"), phone)?;
        }
        Ok(())
    }

    /// Writes `richiedente`; [`Citizen::check`] must have passed.
    pub(crate) fn write(&self, out: &mut XmlOut) {
        out.open("richiedente");
        out.leaf("codiceFiscale", &self.codice_fiscale);
        out.leaf("cognome", &self.surname);
        out.leaf("nome", &self.given_name);
        out.leaf("email", &self.email);
        out.opt_leaf("telefono", self.phone.as_deref());
        out.close("richiedente");
    }

    pub(crate) fn read(el: &El<'_>) -> Result<Citizen, BookingError> {
        Ok(Citizen {
            codice_fiscale: el.req_checked("codiceFiscale", rules::codice_fiscale)?,
            surname: el.req_checked("cognome", rules::name)?,
            given_name: el.req_checked("nome", rules::name)?,
            email: el.req_checked("email", rules::email)?,
            phone: el.opt_checked("telefono", rules::phone)?,
        })
    }
}

impl Appointment {
    /// Writes a `tipoPrenotazione` element named `local`; `at` names the JSON value in errors.
    pub(crate) fn write(&self, out: &mut XmlOut, local: &str, at: &str) -> Result<(), BookingError> {
        let f = |name: &str| format!("{at}.{name}");
        rules::booking_code(&f("booking_code"), &self.booking_code)?;
        rules::codice_fiscale(&f("codice_fiscale"), &self.codice_fiscale)?;
        rules::office_id(&f("office_id"), &self.office_id)?;
        rules::slot_id(&f("slot_id"), &self.slot_id)?;
        rules::duration(&f("duration_minutes"), self.duration_minutes)?;
        rules::istat(&f("residence_comune"), &self.residence_comune)?;
        if let Some(number) = &self.application_number {
            rules::application_number(&f("application_number"), number)?;
        }
        if let Some(code) = &self.replaces {
            rules::booking_code(&f("replaces"), code)?;
        }
        out.open(local);
        out.leaf("codicePrenotazione", &self.booking_code);
        out.leaf("stato", self.state.code());
        out.leaf("codiceFiscale", &self.codice_fiscale);
        out.leaf("motivo", self.reason.code());
        out.leaf("idSede", &self.office_id);
        out.leaf("idSlot", &self.slot_id);
        out.leaf(
            "dataOra",
            rules::date_time_text(&f("starts_at"), &self.starts_at)?,
        );
        out.leaf("durataMinuti", self.duration_minutes.to_string());
        out.leaf("codIstatComuneResidenza", &self.residence_comune);
        if let Some(deadline) = &self.confirm_by {
            out.leaf(
                "scadenzaConferma",
                rules::date_time_text(&f("confirm_by"), deadline)?,
            );
        }
        out.opt_leaf("numeroPratica", self.application_number.as_deref());
        out.opt_leaf("codicePrenotazionePrecedente", self.replaces.as_deref());
        out.leaf(
            "dataOraAggiornamento",
            rules::date_time_text(&f("updated_at"), &self.updated_at)?,
        );
        out.close(local);
        Ok(())
    }

    pub(crate) fn read(el: &El<'_>) -> Result<Appointment, BookingError> {
        Ok(Appointment {
            booking_code: el.req_checked("codicePrenotazione", rules::booking_code)?,
            state: el.req_code("stato", AppointmentState::from_code)?,
            codice_fiscale: el.req_checked("codiceFiscale", rules::codice_fiscale)?,
            reason: el.req_code("motivo", Reason::from_code)?,
            office_id: el.req_checked("idSede", rules::office_id)?,
            slot_id: el.req_checked("idSlot", rules::slot_id)?,
            starts_at: el.req_date_time("dataOra")?,
            duration_minutes: read_duration(el)?,
            residence_comune: el.req_checked("codIstatComuneResidenza", rules::istat)?,
            confirm_by: el.opt_date_time("scadenzaConferma")?,
            application_number: el.opt_checked("numeroPratica", rules::application_number)?,
            replaces: el.opt_checked("codicePrenotazionePrecedente", rules::booking_code)?,
            updated_at: el.req_date_time("dataOraAggiornamento")?,
        })
    }
}
