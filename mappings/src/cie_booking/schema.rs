//! JSON Schema files for the `cie_booking.*` bodies, generated from the types so they cannot drift:
//! the committed copies under `mappings/schemas/cie_booking/` are checked against this by
//! `tests/cie_booking_contract.rs`, which rewrites them with `SNODO_UPDATE_SCHEMAS=1`.

use schemars::{JsonSchema, schema_for};

use super::appointment::{
    AppointmentCompleted, AppointmentStatus, AppointmentsFound, BookAppointment, CancelAppointment,
    ConfirmAppointment, RescheduleAppointment,
};
use super::changes::{AppointmentChanged, CHANGED_EVENT};
use super::offices::{AvailabilityFound, ListOffices, OfficesListed, SearchAvailability};

/// The version of the bodies these types describe (`x-snodo-schema`).
pub const SCHEMA_VERSION: u32 = 1;

fn schema<T: JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schema_for!(T)).expect("a schema is JSON")
}

/// Every message type of the contract with the schema of its body, commands first, each followed
/// by its completed event; then the change event. The file of each is `<type>.json`.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("cie_booking.offices.list", schema::<ListOffices>()),
        ("cie_booking.offices.list.completed", schema::<OfficesListed>()),
        ("cie_booking.availability.search", schema::<SearchAvailability>()),
        (
            "cie_booking.availability.search.completed",
            schema::<AvailabilityFound>(),
        ),
        ("cie_booking.appointment.book", schema::<BookAppointment>()),
        (
            "cie_booking.appointment.book.completed",
            schema::<AppointmentCompleted>(),
        ),
        ("cie_booking.appointment.confirm", schema::<ConfirmAppointment>()),
        (
            "cie_booking.appointment.confirm.completed",
            schema::<AppointmentCompleted>(),
        ),
        ("cie_booking.appointment.cancel", schema::<CancelAppointment>()),
        (
            "cie_booking.appointment.cancel.completed",
            schema::<AppointmentCompleted>(),
        ),
        (
            "cie_booking.appointment.reschedule",
            schema::<RescheduleAppointment>(),
        ),
        (
            "cie_booking.appointment.reschedule.completed",
            schema::<AppointmentCompleted>(),
        ),
        ("cie_booking.appointment.status", schema::<AppointmentStatus>()),
        (
            "cie_booking.appointment.status.completed",
            schema::<AppointmentsFound>(),
        ),
        (CHANGED_EVENT, schema::<AppointmentChanged>()),
    ]
}
