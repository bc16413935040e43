//! What a connector implements: handle one command, classify the failure. Everything else — parsing,
//! tenants, deadlines, retries, events, dead letters, acknowledgements — is the runtime's.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::CommandError;
use crate::envelope::Envelope;

/// One command as a handler sees it: the parsed envelope and the JSON body.
#[derive(Debug, Clone)]
pub struct Command {
    pub envelope: Envelope,
    pub body: Bytes,
}

impl Command {
    /// Deserializes the body into the handler's typed request. A body that does not fit the type is
    /// `invalid_message` (the types reject unknown fields, DESIGN §2).
    pub fn parse_body<T: DeserializeOwned>(&self) -> Result<T, CommandError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CommandError::invalid_message(format!("the body does not fit {}: {e}", self.envelope.kind))
        })
    }

    /// The tenant (ISTAT code); present whenever the handler requires one.
    pub fn tenant(&self) -> Option<&str> {
        self.envelope.tenant.as_deref()
    }
}

/// A connector's command side.
#[async_trait]
pub trait CommandHandler: Send + Sync + 'static {
    /// The connector name: queue names (`snodo.<name>.commands`), logs and metrics.
    fn name(&self) -> &str;

    /// The message families routed to this connector (`<family>.#`).
    fn families(&self) -> Vec<String>;

    /// Whether commands must name a tenant (`x-snodo-tenant`). Built-ins such as `snodo.ping` do not.
    fn requires_tenant(&self) -> bool {
        true
    }

    /// Binds the platform idempotency key at the first attempt (ANPR `idOperazioneComune`, the booking
    /// operation id, …). The runtime stores it in `x-snodo-external-key`, and every retry and replay
    /// carries the same value. `None` for operations without one.
    async fn external_key(&self, _command: &Command) -> Result<Option<String>, CommandError> {
        Ok(None)
    }

    /// Performs the command; the JSON value is the body of the `.completed` event.
    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError>;
}

/// Which tenants exist. A command naming another tenant is `invalid_message`.
pub trait TenantDirectory: Send + Sync + 'static {
    fn is_known(&self, tenant: &str) -> bool;
}

/// A fixed list of tenant ids.
impl TenantDirectory for Vec<String> {
    fn is_known(&self, tenant: &str) -> bool {
        self.iter().any(|t| t == tenant)
    }
}

pub type SharedHandler = Arc<dyn CommandHandler>;
