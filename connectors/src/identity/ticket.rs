//! `identity.ticket.redeem`: the backend exchanges the one-time ticket it received on the return URL
//! for the login. The ticket is taken from the coordination store in one atomic step, so of two
//! redemptions (two instances, a replayed redirect) exactly one gets the login; the other, like an
//! expired or unknown ticket, is `rejected`.

use async_trait::async_trait;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};

use super::contract::{Login, TICKET_REDEEM, TicketRedeem};
use super::{IDENTITY_CONNECTOR, TICKET_TOKEN_KIND};
use crate::state::{MAX_ID_LEN, SharedStore};

/// The identity connector's command side.
pub struct TicketRedeemer {
    pub store: SharedStore,
}

#[async_trait]
impl CommandHandler for TicketRedeemer {
    fn name(&self) -> &str {
        IDENTITY_CONNECTOR
    }

    fn families(&self) -> Vec<String> {
        vec![IDENTITY_CONNECTOR.into()]
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        if command.envelope.kind.as_str() != TICKET_REDEEM {
            return Err(CommandError::new(
                ErrorCode::UnknownType,
                format!(
                    "{} is not an identity command (the identity commands are: {TICKET_REDEEM})",
                    command.envelope.kind
                ),
            ));
        }
        let request: TicketRedeem = command.parse_body()?;
        if request.ticket.is_empty() || request.ticket.len() > MAX_ID_LEN {
            return Err(CommandError::invalid_message(format!(
                "ticket must be 1 to {MAX_ID_LEN} characters"
            )));
        }
        let taken = self
            .store
            .take_token(TICKET_TOKEN_KIND, &request.ticket)
            .await
            .map_err(|e| {
                let code = if e.is_retryable() {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::Internal
                };
                CommandError::new(code, e.to_string())
            })?;
        let Some(value) = taken else {
            return Err(CommandError::new(
                ErrorCode::Rejected,
                "the ticket is unknown, expired or already redeemed (tickets are redeemed once)",
            ));
        };
        let stored: StoredTicket = serde_json::from_slice(&value).map_err(|e| {
            CommandError::new(
                ErrorCode::Internal,
                format!("a stored ticket does not parse: {e}"),
            )
        })?;
        // Only the tenant that logged the citizen in may redeem its ticket.
        if command.tenant() != Some(stored.tenant.as_str()) {
            return Err(CommandError::new(
                ErrorCode::Rejected,
                "the ticket was issued for another tenant",
            ));
        }
        Ok(serde_json::to_value(stored.login).expect("a Login serializes"))
    }
}

/// What the store keeps under a ticket.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredTicket {
    pub tenant: String,
    pub login: Login,
}
