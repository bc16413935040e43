//! Consumers: one channel each, manual acknowledgements, and a stream of deliveries that outlives broker
//! restarts.
//!
//! What lapin does by itself (read in lapin 4.12 `Channel::start_recovery`, checked by the restart test):
//! after a connection failure it re-opens the consumer's channel, replays `basic.qos` and `basic.consume`
//! with the same consumer object, and the stream simply goes on yielding. Deliveries received before the
//! failure keep an acker that is now *poisoned*: acking returns `Ok(false)`, reported here as
//! [`AckOutcome::ChannelLost`] — RabbitMQ requeued those messages when the old channel died.
//!
//! What it does not do, and [`RabbitConsumer`] does: when only the channel dies (RabbitMQ closes it for a
//! consumer-timeout or a bad acknowledgement), when the broker cancels the consumer (its queue was
//! deleted), or when the link replaces a connection lapin gave up on, lapin's consumer just ends or
//! errors. The stream then opens a new channel and consumes again, and ends only when the transport is
//! closed or the queue no longer exists.
//!
//! Reply consumers (`consume_replies`) declare their classic, exclusive, auto-delete queue on the same
//! channel before consuming with `no_ack`, so lapin's replay re-creates the queue — exclusive queues die
//! with their connection — before it re-subscribes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer as LapinConsumer};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tracing::{debug, info, warn};

use super::connection::Link;
use super::convert;
use super::error::{self, Failure, Object};
use crate::transport::{AckOutcome, Acker, Delivery, DeliveryStream, TransportError};

/// How long one attempt to (re)subscribe may wait for the connection.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Manual acknowledgements with at most `prefetch` unsettled deliveries.
    Work { prefetch: u16 },
    /// The reply queue of request/reply: declared here, consumed without acknowledgements.
    Replies,
}

struct Active {
    channel: Channel,
    consumer: LapinConsumer,
    generation: u64,
}

pub(crate) struct RabbitConsumer {
    link: Arc<Link>,
    queue: String,
    mode: Mode,
    active: Option<Active>,
    generations: watch::Receiver<u64>,
}

impl RabbitConsumer {
    pub(crate) async fn start(link: Arc<Link>, queue: &str, mode: Mode) -> Result<Self, TransportError> {
        let generations = link.generations();
        let active = subscribe(&link, queue, mode, Instant::now() + SUBSCRIBE_WAIT).await?;
        debug!(queue, ?mode, "consuming");
        Ok(RabbitConsumer {
            link,
            queue: queue.to_owned(),
            mode,
            active: Some(active),
            generations,
        })
    }

    /// Subscribes again after the old subscription ended; `None` when the transport is closed or the queue
    /// is gone.
    async fn resubscribe(&self) -> Option<Active> {
        let mut pause = Duration::from_millis(100);
        loop {
            if self.link.is_shut_down() {
                return None;
            }
            match subscribe(
                &self.link,
                &self.queue,
                self.mode,
                Instant::now() + SUBSCRIBE_WAIT,
            )
            .await
            {
                Ok(active) => {
                    info!(queue = %self.queue, "consuming again");
                    return Some(active);
                }
                Err(TransportError::QueueNotFound { .. }) => {
                    warn!(queue = %self.queue, "the queue no longer exists; the consumer ends");
                    return None;
                }
                Err(TransportError::Closed) => return None,
                Err(err) => {
                    warn!(queue = %self.queue, error = %err, retry_in = ?pause, "subscribing again failed");
                    tokio::select! {
                        _ = sleep(pause) => {}
                        _ = self.link.shutdown().cancelled() => return None,
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

fn to_delivery(
    queue: &str,
    mode: Mode,
    link: &Arc<Link>,
    generation: u64,
    delivery: lapin::message::Delivery,
) -> Delivery {
    let lapin::message::Delivery {
        properties,
        data,
        acker,
        redelivered,
        ..
    } = delivery;
    let message = convert::to_message(&properties, data);
    let acker: Box<dyn Acker> = match mode {
        Mode::Work { .. } => Box::new(RabbitAcker {
            acker,
            link: link.clone(),
            generation,
        }),
        Mode::Replies => Box::new(NoSettlement),
    };
    Delivery::new(message, redelivered, queue, acker)
}

enum Event {
    /// lapin's consumer failed or ended.
    Ended(Option<lapin::Error>),
    NewConnection,
    Shutdown,
}

#[async_trait]
impl DeliveryStream for RabbitConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            if self.link.is_shut_down() {
                retire(self.active.take(), &self.link);
                return None;
            }
            if self.active.is_none() {
                self.active = Some(self.resubscribe().await?);
            }
            let RabbitConsumer {
                link,
                queue,
                mode,
                active,
                generations,
            } = self;
            let Some(current) = active.as_mut() else { continue };
            let event = tokio::select! {
                item = current.consumer.next() => match item {
                    Some(Ok(delivery)) => {
                        return Some(to_delivery(queue, *mode, link, current.generation, delivery));
                    }
                    Some(Err(err)) => Event::Ended(Some(err)),
                    None => Event::Ended(None),
                },
                changed = generations.changed() => match changed {
                    Ok(()) => Event::NewConnection,
                    Err(_) => Event::Shutdown,
                },
                _ = link.shutdown().cancelled() => Event::Shutdown,
            };
            match event {
                // lapin reports an error to a consumer when its channel was closed by the broker or its
                // connection failed for good; when lapin recovers a connection the consumer sees nothing.
                Event::Ended(Some(err)) => {
                    warn!(queue = %self.queue, error = %err, "the consumer's channel failed; subscribing again");
                    retire(self.active.take(), &self.link);
                }
                Event::Ended(None) => {
                    if !self.link.is_shut_down() {
                        info!(queue = %self.queue, "the broker cancelled the consumer; subscribing again");
                    }
                    retire(self.active.take(), &self.link);
                }
                Event::NewConnection => {
                    if current.generation != *self.generations.borrow() {
                        retire(self.active.take(), &self.link);
                    }
                }
                Event::Shutdown => {
                    retire(self.active.take(), &self.link);
                    return None;
                }
            }
        }
    }
}

impl Drop for RabbitConsumer {
    fn drop(&mut self) {
        retire(self.active.take(), &self.link);
    }
}

async fn subscribe(
    link: &Link,
    queue: &str,
    mode: Mode,
    deadline: Instant,
) -> Result<Active, TransportError> {
    let name = convert::short("queue name", queue).map_err(error::too_long)?;
    loop {
        let (channel, generation) = link.channel(deadline).await?;
        let Some(subscribed) = link
            .unless_replaced(generation, setup(&channel, name.clone(), mode))
            .await
        else {
            continue;
        };
        match subscribed {
            Ok(consumer) => {
                return Ok(Active {
                    channel,
                    consumer,
                    generation,
                });
            }
            Err(err) => match error::classify(err) {
                Failure::Refused { code, text } => {
                    return Err(error::refused(&code, text, Object::Queue(queue)));
                }
                Failure::Lost(err) => {
                    if Instant::now() >= deadline {
                        return Err(error::lost(link.address(), &err));
                    }
                    debug!(queue, error = %err, "the connection dropped while subscribing; retrying");
                    sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn setup(channel: &Channel, queue: ShortString, mode: Mode) -> lapin::Result<LapinConsumer> {
    // A tag of our own: lapin re-subscribes with the same tag after a reconnection.
    let tag = ShortString::from(format!("snodo-{}", uuid::Uuid::new_v4()));
    match mode {
        Mode::Work { prefetch } => {
            // Per consumer (global=false), which is how RabbitMQ applies basic.qos anyway.
            channel
                .basic_qos(prefetch, BasicQosOptions { global: false })
                .await?;
            channel
                .basic_consume(queue, tag, BasicConsumeOptions::default(), FieldTable::default())
                .await
        }
        Mode::Replies => {
            let options = QueueDeclareOptions {
                durable: false,
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(queue.clone(), options, FieldTable::default())
                .await?;
            let options = BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            };
            channel
                .basic_consume(queue, tag, options, FieldTable::default())
                .await
        }
    }
}

/// Ends a subscription: closing its channel makes RabbitMQ cancel the consumer and requeue every delivery
/// it held unsettled.
///
/// A channel that lapin is still recovering cannot be closed yet, and would be re-opened and re-subscribed
/// by the recovery with nobody reading it, holding up to `prefetch` messages: wait for the recovery, then
/// close it.
fn retire(active: Option<Active>, link: &Link) {
    let Some(Active {
        channel,
        consumer,
        generation,
    }) = active
    else {
        return;
    };
    let generations = link.generations();
    let Ok(handle) = Handle::try_current() else {
        // No runtime (dropped at shutdown): dropping the last handles makes lapin close the channel.
        return;
    };
    let shutdown = link.shutdown().clone();
    handle.spawn(async move {
        // Closing the transport closes the connection, and every channel with it; a connection the link
        // replaced is abandoned with its channels.
        while !shutdown.is_cancelled() && *generations.borrow() == generation {
            let status = channel.status();
            if status.connected() {
                if let Err(err) = channel.close(200, "consumer closed".into()).await {
                    debug!(error = %err, "closing a consumer channel");
                }
                break;
            }
            if !status.reconnecting() && !status.initializing() {
                break;
            }
            sleep(Duration::from_millis(100)).await;
        }
        drop(consumer);
    });
}

/// The settlement of a consumed message, through lapin's acker, on the connection of `generation`.
struct RabbitAcker {
    acker: lapin::Acker,
    link: Arc<Link>,
    generation: u64,
}

impl RabbitAcker {
    /// lapin's settlement, unless the link replaces the delivery's connection first: a connection whose
    /// recovery stalled resolves nothing, and a settlement waiting on it would hold its command (and a
    /// shutdown) forever. Its channel is gone with it, so the broker requeues the message either way.
    async fn settle(&self, settlement: impl Future<Output = lapin::Result<bool>>) -> AckOutcome {
        match self.link.unless_replaced(self.generation, settlement).await {
            Some(result) => outcome(result),
            None => {
                debug!("the delivery's connection was replaced before its settlement went out");
                AckOutcome::ChannelLost
            }
        }
    }
}

/// `Ok(false)` from lapin: the acker is poisoned because its channel closed or is being recovered. The
/// broker never received this settlement and requeues the message by itself. An error means the channel
/// died while the settlement was under way; the broker requeues in that case too.
pub(crate) fn outcome(result: lapin::Result<bool>) -> AckOutcome {
    match result {
        Ok(true) => AckOutcome::Settled,
        Ok(false) => AckOutcome::ChannelLost,
        Err(err) => {
            debug!(error = %err, "a settlement failed with its channel");
            AckOutcome::ChannelLost
        }
    }
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        Ok(self
            .settle(self.acker.ack(BasicAckOptions { multiple: false }))
            .await)
    }

    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let options = BasicNackOptions {
            multiple: false,
            requeue,
        };
        Ok(self.settle(self.acker.nack(options)).await)
    }

    /// A delivery dropped unsettled goes back to its queue now rather than when the channel closes.
    fn release(&self) {
        if !self.acker.usable() {
            return;
        }
        let acker = self.acker.clone();
        let link = self.link.clone();
        let generation = self.generation;
        if let Ok(handle) = Handle::try_current() {
            handle.spawn(async move {
                let options = BasicNackOptions {
                    multiple: false,
                    requeue: true,
                };
                // On a replaced connection the nack would wait forever; the broker requeues anyway.
                if let Some(Err(err)) = link.unless_replaced(generation, acker.nack(options)).await {
                    debug!(error = %err, "requeueing a released delivery");
                }
            });
        }
    }
}

/// Replies are consumed with `no_ack`: the broker considers them settled on delivery, and acknowledging
/// one would be a protocol error (406 unknown delivery tag) that closes the channel.
struct NoSettlement;

#[async_trait]
impl Acker for NoSettlement {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        Ok(AckOutcome::Settled)
    }

    async fn nack(&self, _requeue: bool) -> Result<AckOutcome, TransportError> {
        Ok(AckOutcome::Settled)
    }

    fn release(&self) {}
}
