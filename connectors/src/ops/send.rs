//! Sending one command and waiting for its terminal event: what `snodo send` does, over RabbitMQ directly
//! or, when `snodo up` runs on the embedded transport in another process, through the operations
//! listener's `POST /ops/send` (an in-process broker cannot be reached from outside).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::request::{RequestError, Requester};
use snodo_queue::topology::Names;

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default = "empty_object")]
    pub body: serde_json::Value,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// The terminal event, as printed by `snodo send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendOutcome {
    pub message_id: String,
    pub correlation_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: serde_json::Value,
}

impl SendOutcome {
    pub fn failed(&self) -> bool {
        self.kind.ends_with(".failed")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Invalid(String),
    #[error("no outcome within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
}

pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Publishes the command on the commands exchange and waits for its terminal event.
pub async fn send_command(
    requester: &Requester,
    names: &Names,
    request: SendRequest,
) -> Result<SendOutcome, SendError> {
    let kind: MessageType = request
        .kind
        .parse()
        .map_err(|e: snodo_queue::envelope::EnvelopeError| SendError::Invalid(e.to_string()))?;
    let mut envelope = Envelope::command(kind.clone());
    envelope.tenant = request.tenant;
    envelope.app_id = Some("snodo-send".into());
    let body = serde_json::to_vec(&request.body).map_err(|e| SendError::Invalid(e.to_string()))?;
    let timeout = request
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_SEND_TIMEOUT);
    let reply = requester
        .request(
            &names.commands_exchange(),
            kind.as_str(),
            envelope.to_message(body),
            timeout,
        )
        .await
        .map_err(|e| match e {
            RequestError::Timeout(t) => SendError::Timeout(t),
            other => SendError::Transport(other.to_string()),
        })?;
    Ok(SendOutcome {
        message_id: reply.properties.message_id.unwrap_or_default(),
        correlation_id: reply.properties.correlation_id.unwrap_or_default(),
        kind: reply.properties.kind.unwrap_or_default(),
        body: serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null),
    })
}
