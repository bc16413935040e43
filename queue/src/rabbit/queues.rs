//! Operations on one queue outside a consumer: `basic.get`, depth and consumer count, purge, delete.
//!
//! Each runs on a channel of its own ([`Link::run`]): RabbitMQ answers a passive declaration or a get on
//! a missing queue with 404, which closes the channel. A message taken with `basic.get` keeps its channel
//! open until it is settled, since an acknowledgement only counts on the channel that received the
//! message; closing that channel unsettled makes the broker requeue the message.

use async_trait::async_trait;
use lapin::Channel;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::FieldTable;
use tokio::time::Instant;
use tracing::debug;

use super::connection::Link;
use super::consumer::outcome;
use super::convert;
use super::error::{Object, OpError};
use crate::transport::{AckOutcome, Acker, Delivery, QueueStats, TransportError};

pub(crate) async fn stats(link: &Link, queue: &str, deadline: Instant) -> Result<QueueStats, TransportError> {
    let name = convert::short("queue name", queue).map_err(super::error::too_long)?;
    link.run(deadline, |channel| {
        let name = name.clone();
        async move {
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let declared = channel
                .queue_declare(name, options, FieldTable::default())
                .await
                .map_err(|err| OpError::from_lapin(err, Object::Queue(queue)))?;
            Ok(QueueStats {
                messages: u64::from(declared.message_count()),
                consumers: declared.consumer_count(),
            })
        }
    })
    .await
}

pub(crate) async fn purge(link: &Link, queue: &str, deadline: Instant) -> Result<u64, TransportError> {
    let name = convert::short("queue name", queue).map_err(super::error::too_long)?;
    link.run(deadline, |channel| {
        let name = name.clone();
        async move {
            channel
                .queue_purge(name, QueuePurgeOptions::default())
                .await
                .map(u64::from)
                .map_err(|err| OpError::from_lapin(err, Object::Queue(queue)))
        }
    })
    .await
}

pub(crate) async fn delete(link: &Link, queue: &str, deadline: Instant) -> Result<(), TransportError> {
    let name = convert::short("queue name", queue).map_err(super::error::too_long)?;
    link.run(deadline, |channel| {
        let name = name.clone();
        async move {
            channel
                .queue_delete(name, QueueDeleteOptions::default())
                .await
                .map(drop)
                .map_err(|err| OpError::from_lapin(err, Object::Queue(queue)))
        }
    })
    .await
}

pub(crate) async fn get(
    link: &Link,
    queue: &str,
    deadline: Instant,
) -> Result<Option<Delivery>, TransportError> {
    let name = convert::short("queue name", queue).map_err(super::error::too_long)?;
    let taken = link
        .run(deadline, |channel| {
            let name = name.clone();
            async move {
                let message = channel
                    .basic_get(name, BasicGetOptions { no_ack: false })
                    .await
                    .map_err(|err| OpError::from_lapin(err, Object::Queue(queue)))?;
                Ok((message, channel))
            }
        })
        .await?;
    let (Some(message), channel) = taken else {
        return Ok(None);
    };
    let delivery = message.delivery;
    let acker = GetAcker {
        acker: delivery.acker,
        channel,
    };
    Ok(Some(Delivery::new(
        convert::to_message(&delivery.properties, delivery.data),
        delivery.redelivered,
        queue,
        Box::new(acker),
    )))
}

/// Settles a message taken with `basic.get`; dropping it closes the channel, which requeues the message
/// if it was not settled.
struct GetAcker {
    acker: lapin::Acker,
    channel: Channel,
}

impl GetAcker {
    async fn close(&self) {
        if let Err(err) = self.channel.close(200, "settled".into()).await {
            debug!(error = %err, "closing the basic.get channel");
        }
    }
}

#[async_trait]
impl Acker for GetAcker {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        let settled = outcome(self.acker.ack(BasicAckOptions { multiple: false }).await);
        self.close().await;
        Ok(settled)
    }

    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let settled = outcome(
            self.acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue,
                })
                .await,
        );
        self.close().await;
        Ok(settled)
    }

    /// Nothing to send: dropping the acker drops the channel, and RabbitMQ requeues the unsettled
    /// message when the channel closes.
    fn release(&self) {}
}
