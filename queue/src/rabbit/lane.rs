//! One pipelined publisher channel (a "lane"): a task that owns every publish and every confirm of one
//! confirm-mode channel, and decides for each message what the broker's answers say about it.
//!
//! Why it is built this way, and why its decisions are sound, is in the documentation of
//! `publisher.rs`; this file is the mechanism:
//!
//! - the driver task is the only code that publishes on the channel, and it starts a `basic_publish`
//!   only once the previous one's first poll has returned (lapin numbers a publish and queues its frames
//!   in that poll): lapin's delivery tags then follow the order of the frames on the wire;
//! - it keeps every [`PublisherConfirm`] of the channel, polls all of them, and issues verdicts only
//!   after a *quiet pass* (a poll of every publish being written and every unresolved confirm that
//!   found none of them moved) that started after the answers concerned were seen; a message whose
//!   confirm carried someone else's return also waits for the answers of every message published
//!   before its own answer was seen;
//! - each returned message that lapin attaches to a confirm is matched against the messages of the
//!   lane without a verdict yet: one match is the message returned; several (identical messages) are
//!   all *uncertain*; none (never expected) makes every one of them uncertain;
//! - the lane retires at the first failure of its channel (a confirm or a publish failing, the channel
//!   leaving the `Connected` state), so it never carries returns from before a recovery; the channel is
//!   closed once lapin has recovered it.
//!
//! The driver holds the confirms, not the callers: a caller that gives up (its publish timed out, its
//! task was cancelled) cannot take away a confirm that lapin may still attach a return to.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use lapin::message::BasicReturnMessage;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::{self, Failure};

/// What became of one publish on a lane, as the caller acts on it.
pub(crate) enum Outcome {
    /// Confirmed by the broker, and no return on the channel can have been this message's.
    Delivered,
    /// The broker nacked this delivery tag.
    Nacked,
    /// The broker returned this message (`mandatory`, and no queue took it).
    Returned,
    /// The broker answered, but the answer cannot be attributed with certainty (a return that matches
    /// several messages in flight, or the broker closed the channel with messages in flight): publish
    /// it again alone.
    Uncertain,
    /// The channel or the connection went away before the confirm; `Some` carries lapin's error, which
    /// says whether (and when) the channel comes back.
    Lost(Option<lapin::Error>),
    /// Never published (the lane ended first): take another lane.
    Retry,
    /// The transport is closing.
    Closed,
    /// The channel is not in confirm mode (never expected: lapin re-selects it on recovery).
    NotConfirmMode,
}

/// One publish handed to a lane.
pub(crate) struct Request {
    pub(crate) exchange: ShortString,
    pub(crate) routing_key: ShortString,
    pub(crate) options: BasicPublishOptions,
    pub(crate) body: Bytes,
    pub(crate) properties: BasicProperties,
    pub(crate) reply: oneshot::Sender<Outcome>,
    pub(crate) slot: Slot,
}

/// State shared by a lane's handle, its driver and the slots of its requests.
struct Shared {
    /// Requests accepted and not yet answered (queued, being written or unconfirmed).
    load: AtomicUsize,
    /// Set by the driver when the channel can take no more publishes.
    dead: AtomicBool,
    /// Signalled whenever a slot frees up, so that callers waiting for capacity look again.
    capacity: Arc<Notify>,
}

/// One unit of a lane's capacity, held by a request until the driver has answered it (or dropped it).
pub(crate) struct Slot {
    shared: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.load.fetch_sub(1, Ordering::AcqRel);
        self.shared.capacity.notify_waiters();
    }
}

/// The handle the publisher's pool keeps.
pub(crate) struct Lane {
    pub(crate) channel: Channel,
    pub(crate) generation: u64,
    requests: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
}

impl Lane {
    /// Starts the driver of `channel` (already in confirm mode, opened on link generation `generation`).
    pub(crate) fn start(
        channel: Channel,
        generation: u64,
        capacity: Arc<Notify>,
        shutdown: CancellationToken,
        generations: watch::Receiver<u64>,
    ) -> Arc<Lane> {
        let (requests, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            load: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
            capacity,
        });
        let driver = Driver {
            channel: channel.clone(),
            shared: shared.clone(),
            requests: receiver,
            requests_closed: false,
            next_seq: 0,
            sending: VecDeque::new(),
            confirms: Vec::new(),
            failed: false,
        };
        tokio::spawn(driver.run(generation, shutdown, generations));
        Arc::new(Lane {
            channel,
            generation,
            requests,
            shared,
        })
    }

    /// Whether new publishes may go to this lane.
    pub(crate) fn usable(&self, generation: u64) -> bool {
        let status = self.channel.status();
        !self.shared.dead.load(Ordering::Acquire) && self.generation == generation && status.connected()
    }

    pub(crate) fn load(&self) -> usize {
        self.shared.load.load(Ordering::Acquire)
    }

    /// Takes one unit of capacity (the pool decides, under its lock, that there is room).
    pub(crate) fn reserve(&self) -> Slot {
        self.shared.load.fetch_add(1, Ordering::AcqRel);
        Slot {
            shared: self.shared.clone(),
        }
    }

    /// Hands a publish to the driver; `false` if the driver has ended (the request is dropped).
    pub(crate) fn send(&self, request: Request) -> bool {
        self.requests.send(request).is_ok()
    }
}

/// How long a retired channel that lapin is recovering is watched, to close it once recovered.
const CLOSE_RECOVERED_WITHIN: Duration = Duration::from_secs(600);

type Sent = Pin<Box<dyn Future<Output = lapin::Result<PublisherConfirm>> + Send>>;

/// Who is waiting for a message's verdict.
struct Ticket {
    reply: oneshot::Sender<Outcome>,
    _slot: Slot,
}

impl Ticket {
    fn answer(self, outcome: Outcome) {
        // The caller may have given up (timeout): the verdict then has nobody to go to.
        let _ = self.reply.send(outcome);
    }
}

/// What RabbitMQ sends back in a `basic.return` of a message, unchanged: enough to recognise it.
struct Identity {
    mandatory: bool,
    exchange: ShortString,
    routing_key: ShortString,
    message_id: Option<ShortString>,
    body: Bytes,
}

impl Identity {
    fn matches(&self, returned: &BasicReturnMessage) -> bool {
        let delivery = &returned.delivery;
        // Only a `mandatory` publish can come back.
        self.mandatory
            && self.message_id == *delivery.properties.message_id()
            && self.routing_key == delivery.routing_key
            && self.exchange == delivery.exchange
            && self.body[..] == delivery.data[..]
    }
}

/// What the lane knows about one message besides its confirm.
struct Fate {
    identity: Identity,
    ticket: Ticket,
    /// A returned message was recognised as this one, and as no other message of the lane.
    returned: bool,
    /// Its confirm cannot be trusted: publish it again alone.
    uncertain: bool,
}

impl Fate {
    fn distrust(&mut self) {
        self.uncertain = true;
        self.returned = false;
    }
}

/// The publish whose frames lapin is writing: lapin has numbered it, its confirm is not ours yet.
struct Sending {
    seq: u64,
    sent: Sent,
    fate: Fate,
}

/// A published message and its confirm.
struct Unconfirmed {
    seq: u64,
    confirm: PublisherConfirm,
    fate: Fate,
    /// The broker's answer, once seen, and the value of `next_seq` at that moment: every publish that
    /// lapin can have numbered before the answer has a smaller sequence number.
    resolved: Option<(lapin::Result<Confirmation>, u64)>,
}

struct Driver {
    channel: Channel,
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<Request>,
    requests_closed: bool,
    /// The sequence number of the next publish; publishes start in this order, one after the other.
    next_seq: u64,
    /// Publishes whose frames lapin is writing, in the order they were started.
    sending: VecDeque<Sending>,
    /// Every message of the channel without a verdict yet.
    confirms: Vec<Unconfirmed>,
    /// A confirm or a publish of the lane failed: returns prove nothing any more.
    failed: bool,
}

#[derive(Clone, Copy)]
enum End {
    Closed,
    /// The link replaced the connection: lapin will resolve nothing more on this channel.
    Replaced,
}

impl Driver {
    async fn run(
        mut self,
        generation: u64,
        shutdown: CancellationToken,
        mut generations: watch::Receiver<u64>,
    ) {
        let end = tokio::select! {
            () = std::future::poll_fn(|cx| self.poll(cx)) => None,
            _ = shutdown.cancelled() => Some(End::Closed),
            changed = generations.wait_for(|g| *g != generation) => match changed {
                Ok(_) => Some(End::Replaced),
                // The link is gone: so is the transport.
                Err(_) => Some(End::Closed),
            },
        };
        match end {
            // Retired, and every message answered.
            None => close_once_recovered(self.channel, shutdown).await,
            Some(end) => self.fail_all(end),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progressed = false;

            // 1. The publishes being written.
            let mut k = 0;
            while k < self.sending.len() {
                if let Poll::Ready(result) = self.sending[k].sent.as_mut().poll(cx) {
                    let Sending { seq, fate, .. } = self.sending.remove(k).expect("polled above");
                    progressed = true;
                    self.on_sent(seq, fate, result);
                } else {
                    k += 1;
                }
            }

            // 2. The waiting requests, one after the other: each is polled once as soon as it starts
            //    (lapin numbers it and queues its frames in that first poll), before the next starts.
            while let Some(request) = self.next_request(cx) {
                progressed = true;
                self.start(request, cx);
            }

            // 3. One pass over the unresolved confirms.
            progressed |= self.sweep(cx);

            if progressed {
                continue;
            }
            // A quiet pass: every publish being written and every unresolved confirm was polled after
            // every answer seen so far, and none had moved.
            self.issue();
            if !self.channel.status().connected() {
                self.retire("the channel is not connected");
            }
            let dead = self.shared.dead.load(Ordering::Acquire);
            if (dead || self.requests_closed) && self.sending.is_empty() && self.confirms.is_empty() {
                self.requests.close();
                while let Ok(request) = self.requests.try_recv() {
                    answer(request, Outcome::Retry);
                }
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
    }

    /// The next request to publish, if any.
    fn next_request(&mut self, cx: &mut Context<'_>) -> Option<Request> {
        loop {
            let request = match self.requests.poll_recv(cx) {
                Poll::Ready(Some(request)) => request,
                Poll::Ready(None) => {
                    self.requests_closed = true;
                    return None;
                }
                Poll::Pending => return None,
            };
            if self.shared.dead.load(Ordering::Acquire) {
                answer(request, Outcome::Retry);
                continue;
            }
            // Its caller gave up before it was sent: nothing to publish.
            if request.reply.is_closed() {
                continue;
            }
            return Some(request);
        }
    }

    /// Starts a publish and polls it once: when this returns, lapin has given it the next delivery
    /// tag of the channel and queued its frames behind those of every publish started before (see
    /// `publisher.rs`).
    fn start(&mut self, request: Request, cx: &mut Context<'_>) {
        let Request {
            exchange,
            routing_key,
            options,
            body,
            properties,
            reply,
            slot,
        } = request;
        let identity = Identity {
            mandatory: options.mandatory,
            exchange: exchange.clone(),
            routing_key: routing_key.clone(),
            message_id: properties.message_id().clone(),
            body: body.clone(),
        };
        let channel = self.channel.clone();
        let mut sent: Sent = Box::pin(async move {
            channel
                .basic_publish(exchange, routing_key, options, &body, properties)
                .await
        });
        let seq = self.next_seq;
        self.next_seq += 1;
        let fate = Fate {
            identity,
            ticket: Ticket { reply, _slot: slot },
            returned: false,
            uncertain: false,
        };
        match sent.as_mut().poll(cx) {
            Poll::Ready(result) => self.on_sent(seq, fate, result),
            Poll::Pending => self.sending.push_back(Sending { seq, sent, fate }),
        }
    }

    fn on_sent(&mut self, seq: u64, fate: Fate, result: lapin::Result<PublisherConfirm>) {
        match result {
            Ok(confirm) => self.confirms.push(Unconfirmed {
                seq,
                confirm,
                fate,
                resolved: None,
            }),
            Err(err) => {
                // lapin may have numbered this publish before failing, and its confirm went down with
                // the future: nobody would see a return attached to it. That only happens when the
                // channel is being torn down (its pending confirms then fail without taking a
                // return), but distrust every answer still to come anyway, and retire the lane.
                self.fail("a publish failed");
                let outcome = if self.channel.status().initializing() {
                    Outcome::Lost(Some(err))
                } else {
                    debug!(error = %err, "publishing on a closed channel; retrying on another");
                    Outcome::Retry
                };
                fate.ticket.answer(outcome);
            }
        }
    }

    /// One pass over the unresolved confirms; `true` if it saw any newly resolved.
    fn sweep(&mut self, cx: &mut Context<'_>) -> bool {
        let mut observed = false;
        for i in 0..self.confirms.len() {
            if self.confirms[i].resolved.is_some() {
                continue;
            }
            let Poll::Ready(result) = Pin::new(&mut self.confirms[i].confirm).poll(cx) else {
                continue;
            };
            observed = true;
            match &result {
                Ok(Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned))) => {
                    self.attribute(returned);
                }
                Ok(_) => {}
                // lapin fails the pending confirms of a channel that closes or loses its connection,
                // without taking returns: a return may be left in lapin's queue, to be attached to a
                // confirm after the recovery. The channel is done for this lane, and no answer still
                // to come from it can be trusted.
                Err(_) => self.fail("a confirm failed"),
            }
            self.confirms[i].resolved = Some((result, self.next_seq));
        }
        observed
    }

    /// A returned message that lapin attached to some confirm: it belongs to a message of this lane
    /// without a verdict yet (see `publisher.rs`). Find which.
    fn attribute(&mut self, returned: &BasicReturnMessage) {
        if self.failed {
            // It may be a return left over from before the failure: recognise nothing any more.
            self.taint_all();
            return;
        }
        let mut candidates = self
            .confirms
            .iter_mut()
            .map(|u| &mut u.fate)
            .chain(self.sending.iter_mut().map(|s| &mut s.fate))
            .filter(|fate| fate.identity.matches(returned))
            .collect::<Vec<_>>();
        match candidates.as_mut_slice() {
            [only] => only.returned = true,
            [] => {
                debug!(
                    exchange = %returned.delivery.exchange,
                    routing_key = %returned.delivery.routing_key,
                    "a returned message matches no message in flight; distrusting every confirm of the channel"
                );
                self.taint_all();
            }
            several => {
                for fate in several {
                    fate.uncertain = true;
                }
            }
        }
    }

    /// Every message of the lane without a verdict yet is published again alone, even one that a return
    /// was attributed to.
    fn taint_all(&mut self) {
        for unconfirmed in &mut self.confirms {
            unconfirmed.fate.distrust();
        }
        for sending in self.sending.iter_mut() {
            sending.fate.distrust();
        }
    }

    /// The channel failed under the lane.
    fn fail(&mut self, why: &str) {
        self.failed = true;
        self.taint_all();
        self.retire(why);
    }

    /// No more publishes on this channel.
    fn retire(&mut self, why: &str) {
        if !self.shared.dead.swap(true, Ordering::AcqRel) {
            debug!(channel = self.channel.id(), why, "retiring a publisher channel");
        }
    }

    /// Answers every resolved message whose own return, had it one, has been seen for sure (see
    /// `publisher.rs`). Runs right after a quiet pass, so every completion that lapin made before an
    /// answer seen so far has been seen (a publish still being written has not been answered). That is
    /// enough for a message whose confirm carried no return, or its own. One whose confirm carried
    /// someone else's return (its own may still wait in lapin's queue, behind it) also waits until
    /// every message published before its answer was seen has had its answer seen: their completions
    /// are the ones that empty the queue of what it held then.
    fn issue(&mut self) {
        // The oldest message whose answer has not been seen.
        let unseen = self
            .confirms
            .iter()
            .filter(|u| u.resolved.is_none())
            .map(|u| u.seq)
            .chain(self.sending.front().map(|s| s.seq))
            .min()
            .unwrap_or(u64::MAX);
        let mut i = 0;
        while i < self.confirms.len() {
            let unconfirmed = &self.confirms[i];
            let ready = match &unconfirmed.resolved {
                None => false,
                Some((result, seen_at)) => {
                    unconfirmed.fate.returned || !carries_return(result) || unseen >= *seen_at
                }
            };
            if !ready {
                i += 1;
                continue;
            }
            let unconfirmed = self.confirms.swap_remove(i);
            let (result, _) = unconfirmed.resolved.expect("checked above");
            let fate = unconfirmed.fate;
            let outcome = verdict(result, fate.returned, fate.uncertain);
            fate.ticket.answer(outcome);
        }
    }

    fn fail_all(mut self, end: End) {
        self.shared.dead.store(true, Ordering::Release);
        let unconfirmed = || match end {
            End::Closed => Outcome::Closed,
            End::Replaced => Outcome::Lost(None),
        };
        for sending in std::mem::take(&mut self.sending) {
            sending.fate.ticket.answer(unconfirmed());
        }
        for u in std::mem::take(&mut self.confirms) {
            u.fate.ticket.answer(unconfirmed());
        }
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            let outcome = match end {
                End::Closed => Outcome::Closed,
                End::Replaced => Outcome::Retry,
            };
            answer(request, outcome);
        }
    }
}

fn answer(request: Request, outcome: Outcome) {
    Ticket {
        reply: request.reply,
        _slot: request.slot,
    }
    .answer(outcome);
}

fn carries_return(result: &lapin::Result<Confirmation>) -> bool {
    matches!(
        result,
        Ok(Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)))
    )
}

fn verdict(result: lapin::Result<Confirmation>, returned: bool, uncertain: bool) -> Outcome {
    if returned {
        // Whatever lapin attached to its own confirm: the broker sent this very message back.
        return Outcome::Returned;
    }
    match result {
        // A return attached to this confirm was someone else's (recognised when seen), and this
        // message's own return, had there been one, would have been seen before this verdict.
        Ok(Confirmation::Ack(_)) if !uncertain => Outcome::Delivered,
        Ok(Confirmation::Ack(_)) => Outcome::Uncertain,
        // A nack is about this delivery tag, whatever return lapin attached to it.
        Ok(Confirmation::Nack(_)) => Outcome::Nacked,
        Ok(Confirmation::NotRequested) => Outcome::NotConfirmMode,
        Err(err) => match error::classify(err) {
            // The broker closed the channel (404, 403, 406…) for one of the messages in flight, and
            // lapin failed all of them with that error: which one it was is found out alone.
            Failure::Refused { .. } => Outcome::Uncertain,
            Failure::Lost(err) => Outcome::Lost(Some(err)),
        },
    }
}

/// Closes a retired lane's channel: at once if it is open, or once lapin has recovered it (a channel
/// dropped while recovering would be re-opened by lapin and stay open, unused, on the broker).
async fn close_once_recovered(channel: Channel, shutdown: CancellationToken) {
    let give_up = Instant::now() + CLOSE_RECOVERED_WITHIN;
    loop {
        let status = channel.status();
        if status.connected() {
            if let Err(err) = channel.close(200, "retired".into()).await {
                debug!(error = %err, "closing a retired publisher channel");
            }
            return;
        }
        if !status.initializing() || Instant::now() >= give_up {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sleep(Duration::from_millis(250)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    /// The ordering and attribution arguments of `publisher.rs` rest on facts about lapin 4.12.3 (marked
    /// (F) there): how `basic_publish` numbers and queues a publish, how returns are attached to
    /// confirms, what fails them. Check those facts in the new version's source, then update this.
    #[test]
    fn lapin_is_the_version_whose_publishing_was_verified() {
        let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
        let Ok(lock) = std::fs::read_to_string(lock) else {
            // Built outside the workspace: nothing to check against.
            return;
        };
        let lapin = lock
            .split("[[package]]")
            .find(|package| package.contains("name = \"lapin\"\n"))
            .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")));
        assert_eq!(
            lapin,
            Some("\"4.12.3\""),
            "lapin changed: re-check the facts (F1)-(F3) of queue/src/rabbit/publisher.rs"
        );
    }
}
