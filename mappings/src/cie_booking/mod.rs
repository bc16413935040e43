//! CIE appointment booking: Snodo's own SOAP contract for the Ministry's booking system (whose
//! machine interface is not public), the `cie_booking.*` JSON contract, and the pure mappings
//! between them. No I/O.
//!
//! The contract files are `mappings/contracts/cie-booking/` (`cieBooking.wsdl`, `cieBooking.xsd`,
//! and `README.md` with the design, states, reasons, error codes and a JSON example of every body).
//! The connector uses [`Command::from_json`], [`OperationId::from_message_id`], [`write_command`]
//! and [`read_reply`]; the simulator [`read_request`] and [`write_reply`]. Requests and replies are
//! payloads: the SOAP envelope around them is [`crate::soap`]'s, and dispatch is on the payload's
//! name ([`Operation::request_element`]).
//!
//! Files by operation group: `offices` (list offices, search availability), `appointment` (book,
//! confirm, cancel, reschedule, status), `changes` (the change feed); `operation` holds the entry
//! points, `contract` and `header` the shared parts.

pub mod appointment;
pub mod changes;
pub mod contract;
mod error;
mod header;
pub mod offices;
mod operation;
mod rules;
mod schema;
mod xml;

pub use contract::{
    Appointment, AppointmentState, CancelledBy, ChangeCause, Citizen, Office, Reason, SchemaV1, Slot,
};
pub use error::{BookingError, ErrorCode};
pub use header::{APPLICATION, OperationId, PlatformError, Rejection, RequestHeader, ResponseHeader};
pub use operation::{
    Command, Operation, Reply, Request, Response, read_reply, read_request, write_command, write_reply,
    write_request,
};
pub use rules::MAX_SEARCH_DAYS;
pub use schema::{SCHEMA_VERSION, json_schemas};

/// The namespace of `cieBooking.xsd`.
pub const NAMESPACE: &str = "urn:snodo:cie-booking:v1";

/// The contract files' directory, relative to the `mappings` crate.
pub const CONTRACT_DIR: &str = "contracts/cie-booking";
