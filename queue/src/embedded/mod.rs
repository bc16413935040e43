//! The embedded in-process broker: RabbitMQ 3.10 semantics (quorum queues, topic/fanout/direct exchanges,
//! alternate exchanges, TTL and dead-lettering with `x-death`, delivery limits) without a RabbitMQ node.
//!
//! `snodo up` uses it when no AMQP URL is given, and unit tests use it everywhere, so the consumer runtime
//! and the connectors are exercised against the same rules they meet in production: the conformance
//! suite in `testing::conformance` runs unchanged against this broker and against RabbitMQ.
//!
//! Layout: this file holds the broker (topology, routing, dead-letter publishing, the fault hooks the
//! tests use); `exchange` the bindings and the route cache; `queue` one queue's messages, consumers
//! and expiry timer; `dead_letter` RabbitMQ's `x-death` bookkeeping and cycle detection;
//! `connection` the [`Transport`](crate::transport::Transport) implementation handed to callers.
//!
//! Locking: a topology `RwLock` (read on every publish, written on declarations only) and one `Mutex`
//! per queue. A queue's mutex is a leaf: nothing takes the topology lock or another queue's mutex while
//! holding it, so messages dead-lettered under a queue lock are collected and routed after it is released.
//!
//! Differences from RabbitMQ, all deliberate: nothing survives the process (DESIGN §4: `snodo up`
//! refuses a production tenant without RabbitMQ), and dead-lettering is at-most-once: a dead letter whose
//! target exchange is missing or routes nowhere is dropped, where RabbitMQ's at-least-once strategy would
//! keep it in the source queue until a route appears.

mod connection;
mod dead_letter;
mod exchange;
mod queue;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::watch;

use crate::message::Message;
use crate::topology::{QueueKind, QueueSpec, Topology};
use crate::transport::{PublishError, TransportError};

pub use connection::EmbeddedTransport;
use dead_letter::DeathReason;
use exchange::Exchange;
use queue::{Entry, Queue};

/// Settings of one embedded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// How long a publish may wait while the broker blocks publishers (or is restarting) before it fails
    /// with [`PublishError::Timeout`], like a RabbitMQ publisher confirm that never arrives.
    pub publish_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            publish_timeout: Duration::from_secs(30),
        }
    }
}

/// How long [`EmbeddedBroker::simulate_restart`] keeps the broker down: long enough for a publish issued
/// meanwhile to really wait, short enough for tests.
const RESTART_DOWNTIME: Duration = Duration::from_millis(50);

/// Whether publishers may go ahead: closed while a resource alarm blocks them or the broker restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Gate {
    blocked: Option<String>,
    down: bool,
}

impl Gate {
    fn is_open(&self) -> bool {
        self.blocked.is_none() && !self.down
    }
}

/// The broker's declared objects.
#[derive(Default)]
struct Objects {
    exchanges: HashMap<String, Exchange>,
    queues: HashMap<String, Arc<Queue>>,
}

impl Objects {
    /// Every cached route may name a queue or binding that changed: drop them all. Declarations are rare
    /// next to publishes, so a coarse invalidation keeps the cache trivially correct.
    fn invalidate_routes(&self) {
        for exchange in self.exchanges.values() {
            exchange.invalidate();
        }
    }
}

/// An in-process broker. Cheap to create; every [`EmbeddedBroker::connect`] gives an independent
/// connection to it. Its expiry timers run on the Tokio runtime that declared the queues, so one broker
/// belongs to one runtime.
pub struct EmbeddedBroker {
    objects: RwLock<Objects>,
    gate: watch::Sender<Gate>,
    /// Mirror of `!gate.is_open()`, read on every publish without touching the watch channel's lock.
    gate_closed: AtomicBool,
    /// Shared with every queue: while set, nothing is dispatched (the broker is "restarting").
    down: Arc<AtomicBool>,
    next_id: AtomicU64,
}

impl EmbeddedBroker {
    pub fn new() -> Arc<EmbeddedBroker> {
        Arc::new(EmbeddedBroker {
            objects: RwLock::new(Objects::default()),
            gate: watch::Sender::new(Gate::default()),
            gate_closed: AtomicBool::new(false),
            down: Arc::new(AtomicBool::new(false)),
            next_id: AtomicU64::new(1),
        })
    }

    /// A new connection with default settings (30 s publish timeout).
    pub fn connect(self: &Arc<Self>) -> crate::transport::SharedTransport {
        self.connect_with(ConnectionOptions::default())
    }

    pub fn connect_with(self: &Arc<Self>, options: ConnectionOptions) -> crate::transport::SharedTransport {
        Arc::new(EmbeddedTransport::new(self.clone(), self.next_id(), options))
    }

    /// Simulates a broker restart that keeps its durable state: every channel drops, so unsettled
    /// deliveries go back to their queues (redelivered, their delivery count raised) and acks for them
    /// report [`AckOutcome::ChannelLost`](crate::transport::AckOutcome::ChannelLost). Publishes wait while
    /// the broker is down; consumers resume afterwards, as the RabbitMQ transport's do after reconnecting.
    pub async fn simulate_restart(&self) {
        /// Brings the broker back even if the restart's future is dropped during the downtime.
        struct BackUp<'a>(&'a EmbeddedBroker);
        impl Drop for BackUp<'_> {
            fn drop(&mut self) {
                self.0.set_down(false);
                for queue in self.0.all_queues() {
                    queue.kick();
                }
            }
        }
        self.set_down(true);
        let back_up = BackUp(self);
        for queue in self.all_queues() {
            queue.drop_channels();
        }
        tokio::time::sleep(RESTART_DOWNTIME).await;
        drop(back_up);
    }

    /// Raises (`Some(reason)`) or clears (`None`) a resource alarm: while raised, publishes wait, and fail
    /// with [`PublishError::Timeout`] once their connection's publish timeout passes.
    pub fn set_blocked(&self, reason: Option<String>) {
        self.update_gate(|gate| gate.blocked = reason);
    }

    /// The reason publishers are blocked, if they are.
    pub fn blocked(&self) -> Option<String> {
        self.gate.borrow().blocked.clone()
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
        self.update_gate(|gate| gate.down = down);
    }

    fn update_gate(&self, change: impl FnOnce(&mut Gate)) {
        // The mirror is written under the watch channel's lock, so concurrent changes cannot leave it stale.
        self.gate.send_modify(|gate| {
            change(gate);
            self.gate_closed.store(!gate.is_open(), Ordering::Release);
        });
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn all_queues(&self) -> Vec<Arc<Queue>> {
        self.objects.read().queues.values().cloned().collect()
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>, TransportError> {
        self.objects
            .read()
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| TransportError::QueueNotFound {
                queue: name.to_owned(),
            })
    }

    /// Waits until publishers may go ahead, within `timeout`.
    async fn wait_for_gate(&self, timeout: Duration) -> Result<(), PublishError> {
        if !self.gate_closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut gate = self.gate.subscribe();
        match tokio::time::timeout(timeout, gate.wait_for(Gate::is_open)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(TransportError::Closed.into()),
            Err(_) => Err(PublishError::Timeout {
                after: timeout,
                blocked: self.blocked(),
            }),
        }
    }

    /// Declares `topology` in order, stopping at the first conflict as RabbitMQ does (objects declared
    /// before it stay declared).
    fn declare(self: &Arc<Self>, topology: &Topology) -> Result<(), TransportError> {
        let mut objects = self.objects.write();
        let mut changed = false;
        let result = self.declare_locked(&mut objects, topology, &mut changed);
        if changed {
            objects.invalidate_routes();
        }
        result
    }

    fn declare_locked(
        self: &Arc<Self>,
        objects: &mut Objects,
        topology: &Topology,
        changed: &mut bool,
    ) -> Result<(), TransportError> {
        for spec in &topology.exchanges {
            if spec.name.is_empty() || spec.name.starts_with("amq.") {
                return Err(TransportError::Broker(format!(
                    "access refused: exchange name {:?} is reserved by the broker",
                    spec.name
                )));
            }
            match objects.exchanges.get(&spec.name) {
                Some(existing) => existing.check_equivalent(spec)?,
                None => {
                    objects
                        .exchanges
                        .insert(spec.name.clone(), Exchange::new(spec.clone()));
                    *changed = true;
                }
            }
        }
        for spec in &topology.queues {
            match objects.queues.get(&spec.name) {
                Some(existing) => existing.check_equivalent(spec)?,
                None => {
                    let queue = Arc::new(Queue::new(spec.clone(), None, self));
                    if spec.message_ttl.is_some() {
                        queue.ensure_timer();
                    }
                    objects.queues.insert(spec.name.clone(), queue);
                    *changed = true;
                }
            }
        }
        for binding in &topology.bindings {
            if !objects.queues.contains_key(&binding.queue) {
                return Err(TransportError::QueueNotFound {
                    queue: binding.queue.clone(),
                });
            }
            if binding.exchange.is_empty() {
                return Err(TransportError::Broker(format!(
                    "access refused: queue {} cannot be bound to the default exchange",
                    binding.queue
                )));
            }
            let exchange = objects.exchanges.get_mut(&binding.exchange).ok_or_else(|| {
                TransportError::ExchangeNotFound {
                    exchange: binding.exchange.clone(),
                }
            })?;
            *changed |= exchange.bind(&binding.queue, &binding.pattern);
        }
        Ok(())
    }

    /// Declares the transient, exclusive reply queue `name` for `connection`.
    fn declare_reply_queue(
        self: &Arc<Self>,
        name: &str,
        connection: u64,
    ) -> Result<Arc<Queue>, TransportError> {
        let mut objects = self.objects.write();
        if let Some(existing) = objects.queues.get(name) {
            return match existing.exclusive_owner() {
                Some(owner) if owner == connection => Ok(existing.clone()),
                Some(_) => Err(resource_locked(name)),
                None => Err(TransportError::PreconditionFailed {
                    object: format!("queue {name}"),
                    reason: "it is a durable queue, not an exclusive reply queue".into(),
                }),
            };
        }
        let spec = QueueSpec {
            kind: QueueKind::Classic,
            ..QueueSpec::quorum(name)
        };
        let queue = Arc::new(Queue::new(spec, Some(connection), self));
        objects.queues.insert(name.to_owned(), queue.clone());
        Ok(queue)
    }

    /// Removes `name`; its consumers end and its messages are gone.
    fn delete_queue(&self, name: &str) -> Result<(), TransportError> {
        let queue = {
            let mut objects = self.objects.write();
            let queue = objects
                .queues
                .remove(name)
                .ok_or_else(|| TransportError::QueueNotFound {
                    queue: name.to_owned(),
                })?;
            let mut unbound = false;
            for exchange in objects.exchanges.values_mut() {
                unbound |= exchange.unbind_queue(name);
            }
            if unbound {
                objects.invalidate_routes();
            }
            queue
        };
        // Outside the topology lock: a queue's mutex is never taken under it for writing.
        queue.mark_deleted();
        Ok(())
    }

    /// Deletes `queue` if it is still the one registered under its name (an auto-delete reply queue whose
    /// last consumer went away).
    fn delete_if_current(&self, queue: &Arc<Queue>) {
        let removed = {
            let mut objects = self.objects.write();
            match objects.queues.get(queue.name()) {
                Some(current) if Arc::ptr_eq(current, queue) => objects.queues.remove(queue.name()),
                _ => None,
            }
        };
        if let Some(queue) = removed {
            queue.mark_deleted();
        }
    }

    /// A connection closed: its consumers and unsettled `get`s are returned, its exclusive queues deleted.
    fn close_connection(&self, connection: u64) {
        for queue in self.all_queues() {
            queue.drop_connection(connection);
            if queue.exclusive_owner() == Some(connection) {
                self.delete_if_current(&queue);
            }
        }
    }

    /// Routes and enqueues one message. The inner `Err` gives back the exchange and routing key of a
    /// message no queue took, for [`PublishError::Unroutable`].
    fn route_and_enqueue(
        &self,
        exchange: String,
        routing_key: String,
        message: Message,
        expiration: Option<Duration>,
    ) -> Result<Result<(), (String, String)>, TransportError> {
        let objects = self.objects.read();
        if exchange.is_empty() {
            // The default exchange: every queue is implicitly bound under its own name.
            return Ok(match objects.queues.get(&routing_key) {
                Some(queue) => queue.enqueue(Entry::new(message, exchange, routing_key, expiration)),
                None => Err((exchange, routing_key)),
            });
        }
        let source = objects
            .exchanges
            .get(&exchange)
            .ok_or_else(|| TransportError::ExchangeNotFound {
                exchange: exchange.clone(),
            })?;
        let targets = source.route(&objects, &routing_key);
        Ok(enqueue_all(&targets, message, exchange, routing_key, expiration))
    }

    /// Publishes messages dead-lettered from `source` to its dead-letter target, applying RabbitMQ's
    /// cycle detection per target queue. Called without any queue lock held.
    fn dead_letter(&self, source: &Queue, dead: Vec<(Entry, DeathReason)>) {
        let Some(target) = &source.spec().dead_letter else {
            tracing::debug!(
                queue = source.name(),
                count = dead.len(),
                "dropping messages: no dead-letter target"
            );
            return;
        };
        // Recursive: dead-lettering may happen while this thread already reads the topology (a publish
        // whose enqueue expired a message), and a waiting writer must not deadlock it.
        let objects = self.objects.read_recursive();
        for (entry, reason) in dead {
            let message = dead_letter::dead_letter_message(entry, source.name(), reason);
            let targets: Vec<Arc<Queue>> = if target.exchange.is_empty() {
                objects
                    .queues
                    .get(&target.routing_key)
                    .cloned()
                    .into_iter()
                    .collect()
            } else {
                match objects.exchanges.get(&target.exchange) {
                    Some(exchange) => exchange.route(&objects, &target.routing_key).to_vec(),
                    None => Vec::new(),
                }
            };
            let targets: Vec<Arc<Queue>> = targets
                .into_iter()
                .filter(|queue| {
                    let cycle = reason != DeathReason::Rejected
                        && dead_letter::is_cycle(queue.name(), &message.headers);
                    if cycle {
                        tracing::warn!(
                            source = source.name(),
                            target = queue.name(),
                            "dead-letter cycle without a rejection: message dropped for this queue"
                        );
                    }
                    !cycle
                })
                .collect();
            // No expiration: RabbitMQ moves a dead letter's `expiration` into x-death's original-expiration.
            let (exchange, routing_key) = (target.exchange.clone(), target.routing_key.clone());
            if enqueue_all(&targets, message, exchange, routing_key, None).is_err() {
                tracing::warn!(
                    source = source.name(),
                    exchange = target.exchange,
                    routing_key = target.routing_key,
                    "dead letter routed to no queue: dropped"
                );
            }
        }
    }
}

/// Puts `message` into every queue of `targets`, cloning it for all but the last: the common single-queue
/// route moves the message without copying it. `Err` gives back the exchange and routing key when no
/// queue took it.
fn enqueue_all(
    targets: &[Arc<Queue>],
    message: Message,
    exchange: String,
    routing_key: String,
    expiration: Option<Duration>,
) -> Result<(), (String, String)> {
    let Some((last, rest)) = targets.split_last() else {
        return Err((exchange, routing_key));
    };
    let mut routed = false;
    for queue in rest {
        let entry = Entry::new(message.clone(), exchange.clone(), routing_key.clone(), expiration);
        routed |= queue.enqueue(entry).is_ok();
    }
    match last.enqueue(Entry::new(message, exchange, routing_key, expiration)) {
        Ok(()) => Ok(()),
        Err(_) if routed => Ok(()),
        Err(unrouted) => Err(unrouted),
    }
}

fn resource_locked(queue: &str) -> TransportError {
    TransportError::Broker(format!(
        "resource locked: queue {queue} is exclusive to another connection"
    ))
}

/// Parses the AMQP `expiration` property (milliseconds as a decimal string); RabbitMQ refuses anything
/// else with a 406.
fn parse_expiration(expiration: Option<&str>) -> Result<Option<Duration>, TransportError> {
    match expiration {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| TransportError::PreconditionFailed {
                object: "message".into(),
                reason: format!("invalid expiration {text:?}: expected milliseconds as a decimal number"),
            }),
    }
}
