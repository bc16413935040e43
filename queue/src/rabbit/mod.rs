//! The RabbitMQ transport: the [`Transport`] contract over lapin (AMQP 0-9-1), with the delivery
//! guarantees of DESIGN §4 kept across connection failures and broker restarts.
//!
//! Layout (files of this folder):
//! - `connection.rs`: a self-healing connection (`Link`) on top of lapin's auto-recovery, with
//!   `connection.blocked` tracking;
//! - `publisher.rs` and `lane.rs`: publisher confirms over a pool of pipelined channels, with returns
//!   attributed soundly (a message in doubt is published again alone) and what a dying connection left
//!   unconfirmed published again;
//! - `consumer.rs`: per-consumer channels with manual acknowledgements, resubscribing when needed;
//! - `declare.rs` and `queues.rs`: topology declaration and one-queue operations on short-lived channels;
//! - `convert.rs`: [`Message`](crate::message::Message) ⇄ AMQP properties and field tables;
//! - `error.rs`: RabbitMQ reply codes → [`TransportError`].
//!
//! Two connections per transport, one for publishing and one for everything else, as RabbitMQ
//! recommends: while a resource alarm blocks publishers the broker stops reading from connections that
//! publish (and lapin stops writing to a blocked connection), so acknowledgements sharing that connection
//! would stall and consumers would stop making progress.

mod connection;
mod consumer;
mod convert;
mod declare;
mod error;
mod lane;
mod publisher;
mod queues;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use connection::Link;
pub use connection::redact;
use consumer::{Mode, RabbitConsumer};
use publisher::Publisher;

use crate::topology::Topology;
use crate::transport::{
    ConsumeOptions, Consumer, Delivery, Publish, PublishError, QueueStats, SharedTransport, Transport,
    TransportError, TransportKind, TransportStatus,
};

/// Settings of a RabbitMQ transport.
#[derive(Clone)]
pub struct RabbitConfig {
    /// `amqp://user:password@host:5672/vhost` or `amqps://…` (TLS through OpenSSL). The vhost is
    /// percent-encoded: `%2f` is the default vhost `/`.
    pub url: String,
    /// Shown in RabbitMQ's connection list, suffixed with `(publish)` and `(consume)`.
    pub connection_name: String,
    /// How long a publish may wait for its confirm, across reconnections and resource alarms, before it
    /// fails with [`PublishError::Timeout`]. Also bounds declarations and queue operations.
    pub publish_timeout: Duration,
    /// The most channels publishing at once, each carrying up to `max_in_flight_per_channel` unconfirmed
    /// messages; channels open on demand, a new one only when all are full. A message whose outcome
    /// cannot be known for sure on a shared channel (see `rabbit/publisher.rs`: a `basic.return` that
    /// matches several messages in flight, a channel closed by the broker, a connection lost) is
    /// published again on a channel of its own: up to as many channels again, each carrying one message.
    pub publisher_channels: usize,
    /// The most unconfirmed messages on one publisher channel. More lets RabbitMQ acknowledge many
    /// messages at once and lapin write many at once; it also bounds how many messages a channel closed
    /// by the broker (a publish to a missing exchange) sends through that slower path.
    pub max_in_flight_per_channel: usize,
}

impl RabbitConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RabbitConfig {
            url: url.into(),
            connection_name: "snodo".into(),
            publish_timeout: Duration::from_secs(30),
            publisher_channels: 32,
            max_in_flight_per_channel: 64,
        }
    }
}

impl fmt::Debug for RabbitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitConfig")
            .field("url", &redact(&self.url))
            .field("connection_name", &self.connection_name)
            .field("publish_timeout", &self.publish_timeout)
            .field("publisher_channels", &self.publisher_channels)
            .field("max_in_flight_per_channel", &self.max_in_flight_per_channel)
            .finish()
    }
}

/// The [`Transport`] over a RabbitMQ broker.
pub struct RabbitTransport {
    publishing: Arc<Link>,
    consuming: Arc<Link>,
    publisher: Publisher,
    operation_timeout: Duration,
    closed: AtomicBool,
}

impl fmt::Debug for RabbitTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitTransport")
            .field("address", &self.consuming.address())
            .field("status", &self.status())
            .finish()
    }
}

impl RabbitTransport {
    /// Connects to the broker. Fails at once, with the broker's reason, when the address is unreachable
    /// or the credentials or the vhost are refused; once connected, the transport recovers from failures
    /// by itself.
    pub async fn connect(config: RabbitConfig) -> Result<Arc<RabbitTransport>, TransportError> {
        let publishing = Link::open(&config.url, format!("{} (publish)", config.connection_name)).await?;
        let consuming = match Link::open(&config.url, format!("{} (consume)", config.connection_name)).await {
            Ok(link) => link,
            Err(err) => {
                publishing.close().await;
                return Err(err);
            }
        };
        let publisher = Publisher::new(
            publishing.clone(),
            config.publisher_channels,
            config.max_in_flight_per_channel,
            config.publish_timeout,
        );
        Ok(Arc::new(RabbitTransport {
            publishing,
            consuming,
            publisher,
            operation_timeout: config.publish_timeout,
            closed: AtomicBool::new(false),
        }))
    }

    /// [`RabbitTransport::connect`], as the trait object the rest of Snodo works with.
    pub async fn connect_shared(config: RabbitConfig) -> Result<SharedTransport, TransportError> {
        Ok(RabbitTransport::connect(config).await?)
    }

    /// The broker address, without the password.
    pub fn address(&self) -> &str {
        self.consuming.address()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.operation_timeout
    }

    fn ensure_open(&self) -> Result<(), TransportError> {
        if self.closed.load(Ordering::Acquire) {
            Err(TransportError::Closed)
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Transport for RabbitTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::RabbitMq
    }

    async fn declare(&self, topology: &Topology) -> Result<(), TransportError> {
        self.ensure_open()?;
        declare::declare(&self.consuming, topology, self.deadline()).await
    }

    async fn publish(&self, publish: Publish) -> Result<(), PublishError> {
        self.ensure_open()?;
        self.publisher.publish(&publish).await
    }

    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError> {
        self.ensure_open()?;
        let mode = Mode::Work {
            prefetch: options.prefetch,
        };
        Ok(Box::new(
            RabbitConsumer::start(self.consuming.clone(), queue, mode).await?,
        ))
    }

    async fn consume_replies(&self, name: &str) -> Result<Consumer, TransportError> {
        self.ensure_open()?;
        Ok(Box::new(
            RabbitConsumer::start(self.consuming.clone(), name, Mode::Replies).await?,
        ))
    }

    async fn get(&self, queue: &str) -> Result<Option<Delivery>, TransportError> {
        self.ensure_open()?;
        queues::get(&self.consuming, queue, self.deadline()).await
    }

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats, TransportError> {
        self.ensure_open()?;
        queues::stats(&self.consuming, queue, self.deadline()).await
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64, TransportError> {
        self.ensure_open()?;
        queues::purge(&self.consuming, queue, self.deadline()).await
    }

    async fn delete_queue(&self, queue: &str) -> Result<(), TransportError> {
        self.ensure_open()?;
        queues::delete(&self.consuming, queue, self.deadline()).await
    }

    fn status(&self) -> TransportStatus {
        TransportStatus {
            connected: !self.closed.load(Ordering::Acquire)
                && self.publishing.connected()
                && self.consuming.connected(),
            blocked: self.publishing.blocked().or_else(|| self.consuming.blocked()),
        }
    }

    async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.publisher.close();
        tokio::join!(self.publishing.close(), self.consuming.close());
    }
}
