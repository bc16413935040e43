//! The transport-neutral shape of one AMQP message: basic properties, headers and body.
//!
//! Both transports carry exactly this value, so the consumer runtime, the envelope parser and the test
//! suites never see a lapin type. Header values mirror AMQP 0-9-1 field values closely enough that
//! RabbitMQ's own headers (`x-death`, `x-delivery-count`) survive a round trip through the embedded
//! transport unchanged in meaning.

use std::collections::BTreeMap;

use bytes::Bytes;

/// AMQP header table. Ordered, so that tests and journals print headers deterministically.
pub type Headers = BTreeMap<String, HeaderValue>;

/// One AMQP field value, as far as Snodo needs them.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    /// Seconds since the Unix epoch (AMQP timestamp).
    Timestamp(u64),
    Array(Vec<HeaderValue>),
    Table(Headers),
    Void,
}

impl HeaderValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            HeaderValue::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            HeaderValue::Int(i) => Some(*i),
            HeaderValue::Timestamp(t) => i64::try_from(*t).ok(),
            HeaderValue::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Headers> {
        match self {
            HeaderValue::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[HeaderValue]> {
        match self {
            HeaderValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl From<&str> for HeaderValue {
    fn from(value: &str) -> Self {
        HeaderValue::String(value.to_owned())
    }
}

impl From<String> for HeaderValue {
    fn from(value: String) -> Self {
        HeaderValue::String(value)
    }
}

impl From<i64> for HeaderValue {
    fn from(value: i64) -> Self {
        HeaderValue::Int(value)
    }
}

impl From<u32> for HeaderValue {
    fn from(value: u32) -> Self {
        HeaderValue::Int(i64::from(value))
    }
}

impl From<bool> for HeaderValue {
    fn from(value: bool) -> Self {
        HeaderValue::Bool(value)
    }
}

/// The AMQP basic properties Snodo reads or writes (DESIGN §2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The AMQP `type` property: `<family>.<entity>.<verb>`.
    pub kind: Option<String>,
    pub content_type: Option<String>,
    /// 2 = persistent.
    pub delivery_mode: Option<u8>,
    /// Seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    pub app_id: Option<String>,
    pub reply_to: Option<String>,
    /// Per-message TTL in milliseconds, as a decimal string (AMQP `expiration`).
    pub expiration: Option<String>,
}

/// One message as published or delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub properties: Properties,
    pub headers: Headers,
    pub body: Bytes,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.get(name)
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(HeaderValue::as_str)
    }

    /// Removes the headers RabbitMQ adds when it dead-letters or redelivers a message. A retry copy or
    /// a replay must not carry them: a kept `x-death` makes RabbitMQ's dead-letter cycle detection drop
    /// the copy, and a kept `x-delivery-count` would count earlier attempts against the delivery limit.
    pub fn strip_broker_headers(&mut self) {
        self.headers.retain(|name, _| !is_broker_header(name));
    }
}

/// Headers that only the broker may set.
pub fn is_broker_header(name: &str) -> bool {
    matches!(
        name,
        "x-death"
            | "x-delivery-count"
            | "x-first-death-exchange"
            | "x-first-death-queue"
            | "x-first-death-reason"
            | "x-last-death-exchange"
            | "x-last-death-queue"
            | "x-last-death-reason"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_broker_headers_keeps_snodo_headers() {
        let mut message = Message::default();
        message
            .headers
            .insert("x-death".into(), HeaderValue::Array(vec![]));
        message.headers.insert("x-delivery-count".into(), 3i64.into());
        message.headers.insert("x-first-death-queue".into(), "q".into());
        message.headers.insert("x-snodo-attempt".into(), 2i64.into());
        message.strip_broker_headers();
        assert_eq!(message.headers.len(), 1);
        assert_eq!(
            message.header("x-snodo-attempt").and_then(HeaderValue::as_i64),
            Some(2)
        );
    }
}
