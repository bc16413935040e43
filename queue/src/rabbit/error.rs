//! How lapin's errors map onto [`TransportError`]: one place that knows RabbitMQ's reply codes.
//!
//! The distinction that matters is who ended the operation. A channel-level ("soft") error is the broker
//! refusing this operation (404 no such queue, 406 inequivalent arguments, 403 access refused, 405 an
//! exclusive queue held by another connection): RabbitMQ closes the channel, and doing the same again
//! fails the same way. Anything else — an I/O error, a missed heartbeat, a `connection.close`, a channel
//! that lapin is still recovering — means the link went away under the operation, which may be retried
//! once the connection is back.

use lapin::protocol::{AMQPErrorKind, AMQPSoftError};

use crate::transport::TransportError;

pub(crate) enum Failure {
    /// The broker refused the operation and closed the channel.
    Refused { code: AMQPSoftError, text: String },
    /// The channel or the connection went away.
    Lost(lapin::Error),
}

pub(crate) fn classify(err: lapin::Error) -> Failure {
    if let lapin::ErrorKind::ProtocolError(amqp) = err.kind()
        && let AMQPErrorKind::Soft(code) = amqp.kind()
    {
        return Failure::Refused {
            code: code.clone(),
            text: amqp.get_message().to_string(),
        };
    }
    Failure::Lost(err)
}

/// What an operation was about, to name it in the error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Object<'a> {
    Queue(&'a str),
    Exchange(&'a str),
    Binding { exchange: &'a str, queue: &'a str },
}

impl Object<'_> {
    fn describe(&self) -> String {
        match self {
            Object::Queue(q) => format!("queue {q:?}"),
            Object::Exchange(x) => format!("exchange {x:?}"),
            Object::Binding { exchange, queue } => {
                format!("binding of queue {queue:?} to exchange {exchange:?}")
            }
        }
    }
}

/// The error for an operation the broker refused.
pub(crate) fn refused(code: &AMQPSoftError, text: String, object: Object<'_>) -> TransportError {
    match code {
        AMQPSoftError::PRECONDITIONFAILED => TransportError::PreconditionFailed {
            object: object.describe(),
            reason: text,
        },
        // "NOT_FOUND - no queue 'q' in vhost 'v'" / "NOT_FOUND - no exchange 'x' in vhost 'v'": a binding
        // names both, the text says which one is missing.
        AMQPSoftError::NOTFOUND => match object {
            Object::Queue(queue) => TransportError::QueueNotFound {
                queue: queue.to_owned(),
            },
            Object::Exchange(exchange) => TransportError::ExchangeNotFound {
                exchange: exchange.to_owned(),
            },
            Object::Binding { queue, .. } if text.contains("no queue") => TransportError::QueueNotFound {
                queue: queue.to_owned(),
            },
            Object::Binding { exchange, .. } => TransportError::ExchangeNotFound {
                exchange: exchange.to_owned(),
            },
        },
        _ => TransportError::Broker(format!("{} refused: {text}", object.describe())),
    }
}

/// Why an operation run by [`Link::run`](super::connection::Link::run) did not succeed.
pub(crate) enum OpError {
    /// Final: the broker refused it.
    Refused(TransportError),
    /// The connection dropped: run it again once the connection is back.
    Lost(lapin::Error),
}

impl OpError {
    pub(crate) fn from_lapin(err: lapin::Error, object: Object<'_>) -> Self {
        match classify(err) {
            Failure::Refused { code, text } => OpError::Refused(refused(&code, text, object)),
            Failure::Lost(err) => OpError::Lost(err),
        }
    }
}

/// The error for an operation that could not finish because the connection stayed down.
pub(crate) fn lost(address: &str, err: &lapin::Error) -> TransportError {
    TransportError::Connect {
        address: address.to_owned(),
        reason: err.to_string(),
    }
}

/// Values that AMQP cannot carry (a name over 255 bytes) are refused before anything is sent.
pub(crate) fn too_long(err: super::convert::TooLong) -> TransportError {
    TransportError::Broker(err.to_string())
}
