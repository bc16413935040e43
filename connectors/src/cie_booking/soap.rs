//! The first [`BookingAdapter`]: Snodo's SOAP contract (`mappings/contracts/cie-booking/`) over the
//! shared SOAP client, which classifies every transport failure and records every exchange (when
//! built with the instance's telemetry). Payloads are written and read by
//! `snodo_mappings::cie_booking`; nothing here knows an element name.

use async_trait::async_trait;
use chrono::Utc;
use snodo_mappings::cie_booking::changes::{ChangesPage, ChangesQuery};
use snodo_mappings::cie_booking::{
    Command, Operation, OperationId, Request, RequestHeader, Response, read_reply, write_command,
    write_request,
};
use snodo_queue::runtime::CommandError;

use super::adapter::{AdapterError, BookingAdapter};
use crate::soap::SoapClient;

/// The contract's service path, after the endpoint's base URL.
pub const SERVICE_PATH: &str = "/cie-booking/v1";

#[derive(Debug, Clone)]
pub struct SoapBookingAdapter {
    client: SoapClient,
}

impl SoapBookingAdapter {
    /// `client` posts to the service URL (base URL + [`SERVICE_PATH`]).
    pub fn new(client: SoapClient) -> SoapBookingAdapter {
        SoapBookingAdapter { client }
    }

    async fn call(
        &self,
        operation: Operation,
        sent: &OperationId,
        payload: String,
    ) -> Result<Response, AdapterError> {
        // Every operation is idempotent by its idOperazione, so a timeout or a broken connection
        // after the request left is retried with the same id.
        // Recorded (metrics and journal) by the shared client; the verdict is finished below, and an
        // answer left unfinished (unreadable, not ours) is recorded as `unavailable`.
        let (envelope, call) = self
            .client
            .call_recorded(operation.wsdl_name(), "", &payload)
            .await
            .map_err(|e| AdapterError::Call(e.to_command_error(true)))?;
        let reply = read_reply(envelope.document(), envelope.payload(), operation).map_err(|e| {
            AdapterError::Call(CommandError::unavailable(format!(
                "the booking service's {} answer does not follow the contract: {e}",
                operation.wsdl_name()
            )))
        })?;
        // An answer that does not echo our idOperazione answers another request (a confused proxy,
        // a cache, a service bug): taking it as ours could report someone else's booking, or a
        // refusal that never happened, so it is not trusted either way, and the retry asks again
        // with the same id.
        if reply.header.operation_id != *sent {
            return Err(AdapterError::Call(CommandError::unavailable(format!(
                "the booking service's {} answer carries idOperazione {}, not the {} sent: it is \
                 not this request's answer",
                operation.wsdl_name(),
                reply.header.operation_id,
                sent
            ))));
        }
        match &reply.answer {
            Ok(_) => call.succeeded(),
            Err(rejection) => call.rejected(rejection.platform_code()),
        }
        reply.answer.map_err(AdapterError::Rejected)
    }
}

fn header(operation_id: &OperationId, tenant: &str) -> RequestHeader {
    RequestHeader::snodo(operation_id.clone(), tenant, Utc::now().fixed_offset())
}

#[async_trait]
impl BookingAdapter for SoapBookingAdapter {
    async fn perform(
        &self,
        tenant: &str,
        operation_id: &OperationId,
        command: &Command,
    ) -> Result<Response, AdapterError> {
        let payload = write_command(command, &header(operation_id, tenant))?;
        self.call(command.operation(), operation_id, payload).await
    }

    /// In Snodo's contract a slot id spells its office, day and time, `<idSede>-<YYYYMMDD>-<HHMM>`
    /// (as the booking simulator issues them); an id of another shape tells nothing.
    fn slot_office<'s>(&self, slot_id: &'s str) -> Option<&'s str> {
        let mut parts = slot_id.rsplitn(3, '-');
        let time = parts.next()?;
        let day = parts.next()?;
        let office = parts.next()?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        (digits(time, 4) && digits(day, 8) && !office.is_empty()).then_some(office)
    }

    async fn changes(
        &self,
        tenant: &str,
        operation_id: &OperationId,
        cursor: Option<&str>,
        max: u16,
    ) -> Result<ChangesPage, AdapterError> {
        let request = Request::Changes(ChangesQuery {
            cursor: cursor.map(str::to_owned),
            max,
        });
        let payload = write_request(&header(operation_id, tenant), &request)?;
        match self.call(Operation::Changes, operation_id, payload).await? {
            Response::Changes(page) => Ok(page),
            // read_reply reads the response of the operation it is given.
            other => Err(AdapterError::Call(CommandError::internal(format!(
                "the change feed answered as {}",
                other.operation().wsdl_name()
            )))),
        }
    }
}
