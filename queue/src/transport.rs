//! The one interface both transports implement: RabbitMQ through lapin and the embedded in-process broker.
//!
//! It is deliberately small — declare, publish with confirm, consume with manual acks, a few queue
//! operations — so that the consumer runtime, request/reply and the conformance suite are written once
//! and behave the same on both. Semantics follow AMQP 0-9-1 as RabbitMQ implements it; where the embedded
//! transport differs (it keeps nothing across a crash) the difference is documented there.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::message::Message;
use crate::topology::Topology;

/// Which transport is behind a [`Transport`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Embedded,
    RabbitMq,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Embedded => "embedded",
            TransportKind::RabbitMq => "rabbitmq",
        })
    }
}

/// One publish: to `exchange` (`""` is the default exchange, where the routing key names a queue).
#[derive(Debug, Clone)]
pub struct Publish {
    pub exchange: String,
    pub routing_key: String,
    pub message: Message,
    /// With `mandatory`, a message that no queue (and no alternate exchange) takes is an error instead of
    /// being silently dropped. Snodo sets it on every publish to exchanges whose bindings it owns.
    pub mandatory: bool,
}

impl Publish {
    pub fn new(exchange: impl Into<String>, routing_key: impl Into<String>, message: Message) -> Self {
        Publish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            message,
            mandatory: true,
        }
    }

    /// Publishes straight into `queue` through the default exchange.
    pub fn to_queue(queue: impl Into<String>, message: Message) -> Self {
        Publish::new("", queue, message)
    }

    pub fn best_effort(mut self) -> Self {
        self.mandatory = false;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// How many unacknowledged deliveries this consumer may hold (`basic.qos`, per consumer).
    pub prefetch: u16,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions { prefetch: 32 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages ready for delivery (not counting unacknowledged ones).
    pub messages: u64,
    pub consumers: u32,
}

/// What the transport can say about its link to the broker, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportStatus {
    pub connected: bool,
    /// Set while the broker blocks publishers (memory or disk alarm, `connection.blocked`), with its reason.
    pub blocked: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to the broker at {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("the broker connection is closed")]
    Closed,
    /// A 406 on declaration: the object exists with other arguments. Queue arguments are immutable, so
    /// this needs an operator (delete the queue, or move to new names), not a retry.
    #[error(
        "{object} already exists on the broker with different settings ({reason}); queue arguments cannot change: delete it or let Snodo declare it under a new name"
    )]
    PreconditionFailed { object: String, reason: String },
    #[error("queue {queue} does not exist")]
    QueueNotFound { queue: String },
    #[error("exchange {exchange} does not exist")]
    ExchangeNotFound { exchange: String },
    #[error("broker error: {0}")]
    Broker(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `mandatory` was set and no queue took the message.
    #[error(
        "no queue is bound for routing key {routing_key:?} on exchange {exchange:?}; the broker returned the message"
    )]
    Unroutable { exchange: String, routing_key: String },
    /// The broker refused the message (`basic.nack`: queue full with `reject-publish`, internal error).
    #[error(
        "the broker refused the message published to exchange {exchange:?} with routing key {routing_key:?}"
    )]
    Nacked { exchange: String, routing_key: String },
    /// No confirm arrived in time, e.g. while the broker blocks publishers or is unreachable.
    #[error("no publisher confirm within {after:?}{}", blocked.as_ref().map(|b| format!(" (broker blocked: {b})")).unwrap_or_default())]
    Timeout {
        after: Duration,
        blocked: Option<String>,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Whether a settlement reached the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    Settled,
    /// The channel the delivery came on is gone: the broker never saw this ack and will redeliver the
    /// message (lapin's poisoned acker, `Ok(false)`). Callers must treat the work as "will come back".
    ChannelLost,
}

/// Settles one delivery. Implemented by each transport.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self) -> Result<AckOutcome, TransportError>;
    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError>;
    /// Called when a delivery is dropped without being settled: the message goes back to its queue, as
    /// when a consumer's channel closes mid-message.
    fn release(&self);
}

/// One message handed to a consumer. Dropping it unsettled requeues it.
pub struct Delivery {
    pub message: Message,
    /// The broker delivered this message before without a settlement (a consumer died or released it).
    pub redelivered: bool,
    /// The queue it came from.
    pub queue: String,
    acker: Option<Box<dyn Acker>>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("redelivered", &self.redelivered)
            .field("message_id", &self.message.properties.message_id)
            .field("type", &self.message.properties.kind)
            .finish()
    }
}

impl Delivery {
    pub fn new(message: Message, redelivered: bool, queue: impl Into<String>, acker: Box<dyn Acker>) -> Self {
        Delivery {
            message,
            redelivered,
            queue: queue.into(),
            acker: Some(acker),
        }
    }

    pub async fn ack(mut self) -> Result<AckOutcome, TransportError> {
        let acker = self
            .acker
            .take()
            .expect("an unsettled delivery always holds its acker");
        acker.ack().await
    }

    pub async fn nack(mut self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let acker = self
            .acker
            .take()
            .expect("an unsettled delivery always holds its acker");
        acker.nack(requeue).await
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            acker.release();
        }
    }
}

/// The deliveries of one consumer. Dropping it cancels the consumer and requeues what it held unsettled.
#[async_trait]
pub trait DeliveryStream: Send {
    /// The next delivery; `None` once the consumer is cancelled or the transport is closed for good.
    /// Transient broker failures are handled inside: the stream resumes after reconnection.
    async fn next(&mut self) -> Option<Delivery>;
}

pub type Consumer = Box<dyn DeliveryStream>;

/// A message transport with RabbitMQ's semantics.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    fn kind(&self) -> TransportKind;

    /// Declares exchanges, queues and bindings; idempotent. A queue that exists with other arguments is
    /// [`TransportError::PreconditionFailed`].
    async fn declare(&self, topology: &Topology) -> Result<(), TransportError>;

    /// Publishes and waits for the broker's confirm. `Ok` means a queue holds the message (or, without
    /// `mandatory`, that the broker accepted it). Messages in flight when the connection drops are
    /// re-published after recovery, within the transport's publish timeout.
    async fn publish(&self, publish: Publish) -> Result<(), PublishError>;

    /// Starts a consumer with manual acknowledgements.
    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError>;

    /// Declares the transient, exclusive queue `name` (deleted when its consumer goes away) and consumes
    /// from it: the reply queue of request/reply. Its deliveries need no settlement.
    async fn consume_replies(&self, name: &str) -> Result<Consumer, TransportError>;

    /// Takes one message (`basic.get`), if any, without a consumer.
    async fn get(&self, queue: &str) -> Result<Option<Delivery>, TransportError>;

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats, TransportError>;

    /// Removes every ready message; returns how many.
    async fn purge_queue(&self, queue: &str) -> Result<u64, TransportError>;

    async fn delete_queue(&self, queue: &str) -> Result<(), TransportError>;

    fn status(&self) -> TransportStatus;

    /// Closes cleanly: consumers end, unsettled deliveries return to their queues.
    async fn close(&self);
}

pub type SharedTransport = Arc<dyn Transport>;
