//! Publishing with publisher confirms, keeping every message until the broker has confirmed it.
//!
//! # Channels
//!
//! Publishes go over a pool of confirm-mode channels, *lanes* (`lane.rs`), opened on demand (one at a
//! time) up to `publisher_channels`. Each lane carries up to `max_in_flight_per_channel` unconfirmed
//! messages, and a new lane opens only when every lane is full: with many messages in flight on one
//! channel RabbitMQ answers with few `multiple` acks and does its per-channel work once for many
//! messages, and lapin's I/O loop writes many publishes at once (it also checks every channel of the
//! connection for each frame it writes: few channels are cheaper). A message whose outcome cannot be
//! known for sure on its lane is published again *alone*, on a channel of its own, where it can.
//!
//! What follows is why the outcomes reported are right, from what lapin 4.12.3 and RabbitMQ do. The
//! test `lane::tests::lapin_is_the_version_whose_publishing_was_verified` stops a lapin upgrade until
//! the facts marked (F) have been checked again; the tests `one_pipelined_channel_*` (in
//! `queue/tests/conformance_rabbitmq.rs`) check the outcomes against a broker.
//!
//! # 1. Delivery tags follow the wire
//!
//! (F1) RabbitMQ numbers the publishes of a confirm-mode channel in the order their frames arrive;
//! lapin numbers them in `Acknowledgements::register_pending`, called by `Channel::basic_publish`
//! (`generated/channel.rs`) before `send_method_frame_with_body` queues the frames with
//! `Frames::push_frames`. Both happen in the *first poll* of the `basic_publish` future — there is no
//! `.await` before the frames are queued; the future then waits until the I/O loop has written them —
//! but under two different locks, so two tasks publishing at once on one channel can queue their frames
//! in the opposite order of their numbers, and each gets the other's confirm (the test
//! `one_pipelined_channel_gives_each_confirm_to_its_message` fails within a few runs when each
//! `basic_publish` runs in a task of its own). The frames of every channel go into one FIFO queue
//! (`low_prio_frames`) that the I/O loop writes in order, moving a publish's header and body frames right
//! behind its method frame (`Frames::pop`); a frame that does not fit the send buffer goes back to the
//! head (`retry_frames`), so the order holds.
//!
//! A lane's driver task is the only code that publishes on its channel, and it starts a publish only
//! once the previous one's first poll has returned: numbering order is queueing order is wire order is
//! the broker's order. It does not wait for the write itself, so publishes of a lane are written in
//! batches. The driver, not the caller, owns the publish future and the confirm: a caller that gives up
//! (a timeout, a cancelled task) cannot disturb either.
//!
//! # 2. Returns
//!
//! (F2) lapin keeps each `basic.return` (method, header, body) in a FIFO queue of its channel
//! (`ReturnedMessages::waiting_messages`), and *every* completion of a pending confirm of that channel
//! (`Acknowledgements::complete_pending`: ack or nack, single or `multiple`) takes the head of that
//! queue, if any, into its `Confirmation`. Nothing ties a return to its delivery tag, and the tags of a
//! `multiple` ack are completed in `HashMap` order. lapin completes confirms one at a time on its I/O
//! thread, resolving each promise under its own mutex. When a channel closes or its connection drops,
//! lapin fails the pending confirms (`on_channel_error`, `reset`) without taking returns, and the queue
//! survives the channel's recovery.
//!
//! (F3) RabbitMQ sends the return of an unroutable `mandatory` message before that message's ack, and
//! the return carries the exchange, routing key, properties and body as published. Other confirms may
//! come in between (the ack of an earlier message waiting for a quorum write, another tag of the same
//! `multiple` ack), so lapin's attachment of returns to confirms means nothing: taken at face value, an
//! unroutable message is acked clean (a silent loss, against DESIGN §4) and another reported returned.
//!
//! (F4) The I/O thread resolves the promise of a publish's frames right after the write that completes
//! them (`IoLoop::write_to_stream`), before it reads anything more from the socket: a confirm is never
//! completed before its publish's `basic_publish` future can finish.
//!
//! **(I)** While no pending confirm of a channel has failed, its queue holds at most as many returns as
//! there are pending messages whose return has arrived: a return arrives for a pending message (F3),
//! and the completion of such a message takes one return, unless the queue is empty. Hence:
//! - (L1) if message *n* was returned and its confirm carries no return, its return was taken by a
//!   completion *before* *n*'s (else *n* would have found the queue non-empty);
//! - (L2) if *n* was returned and its confirm carries a return, its own return was taken no later than
//!   the completions of all the messages pending when *n*'s completed (each takes the head while the
//!   queue holds what it held then);
//! - (L3) a return left in the queue across a failure requires a pending message at that failure: its
//!   confirm fails.
//!
//! **The lane's rules** (`lane.rs`):
//! - (R1) it sees every confirm of its channel. It polls every publish being written and every
//!   unresolved confirm, and a *quiet pass* is one in which none had moved: by (F2) and (F4), every
//!   completion that lapin made before one the lane had already seen is then seen (the promises'
//!   mutexes order them; a publish still being written has not been answered);
//! - (R2) each return taken by a confirm is matched, when seen, against the messages of the lane without
//!   a verdict yet, by `mandatory`, exchange, routing key, `message_id` and body: exactly one match is
//!   *recognised* as returned; several (identical messages) are all *uncertain*; none (never expected)
//!   makes all of them uncertain;
//! - (R3) verdicts are issued after a quiet pass only, so once every completion that can have taken a
//!   message's return by (L1) has been seen; a message whose confirm carried a return not recognised as
//!   its own also waits until every message published before its answer was seen has had its answer
//!   seen (L2);
//! - (R4) once a confirm or a publish of the lane has failed, every message without a verdict is
//!   uncertain (recognitions withdrawn, none made any more) and the lane takes no more publishes; its
//!   channel is closed once lapin has recovered it.
//!
//! **Nothing returned is reported delivered.** Let *n* be returned. By (L1)/(L2), (R1) and (R3), the
//! completion that took *n*'s return was seen before *n*'s verdict; at that moment *n* was published and
//! without a verdict, and it matches its return (F3): by (R2) it was recognised or made uncertain, and
//! only (R4), which makes it uncertain, changes that. **A message reported unroutable was returned.** A
//! return recognised as *n*'s belongs to a message published on the lane; its owner had no verdict yet
//! (same argument) and matches it, so it is *n* — unless the return was left over from a failure, but
//! then (L3) a confirm of the lane failed before the completion that took it, which (R1) is seen before
//! any verdict, and (R4) withdraws the recognition.
//!
//! Outcomes of a lane: recognised: [`PublishError::Unroutable`]; `Ack` otherwise: delivered, unless
//! uncertain; `Nack`: [`PublishError::Nacked`] (a nack is about its own tag); a failed confirm:
//! published again after recovery (§3), except when the broker closed the channel with a channel error
//! (404 no such exchange, 403, 406 an invalid property): lapin fails every confirm of the channel with
//! it, and only the message that caused it must get the error, so all are uncertain.
//!
//! **Alone** ([`Publisher::publish_alone`]): an uncertain message is published again on a confirm-mode
//! channel that carries one message at a time, opened for this and never reused after a failure, so its
//! queue is empty before each publish (I). The message's return, if any, is the one its own confirm
//! takes: `Ack(Some)` is `Unroutable` and `Ack(None)` a delivery, exactly, and a refusal is its own. A
//! routable message may thus reach its queues twice (once from its lane, once alone); consumers
//! de-duplicate by `message_id` (DESIGN §4). With distinct `message_id`s, messages go alone only after a
//! refusal or a failure; returns are real failures in Snodo anyway (`mandatory` is set only where Snodo
//! owns the bindings).
//!
//! # 3. Failures
//!
//! The publishing call itself is the outbox: it holds the message until its verdict. When the channel
//! or the connection dies first, lapin fails the pending confirm (it cannot know whether the broker got
//! the message) and the message is published again once lapin has recovered the channel (on another
//! lane), until the publish timeout. A duplicate is possible; consumers de-duplicate by `message_id`. A
//! loss is not. When the link replaces a connection that lapin stopped recovering, lapin resolves
//! nothing more on it: the lanes of that connection fail their messages, which are published again on
//! the new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tracing::{debug, warn};

use super::connection::Link;
use super::convert;
use super::error::{self, Failure};
use super::lane::{Lane, Outcome, Request, Slot};
use crate::transport::{Publish, PublishError, TransportError};

/// A channel of the "alone" path: one message at a time.
struct PublishChannel {
    channel: Channel,
    /// The link generation the channel was opened on: a channel of a replaced connection is useless.
    generation: u64,
}

#[derive(Default)]
struct Lanes {
    live: Vec<Arc<Lane>>,
    /// Lanes being opened: one at a time.
    opening: usize,
}

pub(crate) struct Publisher {
    link: Arc<Link>,
    lanes: Mutex<Lanes>,
    /// Signalled when a lane frees a slot, opens or fails to open.
    capacity: Arc<Notify>,
    channels: usize,
    max_in_flight: usize,
    /// Idle channels of the alone path.
    alone: Mutex<Vec<PublishChannel>>,
    /// One permit per alone channel: a publish holds one from checkout to confirm.
    alone_permits: Semaphore,
    timeout: Duration,
    closed: AtomicBool,
}

/// What became of one attempt on an alone channel.
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

/// The fixed parts of one publish.
struct Prepared<'a> {
    publish: &'a Publish,
    exchange: ShortString,
    routing_key: ShortString,
    options: BasicPublishOptions,
}

impl Prepared<'_> {
    fn properties(&self) -> Result<BasicProperties, PublishError> {
        convert::to_properties(&self.publish.message).map_err(|err| error::too_long(err).into())
    }

    fn message_id(&self) -> &str {
        self.publish
            .message
            .properties
            .message_id
            .as_deref()
            .unwrap_or("")
    }

    fn kind(&self) -> &str {
        self.publish.message.properties.kind.as_deref().unwrap_or("")
    }
}

/// Decrements `Lanes::opening` however the opening ends (the caller may be cancelled).
struct Opening<'a>(&'a Publisher);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.lanes.lock().opening -= 1;
        self.0.capacity.notify_waiters();
    }
}

impl Publisher {
    pub(crate) fn new(link: Arc<Link>, channels: usize, max_in_flight: usize, timeout: Duration) -> Self {
        let channels = channels.max(1);
        Publisher {
            link,
            lanes: Mutex::new(Lanes::default()),
            capacity: Arc::new(Notify::new()),
            channels,
            max_in_flight: max_in_flight.max(1),
            alone: Mutex::new(Vec::new()),
            alone_permits: Semaphore::new(channels),
            timeout,
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) async fn publish(&self, publish: &Publish) -> Result<(), PublishError> {
        let deadline = Instant::now() + self.timeout;
        let prepared = Prepared {
            publish,
            exchange: convert::short("exchange name", &publish.exchange).map_err(error::too_long)?,
            routing_key: convert::short("routing key", &publish.routing_key).map_err(error::too_long)?,
            options: BasicPublishOptions {
                mandatory: publish.mandatory,
                immediate: false,
            },
        };
        let mut properties = Some(prepared.properties()?);
        let mut attempt = 0u32;
        let mut retries = 0u32;
        loop {
            attempt += 1;
            let (lane, slot) = self.reserve(deadline).await?;
            if attempt > 1 {
                debug!(
                    message_id = prepared.message_id(),
                    r#type = prepared.kind(),
                    attempt,
                    "publishing again: the channel or the connection dropped before the broker confirmed"
                );
            }
            let properties = match properties.take() {
                Some(props) => props,
                None => prepared.properties()?,
            };
            let (reply, answer) = oneshot::channel();
            let request = Request {
                exchange: prepared.exchange.clone(),
                routing_key: prepared.routing_key.clone(),
                options: prepared.options,
                body: publish.message.body.clone(),
                properties,
                reply,
                slot,
            };
            let outcome = if !lane.send(request) {
                Outcome::Retry
            } else {
                match timeout_at(deadline, answer).await {
                    Err(_) => return Err(self.timed_out()),
                    Ok(Ok(outcome)) => outcome,
                    // The driver dropped the request without an answer: it may or may not have been
                    // published, so publish it again.
                    Ok(Err(_)) => Outcome::Retry,
                }
            };
            match outcome {
                Outcome::Delivered => return Ok(()),
                Outcome::Nacked => return Err(nacked(&prepared)),
                Outcome::Returned => return Err(unroutable(&prepared, None)),
                Outcome::Uncertain => {
                    debug!(
                        message_id = prepared.message_id(),
                        r#type = prepared.kind(),
                        "its outcome on a shared channel is in doubt (a return matching several messages, a refusal or a failure of the channel); publishing it again alone"
                    );
                    return self.publish_alone(&prepared, deadline).await;
                }
                Outcome::Lost(err) => {
                    self.recovered(&lane.channel, lane.generation, err, deadline)
                        .await?;
                }
                Outcome::Retry => {
                    retries += 1;
                    if retries > 1 {
                        pause(Duration::from_millis(10), deadline).await;
                    }
                }
                Outcome::Closed => return Err(TransportError::Closed.into()),
                Outcome::NotConfirmMode => {
                    return Err(
                        TransportError::Broker("the publish channel is not in confirm mode".into()).into(),
                    );
                }
            }
        }
    }

    /// Drops the idle channels and the lanes; publishes still running fail as their channels close.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.alone_permits.close();
        self.alone.lock().clear();
        self.lanes.lock().live.clear();
        self.capacity.notify_waiters();
    }

    fn timed_out(&self) -> PublishError {
        PublishError::Timeout {
            after: self.timeout,
            blocked: self.link.blocked(),
        }
    }

    /// A slot on the least loaded lane with room, opening a lane when all are full and fewer than
    /// `publisher_channels` exist; waits for room otherwise.
    async fn reserve(&self, deadline: Instant) -> Result<(Arc<Lane>, Slot), PublishError> {
        loop {
            let notified = self.capacity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.load(Ordering::Acquire) || self.link.is_shut_down() {
                return Err(TransportError::Closed.into());
            }
            let open = {
                let mut lanes = self.lanes.lock();
                let generation = self.link.generation();
                lanes.live.retain(|lane| lane.usable(generation));
                let best = lanes
                    .live
                    .iter()
                    .map(|lane| (lane.load(), lane))
                    .filter(|(load, _)| *load < self.max_in_flight)
                    .min_by_key(|(load, _)| *load);
                if let Some((_, lane)) = best {
                    return Ok((lane.clone(), lane.reserve()));
                }
                // One lane opens at a time: callers arriving together wait for it rather than each
                // opening its own.
                if lanes.opening == 0 && lanes.live.len() < self.channels {
                    lanes.opening += 1;
                    true
                } else {
                    false
                }
            };
            if open {
                let opening = Opening(self);
                let (channel, generation) = self.open_channel(deadline).await?;
                let lane = Lane::start(
                    channel,
                    generation,
                    self.capacity.clone(),
                    self.link.shutdown().clone(),
                    self.link.generations(),
                );
                let slot = lane.reserve();
                self.lanes.lock().live.push(lane.clone());
                drop(opening);
                return Ok((lane, slot));
            }
            if timeout_at(deadline, notified).await.is_err() {
                return Err(self.timed_out());
            }
        }
    }

    /// Publishes on a channel that carries no other message, where the broker's answer is exact.
    async fn publish_alone(&self, prepared: &Prepared<'_>, deadline: Instant) -> Result<(), PublishError> {
        let _permit = match timeout_at(deadline, self.alone_permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(TransportError::Closed.into()),
            Err(_) => return Err(self.timed_out()),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ch = self.checkout_alone(deadline).await?;
            if attempt > 1 {
                debug!(
                    message_id = prepared.message_id(),
                    r#type = prepared.kind(),
                    attempt,
                    "publishing alone again: the connection dropped before the broker confirmed"
                );
            }
            let sent = send(
                &ch.channel,
                &prepared.exchange,
                &prepared.routing_key,
                prepared.options,
                &prepared.publish.message.body,
                prepared.properties()?,
            );
            let attempt = match timeout_at(deadline, self.link.unless_replaced(ch.generation, sent)).await {
                // The confirm may still arrive on this channel: drop it rather than reuse it.
                Err(_) => return Err(self.timed_out()),
                Ok(Some(Ok(confirmation))) => judge(confirmation, prepared),
                Ok(Some(Err(err))) => match error::classify(err) {
                    Failure::Refused { code, text } => {
                        Attempt::Refused(refused(&code, text, prepared.publish))
                    }
                    Failure::Lost(err) => Attempt::Lost(Some(err)),
                },
                // The link replaced the connection under this publish (lapin stopped recovering it): the
                // confirm will never come on the old one.
                Ok(None) => Attempt::Lost(None),
            };
            match attempt {
                Attempt::Answered { result, keep } => {
                    if keep {
                        self.alone.lock().push(ch);
                    }
                    return result;
                }
                Attempt::Refused(err) => return Err(err),
                // Whether or not lapin recovers the channel, it is not used again: a return that came
                // before the connection dropped may still wait in lapin's queue, to be attached to the
                // next confirm. Dropped once recovered, lapin closes it.
                Attempt::Lost(err) => {
                    self.recovered(&ch.channel, ch.generation, err, deadline).await?;
                }
            }
        }
    }

    /// An idle alone channel of the current connection, or a new one.
    async fn checkout_alone(&self, deadline: Instant) -> Result<PublishChannel, PublishError> {
        let generation = self.link.generation();
        while let Some(ch) = self.alone.lock().pop() {
            let status = ch.channel.status();
            // A reconnecting channel is fine: publishing on it waits for lapin's recovery.
            if ch.generation == generation && (status.connected() || status.reconnecting()) {
                return Ok(ch);
            }
        }
        let (channel, generation) = self.open_channel(deadline).await?;
        Ok(PublishChannel { channel, generation })
    }

    /// A new confirm-mode channel on the current connection.
    async fn open_channel(&self, deadline: Instant) -> Result<(Channel, u64), PublishError> {
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
                Ok(Some(Ok(()))) => return Ok((channel, generation)),
                Ok(None) => {}
                Ok(Some(Err(err))) => {
                    debug!(error = %err, "confirm.select failed; opening another channel");
                    sleep(Duration::from_millis(50)).await;
                }
                Err(_) => return Err(self.timed_out()),
            }
        }
    }

    /// Waits for `channel` to come back after `err`. `Ok(true)`: lapin recovered it (in confirm mode);
    /// `Ok(false)`: it will not come back, take another channel.
    async fn recovered(
        &self,
        channel: &Channel,
        generation: u64,
        err: Option<lapin::Error>,
        deadline: Instant,
    ) -> Result<bool, PublishError> {
        let mut generations = self.link.generations();
        let Some(err) = err else { return Ok(false) };
        if generation != *generations.borrow_and_update() {
            return Ok(false);
        }
        tokio::select! {
            // Resolves when lapin has re-opened the channel and re-enabled confirms, or fails at once
            // when no recovery is under way for it (channel closed, connection given up).
            recovery = channel.wait_for_recovery(err) => match recovery {
                Ok(()) => Ok(true),
                Err(err) => {
                    debug!(error = %err, "the publish channel will not recover; taking another");
                    pause(Duration::from_millis(50), deadline).await;
                    Ok(false)
                }
            },
            _ = generations.changed() => Ok(false),
            _ = sleep_until(deadline) => Err(self.timed_out()),
            _ = self.link.shutdown().cancelled() => Err(TransportError::Closed.into()),
        }
    }
}

async fn pause(pause: Duration, deadline: Instant) {
    sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
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

fn nacked(prepared: &Prepared<'_>) -> PublishError {
    let publish = prepared.publish;
    warn!(
        message_id = prepared.message_id(), r#type = prepared.kind(), exchange = %publish.exchange,
        "the broker refused (nacked) a message"
    );
    PublishError::Nacked {
        exchange: publish.exchange.clone(),
        routing_key: publish.routing_key.clone(),
    }
}

fn unroutable(prepared: &Prepared<'_>, reply: Option<&ShortString>) -> PublishError {
    let publish = prepared.publish;
    warn!(
        message_id = prepared.message_id(), r#type = prepared.kind(), exchange = %publish.exchange,
        routing_key = %publish.routing_key, reply = reply.map_or("NO_ROUTE", |r| r.as_str()),
        "the broker returned an unroutable message"
    );
    PublishError::Unroutable {
        exchange: publish.exchange.clone(),
        routing_key: publish.routing_key.clone(),
    }
}

/// The broker's answer to a message published alone.
fn judge(confirmation: Confirmation, prepared: &Prepared<'_>) -> Attempt {
    let result = match confirmation {
        Confirmation::Ack(None) => Ok(()),
        // With `mandatory`, RabbitMQ sends basic.return before the ack of an unroutable message.
        Confirmation::Ack(Some(returned)) => Err(unroutable(prepared, Some(&returned.reply_text))),
        Confirmation::Nack(_) => Err(nacked(prepared)),
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
