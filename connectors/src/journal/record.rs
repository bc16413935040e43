//! One indexed dead letter: the parked message as it can be shown and replayed, the reason Snodo or
//! the broker gave for parking it, and the replay record (who, when) once replayed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use snodo_queue::envelope::{
    HEADER_ATTEMPT, HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ERROR_CODE, HEADER_FAILED_AT, HEADER_TENANT,
};
use snodo_queue::message::{HeaderValue, Headers, Message, is_broker_header};
use snodo_queue::privacy::mask_personal_data;

/// The header the runtime writes with a platform's own error code.
pub const HEADER_PLATFORM_CODE: &str = "x-snodo-platform-code";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The index's own id (several dead letters may share a `message_id`: replayed, failed again).
    pub id: String,
    pub connector: String,
    /// The dead-letter queue it was drained from.
    pub queue: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tenant: Option<String>,
    /// DESIGN §5 code from `x-snodo-error-code`; for a broker-side dead letter, `broker:<reason>`.
    pub error_code: String,
    pub error: Option<String>,
    pub platform_code: Option<String>,
    pub attempts: Option<i64>,
    pub failed_at: DateTime<Utc>,
    /// `x-death` reason when the broker dead-lettered it (`delivery_limit`, `rejected`, `expired`).
    pub broker_reason: Option<String>,
    /// How many times the broker dead-lettered it, from `x-death`.
    pub broker_count: Option<i64>,
    /// Every header but the broker's, as JSON (strings, integers, booleans).
    pub headers: BTreeMap<String, serde_json::Value>,
    pub content_type: Option<String>,
    pub app_id: Option<String>,
    pub reply_to: Option<String>,
    /// The body as UTF-8 when it is (JSON commands are), else hex.
    pub body: String,
    pub body_hex: bool,
    pub replayed: Option<Replay>,
}

/// Who replayed a dead letter, when, and where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub by: String,
    pub at: DateTime<Utc>,
    pub queue: String,
}

impl DeadLetter {
    /// Reads a message drained from `queue`, the dead-letter queue of `connector`.
    pub fn from_message(id: String, connector: &str, queue: &str, message: &Message) -> DeadLetter {
        let h = |name: &str| message.header_str(name).map(str::to_owned);
        let death = first_death(&message.headers);
        let broker_reason = death
            .and_then(|d| d.get("reason"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let broker_count = death.and_then(|d| d.get("count")).and_then(HeaderValue::as_i64);
        let error_code = h(HEADER_ERROR_CODE)
            .or_else(|| broker_reason.as_ref().map(|r| format!("broker:{r}")))
            .unwrap_or_else(|| "unknown".to_owned());
        let failed_at = h(HEADER_FAILED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        let headers = message
            .headers
            .iter()
            .filter(|(name, _)| !is_broker_header(name))
            .filter_map(|(name, value)| header_json(value).map(|v| (name.clone(), v)))
            .collect();
        let (body, body_hex) = match std::str::from_utf8(&message.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (message.body.iter().map(|b| format!("{b:02x}")).collect(), true),
        };
        DeadLetter {
            id,
            connector: connector.to_owned(),
            queue: queue.to_owned(),
            message_id: message.properties.message_id.clone(),
            correlation_id: message.properties.correlation_id.clone(),
            kind: message.properties.kind.clone(),
            tenant: h(HEADER_TENANT),
            error_code,
            error: h(HEADER_ERROR),
            platform_code: h(HEADER_PLATFORM_CODE),
            attempts: message.header(HEADER_ATTEMPTS).and_then(HeaderValue::as_i64),
            failed_at,
            broker_reason,
            broker_count,
            headers,
            content_type: message.properties.content_type.clone(),
            app_id: message.properties.app_id.clone(),
            reply_to: message.properties.reply_to.clone(),
            body,
            body_hex,
            replayed: None,
        }
    }

    /// The command to publish again: the same `message_id`, type, tenant and `x-snodo-external-key`;
    /// no broker history (`x-death`), no error headers, the attempt count back to the first.
    pub fn replay_message(&self) -> Message {
        let mut message = Message::default();
        let p = &mut message.properties;
        p.message_id = self.message_id.clone();
        p.correlation_id = self.correlation_id.clone();
        p.kind = self.kind.clone();
        p.content_type = self.content_type.clone();
        p.app_id = self.app_id.clone();
        p.reply_to = self.reply_to.clone();
        p.delivery_mode = Some(2);
        for (name, value) in &self.headers {
            let dropped = [
                HEADER_ERROR_CODE,
                HEADER_ERROR,
                HEADER_FAILED_AT,
                HEADER_ATTEMPTS,
                HEADER_ATTEMPT,
                HEADER_PLATFORM_CODE,
            ];
            if dropped.contains(&name.as_str()) {
                continue;
            }
            let value = match value {
                serde_json::Value::String(s) => HeaderValue::String(s.clone()),
                serde_json::Value::Bool(b) => HeaderValue::Bool(*b),
                serde_json::Value::Number(n) if n.is_i64() => HeaderValue::Int(n.as_i64().expect("checked")),
                _ => continue,
            };
            message.headers.insert(name.clone(), value);
        }
        message.body = if self.body_hex {
            (0..self.body.len() / 2)
                .filter_map(|i| u8::from_str_radix(&self.body[2 * i..2 * i + 2], 16).ok())
                .collect::<Vec<u8>>()
                .into()
        } else {
            self.body.clone().into_bytes().into()
        };
        message
    }

    /// The entry for listings: the error text masked, no body, no headers.
    pub fn summary(&self) -> DeadLetter {
        DeadLetter {
            error: self.error.as_deref().map(mask_personal_data),
            headers: BTreeMap::new(),
            body: String::new(),
            ..self.clone()
        }
    }
}

/// The most recent `x-death` entry (RabbitMQ puts it first).
fn first_death(headers: &Headers) -> Option<&Headers> {
    headers.get("x-death")?.as_array()?.first()?.as_table()
}

fn header_json(value: &HeaderValue) -> Option<serde_json::Value> {
    match value {
        HeaderValue::String(s) => Some(s.clone().into()),
        HeaderValue::Bytes(b) => std::str::from_utf8(b).ok().map(|s| s.to_owned().into()),
        HeaderValue::Int(i) => Some((*i).into()),
        HeaderValue::Bool(b) => Some((*b).into()),
        _ => None,
    }
}

/// What `snodo ops dlq list|purge` select; every field narrows, none means everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    pub connector: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub error_code: Option<String>,
    pub message_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Include entries already replayed (listing shows them by default; purge takes them too).
    #[serde(default)]
    pub only_pending: bool,
}

impl DeadLetterFilter {
    pub fn matches(&self, e: &DeadLetter) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == have);
        eq(&self.connector, Some(&e.connector))
            && eq(&self.kind, e.kind.as_deref())
            && eq(&self.error_code, Some(&e.error_code))
            && eq(&self.message_id, e.message_id.as_deref())
            && self.since.is_none_or(|s| e.failed_at >= s)
            && self.until.is_none_or(|u| e.failed_at < u)
            && (!self.only_pending || e.replayed.is_none())
    }
}
