//! The first [`BookingAdapter`]: Snodo's SOAP contract (`mappings/contracts/cie-booking/`) over the
//! shared SOAP client, which classifies every transport failure. Payloads are written and read by
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

    async fn call(&self, operation: Operation, payload: String) -> Result<Response, AdapterError> {
        // Every operation is idempotent by its idOperazione, so a timeout or a broken connection
        // after the request left is retried with the same id.
        let envelope = self
            .client
            .call("", &payload)
            .await
            .map_err(|e| AdapterError::Call(e.to_command_error(true)))?;
        let reply = read_reply(envelope.document(), envelope.payload(), operation).map_err(|e| {
            AdapterError::Call(CommandError::unavailable(format!(
                "the booking service's {} answer does not follow the contract: {e}",
                operation.wsdl_name()
            )))
        })?;
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
        self.call(command.operation(), payload).await
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
        match self.call(Operation::Changes, payload).await? {
            Response::Changes(page) => Ok(page),
            // read_reply reads the response of the operation it is given.
            other => Err(AdapterError::Call(CommandError::internal(format!(
                "the change feed answered as {}",
                other.operation().wsdl_name()
            )))),
        }
    }
}
