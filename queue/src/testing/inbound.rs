//! The inbound compliance suite: what every endpoint a platform calls must do, checked the same way
//! for all of them (beside [`compliance`](super::compliance), its counterpart for commands).
//!
//! DESIGN §4: a platform's call is answered positively only after the resulting event is confirmed
//! into a durable queue; a duplicate call yields the same `message_id`; and with the broker blocked
//! (memory or disk alarm) or unreachable, the endpoint answers the platform's *retryable* error within
//! the platform's timeout — never a positive answer, never silence past the platform's patience.
//!
//! An endpoint's test implements [`InboundSubject`] (start the endpoint on a transport; call it about a
//! given platform id and say what the answer meant) and calls [`assert_inbound_compliance`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::TestBroker;
use super::harness::unique_names;
use crate::envelope::Envelope;
use crate::topology::{BindingSpec, Names, QueueSpec, Topology};
use crate::transport::{
    ConsumeOptions, Consumer, Delivery, Publish, PublishError, QueueStats, SharedTransport, Transport,
    TransportError, TransportKind, TransportStatus,
};

/// What the platform got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundAnswer {
    /// The positive answer (pagoPA `outcome` OK, HTTP 200 to a notification, a redirect after login).
    Stored,
    /// The platform's "try again" answer (pagoPA `PAA_SYSTEM_ERROR`, HTTP 503, …).
    RetryLater,
    /// Anything else, described for the failure message.
    Other(String),
}

/// A running endpoint under test.
#[async_trait]
pub trait InboundEndpoint: Send + Sync {
    /// Makes the platform's call about the fact `platform_id` and classifies the answer.
    async fn call(&self, platform_id: &str) -> InboundAnswer;
}

/// An inbound endpoint, as the suite drives it.
#[async_trait]
pub trait InboundSubject: Send + Sync {
    /// Starts the endpoint, publishing through `transport` under `names`.
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint>;
    /// The event type a call produces (its routing key on the events exchange).
    fn event_kind(&self) -> &str;
    /// How long the platform waits for an answer (pagoPA: 7 s; 15 s for some primitives).
    fn platform_timeout(&self) -> Duration;
    /// Whether a second call about a fact that was already stored is a replay the endpoint must
    /// refuse (a SAML ACS: a Response is consumed once, SPID `single-sign-on.rst`). The duplicate
    /// case then requires the repeat to be refused and publish nothing; a repeat after a retryable
    /// answer must still succeed, as for every endpoint.
    fn duplicate_is_a_replay(&self) -> bool {
        false
    }
}

/// Runs every case against `broker`. Cases that need the broker to block publishers use
/// [`TestBroker::block_publishers`], so RabbitMQ runs need the private test node.
pub async fn assert_inbound_compliance(broker: &dyn TestBroker, subject: &dyn InboundSubject) {
    positive_only_after_the_confirm(broker, subject).await;
    duplicate_calls_carry_one_message_id(broker, subject).await;
    unreachable_broker_gets_a_retryable_answer_in_time(broker, subject).await;
    blocked_broker_gets_a_retryable_answer_in_time(broker, subject).await;
}

/// Declares the events topology and one durable subscriber queue bound to the subject's events.
async fn declare(transport: &SharedTransport, subject: &dyn InboundSubject) -> (Names, String) {
    let names = unique_names();
    let inbox = format!("{}.inbound-suite", names.prefix);
    let mut topology = Topology::snodo(&names, &[], &[], &[]);
    topology.queues.push(QueueSpec::quorum(inbox.clone()));
    topology.bindings.push(BindingSpec {
        exchange: names.events_exchange(),
        queue: inbox.clone(),
        pattern: subject.event_kind().to_owned(),
    });
    transport
        .declare(&topology)
        .await
        .expect("declare the events topology");
    (names, inbox)
}

async fn take_event(transport: &SharedTransport, inbox: &str) -> Option<Envelope> {
    let delivery = transport.get(inbox).await.expect("basic.get on the inbox")?;
    let envelope = Envelope::parse(&delivery.message).expect("the event is a valid Snodo envelope");
    delivery.ack().await.expect("ack the inbox message");
    Some(envelope)
}

async fn positive_only_after_the_confirm(broker: &dyn TestBroker, subject: &dyn InboundSubject) {
    let real = broker.connect().await;
    let (names, inbox) = declare(&real, subject).await;
    // Confirms arrive 300 ms late: a positive answer before that would be a promise the broker has
    // not made yet.
    let gated = Arc::new(GatedTransport::new(real.clone()));
    gated.set_confirm_delay(Duration::from_millis(300));
    let endpoint = subject.start(gated.clone(), &names).await;
    let started = Instant::now();
    let answer = endpoint.call("suite-positive-1").await;
    let took = started.elapsed();
    assert_eq!(
        answer,
        InboundAnswer::Stored,
        "a healthy broker must give a positive answer"
    );
    let confirmed_at = gated
        .last_confirm()
        .expect("the endpoint published through the transport");
    assert!(
        confirmed_at <= started + took,
        "answered positively before the broker confirmed the event"
    );
    assert!(
        took >= Duration::from_millis(300),
        "answered in {took:?}, before the delayed confirm"
    );
    let event = take_event(&real, &inbox)
        .await
        .expect("the event is in the durable queue");
    assert_eq!(event.kind.as_str(), subject.event_kind());
}

async fn duplicate_calls_carry_one_message_id(broker: &dyn TestBroker, subject: &dyn InboundSubject) {
    let transport = broker.connect().await;
    let (names, inbox) = declare(&transport, subject).await;
    let endpoint = subject.start(transport.clone(), &names).await;
    assert_eq!(endpoint.call("suite-dup-1").await, InboundAnswer::Stored);
    let repeat = endpoint.call("suite-dup-1").await;
    assert_eq!(endpoint.call("suite-dup-2").await, InboundAnswer::Stored);
    let mut ids = Vec::new();
    while let Some(event) = take_event(&transport, &inbox).await {
        ids.push(event.message_id);
    }
    if subject.duplicate_is_a_replay() {
        assert!(
            matches!(repeat, InboundAnswer::Other(_)),
            "a replayed call must be refused, got {repeat:?}"
        );
        assert_eq!(ids.len(), 2, "a refused replay publishes nothing");
        assert_ne!(ids[0], ids[1], "two facts must carry two message_ids");
        return;
    }
    assert_eq!(repeat, InboundAnswer::Stored);
    assert_eq!(ids.len(), 3, "every call publishes its event");
    assert_eq!(
        ids[0], ids[1],
        "two calls about one fact must carry one message_id"
    );
    assert_ne!(ids[0], ids[2], "two facts must carry two message_ids");
}

async fn unreachable_broker_gets_a_retryable_answer_in_time(
    broker: &dyn TestBroker,
    subject: &dyn InboundSubject,
) {
    let real = broker.connect().await;
    let (names, inbox) = declare(&real, subject).await;
    let gated = Arc::new(GatedTransport::new(real.clone()));
    let endpoint = subject.start(gated.clone(), &names).await;
    // Down: publishes neither fail nor confirm, as while a connection recovers.
    gated.set_down(true);
    let started = Instant::now();
    let answer = endpoint.call("suite-down-1").await;
    let took = started.elapsed();
    assert_eq!(
        answer,
        InboundAnswer::RetryLater,
        "an unreachable broker must give the retryable answer"
    );
    assert!(
        took < subject.platform_timeout(),
        "answered after {took:?}, past the platform's {:?}",
        subject.platform_timeout()
    );
    gated.set_down(false);
    assert_eq!(
        endpoint.call("suite-down-1").await,
        InboundAnswer::Stored,
        "the platform's retry succeeds"
    );
    assert!(take_event(&real, &inbox).await.is_some());
}

async fn blocked_broker_gets_a_retryable_answer_in_time(
    broker: &dyn TestBroker,
    subject: &dyn InboundSubject,
) {
    let transport = broker.connect().await;
    let (names, inbox) = declare(&transport, subject).await;
    let endpoint = subject.start(transport.clone(), &names).await;
    broker.block_publishers().await;
    let started = Instant::now();
    let answer = endpoint.call("suite-blocked-1").await;
    let took = started.elapsed();
    broker.unblock_publishers().await;
    assert_eq!(
        answer,
        InboundAnswer::RetryLater,
        "a blocked broker must give the retryable answer"
    );
    assert!(
        took < subject.platform_timeout(),
        "answered after {took:?}, past the platform's {:?}",
        subject.platform_timeout()
    );
    // The publish that timed out may still be confirmed once the alarm clears: the platform's retry
    // then stores a second copy with the same message_id, which consumers de-duplicate.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if endpoint.call("suite-blocked-1").await == InboundAnswer::Stored {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker unblocked but the endpoint still refuses"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = take_event(&transport, &inbox)
        .await
        .expect("the retried call stored its event");
    while let Some(again) = take_event(&transport, &inbox).await {
        assert_eq!(again.message_id, first.message_id);
    }
}

/// A transport whose publishes can be made to hang (broker unreachable) or to confirm late.
pub struct GatedTransport {
    inner: SharedTransport,
    down: AtomicBool,
    confirm_delay: Mutex<Duration>,
    last_confirm: Mutex<Option<Instant>>,
}

impl GatedTransport {
    pub fn new(inner: SharedTransport) -> GatedTransport {
        GatedTransport {
            inner,
            down: AtomicBool::new(false),
            confirm_delay: Mutex::new(Duration::ZERO),
            last_confirm: Mutex::new(None),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn set_confirm_delay(&self, delay: Duration) {
        *self.confirm_delay.lock() = delay;
    }

    /// When the last confirmed publish returned to its caller.
    pub fn last_confirm(&self) -> Option<Instant> {
        *self.last_confirm.lock()
    }
}

#[async_trait]
impl Transport for GatedTransport {
    fn kind(&self) -> TransportKind {
        self.inner.kind()
    }
    async fn declare(&self, topology: &Topology) -> Result<(), TransportError> {
        self.inner.declare(topology).await
    }
    async fn publish(&self, publish: Publish) -> Result<(), PublishError> {
        if self.down.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.publish(publish).await?;
        let delay = *self.confirm_delay.lock();
        tokio::time::sleep(delay).await;
        *self.last_confirm.lock() = Some(Instant::now());
        Ok(())
    }
    async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer, TransportError> {
        self.inner.consume(queue, options).await
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
