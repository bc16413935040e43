//! The envelope of DESIGN §2: every AMQP property and `x-snodo-*` header Snodo reads or writes, as one
//! typed value, built and parsed only here.
//!
//! Parsing is strict because a message that cannot be identified cannot be answered: without a
//! `message_id` nothing can correlate the outcome, without a `type` nothing can route it. Such a delivery
//! becomes an `invalid_message` dead letter with the reason from [`EnvelopeError`], never a crash.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::message::{HeaderValue, Message, Properties};

pub const HEADER_SCHEMA: &str = "x-snodo-schema";
pub const HEADER_TENANT: &str = "x-snodo-tenant";
pub const HEADER_DEADLINE: &str = "x-snodo-deadline";
pub const HEADER_ATTEMPT: &str = "x-snodo-attempt";
pub const HEADER_EXTERNAL_KEY: &str = "x-snodo-external-key";
pub const HEADER_ERROR_CODE: &str = "x-snodo-error-code";
pub const HEADER_ERROR: &str = "x-snodo-error";
pub const HEADER_FAILED_AT: &str = "x-snodo-failed-at";
pub const HEADER_ATTEMPTS: &str = "x-snodo-attempts";

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const DELIVERY_MODE_PERSISTENT: u8 = 2;

/// Namespace of the deterministic ids Snodo derives (event ids from command ids, inbound ids from platform
/// ids), so that a repeated derivation yields the same `message_id` and consumers can de-duplicate.
pub const SNODO_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3f4e_2a51_4c0e_9a4e_8d9c_5e37_0b12);

/// A message type: `<family>.<entity>.<verb>` (built-ins may be shorter, as `snodo.ping`); lower-case words
/// of `a-z`, `0-9` and `_`, separated by dots. It is also the routing key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(String);

impl MessageType {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The connector family: the first word (`anpr`, `pagopa`, `identity`, `cie_booking`, `snodo`).
    pub fn family(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// `<type>.completed` or `<type>.failed`.
    pub fn outcome(&self, outcome: Outcome) -> MessageType {
        MessageType(format!("{}.{}", self.0, outcome.as_str()))
    }
}

impl FromStr for MessageType {
    type Err = EnvelopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split('.').collect();
        let well_formed = words.len() >= 2
            && s.len() <= 255
            && words.iter().all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if well_formed {
            Ok(MessageType(s.to_owned()))
        } else {
            Err(EnvelopeError::InvalidType(s.chars().take(80).collect()))
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two terminal outcomes of a command (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the message has no message_id property")]
    MissingMessageId,
    #[error("message_id {0:?} is not a UUID")]
    InvalidMessageId(String),
    #[error("correlation_id {0:?} is not a UUID")]
    InvalidCorrelationId(String),
    #[error("the message has no type property")]
    MissingType,
    #[error("type {0:?} is not of the form <family>.<entity>.<verb> (lower-case words separated by dots)")]
    InvalidType(String),
    #[error("content_type {0:?} is not application/json")]
    NotJsonContentType(String),
    #[error("the body is not valid JSON: {0}")]
    BodyNotJson(String),
    #[error("header {name} is invalid: {reason}")]
    InvalidHeader { name: &'static str, reason: String },
}

/// The parsed envelope of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub message_id: Uuid,
    pub correlation_id: Option<Uuid>,
    pub kind: MessageType,
    pub schema: u32,
    pub tenant: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// 1 for the first attempt; `x-snodo-attempt` on retry copies.
    pub attempt: u32,
    pub external_key: Option<String>,
    pub reply_to: Option<String>,
    pub app_id: Option<String>,
    pub timestamp: Option<u64>,
}

impl Envelope {
    /// A new command of `kind` with a fresh `message_id`.
    pub fn command(kind: MessageType) -> Envelope {
        Envelope {
            message_id: Uuid::new_v4(),
            correlation_id: None,
            kind,
            schema: 1,
            tenant: None,
            deadline: None,
            attempt: 1,
            external_key: None,
            reply_to: None,
            app_id: None,
            timestamp: None,
        }
    }

    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    pub fn with_deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The terminal event answering this command. Its `message_id` is derived from the command's, so a
    /// command processed twice (redelivery after a lost ack) yields the same event id.
    pub fn outcome_event(&self, outcome: Outcome, app_id: &str) -> Envelope {
        let kind = self.kind.outcome(outcome);
        Envelope {
            message_id: Uuid::new_v5(
                &SNODO_ID_NAMESPACE,
                format!("{}/{}", self.message_id, kind).as_bytes(),
            ),
            correlation_id: Some(self.message_id),
            kind,
            schema: self.schema,
            tenant: self.tenant.clone(),
            deadline: None,
            attempt: self.attempt,
            external_key: self.external_key.clone(),
            reply_to: None,
            app_id: Some(app_id.to_owned()),
            timestamp: Some(Utc::now().timestamp().max(0) as u64),
        }
    }

    /// Reads the envelope of `message`, checking that its body is JSON.
    pub fn parse(message: &Message) -> Result<Envelope, EnvelopeError> {
        let envelope = Envelope::parse_properties(message)?;
        if let Some(ct) = &message.properties.content_type
            && !ct.trim().to_ascii_lowercase().starts_with(CONTENT_TYPE_JSON)
        {
            return Err(EnvelopeError::NotJsonContentType(ct.chars().take(80).collect()));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&message.body)
            .map_err(|e| EnvelopeError::BodyNotJson(e.to_string()))?;
        Ok(envelope)
    }

    /// Reads properties and headers only (the body is not looked at).
    pub fn parse_properties(message: &Message) -> Result<Envelope, EnvelopeError> {
        let p = &message.properties;
        let message_id = p.message_id.as_deref().ok_or(EnvelopeError::MissingMessageId)?;
        let message_id = Uuid::parse_str(message_id)
            .map_err(|_| EnvelopeError::InvalidMessageId(message_id.chars().take(80).collect()))?;
        let correlation_id = p
            .correlation_id
            .as_deref()
            .map(|c| {
                Uuid::parse_str(c)
                    .map_err(|_| EnvelopeError::InvalidCorrelationId(c.chars().take(80).collect()))
            })
            .transpose()?;
        let kind: MessageType = p.kind.as_deref().ok_or(EnvelopeError::MissingType)?.parse()?;
        let schema = match message.header(HEADER_SCHEMA) {
            None => 1,
            Some(v) => positive_u32(v).ok_or_else(|| EnvelopeError::InvalidHeader {
                name: HEADER_SCHEMA,
                reason: "not a positive integer".into(),
            })?,
        };
        let tenant = match message.header(HEADER_TENANT) {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| EnvelopeError::InvalidHeader {
                        name: HEADER_TENANT,
                        reason: "not a string".into(),
                    })?,
            ),
        };
        let deadline = match message.header(HEADER_DEADLINE) {
            None => None,
            Some(v) => {
                let text = v.as_str().ok_or_else(|| EnvelopeError::InvalidHeader {
                    name: HEADER_DEADLINE,
                    reason: "not a string".into(),
                })?;
                Some(
                    DateTime::parse_from_rfc3339(text)
                        .map_err(|e| EnvelopeError::InvalidHeader {
                            name: HEADER_DEADLINE,
                            reason: format!("{text:?} is not an RFC 3339 instant: {e}"),
                        })?
                        .with_timezone(&Utc),
                )
            }
        };
        let attempt = match message.header(HEADER_ATTEMPT) {
            None => 1,
            Some(v) => positive_u32(v).ok_or_else(|| EnvelopeError::InvalidHeader {
                name: HEADER_ATTEMPT,
                reason: "not a positive integer".into(),
            })?,
        };
        let external_key = message.header_str(HEADER_EXTERNAL_KEY).map(str::to_owned);
        Ok(Envelope {
            message_id,
            correlation_id,
            kind,
            schema,
            tenant,
            deadline,
            attempt,
            external_key,
            reply_to: p.reply_to.clone().filter(|r| !r.is_empty()),
            app_id: p.app_id.clone(),
            timestamp: p.timestamp,
        })
    }

    /// The AMQP message carrying this envelope and `body` (JSON).
    pub fn to_message(&self, body: impl Into<Bytes>) -> Message {
        let mut message = Message {
            properties: Properties {
                message_id: Some(self.message_id.to_string()),
                correlation_id: self.correlation_id.map(|c| c.to_string()),
                kind: Some(self.kind.to_string()),
                content_type: Some(CONTENT_TYPE_JSON.into()),
                delivery_mode: Some(DELIVERY_MODE_PERSISTENT),
                timestamp: Some(
                    self.timestamp
                        .unwrap_or_else(|| Utc::now().timestamp().max(0) as u64),
                ),
                app_id: self.app_id.clone(),
                reply_to: self.reply_to.clone(),
                expiration: None,
            },
            headers: Default::default(),
            body: body.into(),
        };
        self.write_headers(&mut message);
        message
    }

    /// Writes the `x-snodo-*` headers of this envelope into `message`, replacing earlier values.
    pub fn write_headers(&self, message: &mut Message) {
        let h = &mut message.headers;
        h.insert(HEADER_SCHEMA.into(), HeaderValue::Int(i64::from(self.schema)));
        match &self.tenant {
            Some(t) => h.insert(HEADER_TENANT.into(), t.as_str().into()),
            None => h.remove(HEADER_TENANT),
        };
        match &self.deadline {
            Some(d) => h.insert(HEADER_DEADLINE.into(), d.to_rfc3339().into()),
            None => h.remove(HEADER_DEADLINE),
        };
        if self.attempt > 1 {
            h.insert(HEADER_ATTEMPT.into(), HeaderValue::Int(i64::from(self.attempt)));
        } else {
            h.remove(HEADER_ATTEMPT);
        }
        match &self.external_key {
            Some(k) => h.insert(HEADER_EXTERNAL_KEY.into(), k.as_str().into()),
            None => h.remove(HEADER_EXTERNAL_KEY),
        };
    }
}

fn positive_u32(v: &HeaderValue) -> Option<u32> {
    v.as_i64().and_then(|i| u32::try_from(i).ok()).filter(|i| *i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Message {
        Envelope::command("anpr.resident.lookup".parse().unwrap())
            .with_tenant("015146")
            .to_message(&b"{\"a\":1}"[..])
    }

    #[test]
    fn round_trips_through_a_message() {
        let env = Envelope::command("anpr.resident.lookup".parse().unwrap())
            .with_tenant("015146")
            .with_deadline("2030-01-01T00:00:00Z".parse().unwrap());
        let mut env = env;
        env.attempt = 3;
        env.external_key = Some("12345".into());
        env.reply_to = Some("reply.q".into());
        let parsed = Envelope::parse(&env.to_message(&b"{}"[..])).unwrap();
        assert_eq!(parsed.message_id, env.message_id);
        assert_eq!(parsed.tenant.as_deref(), Some("015146"));
        assert_eq!(parsed.deadline, env.deadline);
        assert_eq!(parsed.attempt, 3);
        assert_eq!(parsed.external_key.as_deref(), Some("12345"));
        assert_eq!(parsed.reply_to.as_deref(), Some("reply.q"));
        assert_eq!(parsed.kind.family(), "anpr");
    }

    #[test]
    fn missing_message_id_is_rejected() {
        let mut m = command();
        m.properties.message_id = None;
        assert_eq!(Envelope::parse(&m), Err(EnvelopeError::MissingMessageId));
    }

    #[test]
    fn non_uuid_message_id_is_rejected() {
        let mut m = command();
        m.properties.message_id = Some("abc".into());
        assert!(matches!(
            Envelope::parse(&m),
            Err(EnvelopeError::InvalidMessageId(_))
        ));
    }

    #[test]
    fn missing_or_malformed_type_is_rejected() {
        let mut m = command();
        m.properties.kind = None;
        assert_eq!(Envelope::parse(&m), Err(EnvelopeError::MissingType));
        for bad in ["anpr", "Anpr.x.y", "anpr..y", "anpr.x.y.", "anpr x.y", ""] {
            m.properties.kind = Some(bad.into());
            assert!(
                matches!(Envelope::parse(&m), Err(EnvelopeError::InvalidType(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn body_must_be_json() {
        let mut m = command();
        m.body = Bytes::from_static(b"{not json");
        assert!(matches!(Envelope::parse(&m), Err(EnvelopeError::BodyNotJson(_))));
        m.body = Bytes::from_static(b"");
        assert!(matches!(Envelope::parse(&m), Err(EnvelopeError::BodyNotJson(_))));
    }

    #[test]
    fn content_type_other_than_json_is_rejected() {
        let mut m = command();
        m.properties.content_type = Some("text/xml".into());
        assert!(matches!(
            Envelope::parse(&m),
            Err(EnvelopeError::NotJsonContentType(_))
        ));
        m.properties.content_type = Some("application/json; charset=utf-8".into());
        assert!(Envelope::parse(&m).is_ok());
    }

    #[test]
    fn malformed_deadline_names_the_header() {
        let mut m = command();
        m.headers.insert(HEADER_DEADLINE.into(), "tomorrow".into());
        let err = Envelope::parse(&m).unwrap_err();
        assert!(err.to_string().contains(HEADER_DEADLINE), "{err}");
    }

    #[test]
    fn outcome_event_ids_are_deterministic_and_correlated() {
        let env = Envelope::parse(&command()).unwrap();
        let a = env.outcome_event(Outcome::Completed, "snodo");
        let b = env.outcome_event(Outcome::Completed, "snodo");
        let c = env.outcome_event(Outcome::Failed, "snodo");
        assert_eq!(a.message_id, b.message_id);
        assert_ne!(a.message_id, c.message_id);
        assert_eq!(a.correlation_id, Some(env.message_id));
        assert_eq!(a.kind.as_str(), "anpr.resident.lookup.completed");
    }
}
