//! A transport wrapper that records, in order, every confirmed publish and every acknowledgement, and can
//! slow confirms down. It lets a test prove the ordering rule of DESIGN §4 — a command is acknowledged only
//! after what settles it was confirmed — rather than hope for it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::message::Message;
use crate::topology::Topology;
use crate::transport::{
    AckOutcome, Acker, ConsumeOptions, Consumer, Delivery, DeliveryStream, Publish, PublishError, QueueStats,
    SharedTransport, Transport, TransportError, TransportKind, TransportStatus,
};

/// One recorded step. `command` is the id of the command a message belongs to: its `correlation_id` when
/// set (events), else its `message_id` (commands, retry copies, dead letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Confirmed {
        command: String,
        exchange: String,
        routing_key: String,
    },
    Acked {
        command: String,
        queue: String,
    },
}

#[derive(Clone)]
pub struct RecordingTransport {
    inner: SharedTransport,
    log: Arc<Mutex<Vec<Step>>>,
    confirm_delay: Duration,
}

impl RecordingTransport {
    pub fn new(inner: SharedTransport, confirm_delay: Duration) -> Self {
        RecordingTransport {
            inner,
            log: Arc::default(),
            confirm_delay,
        }
    }

    pub fn steps(&self) -> Vec<Step> {
        self.log.lock().clone()
    }

    /// Every ack of a command came after at least one confirmed publish for that command. Returns the
    /// offending command ids.
    pub fn acks_before_confirm(&self) -> Vec<String> {
        let steps = self.steps();
        let mut bad = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if let Step::Acked { command, .. } = step {
                let confirmed_before = steps[..i]
                    .iter()
                    .any(|s| matches!(s, Step::Confirmed { command: c, .. } if c == command));
                if !confirmed_before {
                    bad.push(command.clone());
                }
            }
        }
        bad
    }
}

fn command_id(message: &Message) -> String {
    message
        .properties
        .correlation_id
        .clone()
        .or_else(|| message.properties.message_id.clone())
        .unwrap_or_default()
}

#[async_trait]
impl Transport for RecordingTransport {
    fn kind(&self) -> TransportKind {
        self.inner.kind()
    }

    async fn declare(&self, topology: &Topology) -> Result<(), TransportError> {
        self.inner.declare(topology).await
    }

    async fn publish(&self, publish: Publish) -> Result<(), PublishError> {
        let step = Step::Confirmed {
            command: command_id(&publish.message),
            exchange: publish.exchange.clone(),
            routing_key: publish.routing_key.clone(),
        };
        self.inner.publish(publish).await?;
        // The confirm "arrives" late: an implementation that acks before awaiting it would show here.
        tokio::time::sleep(self.confirm_delay).await;
        self.log.lock().push(step);
        Ok(())
    }

    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError> {
        let inner = self.inner.consume(queue, options).await?;
        Ok(Box::new(RecordingConsumer {
            inner,
            log: self.log.clone(),
        }))
    }

    async fn consume_replies(&self, name: &str) -> Result<Consumer, TransportError> {
        self.inner.consume_replies(name).await
    }

    async fn get(&self, queue: &str) -> Result<Option<Delivery>, TransportError> {
        self.inner.get(queue).await
    }

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats, TransportError> {
        self.inner.queue_stats(queue).await
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64, TransportError> {
        self.inner.purge_queue(queue).await
    }

    async fn delete_queue(&self, queue: &str) -> Result<(), TransportError> {
        self.inner.delete_queue(queue).await
    }

    fn status(&self) -> TransportStatus {
        self.inner.status()
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

struct RecordingConsumer {
    inner: Consumer,
    log: Arc<Mutex<Vec<Step>>>,
}

#[async_trait]
impl DeliveryStream for RecordingConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        let delivery = self.inner.next().await?;
        let command = command_id(&delivery.message);
        let message = delivery.message.clone();
        let redelivered = delivery.redelivered;
        let queue = delivery.queue.clone();
        let delivery_queue = queue.clone();
        Some(Delivery::new(
            message,
            redelivered,
            queue,
            Box::new(RecordingAcker {
                inner: Mutex::new(Some(delivery)),
                command,
                queue: delivery_queue,
                log: self.log.clone(),
            }),
        ))
    }
}

/// Holds the inner delivery and settles it when the outer one is settled.
struct RecordingAcker {
    inner: Mutex<Option<Delivery>>,
    command: String,
    queue: String,
    log: Arc<Mutex<Vec<Step>>>,
}

#[async_trait]
impl Acker for RecordingAcker {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        let delivery = self.inner.lock().take().ok_or(TransportError::Closed)?;
        self.log.lock().push(Step::Acked {
            command: self.command.clone(),
            queue: self.queue.clone(),
        });
        delivery.ack().await
    }

    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let delivery = self.inner.lock().take().ok_or(TransportError::Closed)?;
        delivery.nack(requeue).await
    }

    fn release(&self) {
        // Dropping the inner delivery releases it.
        self.inner.lock().take();
    }
}
