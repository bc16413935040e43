//! Declaring a [`Topology`] on RabbitMQ: durable exchanges (with their alternate exchange), durable
//! queues with the arguments of [`QueueSpec::arguments`](crate::topology::QueueSpec::arguments), then
//! bindings.
//!
//! Declarations are idempotent in AMQP as long as the arguments are equal; a queue or exchange that
//! exists with other arguments is answered with 406 PRECONDITION_FAILED, which closes the channel. The
//! whole declaration runs on a channel of its own ([`Link::run`]), so the transport keeps working after
//! a 406 and the error names the object and quotes the broker's reason (e.g. `inequivalent arg
//! 'x-message-ttl' for queue ... received '100' but current is '50'`).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use tokio::time::Instant;

use super::connection::Link;
use super::convert;
use super::error::{Object, OpError};
use crate::topology::{self, Topology};
use crate::transport::TransportError;

pub(crate) async fn declare(
    link: &Link,
    topology: &Topology,
    deadline: Instant,
) -> Result<(), TransportError> {
    // Names over 255 bytes cannot be declared at all: refuse before touching the broker.
    for name in topology
        .exchanges
        .iter()
        .map(|e| e.name.as_str())
        .chain(topology.queues.iter().map(|q| q.name.as_str()))
    {
        convert::short("name", name).map_err(super::error::too_long)?;
    }
    link.run(deadline, |channel| declare_on(channel, topology)).await
}

async fn declare_on(channel: Channel, topology: &Topology) -> Result<(), OpError> {
    for exchange in &topology.exchanges {
        let mut arguments = FieldTable::default();
        if let Some(alternate) = &exchange.alternate_exchange {
            arguments.insert(
                "alternate-exchange".into(),
                AMQPValue::LongString(LongString::from(alternate.as_bytes())),
            );
        }
        let kind = match exchange.kind {
            topology::ExchangeKind::Topic => ExchangeKind::Topic,
            topology::ExchangeKind::Fanout => ExchangeKind::Fanout,
            topology::ExchangeKind::Direct => ExchangeKind::Direct,
        };
        let options = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(name(&exchange.name)?, kind, options, arguments)
            .await
            .map_err(|err| OpError::from_lapin(err, Object::Exchange(&exchange.name)))?;
    }
    for queue in &topology.queues {
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(
                name(&queue.name)?,
                options,
                convert::queue_arguments(&queue.arguments()),
            )
            .await
            .map_err(|err| OpError::from_lapin(err, Object::Queue(&queue.name)))?;
    }
    for binding in &topology.bindings {
        let object = Object::Binding {
            exchange: &binding.exchange,
            queue: &binding.queue,
        };
        let pattern = convert::short("binding pattern", &binding.pattern)
            .map_err(|err| OpError::Refused(super::error::too_long(err)))?;
        channel
            .queue_bind(
                name(&binding.queue)?,
                name(&binding.exchange)?,
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|err| OpError::from_lapin(err, object))?;
    }
    // The channel is dropped here, which closes it: lapin must not replay these declarations on
    // recovery (the objects are durable and survive a broker restart by themselves).
    Ok(())
}

fn name(value: &str) -> Result<lapin::types::ShortString, OpError> {
    convert::short("name", value).map_err(|err| OpError::Refused(super::error::too_long(err)))
}
