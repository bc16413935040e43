//! The seam between the `cie_booking.*` commands and however the Ministry's booking system is
//! reached. Its machine interface is not public (notes §4.1), so Snodo's own SOAP contract is the
//! first implementation ([`super::soap::SoapBookingAdapter`]); another protocol is another
//! implementation of [`BookingAdapter`], and the commands, events, handler, feed and tests stay as
//! they are.

use async_trait::async_trait;
use snodo_mappings::cie_booking::changes::ChangesPage;
use snodo_mappings::cie_booking::{BookingError, Command, OperationId, Rejection, Response};
use snodo_queue::runtime::CommandError;

/// Why an adapter call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The booking system refused (its stable codes, `SLOT_ESAURITO`, …).
    #[error("the booking system refused: {}", .0.platform_code())]
    Rejected(Rejection),
    /// The command breaks a field rule of the contract: nothing was sent.
    #[error("{0}")]
    Invalid(#[from] BookingError),
    /// The call failed on the way (connection, timeout, an unusable answer), already classified
    /// for the runtime (DESIGN §5).
    #[error("{0}")]
    Call(CommandError),
}

/// One way of talking to the booking system.
#[async_trait]
pub trait BookingAdapter: Send + Sync + 'static {
    /// Performs `command` for the comune `tenant` (ISTAT code). `operation_id` is the idempotency
    /// key: the same id with the same command must never act twice.
    async fn perform(
        &self,
        tenant: &str,
        operation_id: &OperationId,
        command: &Command,
    ) -> Result<Response, AdapterError>;

    /// The office a slot id of this protocol belongs to, or `None` when the id does not say (then a
    /// tenant limited to some offices cannot book it: `[tenants.cie_booking] offices`).
    fn slot_office<'s>(&self, slot_id: &'s str) -> Option<&'s str>;

    /// The changes the booking system made on its own to `tenant`'s bookings after `cursor`.
    async fn changes(
        &self,
        tenant: &str,
        operation_id: &OperationId,
        cursor: Option<&str>,
        max: u16,
    ) -> Result<ChangesPage, AdapterError>;
}
