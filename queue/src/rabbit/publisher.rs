//! Publishing with publisher confirms, keeping every message until the broker has confirmed it.
//!
//! Publishes go over a pool of confirm-mode channels, and **each channel carries at most one
//! unconfirmed message**. Pipelining several messages on one lapin channel is not safe here:
//!
//! - lapin numbers a publish (`register_pending`) and queues its frames under two different locks, so
//!   two tasks publishing on one channel can put their frames on the wire in the opposite order of their
//!   numbers, and each then receives the other's confirm;
//! - lapin hands a `basic.return` to whichever pending confirm it completes next, and it completes the
//!   confirms of a `multiple` ack in hash-map order. RabbitMQ coalesces confirms into `multiple` acks
//!   (`rabbit_channel:coalesce_and_send`), so with several messages in flight an unroutable message can
//!   be reported as delivered and a routed one as returned — a silent loss under DESIGN §4.
//!
//! With one message per channel the return and the confirm of a channel always belong to that message.
//! Throughput comes from the number of channels (opened lazily, up to `publisher_channels`), since
//! RabbitMQ batches disk writes across channels anyway.
//!
//! The publishing call itself is the outbox: it holds the message until its confirm. When the channel or
//! the connection dies first, lapin fails the pending confirm (it cannot know whether the broker got the
//! message) and the message is published again once lapin has recovered the channel, until the publish
//! timeout. A duplicate is possible; consumers de-duplicate by `message_id` (DESIGN §4). A loss is not.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tracing::{debug, warn};

use super::connection::Link;
use super::convert;
use super::error::{self, Failure};
use crate::transport::{Publish, PublishError, TransportError};

struct PublishChannel {
    channel: Channel,
    /// The link generation the channel was opened on: a channel of a replaced connection is useless.
    generation: u64,
}

pub(crate) struct Publisher {
    link: Arc<Link>,
    idle: Mutex<Vec<PublishChannel>>,
    /// One permit per channel: a publish holds one from checkout to confirm.
    permits: Semaphore,
    timeout: Duration,
}

/// What became of one attempt on one channel.
enum Attempt {
    /// The broker answered; `keep` says whether the channel can serve the next publish.
    Answered {
        result: Result<(), PublishError>,
        keep: bool,
    },
    /// The channel or the connection went away before the confirm (no error: the link replaced the
    /// connection).
    Lost(Option<lapin::Error>),
    /// The broker refused the publish and closed the channel.
    Refused(PublishError),
}

impl Publisher {
    pub(crate) fn new(link: Arc<Link>, channels: usize, timeout: Duration) -> Self {
        Publisher {
            link,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(channels.max(1)),
            timeout,
        }
    }

    pub(crate) async fn publish(&self, publish: &Publish) -> Result<(), PublishError> {
        let deadline = Instant::now() + self.timeout;
        let message = &publish.message;
        let mut properties = Some(convert::to_properties(message).map_err(error::too_long)?);
        let exchange = convert::short("exchange name", &publish.exchange).map_err(error::too_long)?;
        let routing_key = convert::short("routing key", &publish.routing_key).map_err(error::too_long)?;
        let options = BasicPublishOptions {
            mandatory: publish.mandatory,
            immediate: false,
        };
        let _permit = match timeout_at(deadline, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(TransportError::Closed.into()),
            Err(_) => return Err(self.timed_out()),
        };
        let mut held: Option<PublishChannel> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ch = match held.take() {
                Some(ch) => ch,
                None => self.checkout(deadline).await?,
            };
            if attempt > 1 {
                debug!(
                    message_id = message.properties.message_id.as_deref().unwrap_or(""),
                    r#type = message.properties.kind.as_deref().unwrap_or(""),
                    attempt,
                    "publishing again: the connection dropped before the broker confirmed"
                );
            }
            let props = match properties.take() {
                Some(props) => props,
                None => convert::to_properties(message).map_err(error::too_long)?,
            };
            let sent = send(
                &ch.channel,
                &exchange,
                &routing_key,
                options,
                &message.body,
                props,
            );
            let attempt = match timeout_at(deadline, self.link.unless_replaced(ch.generation, sent)).await {
                // The confirm may still arrive on this channel: drop it rather than reuse it.
                Err(_) => return Err(self.timed_out()),
                Ok(Some(Ok(confirmation))) => judge(confirmation, publish),
                Ok(Some(Err(err))) => match error::classify(err) {
                    Failure::Refused { code, text } => Attempt::Refused(refused(&code, text, publish)),
                    Failure::Lost(err) => Attempt::Lost(Some(err)),
                },
                // The link replaced the connection under this publish (lapin stopped recovering it): the
                // confirm will never come on the old one.
                Ok(None) => Attempt::Lost(None),
            };
            match attempt {
                Attempt::Answered { result, keep } => {
                    if keep {
                        self.idle.lock().push(ch);
                    }
                    return result;
                }
                Attempt::Refused(err) => return Err(err),
                Attempt::Lost(err) => {
                    if self.recovered(&ch, err, deadline).await? {
                        held = Some(ch);
                    }
                }
            }
        }
    }

    /// Drops the idle channels; publishes still running fail as their channels close.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle.lock().clear();
    }

    fn timed_out(&self) -> PublishError {
        PublishError::Timeout {
            after: self.timeout,
            blocked: self.link.blocked(),
        }
    }

    /// An idle channel of the current connection, or a new confirm-mode channel.
    async fn checkout(&self, deadline: Instant) -> Result<PublishChannel, PublishError> {
        let generation = self.link.generation();
        while let Some(ch) = self.idle.lock().pop() {
            let status = ch.channel.status();
            // A reconnecting channel is fine: publishing on it waits for lapin's recovery.
            if ch.generation == generation && (status.connected() || status.reconnecting()) {
                return Ok(ch);
            }
        }
        loop {
            let (channel, generation) = match self.link.channel(deadline).await {
                Ok(opened) => opened,
                Err(TransportError::Connect { .. }) => return Err(self.timed_out()),
                Err(err) => return Err(err.into()),
            };
            let selected = self.link.unless_replaced(
                generation,
                channel.confirm_select(ConfirmSelectOptions::default()),
            );
            match timeout_at(deadline, selected).await {
                Ok(Some(Ok(()))) => return Ok(PublishChannel { channel, generation }),
                Ok(None) => {}
                Ok(Some(Err(err))) => {
                    debug!(error = %err, "confirm.select failed; opening another channel");
                    sleep(Duration::from_millis(50)).await;
                }
                Err(_) => return Err(self.timed_out()),
            }
        }
    }

    /// Waits for the channel to come back after `err`. `Ok(true)`: publish again on the same channel
    /// (lapin recovered it, in confirm mode); `Ok(false)`: take another channel.
    async fn recovered(
        &self,
        ch: &PublishChannel,
        err: Option<lapin::Error>,
        deadline: Instant,
    ) -> Result<bool, PublishError> {
        let mut generations = self.link.generations();
        let Some(err) = err else { return Ok(false) };
        if ch.generation != *generations.borrow_and_update() {
            return Ok(false);
        }
        tokio::select! {
            // Resolves when lapin has re-opened the channel and re-enabled confirms, or fails at once
            // when no recovery is under way for it (channel closed, connection given up).
            recovery = ch.channel.wait_for_recovery(err) => match recovery {
                Ok(()) => Ok(true),
                Err(err) => {
                    debug!(error = %err, "the publish channel will not recover; taking another");
                    sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now()))).await;
                    Ok(false)
                }
            },
            _ = generations.changed() => Ok(false),
            _ = sleep_until(deadline) => Err(self.timed_out()),
            _ = self.link.shutdown().cancelled() => Err(TransportError::Closed.into()),
        }
    }
}

async fn send(
    channel: &Channel,
    exchange: &ShortString,
    routing_key: &ShortString,
    options: BasicPublishOptions,
    body: &Bytes,
    properties: BasicProperties,
) -> lapin::Result<Confirmation> {
    channel
        .basic_publish(exchange.clone(), routing_key.clone(), options, body, properties)
        .await?
        .await
}

fn judge(confirmation: Confirmation, publish: &Publish) -> Attempt {
    let properties = &publish.message.properties;
    let message_id = properties.message_id.as_deref().unwrap_or("");
    let kind = properties.kind.as_deref().unwrap_or("");
    let result = match confirmation {
        Confirmation::Ack(None) => Ok(()),
        // With `mandatory`, RabbitMQ sends basic.return before the ack of an unroutable message.
        Confirmation::Ack(Some(returned)) => {
            warn!(
                message_id, r#type = kind, exchange = %publish.exchange, routing_key = %publish.routing_key,
                reply = %returned.reply_text, "the broker returned an unroutable message"
            );
            Err(PublishError::Unroutable {
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            })
        }
        Confirmation::Nack(_) => {
            warn!(message_id, r#type = kind, exchange = %publish.exchange, "the broker refused (nacked) a message");
            Err(PublishError::Nacked {
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            })
        }
        Confirmation::NotRequested => {
            return Attempt::Answered {
                result: Err(
                    TransportError::Broker("the publish channel is not in confirm mode".into()).into(),
                ),
                keep: false,
            };
        }
    };
    Attempt::Answered { result, keep: true }
}

/// A publish the broker refused by closing the channel: 404 when the exchange does not exist, 406 for
/// properties it rejects (an invalid `expiration`), 403 for missing write permission.
fn refused(code: &lapin::protocol::AMQPSoftError, text: String, publish: &Publish) -> PublishError {
    match code {
        lapin::protocol::AMQPSoftError::NOTFOUND => TransportError::ExchangeNotFound {
            exchange: publish.exchange.clone(),
        }
        .into(),
        _ => TransportError::Broker(format!(
            "publishing to exchange {:?} refused: {text}",
            publish.exchange
        ))
        .into(),
    }
}
