//! The built-in `core` connector: `snodo.ping`, which checks the whole path (backend → broker → runtime →
//! event) without any platform, and the consumer of `snodo.commands.unrouted` that answers every command
//! no connector is bound for with `unknown_type` (DESIGN §3), so that a typo in a type is an answer, not
//! silence.

use async_trait::async_trait;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};

/// The connector name of the built-ins: their queues are `snodo.core.*`.
pub const CORE_CONNECTOR: &str = "core";

/// Answers `snodo.ping` with `snodo.ping.completed`, echoing the body, which must be a JSON object.
pub struct Ping;

#[async_trait]
impl CommandHandler for Ping {
    fn name(&self) -> &str {
        CORE_CONNECTOR
    }

    fn families(&self) -> Vec<String> {
        vec!["snodo".into()]
    }

    fn requires_tenant(&self) -> bool {
        false
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        match command.envelope.kind.as_str() {
            "snodo.ping" => command
                .parse_body::<serde_json::Map<String, serde_json::Value>>()
                .map(serde_json::Value::Object),
            other => Err(CommandError::new(
                ErrorCode::UnknownType,
                format!("{other} is not a built-in command (the built-ins are: snodo.ping)"),
            )),
        }
    }
}

/// Answers whatever reaches `snodo.commands.unrouted` with `unknown_type`.
pub struct Unrouted {
    /// The families that do have a connector in this deployment, for the error message.
    pub known_families: Vec<String>,
}

#[async_trait]
impl CommandHandler for Unrouted {
    fn name(&self) -> &str {
        CORE_CONNECTOR
    }

    fn families(&self) -> Vec<String> {
        Vec::new()
    }

    fn requires_tenant(&self) -> bool {
        false
    }

    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        Err(CommandError::new(
            ErrorCode::UnknownType,
            format!(
                "no connector handles {} (families handled here: {})",
                command.envelope.kind,
                self.known_families.join(", ")
            ),
        ))
    }
}
