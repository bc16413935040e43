//! The `cie_booking.*` command handler: parse strictly, check every codice fiscale and the tenant's
//! offices (`offices`) before anything is sent, derive the operation id from `message_id` (bound as
//! the external key at the first attempt, so every retry and replay sends the same id and a booking
//! whose answer was lost is not made twice), call the adapter, and map its answer to the completed
//! event (a search capped at [`super::offices::MAX_SEARCH_SLOTS`]) or a DESIGN §5 error.

use std::sync::Arc;

use async_trait::async_trait;
use snodo_mappings::cie_booking::appointment::StatusKey;
use snodo_mappings::cie_booking::{Command as BookingCommand, ErrorCode, OperationId, Response};
use snodo_mappings::codice_fiscale::validate_for_command;
use snodo_queue::runtime::{Command, CommandError, CommandHandler};

use super::NAME;
use super::adapter::{AdapterError, BookingAdapter};
use super::offices::{self, OfficeScope};
use crate::tenants::Tenants;

pub struct BookingHandler {
    adapter: Arc<dyn BookingAdapter>,
    tenants: Arc<Tenants>,
}

impl BookingHandler {
    pub fn new(adapter: Arc<dyn BookingAdapter>, tenants: Arc<Tenants>) -> BookingHandler {
        BookingHandler { adapter, tenants }
    }
}

/// The operation id of `command`: the bound external key when the runtime carries one, else derived
/// from `message_id` (which is what the key was derived from).
fn operation_id(command: &Command) -> Result<OperationId, CommandError> {
    if let Some(key) = command.envelope.external_key.as_deref()
        && let Some(id) = OperationId::parse(key)
    {
        return Ok(id);
    }
    OperationId::from_message_id(&command.envelope.message_id.to_string())
        .map_err(|e| CommandError::invalid_message(e.to_string()))
}

/// Every codice fiscale of `command`, with the JSON field that holds it.
fn fiscal_codes(command: &BookingCommand) -> Vec<(&'static str, &str)> {
    match command {
        BookingCommand::Book(c) => vec![("citizen.codice_fiscale", c.citizen.codice_fiscale.as_str())],
        BookingCommand::Confirm(c) => vec![("codice_fiscale", c.codice_fiscale.as_str())],
        BookingCommand::Cancel(c) => vec![("codice_fiscale", c.codice_fiscale.as_str())],
        BookingCommand::Reschedule(c) => vec![("codice_fiscale", c.codice_fiscale.as_str())],
        BookingCommand::Status(c) => match &c.by {
            StatusKey::CodiceFiscale(cf) => vec![("by.codice_fiscale", cf.as_str())],
            StatusKey::BookingCode(_) => Vec::new(),
        },
        BookingCommand::ListOffices(_) | BookingCommand::SearchAvailability(_) => Vec::new(),
    }
}

/// What the runtime reports for an adapter failure.
pub fn command_error(error: AdapterError) -> CommandError {
    match error {
        AdapterError::Rejected(rejection) if rejection.is_transient() => {
            CommandError::unavailable("the booking service is unavailable for now")
                .with_platform(rejection.platform_code(), rejection.platform_message())
        }
        AdapterError::Rejected(rejection) => {
            CommandError::rejected(rejection.platform_code(), rejection.platform_message())
        }
        AdapterError::Invalid(e) => CommandError::invalid_message(e.to_string()),
        AdapterError::Call(e) => e,
    }
}

#[async_trait]
impl CommandHandler for BookingHandler {
    fn name(&self) -> &str {
        NAME
    }

    fn families(&self) -> Vec<String> {
        vec![NAME.to_owned()]
    }

    async fn external_key(&self, command: &Command) -> Result<Option<String>, CommandError> {
        let id = OperationId::from_message_id(&command.envelope.message_id.to_string())
            .map_err(|e| CommandError::invalid_message(e.to_string()))?;
        Ok(Some(id.to_string()))
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        let tenant = command
            .tenant()
            .ok_or_else(|| CommandError::invalid_message("the command names no tenant"))?;
        let scope = match &self
            .tenants
            .get(tenant)
            .map_err(|e| CommandError::invalid_message(e.to_string()))?
            .cie_booking
        {
            Some(booking) => OfficeScope::new(&booking.offices),
            None => {
                return Err(CommandError::invalid_message(format!(
                    "tenant {tenant} has no [tenants.cie_booking] section: it does not use CIE booking"
                )));
            }
        };
        let booking = BookingCommand::from_json(command.envelope.kind.as_str(), &command.body)
            .map_err(|e| CommandError::invalid_message(e.to_string()))?;
        for (field, code) in fiscal_codes(&booking) {
            validate_for_command(code)
                .map_err(|e| CommandError::invalid_message(format!("field `{field}`: {e}")))?;
        }
        scope.check(&booking, self.adapter.as_ref())?;
        let id = operation_id(command)?;
        let response = match &booking {
            BookingCommand::SearchAvailability(search)
                if search.office_id.is_none() && !scope.is_everywhere() =>
            {
                self.search_each_office(tenant, &id, search, scope).await?
            }
            _ => self
                .adapter
                .perform(tenant, &id, &booking)
                .await
                .map_err(command_error)?,
        };
        let response = match response {
            Response::SearchAvailability(mut found) => {
                offices::cap(&mut found);
                Response::SearchAvailability(found)
            }
            Response::ListOffices(mut listed) => {
                scope.filter_offices(&mut listed);
                Response::ListOffices(listed)
            }
            other => other,
        };
        let (_, body) = response.completed_event().ok_or_else(|| {
            CommandError::internal("the adapter answered a command with a change-feed page")
        })?;
        Ok(body)
    }
}

impl BookingHandler {
    /// A search of every office of `scope`, one call each, merged. An office that takes no bookings
    /// (`SEDE_CHIUSA`) has no free slots rather than failing the whole search.
    async fn search_each_office(
        &self,
        tenant: &str,
        id: &OperationId,
        search: &snodo_mappings::cie_booking::offices::SearchAvailability,
        scope: OfficeScope<'_>,
    ) -> Result<Response, CommandError> {
        let mut found = Vec::new();
        for office in scope.offices() {
            let mut one = search.clone();
            one.office_id = Some(office.clone());
            let answer = self
                .adapter
                .perform(
                    tenant,
                    &offices::office_operation_id(id, office),
                    &BookingCommand::SearchAvailability(one),
                )
                .await;
            match answer {
                Ok(Response::SearchAvailability(f)) => found.push(f),
                Ok(other) => {
                    return Err(CommandError::internal(format!(
                        "a search was answered as {}",
                        other.operation().wsdl_name()
                    )));
                }
                Err(AdapterError::Rejected(r)) if *r.code() == ErrorCode::OfficeClosed => {}
                Err(e) => return Err(command_error(e)),
            }
        }
        Ok(Response::SearchAvailability(offices::merge(found)))
    }
}
