//! Small helpers shared by the runtime cases and the compliance suite: unique names, declaring a test
//! topology, a tap on the events exchange, building commands and running a connector in the background.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::envelope::{Envelope, MessageType};
use crate::message::Message;
use crate::runtime::{ConnectorMetrics, ConnectorRuntime, RuntimeError, RuntimeSettings, SharedHandler};
use crate::topology::{Names, SubscriberQueue, Topology};
use crate::transport::{ConsumeOptions, Consumer, Publish, SharedTransport};

/// The demo tenant (Comune di Milano) that test commands name.
pub const TEST_TENANT: &str = "015146";

/// Names under a prefix no other test uses.
pub fn unique_names() -> Names {
    Names::new(format!("t{}", &Uuid::new_v4().simple().to_string()[..10]))
}

/// Runtime settings for tests: the given retry delays, a short grace period.
pub fn test_settings(names: &Names, retry: &[Duration]) -> RuntimeSettings {
    RuntimeSettings {
        names: names.clone(),
        app_id: "snodo-test".into(),
        prefetch: 16,
        concurrency: 8,
        retry: crate::runtime::RetrySchedule::new(retry.to_vec()),
        queue_override: None,
        shutdown_grace: Duration::from_secs(10),
    }
}

/// Declares the Snodo topology for `runtime`'s connector plus a tap queue bound to every event.
pub async fn declare_for(transport: &SharedTransport, names: &Names, runtime: &ConnectorRuntime) -> EventTap {
    let tap = format!("{}.tap", names.prefix);
    let topology = Topology::snodo(
        names,
        &[runtime.queues()],
        &[SubscriberQueue {
            queue: tap.clone(),
            patterns: vec!["#".into()],
        }],
        &[],
    );
    transport
        .declare(&topology)
        .await
        .expect("declare the test topology");
    let consumer = transport
        .consume(&tap, ConsumeOptions { prefetch: 256 })
        .await
        .expect("consume the event tap");
    EventTap { consumer }
}

/// Every event Snodo publishes, as a test sees it.
pub struct EventTap {
    consumer: Consumer,
}

/// One received event.
#[derive(Debug, Clone)]
pub struct Event {
    pub envelope: Envelope,
    pub body: serde_json::Value,
    pub message: Message,
}

impl EventTap {
    /// The next event, or `None` after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        let delivery = tokio::time::timeout(within, self.consumer.next()).await.ok()??;
        let message = delivery.message.clone();
        delivery.ack().await.expect("ack a tapped event");
        let envelope = Envelope::parse(&message).expect("Snodo's events have valid envelopes");
        let body = serde_json::from_slice(&message.body).expect("Snodo's events are JSON");
        Some(Event {
            envelope,
            body,
            message,
        })
    }

    /// Exactly `n` events within `within`; panics with what arrived otherwise.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(e) => events.push(e),
                None => panic!(
                    "expected {n} events within {within:?}, got {}: {:?}",
                    events.len(),
                    events
                        .iter()
                        .map(|e| e.envelope.kind.to_string())
                        .collect::<Vec<_>>()
                ),
            }
        }
        events
    }

    /// Asserts that nothing more arrives for `quiet`.
    pub async fn assert_quiet(&mut self, quiet: Duration) {
        if let Some(extra) = self.next(quiet).await {
            panic!(
                "unexpected extra event {} for {:?}",
                extra.envelope.kind, extra.envelope.correlation_id
            );
        }
    }
}

/// A command message of `kind` for the test tenant.
pub fn command(kind: &str, body: serde_json::Value) -> (Envelope, Message) {
    let envelope =
        Envelope::command(kind.parse::<MessageType>().expect("a valid test type")).with_tenant(TEST_TENANT);
    let message = envelope.to_message(serde_json::to_vec(&body).expect("JSON"));
    (envelope, message)
}

/// Publishes a command on the commands exchange, routed by its type.
pub async fn send(transport: &SharedTransport, names: &Names, message: Message) {
    let routing_key = message.properties.kind.clone().unwrap_or_default();
    transport
        .publish(Publish::new(names.commands_exchange(), routing_key, message))
        .await
        .expect("publish a test command");
}

/// A connector runtime running in the background.
pub struct Running {
    pub shutdown: CancellationToken,
    pub join: JoinHandle<Result<(), RuntimeError>>,
    pub metrics: Arc<ConnectorMetrics>,
}

impl Running {
    pub fn start(runtime: ConnectorRuntime) -> Running {
        let shutdown = CancellationToken::new();
        let metrics = runtime.metrics();
        let join = tokio::spawn(runtime.run(shutdown.clone()));
        Running {
            shutdown,
            join,
            metrics,
        }
    }

    /// Asks for shutdown and waits for the runtime to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.join)
            .await
            .expect("the runtime stops within 30 s")
            .expect("the runtime task does not panic")
            .expect("the runtime ends without error");
    }
}

pub fn new_runtime(
    transport: &SharedTransport,
    handler: SharedHandler,
    settings: RuntimeSettings,
) -> ConnectorRuntime {
    ConnectorRuntime::new(
        transport.clone(),
        handler,
        Arc::new(vec![TEST_TENANT.to_owned()]),
        settings,
    )
}

/// Declares one quorum queue with no arguments.
pub async fn declare_queue(transport: &SharedTransport, name: &str) {
    transport
        .declare(&Topology {
            queues: vec![crate::topology::QueueSpec::quorum(name)],
            ..Topology::default()
        })
        .await
        .expect("declare a test queue");
}

/// The next delivery of `consumer` within `within`; panics when none comes or the consumer ended.
pub async fn next_within(consumer: &mut Consumer, within: Duration) -> crate::transport::Delivery {
    tokio::time::timeout(within, consumer.next())
        .await
        .expect("no delivery in time")
        .expect("the consumer ended")
}
