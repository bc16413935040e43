//! Conversions between Snodo's transport-neutral [`Message`] and lapin's AMQP types.
//!
//! Everything that crosses the wire goes through here, so the rest of the RabbitMQ transport never
//! builds a `BasicProperties` or a `FieldTable` by hand. Two AMQP rules shape the code:
//!
//! - short strings (property values, table keys, names) hold at most 255 bytes; lapin's
//!   `ShortString::from` panics beyond that, so every conversion from our `String`s is fallible;
//! - RabbitMQ writes integers in whatever width it likes (`x-death.count` is a long-long, other brokers
//!   or clients use 8/16/32-bit fields), so every integer width reads back as [`HeaderValue::Int`].

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, ByteArray, FieldArray, FieldTable, LongString, ShortString};

use crate::message::{HeaderValue, Headers, Message, Properties};
use crate::topology::QueueArgument;

/// A value that cannot be expressed in AMQP 0-9-1 (a short string over 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {len} bytes long; AMQP allows at most 255")]
pub struct TooLong {
    pub what: String,
    pub len: usize,
}

pub(crate) fn short(what: &str, value: &str) -> Result<ShortString, TooLong> {
    ShortString::try_new(value).map_err(|_| TooLong {
        what: what.to_owned(),
        len: value.len(),
    })
}

/// The basic properties (with headers) of a message about to be published.
pub(crate) fn to_properties(message: &Message) -> Result<BasicProperties, TooLong> {
    let p = &message.properties;
    let mut props = BasicProperties::default();
    if let Some(v) = &p.message_id {
        props = props.with_message_id(short("message_id", v)?);
    }
    if let Some(v) = &p.correlation_id {
        props = props.with_correlation_id(short("correlation_id", v)?);
    }
    if let Some(v) = &p.kind {
        props = props.with_type(short("type", v)?);
    }
    if let Some(v) = &p.content_type {
        props = props.with_content_type(short("content_type", v)?);
    }
    if let Some(v) = p.delivery_mode {
        props = props.with_delivery_mode(v);
    }
    if let Some(v) = p.timestamp {
        props = props.with_timestamp(v);
    }
    if let Some(v) = &p.app_id {
        props = props.with_app_id(short("app_id", v)?);
    }
    if let Some(v) = &p.reply_to {
        props = props.with_reply_to(short("reply_to", v)?);
    }
    if let Some(v) = &p.expiration {
        props = props.with_expiration(short("expiration", v)?);
    }
    if !message.headers.is_empty() {
        props = props.with_headers(to_table(&message.headers)?);
    }
    Ok(props)
}

/// The message as a consumer sees it: properties Snodo does not use (priority, user-id, cluster-id,
/// content-encoding) are dropped.
pub(crate) fn to_message(properties: &BasicProperties, body: Vec<u8>) -> Message {
    let s = |v: &Option<ShortString>| v.as_ref().map(|v| v.as_str().to_owned());
    Message {
        properties: Properties {
            message_id: s(properties.message_id()),
            correlation_id: s(properties.correlation_id()),
            kind: s(properties.kind()),
            content_type: s(properties.content_type()),
            delivery_mode: *properties.delivery_mode(),
            timestamp: *properties.timestamp(),
            app_id: s(properties.app_id()),
            reply_to: s(properties.reply_to()),
            expiration: s(properties.expiration()),
        },
        headers: properties.headers().as_ref().map(from_table).unwrap_or_default(),
        body: Bytes::from(body),
    }
}

pub(crate) fn to_table(headers: &Headers) -> Result<FieldTable, TooLong> {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert(short("header name", name)?, to_value(value)?);
    }
    Ok(table)
}

pub(crate) fn to_value(value: &HeaderValue) -> Result<AMQPValue, TooLong> {
    Ok(match value {
        HeaderValue::Bool(b) => AMQPValue::Boolean(*b),
        // RabbitMQ reads and writes 'l' (signed 64-bit) for its own integer headers and arguments.
        HeaderValue::Int(i) => AMQPValue::LongLongInt(*i),
        HeaderValue::Float(f) => AMQPValue::Double(*f),
        HeaderValue::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
        HeaderValue::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.as_slice())),
        HeaderValue::Timestamp(t) => AMQPValue::Timestamp(*t),
        HeaderValue::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(to_value).collect::<Result<Vec<_>, _>>()?,
        )),
        HeaderValue::Table(t) => AMQPValue::FieldTable(to_table(t)?),
        HeaderValue::Void => AMQPValue::Void,
    })
}

pub(crate) fn from_table(table: &FieldTable) -> Headers {
    table
        .inner()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), from_value(value)))
        .collect()
}

pub(crate) fn from_value(value: &AMQPValue) -> HeaderValue {
    match value {
        AMQPValue::Boolean(b) => HeaderValue::Bool(*b),
        AMQPValue::ShortShortInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
        AMQPValue::Float(f) => HeaderValue::Float(f64::from(*f)),
        AMQPValue::Double(f) => HeaderValue::Float(*f),
        AMQPValue::DecimalValue(d) => HeaderValue::Float(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => HeaderValue::String(s.as_str().to_owned()),
        // Long strings are bytes in AMQP; text is what every Snodo and RabbitMQ header holds, anything
        // else is kept as bytes rather than mangled.
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => HeaderValue::String(text.to_owned()),
            Err(_) => HeaderValue::Bytes(s.as_bytes().to_vec()),
        },
        AMQPValue::FieldArray(items) => HeaderValue::Array(items.as_slice().iter().map(from_value).collect()),
        AMQPValue::Timestamp(t) => HeaderValue::Timestamp(*t),
        AMQPValue::FieldTable(t) => HeaderValue::Table(from_table(t)),
        AMQPValue::ByteArray(b) => HeaderValue::Bytes(b.as_slice().to_vec()),
        AMQPValue::Void => HeaderValue::Void,
    }
}

/// Queue arguments (`x-queue-type`, `x-message-ttl`, ...) as the table `queue.declare` carries.
pub(crate) fn queue_arguments(arguments: &[(&'static str, QueueArgument)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in arguments {
        let value = match value {
            QueueArgument::Str(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
            QueueArgument::Int(i) => AMQPValue::LongLongInt(*i),
        };
        // Argument names are compile-time constants of the topology module, all far below 255 bytes.
        table.insert(ShortString::from(*name), value);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::DecimalValue;

    fn message() -> Message {
        let mut headers = Headers::new();
        headers.insert("x-snodo-tenant".into(), "015146".into());
        headers.insert("x-snodo-schema".into(), 1i64.into());
        headers.insert("flag".into(), true.into());
        headers.insert("ratio".into(), HeaderValue::Float(0.5));
        headers.insert("raw".into(), HeaderValue::Bytes(vec![0, 159, 146, 150]));
        headers.insert("at".into(), HeaderValue::Timestamp(1_700_000_000));
        headers.insert("nothing".into(), HeaderValue::Void);
        let mut inner = Headers::new();
        inner.insert("count".into(), 2i64.into());
        headers.insert(
            "nested".into(),
            HeaderValue::Array(vec![HeaderValue::Table(inner), "x".into()]),
        );
        Message {
            properties: Properties {
                message_id: Some("0b8a5c3e-1d2f-4c5b-9a8e-7f6d5c4b3a29".into()),
                correlation_id: Some("c".into()),
                kind: Some("anpr.resident.lookup".into()),
                content_type: Some("application/json".into()),
                delivery_mode: Some(2),
                timestamp: Some(1_700_000_001),
                app_id: Some("snodo".into()),
                reply_to: Some("amq.rabbitmq.reply-to".into()),
                expiration: Some("60000".into()),
            },
            headers,
            body: Bytes::from_static(b"{\"a\":1}"),
        }
    }

    #[test]
    fn a_message_survives_the_round_trip_through_amqp_properties() {
        let original = message();
        let props = to_properties(&original).unwrap();
        let back = to_message(&props, original.body.to_vec());
        assert_eq!(back, original);
    }

    #[test]
    fn every_integer_width_reads_as_int() {
        for value in [
            AMQPValue::ShortShortInt(-3),
            AMQPValue::ShortShortUInt(3),
            AMQPValue::ShortInt(-300),
            AMQPValue::ShortUInt(300),
            AMQPValue::LongInt(-70_000),
            AMQPValue::LongUInt(70_000),
            AMQPValue::LongLongInt(-5_000_000_000),
        ] {
            assert!(matches!(from_value(&value), HeaderValue::Int(_)), "{value:?}");
        }
        assert_eq!(from_value(&AMQPValue::LongUInt(70_000)), HeaderValue::Int(70_000));
        assert_eq!(from_value(&AMQPValue::Float(1.5)), HeaderValue::Float(1.5));
        assert_eq!(
            from_value(&AMQPValue::DecimalValue(DecimalValue { scale: 2, value: 150 })),
            HeaderValue::Float(1.5)
        );
        assert_eq!(
            from_value(&AMQPValue::ShortString("s".into())),
            HeaderValue::String("s".into())
        );
    }

    /// `x-death` as RabbitMQ 3.10 writes it: an array of tables with a long-long `count`, long-string
    /// `queue`/`reason`/`exchange`, an array of `routing-keys` and a timestamp `time`.
    #[test]
    fn x_death_from_rabbitmq_reads_as_an_array_of_tables() {
        let mut death = FieldTable::default();
        death.insert("count".into(), AMQPValue::LongLongInt(1));
        death.insert("reason".into(), AMQPValue::LongString("expired".into()));
        death.insert(
            "queue".into(),
            AMQPValue::LongString("snodo.anpr.retry.1s".into()),
        );
        death.insert("exchange".into(), AMQPValue::LongString("".into()));
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(vec![AMQPValue::LongString("snodo.anpr.retry.1s".into())].into()),
        );
        death.insert("time".into(), AMQPValue::Timestamp(1_700_000_000));
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
        );
        let headers = from_table(&headers);
        let deaths = headers["x-death"].as_array().unwrap();
        let first = deaths[0].as_table().unwrap();
        assert_eq!(first["count"].as_i64(), Some(1));
        assert_eq!(first["reason"].as_str(), Some("expired"));
        assert_eq!(first["time"], HeaderValue::Timestamp(1_700_000_000));
        assert_eq!(
            first["routing-keys"].as_array().unwrap()[0].as_str(),
            Some("snodo.anpr.retry.1s")
        );
    }

    #[test]
    fn a_long_string_that_is_not_utf8_stays_bytes() {
        let value = AMQPValue::LongString(LongString::from(vec![0xff, 0xfe]));
        assert_eq!(from_value(&value), HeaderValue::Bytes(vec![0xff, 0xfe]));
    }

    #[test]
    fn an_over_long_short_string_is_an_error_not_a_panic() {
        let mut m = message();
        m.properties.message_id = Some("x".repeat(256));
        let err = to_properties(&m).unwrap_err();
        assert_eq!(err.what, "message_id");
        assert_eq!(err.len, 256);
        let mut m = message();
        m.headers.insert("k".repeat(300), 1i64.into());
        assert!(to_properties(&m).is_err());
    }

    #[test]
    fn queue_arguments_use_long_strings_and_long_longs() {
        let table = queue_arguments(&[
            ("x-queue-type", QueueArgument::Str("quorum".into())),
            ("x-message-ttl", QueueArgument::Int(50)),
        ]);
        assert_eq!(
            table.inner()["x-queue-type"],
            AMQPValue::LongString("quorum".into())
        );
        assert_eq!(table.inner()["x-message-ttl"], AMQPValue::LongLongInt(50));
    }
}
