//! One queue of the embedded broker: its messages, its consumers with their credit, the deliveries they
//! hold unsettled, and the timer that expires messages at the head.
//!
//! The model is RabbitMQ's quorum queue (`rabbit_fifo`): returned messages (nack with requeue, released
//! or held by a consumer that died) are served before the rest, in the order they came back, and each
//! return raises the message's delivery count; past `x-delivery-limit` the message is dead-lettered
//! (`delivery_limit`). Messages expire only at the head, as RabbitMQ expires them.
//!
//! Everything happens under this queue's mutex, which is a leaf lock: dead letters produced under it are
//! collected and handed to the broker after it is released (see the module doc of `embedded`).

mod expiry;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::EmbeddedBroker;
use super::dead_letter::DeathReason;
use crate::message::{HeaderValue, Message};
use crate::topology::{QueueArgument, QueueKind, QueueSpec};
use crate::transport::{AckOutcome, QueueStats, TransportError};

/// Consumer id of deliveries taken with `get`: they hold no consumer credit.
const GET_CONSUMER: u64 = 0;

/// A message in a queue, with what dead-lettering needs to know about how it got there.
pub(super) struct Entry {
    pub(super) message: Message,
    /// The exchange and routing key it was published (or dead-lettered) with, for `x-death`.
    pub(super) exchange: String,
    pub(super) routing_key: String,
    /// How many times it came back to the queue unsettled (quorum queues only).
    delivery_count: u32,
    redelivered: bool,
    /// Per-message `expiration`, combined with the queue's TTL when enqueued.
    expiration: Option<Duration>,
    expires_at: Option<Instant>,
}

impl Entry {
    pub(super) fn new(
        message: Message,
        exchange: String,
        routing_key: String,
        expiration: Option<Duration>,
    ) -> Entry {
        Entry {
            message,
            exchange,
            routing_key,
            delivery_count: 0,
            redelivered: false,
            expiration,
            expires_at: None,
        }
    }
}

/// What a consumer's stream receives.
pub(super) struct Dispatched {
    pub(super) tag: u64,
    /// The consumer's channel generation at dispatch; a restart makes older deliveries stale.
    pub(super) epoch: u64,
    pub(super) message: Message,
    pub(super) redelivered: bool,
}

/// The receiving side of a consumer registered on a queue.
pub(super) struct ConsumerHandle {
    pub(super) rx: mpsc::UnboundedReceiver<Dispatched>,
    pub(super) epoch: Arc<AtomicU64>,
}

struct Slot {
    id: u64,
    connection: u64,
    /// Credit: unsettled deliveries this consumer may hold.
    prefetch: u32,
    in_flight: u32,
    /// Reply consumers: deliveries are settled on dispatch and hold no credit.
    auto_ack: bool,
    epoch: u64,
    shared_epoch: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Dispatched>,
}

struct Unacked {
    entry: Entry,
    consumer: u64,
    connection: u64,
}

#[derive(Default)]
struct Inner {
    /// Messages that came back unsettled: served first, in the order they came back.
    returned: VecDeque<Entry>,
    ready: VecDeque<Entry>,
    unacked: HashMap<u64, Unacked>,
    consumers: Vec<Slot>,
    /// Round-robin position among `consumers`.
    cursor: usize,
    next_tag: u64,
    deleted: bool,
    /// What the expiry timer sleeps until; `None` while it waits to be notified.
    timer_deadline: Option<Instant>,
}

impl Inner {
    fn head(&self) -> Option<&Entry> {
        self.returned.front().or_else(|| self.ready.front())
    }

    fn pop_head(&mut self) -> Option<Entry> {
        self.returned.pop_front().or_else(|| self.ready.pop_front())
    }

    fn consumer_with_credit(&self) -> Option<usize> {
        let n = self.consumers.len();
        (0..n)
            .map(|i| (self.cursor + i) % n)
            .find(|&i| self.consumers[i].in_flight < self.consumers[i].prefetch)
    }
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settlement {
    Ack,
    /// nack with requeue, or a delivery dropped unsettled.
    Requeue,
    /// nack without requeue: dead-lettered as `rejected`, or dropped without a target.
    Reject,
}

type DeadLetters = Vec<(Entry, DeathReason)>;

pub(super) struct Queue {
    spec: QueueSpec,
    arguments: Vec<(&'static str, QueueArgument)>,
    /// The connection owning an exclusive (reply) queue.
    exclusive_owner: Option<u64>,
    inner: Mutex<Inner>,
    timer: Arc<Notify>,
    timer_started: AtomicBool,
    /// The broker's "restarting" flag: nothing is dispatched while it is set.
    down: Arc<AtomicBool>,
    broker: Weak<EmbeddedBroker>,
}

impl Queue {
    pub(super) fn new(spec: QueueSpec, exclusive_owner: Option<u64>, broker: &Arc<EmbeddedBroker>) -> Queue {
        Queue {
            arguments: spec.arguments(),
            spec,
            exclusive_owner,
            inner: Mutex::new(Inner {
                next_tag: 1,
                ..Inner::default()
            }),
            timer: Arc::new(Notify::new()),
            timer_started: AtomicBool::new(false),
            down: broker.down.clone(),
            broker: Arc::downgrade(broker),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(super) fn spec(&self) -> &QueueSpec {
        &self.spec
    }

    pub(super) fn exclusive_owner(&self) -> Option<u64> {
        self.exclusive_owner
    }

    /// A redeclaration must match the arguments the queue was created with (RabbitMQ's 406
    /// `inequivalent arg`): they cannot change once declared.
    pub(super) fn check_equivalent(&self, requested: &QueueSpec) -> Result<(), TransportError> {
        let object = format!("queue {}", self.spec.name);
        if self.exclusive_owner.is_some() {
            return Err(TransportError::PreconditionFailed {
                object,
                reason: "it is an exclusive reply queue, not a durable queue".into(),
            });
        }
        let requested = requested.arguments();
        let names = requested.iter().chain(&self.arguments).map(|(name, _)| *name);
        for name in names {
            let find = |args: &[(&'static str, QueueArgument)]| {
                args.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, value)| value.clone())
            };
            let (declared, current) = (find(&requested), find(&self.arguments));
            if declared != current {
                return Err(TransportError::PreconditionFailed {
                    object,
                    reason: format!(
                        "inequivalent arg '{name}': declared {}, current is {}",
                        describe(declared.as_ref()),
                        describe(current.as_ref())
                    ),
                });
            }
        }
        Ok(())
    }

    /// Adds a message at the tail (and hands it to a consumer if one has credit). Gives back the exchange
    /// and routing key, for an unroutable error, if the queue was deleted meanwhile.
    pub(super) fn enqueue(self: &Arc<Self>, mut entry: Entry) -> Result<(), (String, String)> {
        let lifetime = match (entry.expiration, self.spec.message_ttl) {
            (Some(message), Some(queue)) => Some(message.min(queue)),
            (message, queue) => message.or(queue),
        };
        if let Some(lifetime) = lifetime {
            // An expiration too far away to represent never fires.
            entry.expires_at = Instant::now().checked_add(lifetime);
            if self.spec.message_ttl.is_none() {
                self.ensure_timer();
            }
        }
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            if inner.deleted {
                return Err((entry.exchange, entry.routing_key));
            }
            inner.ready.push_back(entry);
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
        Ok(())
    }

    /// Registers a consumer; `None` if the queue was deleted meanwhile.
    pub(super) fn add_consumer(
        &self,
        id: u64,
        connection: u64,
        prefetch: u16,
        auto_ack: bool,
    ) -> Option<ConsumerHandle> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared_epoch = Arc::new(AtomicU64::new(0));
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            if inner.deleted {
                return None;
            }
            inner.consumers.push(Slot {
                id,
                connection,
                // AMQP: a prefetch of 0 means no limit.
                prefetch: if prefetch == 0 || auto_ack {
                    u32::MAX
                } else {
                    u32::from(prefetch)
                },
                in_flight: 0,
                auto_ack,
                epoch: 0,
                shared_epoch: shared_epoch.clone(),
                tx,
            });
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
        Some(ConsumerHandle {
            rx,
            epoch: shared_epoch,
        })
    }

    /// Cancels a consumer, returning what it held unsettled. Returns whether an exclusive queue is left
    /// without consumers (it is then auto-deleted).
    pub(super) fn remove_consumer(&self, id: u64) -> bool {
        let mut dead = DeadLetters::new();
        let orphaned = {
            let mut inner = self.inner.lock();
            let Some(position) = inner.consumers.iter().position(|slot| slot.id == id) else {
                return false;
            };
            inner.consumers.remove(position);
            self.return_unacked(&mut inner, |u| u.consumer == id, &mut dead);
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
            inner.consumers.is_empty()
        };
        self.flush(dead);
        orphaned && self.exclusive_owner.is_some()
    }

    /// A connection closed: its consumers end and everything it held unsettled comes back.
    pub(super) fn drop_connection(&self, connection: u64) {
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            inner.consumers.retain(|slot| slot.connection != connection);
            self.return_unacked(&mut inner, |u| u.connection == connection, &mut dead);
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
    }

    /// Every channel dropped (a broker restart): all unsettled deliveries come back and the consumers start
    /// a new generation, so deliveries still queued in their streams are discarded as stale.
    pub(super) fn drop_channels(&self) {
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            self.return_unacked(&mut inner, |_| true, &mut dead);
            for slot in &mut inner.consumers {
                slot.in_flight = 0;
                slot.epoch += 1;
                slot.shared_epoch.store(slot.epoch, Ordering::Release);
            }
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
    }

    /// Dispatches whatever waited while the broker was down.
    pub(super) fn kick(&self) {
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
    }

    /// Settles the delivery `tag`. An unknown tag was already returned (its channel dropped).
    pub(super) fn settle(&self, tag: u64, settlement: Settlement) -> AckOutcome {
        let mut dead = DeadLetters::new();
        {
            let mut inner = self.inner.lock();
            let Some(unacked) = inner.unacked.remove(&tag) else {
                return AckOutcome::ChannelLost;
            };
            if unacked.consumer != GET_CONSUMER
                && let Some(slot) = inner
                    .consumers
                    .iter_mut()
                    .find(|slot| slot.id == unacked.consumer)
            {
                slot.in_flight = slot.in_flight.saturating_sub(1);
            }
            match settlement {
                Settlement::Ack => {}
                Settlement::Requeue => self.return_entry(&mut inner, unacked.entry, &mut dead),
                Settlement::Reject => dead.push((unacked.entry, DeathReason::Rejected)),
            }
            self.dispatch(&mut inner, &mut dead);
            self.rearm_timer(&mut inner);
        }
        self.flush(dead);
        AckOutcome::Settled
    }

    /// `basic.get`: the head message as an unsettled delivery owned by `connection`.
    pub(super) fn get(&self, connection: u64) -> Option<(u64, Message, bool)> {
        let mut dead = DeadLetters::new();
        let taken = {
            let mut inner = self.inner.lock();
            let now = Instant::now();
            let mut taken = None;
            while let Some(entry) = inner.pop_head() {
                if entry.expires_at.is_some_and(|at| at <= now) {
                    dead.push((entry, DeathReason::Expired));
                    continue;
                }
                let tag = inner.next_tag;
                inner.next_tag += 1;
                let mut message = self.delivered_copy(&entry);
                if self.spec.kind == QueueKind::Quorum {
                    // RabbitMQ 3.10 quirk: a quorum queue's `basic.get` carries the count even when it is 0.
                    let count = HeaderValue::Int(i64::from(entry.delivery_count));
                    message.headers.insert("x-delivery-count".into(), count);
                }
                let redelivered = entry.redelivered;
                inner.unacked.insert(
                    tag,
                    Unacked {
                        entry,
                        consumer: GET_CONSUMER,
                        connection,
                    },
                );
                taken = Some((tag, message, redelivered));
                break;
            }
            self.rearm_timer(&mut inner);
            taken
        };
        self.flush(dead);
        taken
    }

    pub(super) fn stats(&self) -> QueueStats {
        let inner = self.inner.lock();
        QueueStats {
            messages: (inner.returned.len() + inner.ready.len()) as u64,
            consumers: u32::try_from(inner.consumers.len()).unwrap_or(u32::MAX),
        }
    }

    /// Removes ready messages; unsettled deliveries stay, as with AMQP `queue.purge`.
    pub(super) fn purge(&self) -> u64 {
        let mut inner = self.inner.lock();
        let count = inner.returned.len() + inner.ready.len();
        inner.returned.clear();
        inner.ready.clear();
        count as u64
    }

    /// The queue left the topology: consumers end (their senders drop), messages are gone.
    pub(super) fn mark_deleted(&self) {
        let mut inner = self.inner.lock();
        inner.deleted = true;
        inner.consumers.clear();
        inner.returned.clear();
        inner.ready.clear();
        inner.unacked.clear();
        drop(inner);
        self.timer.notify_one();
    }

    /// Hands head messages to consumers with credit, round robin, expiring due ones on the way.
    fn dispatch(&self, inner: &mut Inner, dead: &mut DeadLetters) {
        if inner.consumers.is_empty() || self.down.load(Ordering::Acquire) {
            return;
        }
        let mut now = None;
        while let Some(head) = inner.head() {
            if let Some(at) = head.expires_at
                && at <= *now.get_or_insert_with(Instant::now)
            {
                if let Some(entry) = inner.pop_head() {
                    dead.push((entry, DeathReason::Expired));
                }
                continue;
            }
            let Some(index) = inner.consumer_with_credit() else {
                break;
            };
            let Some(entry) = inner.pop_head() else {
                break;
            };
            inner.cursor = index + 1;
            let redelivered = entry.redelivered;
            if inner.consumers[index].auto_ack {
                let slot = &inner.consumers[index];
                let message = self.delivered_message(entry.message, entry.delivery_count);
                // A failed send means the stream is being dropped: like an auto-acked delivery to a
                // consumer that dies, the message is gone.
                let _ = slot.tx.send(Dispatched {
                    tag: 0,
                    epoch: slot.epoch,
                    message,
                    redelivered,
                });
                continue;
            }
            let tag = inner.next_tag;
            inner.next_tag += 1;
            let message = self.delivered_copy(&entry);
            let slot = &mut inner.consumers[index];
            slot.in_flight += 1;
            // A failed send means the stream is being dropped; its Drop returns what the consumer held.
            let _ = slot.tx.send(Dispatched {
                tag,
                epoch: slot.epoch,
                message,
                redelivered,
            });
            let (consumer, connection) = (slot.id, slot.connection);
            inner.unacked.insert(
                tag,
                Unacked {
                    entry,
                    consumer,
                    connection,
                },
            );
        }
    }

    /// The copy a consumer receives; the queue keeps the original until it is settled.
    fn delivered_copy(&self, entry: &Entry) -> Message {
        self.delivered_message(entry.message.clone(), entry.delivery_count)
    }

    fn delivered_message(&self, mut message: Message, delivery_count: u32) -> Message {
        // Quorum queues report how often a message came back (RabbitMQ sets it from the first return on).
        if self.spec.kind == QueueKind::Quorum && delivery_count > 0 {
            message.headers.insert(
                "x-delivery-count".into(),
                HeaderValue::Int(i64::from(delivery_count)),
            );
        }
        message
    }

    /// Puts an unsettled message back, or dead-letters it once it exceeds the delivery limit.
    fn return_entry(&self, inner: &mut Inner, mut entry: Entry, dead: &mut DeadLetters) {
        entry.redelivered = true;
        if self.spec.kind == QueueKind::Quorum {
            entry.delivery_count = entry.delivery_count.saturating_add(1);
            // rabbit_fifo: dead-lettered when the count goes *past* the limit.
            if self
                .spec
                .delivery_limit
                .is_some_and(|limit| entry.delivery_count > limit)
            {
                dead.push((entry, DeathReason::DeliveryLimit));
                return;
            }
        }
        inner.returned.push_back(entry);
    }

    /// Returns the unsettled deliveries selected by `which`, oldest first.
    fn return_unacked(&self, inner: &mut Inner, which: impl Fn(&Unacked) -> bool, dead: &mut DeadLetters) {
        let mut tags: Vec<u64> = inner
            .unacked
            .iter()
            .filter(|(_, u)| which(u))
            .map(|(tag, _)| *tag)
            .collect();
        tags.sort_unstable();
        for tag in tags {
            if let Some(unacked) = inner.unacked.remove(&tag) {
                if let Some(slot) = inner
                    .consumers
                    .iter_mut()
                    .find(|slot| slot.id == unacked.consumer)
                {
                    slot.in_flight = slot.in_flight.saturating_sub(1);
                }
                self.return_entry(inner, unacked.entry, dead);
            }
        }
    }

    /// Dead-letters what the last operation produced; called with no lock held.
    fn flush(&self, dead: DeadLetters) {
        if dead.is_empty() {
            return;
        }
        if let Some(broker) = self.broker.upgrade() {
            broker.dead_letter(self, dead);
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // A timer waiting without a deadline would otherwise sleep until the runtime ends.
        self.timer.notify_one();
    }
}

fn describe(argument: Option<&QueueArgument>) -> String {
    match argument {
        None => "absent".into(),
        Some(QueueArgument::Str(s)) => format!("{s:?}"),
        Some(QueueArgument::Int(i)) => i.to_string(),
    }
}
