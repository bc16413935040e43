//! The transport conformance suite: one set of cases that every [`Transport`] must pass, run against the
//! embedded broker (`queue/tests/conformance_embedded.rs`) and against RabbitMQ, so that the consumer
//! runtime can rely on the same semantics on both.
//!
//! Cases are transport-level (routing, confirms, settlement, redelivery, TTL and dead-lettering, limits,
//! queue operations); the runtime-level ones live in `runtime_cases`. Each case uses names under its own
//! random prefix, so cases may share one broker, and bounds every wait, so a broken transport fails a
//! case quickly instead of hanging it. Expand them with [`transport_conformance_tests!`]; the restart and
//! resource-alarm cases disturb the whole broker and come separately in [`transport_fault_tests!`].

mod faults;
mod queues;
mod routing;
mod settlement;

pub use faults::*;
pub use queues::*;
pub use routing::*;
pub use settlement::*;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use uuid::Uuid;

use super::TestBroker;
use crate::message::{HeaderValue, Headers, Message, Properties, is_broker_header};
use crate::topology::{
    BindingSpec, ConnectorQueues, DeadLetterTarget, ExchangeKind, ExchangeSpec, Names, QueueSpec,
    SubscriberQueue, Topology,
};
use crate::transport::{
    AckOutcome, ConsumeOptions, Consumer, Delivery, Publish, PublishError, SharedTransport, TransportError,
};

/// Upper bound of any single wait for something that should happen promptly.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);
/// A RabbitMQ node restart takes seconds; the transport's own publish timeout (30 s) bounds recovery.
const RECOVERY: Duration = Duration::from_secs(45);

// ---------------------------------------------------------------------------------------------- helpers

fn unique_prefix() -> String {
    format!("conf{}", &Uuid::new_v4().simple().to_string()[..10])
}

/// A message whose `message_id` is `id`, with a small JSON body naming it.
pub fn test_message(id: &str) -> Message {
    Message {
        properties: Properties {
            message_id: Some(id.to_owned()),
            content_type: Some("application/json".into()),
            delivery_mode: Some(2),
            ..Properties::default()
        },
        headers: Headers::new(),
        body: Bytes::from(format!("{{\"id\":{id:?}}}")),
    }
}

fn id_of(delivery: &Delivery) -> String {
    delivery.message.properties.message_id.clone().unwrap_or_default()
}

async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: nothing happened within {limit:?}"),
    }
}

async fn declare(transport: &SharedTransport, topology: &Topology) {
    within("declare", WAIT, transport.declare(topology))
        .await
        .expect("declare the test topology");
}

async fn publish(transport: &SharedTransport, publish: Publish) {
    let what = format!(
        "publish to {:?} with key {:?}",
        publish.exchange, publish.routing_key
    );
    within(&what, WAIT, transport.publish(publish))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn try_publish(transport: &SharedTransport, publish: Publish) -> Result<(), PublishError> {
    within("publish", WAIT, transport.publish(publish)).await
}

async fn next(consumer: &mut Consumer, what: &str) -> Delivery {
    within(what, WAIT, consumer.next())
        .await
        .unwrap_or_else(|| panic!("{what}: the consumer ended"))
}

async fn assert_quiet(consumer: &mut Consumer, what: &str) {
    if let Ok(Some(delivery)) = tokio::time::timeout(QUIET, consumer.next()).await {
        panic!("{what}: unexpected delivery {delivery:?}");
    }
}

async fn ack(delivery: Delivery) {
    let outcome = within("ack", WAIT, delivery.ack()).await.expect("ack");
    assert_eq!(outcome, AckOutcome::Settled, "ack reached the broker");
}

/// Polls `get` until a message arrives (dead-lettering and expiry happen asynchronously).
async fn get_eventually(transport: &SharedTransport, queue: &str) -> Delivery {
    let started = Instant::now();
    loop {
        if let Some(delivery) = within("get", WAIT, transport.get(queue)).await.expect("get") {
            return delivery;
        }
        assert!(
            started.elapsed() < WAIT,
            "no message arrived in {queue} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Takes and acks every ready message of `queue`; returns their ids in order.
async fn drain(transport: &SharedTransport, queue: &str) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(delivery) = within("get", WAIT, transport.get(queue)).await.expect("get") {
        ids.push(id_of(&delivery));
        ack(delivery).await;
    }
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

async fn drain_sorted(transport: &SharedTransport, queue: &str) -> Vec<String> {
    let mut ids = drain(transport, queue).await;
    ids.sort();
    ids
}

/// Polls until `check` accepts `queue`'s stats.
async fn stats_until(
    transport: &SharedTransport,
    queue: &str,
    what: &str,
    check: impl Fn(crate::QueueStats) -> bool,
) {
    let started = Instant::now();
    loop {
        let stats = within("queue_stats", WAIT, transport.queue_stats(queue))
            .await
            .expect("queue stats");
        if check(stats) {
            return;
        }
        assert!(started.elapsed() < WAIT, "{what}: {queue} stats stayed {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn exchange(name: &str, kind: ExchangeKind) -> ExchangeSpec {
    ExchangeSpec {
        name: name.to_owned(),
        kind,
        alternate_exchange: None,
    }
}

fn bind(exchange: &str, queue: &str, pattern: &str) -> BindingSpec {
    BindingSpec {
        exchange: exchange.to_owned(),
        queue: queue.to_owned(),
        pattern: pattern.to_owned(),
    }
}

fn dead_lettering(name: &str, target_queue: &str) -> QueueSpec {
    QueueSpec {
        dead_letter: Some(DeadLetterTarget {
            exchange: String::new(),
            routing_key: target_queue.to_owned(),
        }),
        ..QueueSpec::quorum(name)
    }
}

/// The `x-death` entries of a dead letter, most recent first.
fn deaths(message: &Message) -> Vec<Headers> {
    let deaths = message
        .header("x-death")
        .and_then(HeaderValue::as_array)
        .expect("an x-death array");
    deaths
        .iter()
        .map(|d| d.as_table().expect("x-death entries are tables").clone())
        .collect()
}

fn field<'a>(table: &'a Headers, name: &str) -> Option<&'a str> {
    table.get(name).and_then(HeaderValue::as_str)
}

fn count(table: &Headers) -> Option<i64> {
    table.get("count").and_then(HeaderValue::as_i64)
}

// ----------------------------------------------------------------------------------------------- macros

/// Expands to one test per transport conformance case against the broker `$make`: an expression
/// evaluated inside each async test (it may `.await`) whose value implements [`TestBroker`], e.g.
/// `transport_conformance_tests!(EmbeddedTestBroker::new())`.
#[macro_export]
macro_rules! transport_conformance_tests {
    ($make:expr) => {
        mod transport_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::transport_conformance_tests!(@cases $make;
                topic_routing_with_wildcards,
                direct_fanout_and_default_exchange,
                alternate_exchange_takes_unmatched,
                publish_confirms_and_mandatory,
                redeclaration_is_idempotent_and_conflicts_fail,
                ack_nack_and_reject,
                redelivery_when_a_consumer_dies,
                ttl_dead_letters_to_the_retry_target,
                delivery_limit_dead_letters,
                large_messages_properties_and_headers_round_trip,
                prefetch_limits_unsettled_deliveries,
                concurrent_consumers_process_each_message_once,
                queue_stats_purge_and_delete,
                reply_queue_lives_with_its_consumer,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let broker = $make;
                $crate::testing::conformance::$case(&broker).await;
            }
        )*
    };
}

/// The cases that restart the broker or raise a resource alarm: they disturb every connection, so on
/// a shared RabbitMQ node they belong in their own test binary, run one at a time. Same `$make` as
/// [`transport_conformance_tests!`].
#[macro_export]
macro_rules! transport_fault_tests {
    ($make:expr) => {
        mod transport_faults {
            #[allow(unused_imports)]
            use super::*;
            $crate::transport_conformance_tests!(@cases $make;
                restart_keeps_messages_and_resumes_consumers,
                blocked_broker_times_out_publishes,
            );
        }
    };
}
