//! The transport conformance suite: one set of cases that every [`Transport`] must pass, run against the
//! embedded broker (`queue/tests/conformance_embedded.rs`) and against RabbitMQ, so that the consumer
//! runtime can rely on the same semantics on both.
//!
//! Cases are transport-level (routing, confirms, settlement, redelivery, TTL and dead-lettering, limits,
//! queue operations); the runtime-level ones live in `runtime_cases`. Each case uses names under its own
//! random prefix, so cases may share one broker, and bounds every wait, so a broken transport fails a
//! case quickly instead of hanging it. Expand them with [`transport_conformance_tests!`]; the restart and
//! resource-alarm cases disturb the whole broker and come separately in [`transport_fault_tests!`].

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use uuid::Uuid;

use super::TestBroker;
use crate::message::{HeaderValue, Headers, Message, Properties};
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
    within("declare", WAIT, transport.declare(topology)).await.expect("declare the test topology");
}

async fn publish(transport: &SharedTransport, publish: Publish) {
    let what = format!("publish to {:?} with key {:?}", publish.exchange, publish.routing_key);
    within(&what, WAIT, transport.publish(publish)).await.unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn try_publish(transport: &SharedTransport, publish: Publish) -> Result<(), PublishError> {
    within("publish", WAIT, transport.publish(publish)).await
}

async fn next(consumer: &mut Consumer, what: &str) -> Delivery {
    within(what, WAIT, consumer.next()).await.unwrap_or_else(|| panic!("{what}: the consumer ended"))
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
        assert!(started.elapsed() < WAIT, "no message arrived in {queue} within {WAIT:?}");
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
        let stats = within("queue_stats", WAIT, transport.queue_stats(queue)).await.expect("queue stats");
        if check(stats) {
            return;
        }
        assert!(started.elapsed() < WAIT, "{what}: {queue} stats stayed {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn exchange(name: &str, kind: ExchangeKind) -> ExchangeSpec {
    ExchangeSpec { name: name.to_owned(), kind, alternate_exchange: None }
}

fn bind(exchange: &str, queue: &str, pattern: &str) -> BindingSpec {
    BindingSpec { exchange: exchange.to_owned(), queue: queue.to_owned(), pattern: pattern.to_owned() }
}

fn dead_lettering(name: &str, target_queue: &str) -> QueueSpec {
    QueueSpec {
        dead_letter: Some(DeadLetterTarget { exchange: String::new(), routing_key: target_queue.to_owned() }),
        ..QueueSpec::quorum(name)
    }
}

/// The `x-death` entries of a dead letter, most recent first.
fn deaths(message: &Message) -> Vec<Headers> {
    let deaths = message.header("x-death").and_then(HeaderValue::as_array).expect("an x-death array");
    deaths.iter().map(|d| d.as_table().expect("x-death entries are tables").clone()).collect()
}

fn field<'a>(table: &'a Headers, name: &str) -> Option<&'a str> {
    table.get(name).and_then(HeaderValue::as_str)
}

fn count(table: &Headers) -> Option<i64> {
    table.get("count").and_then(HeaderValue::as_i64)
}

// ------------------------------------------------------------------------------------------------ cases

/// Topic bindings with `*` (one word) and `#` (zero or more words) deliver one copy to every matching
/// queue.
pub async fn topic_routing_with_wildcards(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let x = format!("{p}.topic");
    let queues = ["star", "hash", "tail", "b"].map(|q| format!("{p}.{q}"));
    let patterns = ["a.*.c", "a.#", "#.c", "b.*"];
    let mut topology = Topology { exchanges: vec![exchange(&x, ExchangeKind::Topic)], ..Topology::default() };
    for (queue, pattern) in queues.iter().zip(patterns) {
        topology.queues.push(QueueSpec::quorum(queue));
        topology.bindings.push(bind(&x, queue, pattern));
    }
    // Bound twice with two matching patterns: still one copy.
    topology.bindings.push(bind(&x, &queues[1], "a.b.*"));
    declare(&t, &topology).await;
    for key in ["a.b.c", "a", "a.x.y.c", "b.z", "c"] {
        publish(&t, Publish::new(&x, key, test_message(key))).await;
    }
    assert_eq!(drain_sorted(&t, &queues[0]).await, sorted(&["a.b.c"]));
    assert_eq!(drain_sorted(&t, &queues[1]).await, sorted(&["a", "a.b.c", "a.x.y.c"]));
    assert_eq!(drain_sorted(&t, &queues[2]).await, sorted(&["a.b.c", "a.x.y.c", "c"]));
    assert_eq!(drain_sorted(&t, &queues[3]).await, sorted(&["b.z"]));
}

/// Direct exchanges match keys exactly, fanout exchanges ignore them, and the default exchange routes to
/// the queue the key names.
pub async fn direct_fanout_and_default_exchange(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (direct, fanout) = (format!("{p}.direct"), format!("{p}.fanout"));
    let q: Vec<String> = (1..=5).map(|i| format!("{p}.q{i}")).collect();
    let topology = Topology {
        exchanges: vec![exchange(&direct, ExchangeKind::Direct), exchange(&fanout, ExchangeKind::Fanout)],
        queues: q.iter().map(QueueSpec::quorum).collect(),
        bindings: vec![
            bind(&direct, &q[0], "red"),
            bind(&direct, &q[2], "red"),
            bind(&direct, &q[2], "blue"),
            bind(&direct, &q[1], "green"),
            bind(&fanout, &q[3], "ignored"),
            bind(&fanout, &q[4], ""),
        ],
    };
    declare(&t, &topology).await;
    publish(&t, Publish::new(&direct, "red", test_message("red"))).await;
    publish(&t, Publish::new(&direct, "blue", test_message("blue"))).await;
    let unroutable = try_publish(&t, Publish::new(&direct, "red.x", test_message("red.x"))).await;
    assert!(matches!(unroutable, Err(PublishError::Unroutable { .. })), "direct keys match exactly: {unroutable:?}");
    publish(&t, Publish::new(&fanout, "anything", test_message("fan"))).await;
    publish(&t, Publish::to_queue(&q[1], test_message("default"))).await;
    let missing = try_publish(&t, Publish::to_queue(format!("{p}.missing"), test_message("x"))).await;
    assert!(matches!(missing, Err(PublishError::Unroutable { .. })), "no such queue: {missing:?}");

    assert_eq!(drain(&t, &q[0]).await, ["red"]);
    assert_eq!(drain(&t, &q[1]).await, ["default"]);
    assert_eq!(drain(&t, &q[2]).await, ["red", "blue"]);
    assert_eq!(drain(&t, &q[3]).await, ["fan"]);
    assert_eq!(drain(&t, &q[4]).await, ["fan"]);
}

/// DESIGN §3: commands and events that no binding matches land in the alternate exchange's queue, so a
/// mandatory publish to `snodo.commands` or `snodo.events` is never returned.
pub async fn alternate_exchange_takes_unmatched(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let names = Names::new(unique_prefix());
    let inbox = format!("{}.backend.inbox", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[ConnectorQueues {
            connector: "anpr".into(),
            families: vec!["anpr".into()],
            retry_delays: vec![Duration::from_secs(1)],
        }],
        &[SubscriberQueue { queue: inbox.clone(), patterns: vec!["anpr.#.completed".into()] }],
        &[],
    );
    declare(&t, &topology).await;
    let commands = names.commands_exchange();
    let events = names.events_exchange();
    publish(&t, Publish::new(&commands, "anpr.resident.lookup", test_message("known"))).await;
    publish(&t, Publish::new(&commands, "nobody.thing.do", test_message("unknown"))).await;
    publish(&t, Publish::new(&events, "anpr.resident.lookup.completed", test_message("done"))).await;
    publish(&t, Publish::new(&events, "anpr.resident.lookup.failed", test_message("failed"))).await;
    // `snodo.requests` has no alternate exchange: an unmatched mandatory publish comes back.
    let returned = try_publish(&t, Publish::new(names.requests_exchange(), "x.y", test_message("r"))).await;
    assert!(matches!(returned, Err(PublishError::Unroutable { .. })), "requests: {returned:?}");

    assert_eq!(drain(&t, &names.command_queue("anpr")).await, ["known"]);
    assert_eq!(drain(&t, &names.commands_unrouted()).await, ["unknown"]);
    assert_eq!(drain(&t, &inbox).await, ["done"]);
    assert_eq!(drain(&t, &names.events_unrouted()).await, ["failed"]);
}

/// A confirmed publish is in the queue; a mandatory unroutable one is returned; a best-effort one is
/// confirmed and dropped; a publish to a missing exchange fails without breaking the transport.
pub async fn publish_confirms_and_mandatory(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (x, q) = (format!("{p}.x"), format!("{p}.q"));
    let topology = Topology {
        exchanges: vec![exchange(&x, ExchangeKind::Topic)],
        queues: vec![QueueSpec::quorum(&q)],
        bindings: vec![bind(&x, &q, "k")],
    };
    declare(&t, &topology).await;
    publish(&t, Publish::new(&x, "k", test_message("m1"))).await;
    // No polling: the confirm means the queue already holds it.
    let delivery = within("get", WAIT, t.get(&q)).await.expect("get").expect("the confirmed message is there");
    assert_eq!(id_of(&delivery), "m1");
    assert!(!delivery.redelivered);
    ack(delivery).await;

    match try_publish(&t, Publish::new(&x, "other", test_message("m2"))).await {
        Err(PublishError::Unroutable { exchange, routing_key }) => {
            assert_eq!((exchange.as_str(), routing_key.as_str()), (x.as_str(), "other"));
        }
        other => panic!("mandatory unroutable publish: {other:?}"),
    }
    publish(&t, Publish::new(&x, "other", test_message("m3")).best_effort()).await;
    stats_until(&t, &q, "nothing routed", |s| s.messages == 0).await;

    let missing = try_publish(&t, Publish::new(format!("{p}.missing"), "k", test_message("m4"))).await;
    assert!(
        matches!(missing, Err(PublishError::Transport(TransportError::ExchangeNotFound { .. }))),
        "publish to a missing exchange: {missing:?}"
    );
    publish(&t, Publish::new(&x, "k", test_message("m5"))).await;
    assert_eq!(drain(&t, &q).await, ["m5"], "the transport works after the failed publish");
}

/// Declaring the same topology twice is a no-op; declaring a queue or exchange with other settings is
/// PreconditionFailed naming the object, and the transport stays usable (RabbitMQ closes the channel on a
/// 406: the transport must open a new one).
pub async fn redeclaration_is_idempotent_and_conflicts_fail(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let names = Names::new(unique_prefix());
    let connectors = [ConnectorQueues {
        connector: "anpr".into(),
        families: vec!["anpr".into()],
        retry_delays: vec![Duration::from_secs(1), Duration::from_secs(5)],
    }];
    let topology = Topology::snodo(&names, &connectors, &[], &[]);
    declare(&t, &topology).await;
    declare(&t, &topology).await;

    let retry = names.retry_queue("anpr", Duration::from_secs(1));
    let mut changed = topology.queues.iter().find(|q| q.name == retry).expect("a retry queue").clone();
    changed.message_ttl = Some(Duration::from_secs(2));
    let conflict = Topology { queues: vec![changed], ..Topology::default() };
    match within("declare", WAIT, t.declare(&conflict)).await {
        Err(error @ TransportError::PreconditionFailed { .. }) => {
            assert!(error.to_string().contains(&retry), "the error names the queue: {error}");
        }
        other => panic!("redeclaring {retry} with another TTL: {other:?}"),
    }
    let commands = names.command_queue("anpr");
    publish(&t, Publish::to_queue(&commands, test_message("after-queue-406"))).await;
    assert_eq!(drain(&t, &commands).await, ["after-queue-406"]);

    let conflict = Topology {
        exchanges: vec![exchange(&names.commands_exchange(), ExchangeKind::Fanout)],
        ..Topology::default()
    };
    let result = within("declare", WAIT, t.declare(&conflict)).await;
    assert!(matches!(result, Err(TransportError::PreconditionFailed { .. })), "exchange kind: {result:?}");
    declare(&t, &topology).await;
    publish(&t, Publish::new(names.commands_exchange(), "anpr.x", test_message("after-exchange-406"))).await;
    assert_eq!(drain(&t, &commands).await, ["after-exchange-406"]);
}

/// ack removes; nack with requeue redelivers (redelivered, `x-delivery-count` raised); nack without
/// requeue dead-letters with `x-death` reason `rejected`.
pub async fn ack_nack_and_reject(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (work, dead) = (format!("{p}.work"), format!("{p}.dead"));
    let topology = Topology {
        queues: vec![dead_lettering(&work, &dead), QueueSpec::quorum(&dead)],
        ..Topology::default()
    };
    declare(&t, &topology).await;
    let mut consumer = within("consume", WAIT, t.consume(&work, ConsumeOptions { prefetch: 10 }))
        .await
        .expect("consume");

    publish(&t, Publish::to_queue(&work, test_message("acked"))).await;
    let delivery = next(&mut consumer, "first delivery").await;
    assert_eq!((id_of(&delivery).as_str(), delivery.redelivered), ("acked", false));
    ack(delivery).await;
    assert_quiet(&mut consumer, "an acked message").await;

    publish(&t, Publish::to_queue(&work, test_message("nacked"))).await;
    let delivery = next(&mut consumer, "delivery to nack").await;
    assert!(!delivery.redelivered);
    assert_eq!(within("nack", WAIT, delivery.nack(true)).await.expect("nack"), AckOutcome::Settled);
    let delivery = next(&mut consumer, "redelivery after nack").await;
    assert_eq!((id_of(&delivery).as_str(), delivery.redelivered), ("nacked", true));
    assert_eq!(delivery.message.header("x-delivery-count").and_then(HeaderValue::as_i64), Some(1));
    within("reject", WAIT, delivery.nack(false)).await.expect("nack without requeue");

    let dead_letter = get_eventually(&t, &dead).await;
    assert_eq!(id_of(&dead_letter), "nacked");
    let deaths = deaths(&dead_letter.message);
    assert_eq!(field(&deaths[0], "queue"), Some(work.as_str()));
    assert_eq!(field(&deaths[0], "reason"), Some("rejected"));
    assert_eq!(count(&deaths[0]), Some(1));
    assert_eq!(dead_letter.message.header_str("x-first-death-reason"), Some("rejected"));
    ack(dead_letter).await;
    assert_quiet(&mut consumer, "a rejected message").await;
}

/// A consumer that goes away without settling gives its message to another consumer, marked
/// redelivered: whether its connection is dropped or closed. A delivery dropped unsettled is requeued.
pub async fn redelivery_when_a_consumer_dies(broker: &dyn TestBroker) {
    let p = unique_prefix();
    let (q, solo) = (format!("{p}.q"), format!("{p}.solo"));
    let b = broker.connect().await;
    declare(&b, &Topology { queues: vec![QueueSpec::quorum(&q), QueueSpec::quorum(&solo)], ..Topology::default() })
        .await;

    // The delivery and the consumer are dropped with the connection, unsettled.
    let a = broker.connect().await;
    let mut consumer_a = within("consume", WAIT, a.consume(&q, ConsumeOptions::default())).await.expect("consume");
    publish(&b, Publish::to_queue(&q, test_message("dropped"))).await;
    let taken = next(&mut consumer_a, "A's delivery").await;
    let mut consumer_b = within("consume", WAIT, b.consume(&q, ConsumeOptions::default())).await.expect("consume");
    assert_quiet(&mut consumer_b, "A still holds the message").await;
    drop(consumer_a);
    drop(taken);
    drop(a);
    let delivery = next(&mut consumer_b, "redelivery to B after A dropped").await;
    assert_eq!((id_of(&delivery).as_str(), delivery.redelivered), ("dropped", true));
    ack(delivery).await;

    // The connection is closed while its consumer holds the delivery.
    let a = broker.connect().await;
    let mut consumer_a = within("consume", WAIT, a.consume(&q, ConsumeOptions::default())).await.expect("consume");
    drop(consumer_b);
    publish(&b, Publish::to_queue(&q, test_message("closed"))).await;
    let held = next(&mut consumer_a, "A's second delivery").await;
    let mut consumer_b = within("consume", WAIT, b.consume(&q, ConsumeOptions::default())).await.expect("consume");
    within("close", WAIT, a.close()).await;
    let delivery = next(&mut consumer_b, "redelivery to B after A closed").await;
    assert_eq!((id_of(&delivery).as_str(), delivery.redelivered), ("closed", true));
    ack(delivery).await;
    let late = within("late ack", WAIT, held.ack()).await;
    assert!(!matches!(late, Ok(AckOutcome::Settled)), "an ack after the channel closed cannot settle: {late:?}");
    assert!(!a.status().connected, "a closed transport says so");

    // A delivery dropped unsettled comes back to the same (only) consumer.
    let mut consumer = within("consume", WAIT, b.consume(&solo, ConsumeOptions::default())).await.expect("consume");
    publish(&b, Publish::to_queue(&solo, test_message("released"))).await;
    drop(next(&mut consumer, "delivery to drop").await);
    let delivery = next(&mut consumer, "redelivery after drop").await;
    assert_eq!((id_of(&delivery).as_str(), delivery.redelivered), ("released", true));
    ack(delivery).await;
}

/// DESIGN §3 retry pattern: a TTL queue dead-letters through the default exchange to the command queue,
/// with `x-death`. A retry copy with the broker headers stripped goes through the same delay queue again.
///
/// What a kept `x-death` does: RabbitMQ drops a dead letter for every target queue that already appears
/// in its `x-death` when no death in between was `rejected`. Here the target (the command queue) never
/// appears — the message only ever died in the delay queue — so even a copy that keeps `x-death` gets
/// through (its `expired` entry's count rises). It is lost once the message has died in the command
/// queue itself (a dead letter after the delivery limit, replayed with its headers and retried): then
/// `x-death` names the command queue with reason `delivery_limit` and the next expiry in the delay queue
/// closes an automatic cycle. The runtime strips the headers from every copy so that never happens; the
/// embedded broker's unit tests cover the drop.
pub async fn ttl_dead_letters_to_the_retry_target(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (commands, delay) = (format!("{p}.commands"), format!("{p}.retry.300ms"));
    let ttl = Duration::from_millis(300);
    let topology = Topology {
        queues: vec![
            QueueSpec::quorum(&commands),
            QueueSpec { message_ttl: Some(ttl), delivery_limit: Some(20), ..dead_lettering(&delay, &commands) },
        ],
        ..Topology::default()
    };
    declare(&t, &topology).await;

    let started = Instant::now();
    publish(&t, Publish::to_queue(&delay, test_message("retry"))).await;
    let first = get_eventually(&t, &commands).await;
    assert!(started.elapsed() >= ttl - Duration::from_millis(50), "expired early: {:?}", started.elapsed());
    assert_eq!(id_of(&first), "retry");
    let deaths = deaths(&first.message);
    assert_eq!(deaths.len(), 1);
    assert_eq!(field(&deaths[0], "queue"), Some(delay.as_str()));
    assert_eq!(field(&deaths[0], "reason"), Some("expired"));
    assert_eq!(field(&deaths[0], "exchange"), Some(""));
    assert_eq!(count(&deaths[0]), Some(1));
    let keys = deaths[0].get("routing-keys").and_then(HeaderValue::as_array).expect("routing-keys");
    assert_eq!(keys.first().and_then(HeaderValue::as_str), Some(delay.as_str()));
    assert_eq!(first.message.header_str("x-first-death-queue"), Some(delay.as_str()));
    assert_eq!(first.message.header_str("x-first-death-reason"), Some("expired"));

    // Kept x-death: still delivered here, see the doc comment.
    let mut kept = first.message.clone();
    kept.properties.message_id = Some("kept".into());
    publish(&t, Publish::to_queue(&delay, kept)).await;
    let kept = get_eventually(&t, &commands).await;
    assert_eq!(id_of(&kept), "kept");
    ack(kept).await;

    let mut copy = first.message.clone();
    copy.strip_broker_headers();
    copy.properties.message_id = Some("stripped".into());
    ack(first).await;
    publish(&t, Publish::to_queue(&delay, copy)).await;
    let second = get_eventually(&t, &commands).await;
    assert_eq!(id_of(&second), "stripped");
    let deaths = self::deaths(&second.message);
    assert_eq!((deaths.len(), count(&deaths[0])), (1, Some(1)), "a stripped copy starts a fresh x-death");
    ack(second).await;
}

/// `x-delivery-limit` is a backstop: a message returned more often than the limit is dead-lettered.
pub async fn delivery_limit_dead_letters(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (work, dead) = (format!("{p}.work"), format!("{p}.dead"));
    let limit = 2;
    let topology = Topology {
        queues: vec![QueueSpec { delivery_limit: Some(limit), ..dead_lettering(&work, &dead) }, QueueSpec::quorum(&dead)],
        ..Topology::default()
    };
    declare(&t, &topology).await;
    let mut consumer = within("consume", WAIT, t.consume(&work, ConsumeOptions { prefetch: 1 })).await.expect("consume");
    publish(&t, Publish::to_queue(&work, test_message("poison"))).await;
    // Delivered once, then returned `limit` times; the return past the limit dead-letters it.
    for returned in 0..=i64::from(limit) {
        let delivery = next(&mut consumer, "delivery of the poison message").await;
        let header = delivery.message.header("x-delivery-count").and_then(HeaderValue::as_i64);
        assert_eq!(header.unwrap_or(0), returned, "x-delivery-count");
        within("nack", WAIT, delivery.nack(true)).await.expect("nack");
    }
    let dead_letter = get_eventually(&t, &dead).await;
    assert_eq!(id_of(&dead_letter), "poison");
    assert_eq!(field(&deaths(&dead_letter.message)[0], "reason"), Some("delivery_limit"));
    ack(dead_letter).await;
    assert_quiet(&mut consumer, "a dead-lettered message").await;
}

/// A 1 MiB body comes back byte for byte, and every property and header kind survives the trip.
pub async fn large_messages_properties_and_headers_round_trip(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(&t, &Topology { queues: vec![QueueSpec::quorum(&q)], ..Topology::default() }).await;
    // Not compressible, not uniform: catches truncation and frame-splitting bugs.
    let body: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let nested: Headers = BTreeMap::from([
        ("inner".to_owned(), HeaderValue::String("x".into())),
        ("list".to_owned(), HeaderValue::Array(vec![HeaderValue::Int(1), HeaderValue::Table(Headers::new())])),
    ]);
    let headers: Headers = BTreeMap::from([
        ("x-bool".to_owned(), HeaderValue::Bool(true)),
        ("x-int".to_owned(), HeaderValue::Int(-42_000_000_000)),
        ("x-float".to_owned(), HeaderValue::Float(1.5)),
        ("x-string".to_owned(), HeaderValue::String("àè — ünïcode".into())),
        ("x-bytes".to_owned(), HeaderValue::Bytes(vec![0, 159, 146, 150, 255])),
        ("x-timestamp".to_owned(), HeaderValue::Timestamp(1_700_000_000)),
        ("x-void".to_owned(), HeaderValue::Void),
        ("x-table".to_owned(), HeaderValue::Table(nested.clone())),
        ("x-array".to_owned(), HeaderValue::Array(vec![HeaderValue::String("a".into()), HeaderValue::Table(nested)])),
    ]);
    let properties = Properties {
        message_id: Some(Uuid::new_v4().to_string()),
        correlation_id: Some(Uuid::new_v4().to_string()),
        kind: Some("anpr.resident.lookup".into()),
        content_type: Some("application/octet-stream".into()),
        delivery_mode: Some(2),
        timestamp: Some(1_700_000_123),
        app_id: Some("snodo-conformance".into()),
        reply_to: Some("some.reply.queue".into()),
        expiration: None,
    };
    let sent = Message { properties, headers, body: Bytes::from(body) };
    publish(&t, Publish::to_queue(&q, sent.clone())).await;
    let delivery = get_eventually(&t, &q).await;
    assert_eq!(delivery.message.body.len(), sent.body.len());
    assert!(delivery.message.body == sent.body, "the body came back changed");
    assert_eq!(delivery.message.properties, sent.properties);
    assert_eq!(delivery.message.headers, sent.headers);
    assert_eq!(delivery.queue, q);
    ack(delivery).await;
}

/// A consumer never holds more unsettled deliveries than its prefetch.
pub async fn prefetch_limits_unsettled_deliveries(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(&t, &Topology { queues: vec![QueueSpec::quorum(&q)], ..Topology::default() }).await;
    for id in ["one", "two", "three"] {
        publish(&t, Publish::to_queue(&q, test_message(id))).await;
    }
    let mut consumer = within("consume", WAIT, t.consume(&q, ConsumeOptions { prefetch: 1 })).await.expect("consume");
    let first = next(&mut consumer, "first delivery").await;
    assert_quiet(&mut consumer, "prefetch 1 with one delivery unsettled").await;
    stats_until(&t, &q, "two wait", |s| s.messages == 2 && s.consumers == 1).await;
    assert_eq!(id_of(&first), "one");
    ack(first).await;
    let second = next(&mut consumer, "after the ack").await;
    assert_eq!(id_of(&second), "two");
    ack(second).await;
}

/// 8 consumers on 2 connections share 2,000 messages: each is processed exactly once, every ack
/// settles, and no consumer exceeds its prefetch.
pub async fn concurrent_consumers_process_each_message_once(broker: &dyn TestBroker) {
    const MESSAGES: usize = 2000;
    let p = unique_prefix();
    let q = format!("{p}.q");
    let connections = [broker.connect().await, broker.connect().await];
    declare(&connections[0], &Topology { queues: vec![QueueSpec::quorum(&q)], ..Topology::default() }).await;
    let seen = Arc::new(Mutex::new(Vec::<String>::with_capacity(MESSAGES)));
    let violation = Arc::new(AtomicBool::new(false));
    let unsettled_acks = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for (i, prefetch) in [1u16, 2, 3, 4, 8, 16, 32, 1].into_iter().enumerate() {
        let transport = connections[i % 2].clone();
        let mut consumer =
            within("consume", WAIT, transport.consume(&q, ConsumeOptions { prefetch })).await.expect("consume");
        let (seen, violation, unsettled_acks) = (seen.clone(), violation.clone(), unsettled_acks.clone());
        tasks.push(tokio::spawn(async move {
            let held = Arc::new(AtomicU32::new(0));
            while let Some(delivery) = consumer.next().await {
                if held.fetch_add(1, Ordering::SeqCst) + 1 > u32::from(prefetch) {
                    violation.store(true, Ordering::SeqCst);
                }
                seen.lock().push(id_of(&delivery));
                let (held, unsettled_acks) = (held.clone(), unsettled_acks.clone());
                // Settle concurrently and a little later, so consumers really hold several deliveries.
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    held.fetch_sub(1, Ordering::SeqCst);
                    if !matches!(delivery.ack().await, Ok(AckOutcome::Settled)) {
                        unsettled_acks.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        }));
    }
    let publishers: Vec<_> = (0..4)
        .map(|k| {
            let (transport, q) = (connections[k % 2].clone(), q.clone());
            tokio::spawn(async move {
                for n in (k..MESSAGES).step_by(4) {
                    let result = transport.publish(Publish::to_queue(&q, test_message(&format!("m{n}")))).await;
                    result.unwrap_or_else(|e| panic!("publish m{n}: {e}"));
                }
            })
        })
        .collect();
    for publisher in publishers {
        within("publishers", WAIT * 4, publisher).await.expect("publisher task");
    }
    let started = Instant::now();
    while seen.lock().len() < MESSAGES && started.elapsed() < WAIT * 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats_until(&connections[0], &q, "all settled", |s| s.messages == 0).await;
    tokio::time::sleep(QUIET).await; // duplicates, if any, would show up now
    for task in &tasks {
        task.abort();
    }
    let seen = seen.lock().clone();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), MESSAGES, "every message was delivered");
    assert_eq!(seen.len(), MESSAGES, "no message was delivered twice");
    assert!(!violation.load(Ordering::SeqCst), "a consumer held more deliveries than its prefetch");
    assert_eq!(unsettled_acks.load(Ordering::SeqCst), 0, "every ack settled");
}

/// `queue_stats` counts ready messages and consumers; purge empties the ready messages only; delete
/// removes the queue.
pub async fn queue_stats_purge_and_delete(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(&t, &Topology { queues: vec![QueueSpec::quorum(&q)], ..Topology::default() }).await;
    for id in ["a", "b", "c"] {
        publish(&t, Publish::to_queue(&q, test_message(id))).await;
    }
    stats_until(&t, &q, "three ready", |s| s.messages == 3 && s.consumers == 0).await;
    let mut consumer = within("consume", WAIT, t.consume(&q, ConsumeOptions { prefetch: 1 })).await.expect("consume");
    let held = next(&mut consumer, "one delivery").await;
    stats_until(&t, &q, "one held, two ready", |s| s.messages == 2 && s.consumers == 1).await;
    assert_eq!(within("purge", WAIT, t.purge_queue(&q)).await.expect("purge"), 2);
    stats_until(&t, &q, "purged", |s| s.messages == 0).await;
    drop(consumer);
    drop(held); // unsettled: back in the queue, purge does not touch deliveries in flight
    stats_until(&t, &q, "the held message is back", |s| s.messages == 1 && s.consumers == 0).await;

    within("delete", WAIT, t.delete_queue(&q)).await.expect("delete");
    let stats = within("queue_stats", WAIT, t.queue_stats(&q)).await;
    assert!(matches!(stats, Err(TransportError::QueueNotFound { .. })), "stats of a deleted queue: {stats:?}");
    let consume = within("consume", WAIT, t.consume(&q, ConsumeOptions::default())).await;
    assert!(matches!(consume, Err(TransportError::QueueNotFound { .. })), "consume a deleted queue");
    let missing = try_publish(&t, Publish::to_queue(&q, test_message("x"))).await;
    assert!(matches!(missing, Err(PublishError::Unroutable { .. })), "publish to a deleted queue: {missing:?}");
}

/// The reply queue of request/reply: messages sent to its name arrive without settlement, and it
/// disappears with its consumer.
pub async fn reply_queue_lives_with_its_consumer(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let name = format!("{}.reply.{}", unique_prefix(), Uuid::new_v4().simple());
    let mut replies = within("consume_replies", WAIT, t.consume_replies(&name)).await.expect("consume_replies");
    let sender = broker.connect().await;
    publish(&sender, Publish::to_queue(&name, test_message("reply-1"))).await;
    let reply = next(&mut replies, "a reply").await;
    assert_eq!(id_of(&reply), "reply-1");
    drop(reply); // no settlement needed: dropping it must not requeue it
    publish(&sender, Publish::to_queue(&name, test_message("reply-2"))).await;
    assert_eq!(id_of(&next(&mut replies, "a second reply").await), "reply-2");
    assert_quiet(&mut replies, "replies are not redelivered").await;
    drop(replies);
    let started = Instant::now();
    loop {
        match try_publish(&sender, Publish::to_queue(&name, test_message("late"))).await {
            Err(PublishError::Unroutable { .. }) => break,
            Ok(()) => assert!(started.elapsed() < WAIT, "the reply queue outlived its consumer"),
            Err(other) => panic!("publish to a deleted reply queue: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A broker restart keeps durable queues and their messages; consumers resume by themselves; unsettled
/// deliveries come back; a publish issued right after the restart succeeds once the broker is back.
pub async fn restart_keeps_messages_and_resumes_consumers(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (kept, consumed) = (format!("{p}.kept"), format!("{p}.consumed"));
    declare(&t, &Topology { queues: vec![QueueSpec::quorum(&kept), QueueSpec::quorum(&consumed)], ..Topology::default() })
        .await;
    publish(&t, Publish::to_queue(&kept, test_message("before-1"))).await;
    publish(&t, Publish::to_queue(&kept, test_message("before-2"))).await;
    let mut consumer = within("consume", WAIT, t.consume(&consumed, ConsumeOptions::default())).await.expect("consume");
    publish(&t, Publish::to_queue(&consumed, test_message("unsettled"))).await;
    let held = next(&mut consumer, "delivery before the restart").await;

    within("restart", RECOVERY, broker.restart()).await;
    within("publish after restart", RECOVERY, t.publish(Publish::to_queue(&kept, test_message("after"))))
        .await
        .expect("a publish right after the restart succeeds once the broker is back");
    within("publish after restart", RECOVERY, t.publish(Publish::to_queue(&consumed, test_message("new"))))
        .await
        .expect("publish to the consumed queue");

    let mut got = Vec::new();
    while got.len() < 2 {
        let delivery = within("delivery after restart", RECOVERY, consumer.next())
            .await
            .expect("the consumer resumes after the restart");
        let id = id_of(&delivery);
        assert!(id != "unsettled" || delivery.redelivered, "the unsettled message comes back redelivered");
        if !got.contains(&id) {
            got.push(id);
        }
        ack(delivery).await;
    }
    got.sort();
    assert_eq!(got, ["new", "unsettled"]);
    let late = within("late ack", WAIT, held.ack()).await;
    assert!(!matches!(late, Ok(AckOutcome::Settled)), "an ack from before the restart cannot settle: {late:?}");

    let mut ids = drain(&t, &kept).await;
    ids.sort();
    ids.dedup(); // a publish in flight during the restart may be confirmed twice (at least once)
    assert_eq!(ids, ["after", "before-1", "before-2"]);
}

/// While a resource alarm blocks publishers, a publish fails with `Timeout` after the connection's
/// publish timeout and the status says blocked; after the alarm clears, publishing works again.
pub async fn blocked_broker_times_out_publishes(broker: &dyn TestBroker) {
    let timeout = Duration::from_millis(500);
    let t = broker.connect_with_publish_timeout(timeout).await;
    let q = format!("{}.q", unique_prefix());
    declare(&t, &Topology { queues: vec![QueueSpec::quorum(&q)], ..Topology::default() }).await;
    publish(&t, Publish::to_queue(&q, test_message("before"))).await;

    broker.block_publishers().await;
    let result = within(
        "a publish while blocked (does connect_with_publish_timeout set the publish timeout?)",
        WAIT * 2,
        t.publish(Publish::to_queue(&q, test_message("blocked"))),
    )
    .await;
    assert!(matches!(result, Err(PublishError::Timeout { .. })), "publish while blocked: {result:?}");
    let started = Instant::now();
    while t.status().blocked.is_none() {
        assert!(started.elapsed() < WAIT, "status().blocked stayed None while the broker blocks publishers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    broker.unblock_publishers().await;
    let started = Instant::now();
    while t.status().blocked.is_some() {
        assert!(started.elapsed() < WAIT, "status().blocked stayed set after the alarm cleared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publish(&t, Publish::to_queue(&q, test_message("after"))).await;
    let ids = drain(&t, &q).await;
    assert!(ids.contains(&"before".to_owned()) && ids.contains(&"after".to_owned()), "got {ids:?}");
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
