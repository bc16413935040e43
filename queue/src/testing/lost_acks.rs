//! "Outcome confirmed, ack lost, redelivered", made deterministic: a transport wrapper that turns the
//! first acks it sees into lost ones — the delivery is released back to its queue and the runtime is told
//! [`AckOutcome::ChannelLost`], exactly what a broker restart between a confirm and an ack does — and the
//! runtime cases that prove a settled attempt is not handled twice (one outcome per command).
//!
//! The same wrapper can make the first acks hang instead, as an ack on a connection whose I/O stalled
//! does: the case proves that a shutdown does not wait on it past the grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::json;

use super::TestBroker;
use super::harness::{Running, command, declare_for, new_runtime, send, test_settings, unique_names};
use super::scripted::ScriptedConnector;
use crate::runtime::{CommandError, ConnectorRuntime, MemoryLedger};
use crate::topology::Topology;
use crate::transport::{
    AckOutcome, Acker, ConsumeOptions, Consumer, Delivery, DeliveryStream, Publish, PublishError, QueueStats,
    SharedTransport, Transport, TransportError, TransportKind, TransportStatus,
};

const WAIT: Duration = Duration::from_secs(10);
/// How long no further event may appear once the expected one arrived.
const QUIET: Duration = Duration::from_millis(800);

/// What happens to the acks the wrapper spoils.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckFault {
    /// Released back to the queue, reported as [`AckOutcome::ChannelLost`].
    Lose,
    /// Never resolves; the delivery goes back to its queue when the waiting ack is dropped.
    Hang,
}

/// Spoils the first `n` acks of deliveries it hands out; everything else passes through.
#[derive(Clone)]
pub struct LosingAcks {
    inner: SharedTransport,
    to_lose: Arc<AtomicUsize>,
    fault: AckFault,
}

impl LosingAcks {
    pub fn new(inner: SharedTransport, n: usize) -> Self {
        LosingAcks::with_fault(inner, n, AckFault::Lose)
    }

    pub fn with_fault(inner: SharedTransport, n: usize, fault: AckFault) -> Self {
        LosingAcks {
            inner,
            to_lose: Arc::new(AtomicUsize::new(n)),
            fault,
        }
    }

    /// Acks still to be lost.
    pub fn remaining(&self) -> usize {
        self.to_lose.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Transport for LosingAcks {
    fn kind(&self) -> TransportKind {
        self.inner.kind()
    }

    async fn declare(&self, topology: &Topology) -> Result<(), TransportError> {
        self.inner.declare(topology).await
    }

    async fn publish(&self, publish: Publish) -> Result<(), PublishError> {
        self.inner.publish(publish).await
    }

    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError> {
        let inner = self.inner.consume(queue, options).await?;
        Ok(Box::new(LosingConsumer {
            inner,
            to_lose: self.to_lose.clone(),
            fault: self.fault,
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

struct LosingConsumer {
    inner: Consumer,
    to_lose: Arc<AtomicUsize>,
    fault: AckFault,
}

#[async_trait]
impl DeliveryStream for LosingConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        let delivery = self.inner.next().await?;
        let message = delivery.message.clone();
        let redelivered = delivery.redelivered;
        let queue = delivery.queue.clone();
        Some(Delivery::new(
            message,
            redelivered,
            queue,
            Box::new(LosingAcker {
                inner: Mutex::new(Some(delivery)),
                to_lose: self.to_lose.clone(),
                fault: self.fault,
            }),
        ))
    }
}

struct LosingAcker {
    inner: Mutex<Option<Delivery>>,
    to_lose: Arc<AtomicUsize>,
    fault: AckFault,
}

#[async_trait]
impl Acker for LosingAcker {
    async fn ack(&self) -> Result<AckOutcome, TransportError> {
        let lose = self
            .to_lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lose && self.fault == AckFault::Hang {
            // The delivery stays held until this future is dropped, then goes back with the acker.
            std::future::pending::<()>().await;
        }
        let delivery = self.inner.lock().take().ok_or(TransportError::Closed)?;
        if lose {
            // The broker never sees the ack: the message goes back to its queue, flagged redelivered.
            drop(delivery);
            return Ok(AckOutcome::ChannelLost);
        }
        delivery.ack().await
    }

    async fn nack(&self, requeue: bool) -> Result<AckOutcome, TransportError> {
        let delivery = self.inner.lock().take().ok_or(TransportError::Closed)?;
        delivery.nack(requeue).await
    }

    fn release(&self) {
        self.inner.lock().take();
    }
}

/// What a case observed.
struct Observed {
    events: Vec<super::harness::Event>,
    attempts_handled: Vec<u32>,
    already_settled: u64,
    acks_lost: u64,
}

/// Sends one command whose first attempt fails `transient_failures` times, loses the first ack, and
/// gathers what came out.
async fn run_with_a_lost_ack(
    broker: &dyn TestBroker,
    transient_failures: usize,
    with_ledger: bool,
) -> Observed {
    let losing = LosingAcks::new(broker.connect().await, 1);
    let transport: SharedTransport = Arc::new(losing.clone());
    let observer = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    if transient_failures > 0 {
        connector
            .platform
            .fail_next(transient_failures, CommandError::unavailable("HTTP 503"));
    }
    let runtime: ConnectorRuntime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[Duration::from_millis(50), Duration::from_millis(50)]),
    );
    let runtime = if with_ledger {
        runtime.with_settled_ledger(Arc::new(MemoryLedger::default()))
    } else {
        runtime
    };
    let mut tap = declare_for(&observer, &names, &runtime).await;
    let running = Running::start(runtime);
    let metrics = running.metrics.clone();
    let (env, msg) = command("scripted.thing.do", json!({"echo": "once"}));
    send(&observer, &names, msg).await;
    let mut events = tap.take(1, WAIT).await;
    // Whatever a second chain would produce comes within the quiet period (the delays are 50 ms).
    while let Some(event) = tap.next(QUIET).await {
        events.push(event);
    }
    running.stop().await;
    assert_eq!(losing.remaining(), 0, "the ack was lost as planned");
    for event in &events {
        assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    }
    let stats = observer
        .queue_stats(&names.command_queue("scripted"))
        .await
        .expect("stats");
    assert_eq!(stats.messages, 0, "every delivery was acknowledged in the end");
    Observed {
        events,
        attempts_handled: connector.platform.calls().iter().map(|c| c.attempt).collect(),
        already_settled: metrics.already_settled.load(Ordering::Relaxed),
        acks_lost: metrics.acks_lost.load(Ordering::Relaxed),
    }
}

/// A terminal outcome confirmed, its ack lost: the redelivered command is acknowledged without being
/// handled again, so the platform is called once and one event goes out.
pub async fn a_settled_outcome_is_not_handled_again(broker: &dyn TestBroker) {
    let seen = run_with_a_lost_ack(broker, 0, true).await;
    let kinds: Vec<&str> = seen.events.iter().map(|e| e.envelope.kind.as_str()).collect();
    assert_eq!(kinds, vec!["scripted.thing.do.completed"]);
    assert_eq!(seen.attempts_handled, vec![1]);
    assert_eq!(seen.acks_lost, 1);
    assert_eq!(seen.already_settled, 1);
}

/// A retry copy confirmed, the original's ack lost: the redelivered attempt 1 is not handled again, so
/// one retry chain runs and the command ends once (the fault of docs/scale-out.md).
pub async fn a_settled_retry_starts_one_chain(broker: &dyn TestBroker) {
    let seen = run_with_a_lost_ack(broker, 1, true).await;
    let kinds: Vec<&str> = seen.events.iter().map(|e| e.envelope.kind.as_str()).collect();
    assert_eq!(kinds, vec!["scripted.thing.do.completed"]);
    assert_eq!(seen.events[0].envelope.attempt, 2);
    assert_eq!(seen.attempts_handled, vec![1, 2]);
    assert_eq!(seen.already_settled, 1);
}

/// The same fault without a ledger handles the redelivered attempt again — the control that shows the
/// wrapper reproduces the fault the ledger removes.
pub async fn without_a_ledger_the_lost_ack_is_handled_twice(broker: &dyn TestBroker) {
    let seen = run_with_a_lost_ack(broker, 0, false).await;
    assert_eq!(seen.attempts_handled, vec![1, 1]);
    assert_eq!(seen.events.len(), 2, "two outcomes for one command");
    assert_eq!(seen.already_settled, 0);
}

/// An ack that never resolves (its connection's I/O stalled) does not hold a shutdown: the runtime
/// returns after its grace period, the command comes back to the next instance, and the shared ledger
/// recognises it as settled, so it still ends once.
pub async fn a_hanging_ack_does_not_hold_the_shutdown(broker: &dyn TestBroker) {
    let hanging = LosingAcks::with_fault(broker.connect().await, 1, AckFault::Hang);
    let transport: SharedTransport = Arc::new(hanging.clone());
    let observer = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    let ledger = Arc::new(MemoryLedger::default());
    let mut settings = test_settings(&names, &[Duration::from_millis(50)]);
    settings.shutdown_grace = Duration::from_millis(200);
    let runtime = new_runtime(&transport, Arc::new(connector.clone()), settings.clone())
        .with_settled_ledger(ledger.clone());
    let mut tap = declare_for(&observer, &names, &runtime).await;
    let running = Running::start(runtime);
    let (env, msg) = command("scripted.thing.do", json!({"echo": "hang"}));
    send(&observer, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    let until = tokio::time::Instant::now() + WAIT;
    while hanging.remaining() > 0 {
        assert!(tokio::time::Instant::now() < until, "the ack was never attempted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Bounded by Running::stop: without the fix the runtime waits on the ack for ever.
    running.stop().await;
    let second = new_runtime(&observer, Arc::new(connector.clone()), settings).with_settled_ledger(ledger);
    let second = Running::start(second);
    let metrics = second.metrics.clone();
    let until = tokio::time::Instant::now() + WAIT;
    while metrics.already_settled.load(Ordering::Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < until, "the command never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tap.assert_quiet(QUIET).await;
    second.stop().await;
    assert_eq!(connector.platform.calls().len(), 1, "handled once");
}

/// Expands the lost-ack cases for one broker.
#[macro_export]
macro_rules! lost_ack_tests {
    ($make:expr) => {
        mod lost_acks {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_settled_outcome_is_not_handled_again() {
                $crate::testing::lost_acks::a_settled_outcome_is_not_handled_again(&$make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_settled_retry_starts_one_chain() {
                $crate::testing::lost_acks::a_settled_retry_starts_one_chain(&$make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_hanging_ack_does_not_hold_the_shutdown() {
                $crate::testing::lost_acks::a_hanging_ack_does_not_hold_the_shutdown(&$make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn without_a_ledger_the_lost_ack_is_handled_twice() {
                $crate::testing::lost_acks::without_a_ledger_the_lost_ack_is_handled_twice(&$make).await;
            }
        }
    };
}
