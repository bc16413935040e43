//! One connection to the embedded broker, as the [`Transport`] the rest of Snodo sees, with its consumer
//! streams and ackers.
//!
//! Connections matter even in-process: competing consumers on two connections, and a connection that
//! closes while it holds deliveries, must behave as on RabbitMQ (only that connection's unsettled
//! deliveries come back), because the runtime's at-least-once guarantees are tested against this.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::queue::{Dispatched, Queue, Settlement};
use super::{ConnectionOptions, EmbeddedBroker, parse_expiration, resource_locked};
use crate::topology::Topology;
use crate::transport::{
    AckOutcome, Acker, ConsumeOptions, Consumer, Delivery, DeliveryStream, Publish, PublishError, QueueStats,
    Transport, TransportError, TransportKind, TransportStatus,
};

/// A connection to an [`EmbeddedBroker`]; see [`EmbeddedBroker::connect`].
pub struct EmbeddedTransport {
    broker: Arc<EmbeddedBroker>,
    id: u64,
    options: ConnectionOptions,
    closed: AtomicBool,
}

impl EmbeddedTransport {
    pub(super) fn new(broker: Arc<EmbeddedBroker>, id: u64, options: ConnectionOptions) -> Self {
        EmbeddedTransport {
            broker,
            id,
            options,
            closed: AtomicBool::new(false),
        }
    }

    fn check_open(&self) -> Result<(), TransportError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TransportError::Closed);
        }
        Ok(())
    }

    /// The queue `name`, if this connection may use it (exclusive queues belong to one connection).
    fn usable_queue(&self, name: &str) -> Result<Arc<Queue>, TransportError> {
        self.check_open()?;
        let queue = self.broker.queue(name)?;
        match queue.exclusive_owner() {
            Some(owner) if owner != self.id => Err(resource_locked(name)),
            _ => Ok(queue),
        }
    }

    fn start_consumer(
        &self,
        queue: Arc<Queue>,
        prefetch: u16,
        auto_ack: bool,
    ) -> Result<Consumer, TransportError> {
        let id = self.broker.next_id();
        let handle = queue
            .add_consumer(id, self.id, prefetch, auto_ack)
            .ok_or_else(|| TransportError::QueueNotFound {
                queue: queue.name().to_owned(),
            })?;
        Ok(Box::new(EmbeddedStream {
            rx: handle.rx,
            epoch: handle.epoch,
            queue,
            broker: self.broker.clone(),
            id,
            auto_ack,
        }))
    }
}

#[async_trait]
impl Transport for EmbeddedTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Embedded
    }

    async fn declare(&self, topology: &Topology) -> Result<(), TransportError> {
        self.check_open()?;
        self.broker.declare(topology)
    }

    async fn publish(&self, publish: Publish) -> Result<(), PublishError> {
        self.check_open()?;
        self.broker.wait_for_gate(self.options.publish_timeout).await?;
        let expiration = parse_expiration(publish.message.properties.expiration.as_deref())?;
        let mandatory = publish.mandatory;
        match self.broker.route_and_enqueue(
            publish.exchange,
            publish.routing_key,
            publish.message,
            expiration,
        )? {
            Ok(()) => Ok(()),
            Err((exchange, routing_key)) if mandatory => Err(PublishError::Unroutable {
                exchange,
                routing_key,
            }),
            // Without `mandatory` the broker confirms and drops an unroutable message.
            Err(_) => Ok(()),
        }
    }

    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError> {
        let queue = self.usable_queue(queue)?;
        self.start_consumer(queue, options.prefetch, false)
    }

    async fn consume_replies(&self, name: &str) -> Result<Consumer, TransportError> {
        self.check_open()?;
        let queue = self.broker.declare_reply_queue(name, self.id)?;
        self.start_consumer(queue, 0, true)
    }

    async fn get(&self, queue: &str) -> Result<Option<Delivery>, TransportError> {
        let queue = self.usable_queue(queue)?;
        Ok(queue.get(self.id).map(|(tag, message, redelivered)| {
            let name = queue.name().to_owned();
            Delivery::new(message, redelivered, name, Box::new(EmbeddedAcker { queue, tag }))
        }))
    }

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats, TransportError> {
        Ok(self.usable_queue(queue)?.stats())
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64, TransportError> {
        Ok(self.usable_queue(queue)?.purge())
    }

    async fn delete_queue(&self, queue: &str) -> Result<(), TransportError> {
        self.usable_queue(queue)?;
        self.broker.delete_queue(queue)
    }

    fn status(&self) -> TransportStatus {
        TransportStatus {
            connected: !self.closed.load(Ordering::Acquire) && !self.broker.is_down(),
            blocked: self.broker.blocked(),
        }
    }

    async fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.broker.close_connection(self.id);
        }
    }
}

/// The deliveries of one consumer. Dropping it cancels the consumer; its unsettled deliveries come back.
struct EmbeddedStream {
    rx: mpsc::UnboundedReceiver<Dispatched>,
    /// The consumer's channel generation; deliveries from an older one were returned by a restart.
    epoch: Arc<AtomicU64>,
    queue: Arc<Queue>,
    broker: Arc<EmbeddedBroker>,
    id: u64,
    auto_ack: bool,
}

#[async_trait]
impl DeliveryStream for EmbeddedStream {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            // `None` once the queue dropped our sender: consumer cancelled, queue deleted, connection closed.
            let dispatched = self.rx.recv().await?;
            if dispatched.epoch != self.epoch.load(Ordering::Acquire) {
                continue;
            }
            let acker: Box<dyn Acker> = if self.auto_ack {
                Box::new(AutoAcked)
            } else {
                Box::new(EmbeddedAcker {
                    queue: self.queue.clone(),
                    tag: dispatched.tag,
                })
            };
            let name = self.queue.name().to_owned();
            return Some(Delivery::new(
                dispatched.message,
                dispatched.redelivered,
                name,
                acker,
            ));
        }
    }
}

impl Drop for EmbeddedStream {
    fn drop(&mut self) {
        if self.queue.remove_consumer(self.id) {
            // An exclusive reply queue goes away with its last consumer (auto-delete).
            self.broker.delete_if_current(&self.queue);
        }
    }
}

struct EmbeddedAcker {
    queue: Arc<Queue>,
    tag: u64,
}

#[async_trait]
impl Acker for EmbeddedAcker {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        Ok(self.queue.settle(self.tag, Settlement::Ack))
    }

    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let settlement = if requeue {
            Settlement::Requeue
        } else {
            Settlement::Reject
        };
        Ok(self.queue.settle(self.tag, settlement))
    }

    fn release(&self) {
        self.queue.settle(self.tag, Settlement::Requeue);
    }
}

/// Reply deliveries are settled when dispatched (`no-ack` consumers).
struct AutoAcked;

#[async_trait]
impl Acker for AutoAcked {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        Ok(AckOutcome::Settled)
    }

    async fn nack(&self, _requeue: bool) -> Result<AckOutcome, TransportError> {
        Ok(AckOutcome::Settled)
    }

    fn release(&self) {}
}
