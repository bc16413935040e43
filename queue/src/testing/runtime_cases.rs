//! Conformance cases for the consumer runtime on a transport: the same code runs on the embedded broker
//! and on RabbitMQ (see [`runtime_conformance_tests!`]). Retry delays are milliseconds so that the real
//! delay queues — TTL and dead-lettering in the broker — are exercised quickly.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::TestBroker;
use super::harness::{Running, command, declare_for, new_runtime, send, test_settings, unique_names};
use super::recording::RecordingTransport;
use super::scripted::ScriptedConnector;
use crate::envelope::{self, Envelope, HEADER_ATTEMPTS, HEADER_ERROR_CODE, HEADER_EXTERNAL_KEY};
use crate::message::HeaderValue;
use crate::request::{RequestError, Requester, reply_to};
use crate::runtime::CommandError;
use crate::transport::{ConsumeOptions, Publish, SharedTransport};

const WAIT: Duration = Duration::from_secs(10);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// What most cases start from: the scripted connector running on one connection, and a tap on the
/// events, on the same or another connection.
struct Scenario {
    names: crate::topology::Names,
    connector: ScriptedConnector,
    tap: super::harness::EventTap,
    running: Running,
}

async fn scenario(transport: &SharedTransport, observer: &SharedTransport, retry: &[Duration]) -> Scenario {
    let names = unique_names();
    let connector = ScriptedConnector::new();
    let runtime = new_runtime(
        transport,
        Arc::new(connector.clone()),
        test_settings(&names, retry),
    );
    let tap = declare_for(observer, &names, &runtime).await;
    Scenario {
        names,
        connector,
        tap,
        running: Running::start(runtime),
    }
}

/// A completed command yields exactly one `.completed` event correlated to it, and leaves its queue empty.
pub async fn completes_and_correlates(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let Scenario {
        names,
        connector: _,
        mut tap,
        running,
    } = scenario(&transport, &transport, &[ms(50)]).await;
    let (env, msg) = command("scripted.thing.do", json!({"echo": "ciao"}));
    send(&transport, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.completed");
    assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    assert_eq!(event.envelope.tenant.as_deref(), Some("015146"));
    assert_eq!(event.body, json!({"echo": "ciao"}));
    assert_eq!(event.message.properties.delivery_mode, Some(2));
    tap.assert_quiet(ms(300)).await;
    running.stop().await;
    let stats = transport
        .queue_stats(&names.command_queue("scripted"))
        .await
        .expect("stats");
    assert_eq!(stats.messages, 0, "the command was acknowledged");
}

/// Transient failures go through the delay queues and every attempt carries the key bound at the first.
pub async fn retries_with_the_same_external_key(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector
        .platform
        .fail_next(2, CommandError::unavailable("HTTP 503"));
    let runtime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(50), ms(120)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    let started = std::time::Instant::now();
    let (env, msg) = command("scripted.thing.do", json!({"echo": 1}));
    send(&transport, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.completed");
    assert_eq!(event.envelope.attempt, 3);
    assert!(
        started.elapsed() >= ms(170),
        "both delays were waited: {:?}",
        started.elapsed()
    );
    let calls = connector.platform.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.message_id == env.message_id.to_string()));
    assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), vec![1, 2, 3]);
    let key = calls[0]
        .external_key
        .clone()
        .expect("a key is bound at the first attempt");
    assert!(
        calls
            .iter()
            .all(|c| c.external_key.as_deref() == Some(key.as_str())),
        "{calls:?}"
    );
    assert_eq!(
        connector.platform.keys_allocated(),
        1,
        "the key is allocated once"
    );
    assert_eq!(event.envelope.external_key.as_deref(), Some(key.as_str()));
    tap.assert_quiet(ms(300)).await;
    running.stop().await;
}

/// A retry copy that passes through the same delay queue twice is still delivered: the runtime strips
/// `x-death` from its copies, so the broker's dead-letter cycle detection does not drop them.
pub async fn retry_copy_expires_twice_in_the_same_delay_queue(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector
        .platform
        .fail_next(3, CommandError::timeout("no answer", true));
    let runtime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(40); 3]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    let (_, msg) = command("scripted.thing.do", json!({"echo": 2}));
    send(&transport, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.completed");
    assert_eq!(event.envelope.attempt, 4);
    assert_eq!(connector.platform.calls().len(), 4);
    running.stop().await;
}

/// After the last step the command is parked with the error in its headers and one `.failed` event.
pub async fn dead_letters_after_the_last_attempt(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector
        .platform
        .fail_next(10, CommandError::unavailable("connection refused"));
    let runtime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(30), ms(30)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    let (env, msg) = command("scripted.thing.do", json!({"echo": 3}));
    send(&transport, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.failed");
    assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    assert_eq!(event.body["code"], "unavailable");
    assert_eq!(event.body["attempts"], 3);
    assert_eq!(event.body["retryable"], true);
    assert_eq!(event.body["message"], "connection refused");
    tap.assert_quiet(ms(300)).await;
    running.stop().await;
    let dead = transport
        .get(&names.dead_queue("scripted"))
        .await
        .expect("get")
        .expect("a dead letter");
    assert_eq!(
        dead.message.properties.message_id,
        Some(env.message_id.to_string())
    );
    assert_eq!(dead.message.header_str(HEADER_ERROR_CODE), Some("unavailable"));
    assert_eq!(
        dead.message.header(HEADER_ATTEMPTS).and_then(HeaderValue::as_i64),
        Some(3)
    );
    assert!(dead.message.header_str(envelope::HEADER_FAILED_AT).is_some());
    assert!(dead.message.header_str(HEADER_EXTERNAL_KEY).is_some());
    assert!(
        dead.message.header("x-death").is_none(),
        "no broker history on a parked command"
    );
    assert_eq!(
        dead.message.body,
        serde_json::to_vec(&json!({"echo": 3})).unwrap()
    );
    dead.ack().await.expect("ack");
}

/// A business rejection is not retried and carries the platform's code.
pub async fn rejection_fails_at_once(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector
        .platform
        .fail_next(1, CommandError::rejected("EN122", "soggetto non presente"));
    let runtime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(30)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    let (_, msg) = command("scripted.thing.do", json!({"echo": 4}));
    send(&transport, &names, msg).await;
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.failed");
    assert_eq!(event.body["code"], "rejected");
    assert_eq!(event.body["platform_code"], "EN122");
    assert_eq!(event.body["attempts"], 1);
    assert_eq!(connector.platform.calls().len(), 1);
    running.stop().await;
}

/// Messages that cannot be processed are dead-lettered with `invalid_message`, answered when they can be
/// addressed, and never stop the consumer.
pub async fn invalid_messages_are_dead_lettered(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let Scenario {
        names,
        connector,
        mut tap,
        running,
    } = scenario(&transport, &transport, &[ms(30)]).await;
    let queue = names.command_queue("scripted");
    let mut cases = Vec::new();
    let (_, mut m) = command("scripted.thing.do", json!({"echo": 1}));
    m.properties.message_id = None;
    cases.push(("no message_id", m));
    let (_, mut m) = command("scripted.thing.do", json!({"echo": 1}));
    m.properties.kind = None;
    cases.push(("no type", m));
    let (_, mut m) = command("scripted.thing.do", json!({}));
    m.body = bytes::Bytes::from_static(b"{\"echo\": ");
    cases.push(("not JSON", m));
    let (_, mut m) = command("scripted.thing.do", json!({"echo": 1}));
    m.headers.insert(envelope::HEADER_TENANT.into(), "999999".into());
    cases.push(("unknown tenant", m));
    let (_, mut m) = command("scripted.thing.do", json!({"echo": 1}));
    m.headers.remove(envelope::HEADER_TENANT);
    cases.push(("no tenant", m));
    let (_, m) = command("scripted.thing.do", json!({"echo": 1, "surprise": true}));
    cases.push(("unknown field", m));
    let n = cases.len();
    for (_, message) in cases {
        // Straight into the command queue: a message without a type cannot be routed by type.
        transport
            .publish(Publish::to_queue(queue.clone(), message))
            .await
            .expect("publish");
    }
    // Every case but the one without any message_id can be addressed... all get an event, even that one
    // (with no correlation_id), so n events.
    let events = tap.take(n, WAIT).await;
    for e in &events {
        assert!(
            e.envelope.kind.as_str().ends_with(".failed"),
            "{}",
            e.envelope.kind
        );
        assert_eq!(e.body["code"], "invalid_message");
        assert_eq!(e.body["retryable"], false);
    }
    let messages: Vec<String> = events
        .iter()
        .map(|e| e.body["message"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(messages.iter().any(|m| m.contains("message_id")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("type")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("not valid JSON")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("unknown tenant")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("requires the x-snodo-tenant")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("surprise")), "{messages:?}");
    assert!(
        connector.platform.calls().is_empty(),
        "no invalid command reached the platform"
    );
    let dead = names.dead_queue("scripted");
    for _ in 0..n {
        let d = transport
            .get(&dead)
            .await
            .expect("get")
            .expect("one dead letter per invalid message");
        assert_eq!(d.message.header_str(HEADER_ERROR_CODE), Some("invalid_message"));
        d.ack().await.expect("ack");
    }
    // The consumer is still alive.
    let (_, msg) = command("scripted.thing.do", json!({"echo": "after"}));
    send(&transport, &names, msg).await;
    let ok = tap.take(1, WAIT).await.remove(0);
    assert_eq!(ok.envelope.kind.as_str(), "scripted.thing.do.completed");
    running.stop().await;
}

/// `x-snodo-deadline`: past it nothing is attempted; a retry step that would outlive it fails now; a
/// platform call still running at the deadline is abandoned.
pub async fn deadlines_are_honoured(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let Scenario {
        names,
        connector,
        mut tap,
        running,
    } = scenario(&transport, &transport, &[ms(5_000)]).await;

    let (_, msg) = command("scripted.thing.do", json!({"echo": "late"}));
    let mut env = Envelope::parse(&msg).expect("valid");
    env.deadline = Some(Utc::now() - chrono::Duration::seconds(1));
    send(&transport, &names, env.to_message(msg.body.clone())).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "deadline_exceeded");
    assert!(
        connector.platform.calls().is_empty(),
        "nothing attempted past the deadline"
    );

    connector.platform.fail_next(1, CommandError::unavailable("503"));
    let (_, msg) = command("scripted.thing.do", json!({"echo": "soon"}));
    let mut env = Envelope::parse(&msg).expect("valid");
    env.deadline = Some(Utc::now() + chrono::Duration::seconds(2));
    send(&transport, &names, env.to_message(msg.body.clone())).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "deadline_exceeded");
    assert!(
        e.body["message"].as_str().unwrap_or_default().contains("503"),
        "{}",
        e.body
    );
    assert_eq!(
        connector.platform.calls().len(),
        1,
        "no retry was scheduled past the deadline"
    );

    connector.platform.stall_next(Duration::from_secs(20));
    let (_, msg) = command("scripted.thing.do", json!({"echo": "slow"}));
    let mut env = Envelope::parse(&msg).expect("valid");
    env.deadline = Some(Utc::now() + chrono::Duration::milliseconds(300));
    let started = std::time::Instant::now();
    send(&transport, &names, env.to_message(msg.body.clone())).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "deadline_exceeded");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "abandoned at the deadline, not after the stall"
    );
    running.stop().await;
}

/// A command with `reply_to` gets its terminal event there too (RPC style), and request/reply times out
/// when nobody answers.
pub async fn request_reply_and_timeout(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let Scenario {
        names,
        connector: _,
        tap: _tap,
        running,
    } = scenario(&transport, &transport, &[ms(30)]).await;
    let requester = Requester::start(transport.clone(), &names.prefix)
        .await
        .expect("reply queue");
    let (env, msg) = command("scripted.thing.do", json!({"echo": "rpc"}));
    let reply = requester
        .request(&names.commands_exchange(), "scripted.thing.do", msg, WAIT)
        .await
        .expect("the terminal event comes back as the reply");
    let reply_env = Envelope::parse(&reply).expect("valid event");
    assert_eq!(reply_env.correlation_id, Some(env.message_id));
    assert_eq!(reply_env.kind.as_str(), "scripted.thing.do.completed");
    running.stop().await;

    // A backend answering on the requests exchange.
    let backend_queue = format!("{}.backend.requests", names.prefix);
    let topology = crate::topology::Topology::snodo(
        &names,
        &[],
        &[],
        &[crate::topology::SubscriberQueue {
            queue: backend_queue.clone(),
            patterns: vec!["pagopa.position.#".into()],
        }],
    );
    transport.declare(&topology).await.expect("declare");
    let backend = broker.connect().await;
    let mut requests = backend
        .consume(&backend_queue, ConsumeOptions::default())
        .await
        .expect("consume");
    let responder_transport: SharedTransport = backend.clone();
    let responder = tokio::spawn(async move {
        let request = requests.next().await.expect("a request");
        let (_, answer) = command("pagopa.position.found", json!({"amount": "10.00"}));
        reply_to(&responder_transport, &request.message, answer)
            .await
            .expect("reply");
        request.ack().await.expect("ack");
    });
    let (_, ask) = command("pagopa.position.get", json!({"iuv": "01234567890123456"}));
    let answer = requester
        .request(
            &names.requests_exchange(),
            "pagopa.position.get",
            ask.clone(),
            WAIT,
        )
        .await
        .expect("the backend answers");
    assert_eq!(answer.properties.correlation_id, ask.properties.message_id);
    responder.await.expect("responder");

    let (_, unanswered) = command("pagopa.position.get", json!({"iuv": "nobody"}));
    let started = std::time::Instant::now();
    let err = requester
        .request(
            &names.requests_exchange(),
            "pagopa.position.get",
            unanswered,
            ms(300),
        )
        .await
        .expect_err("nobody answers");
    assert!(matches!(err, RequestError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Shutdown stops taking work, lets the command in flight finish and publish, and acknowledges it.
pub async fn graceful_shutdown_finishes_in_flight_work(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let Scenario {
        names,
        connector,
        mut tap,
        running,
    } = scenario(&transport, &transport, &[ms(30)]).await;
    connector.platform.stall_next(ms(800));
    let (env, msg) = command("scripted.thing.do", json!({"echo": "slow"}));
    send(&transport, &names, msg).await;
    // Wait until the platform is being called, then ask for shutdown.
    let until = tokio::time::Instant::now() + WAIT;
    while connector.platform.calls().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "the command never reached the platform"
        );
        tokio::time::sleep(ms(10)).await;
    }
    let (_, second) = command("scripted.thing.do", json!({"echo": "queued"}));
    running.shutdown.cancel();
    send(&transport, &names, second).await;
    tokio::time::timeout(WAIT, running.join)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("no error");
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.completed");
    tap.assert_quiet(ms(300)).await;
    assert_eq!(
        connector.platform.calls().len(),
        1,
        "nothing new was taken after shutdown"
    );
    let stats = transport
        .queue_stats(&names.command_queue("scripted"))
        .await
        .expect("stats");
    assert_eq!(
        stats.messages, 1,
        "the command sent during shutdown waits in the queue"
    );
}

/// No command is acknowledged before what settles it was confirmed, even with slow confirms.
pub async fn never_acks_before_the_confirm(broker: &dyn TestBroker) {
    let inner = broker.connect().await;
    let recording = RecordingTransport::new(inner, ms(40));
    let transport: SharedTransport = Arc::new(recording.clone());
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector.platform.fail_next(1, CommandError::unavailable("503"));
    connector
        .platform
        .fail_next(1, CommandError::rejected("X1", "no"));
    let runtime = new_runtime(
        &transport,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(30)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    for i in 0..6 {
        let (_, msg) = command("scripted.thing.do", json!({"echo": i}));
        send(&transport, &names, msg).await;
    }
    tap.take(6, WAIT).await;
    running.stop().await;
    assert_eq!(recording.acks_before_confirm(), Vec::<String>::new());
    let command_queue = names.command_queue("scripted");
    let acks = recording
        .steps()
        .iter()
        .filter(|s| matches!(s, super::recording::Step::Acked { queue, .. } if *queue == command_queue))
        .count();
    assert_eq!(acks, 7, "six commands and one retry copy were acknowledged");
}

/// A runtime killed mid-command (no graceful shutdown) loses nothing: another instance gets the command.
pub async fn a_killed_runtime_loses_nothing(broker: &dyn TestBroker) {
    let first = broker.connect().await;
    let observer = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector.platform.stall_next(Duration::from_secs(30));
    let runtime = new_runtime(
        &first,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(30)]),
    );
    // The tap lives on its own connection: only the runtime's connection dies.
    let mut tap = declare_for(&observer, &names, &runtime).await;
    let running = Running::start(runtime);
    let (env, msg) = command("scripted.thing.do", json!({"echo": "survivor"}));
    send(&observer, &names, msg).await;
    let until = tokio::time::Instant::now() + WAIT;
    while connector.platform.calls().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "the command never reached the platform"
        );
        tokio::time::sleep(ms(10)).await;
    }
    // Kill: abort the task and drop the connection, as a crashed process would.
    running.join.abort();
    first.close().await;
    drop(first);
    let second = broker.connect().await;
    let runtime = new_runtime(
        &second,
        Arc::new(connector.clone()),
        test_settings(&names, &[ms(30)]),
    );
    let running = Running::start(runtime);
    let event = tap.take(1, WAIT).await.remove(0);
    assert_eq!(event.envelope.correlation_id, Some(env.message_id));
    assert_eq!(event.envelope.kind.as_str(), "scripted.thing.do.completed");
    assert_eq!(connector.platform.calls().len(), 2);
    running.stop().await;
}

/// A connector never handles more commands at once than its concurrency limit, however many are queued.
pub async fn concurrency_is_limited(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    connector.platform.set_latency(ms(50));
    let settings = crate::runtime::RuntimeSettings {
        concurrency: 3,
        prefetch: 20,
        ..test_settings(&names, &[ms(30)])
    };
    let runtime = new_runtime(&transport, Arc::new(connector.clone()), settings);
    let mut tap = declare_for(&transport, &names, &runtime).await;
    for i in 0..12 {
        let (_, msg) = command("scripted.thing.do", json!({"echo": i}));
        send(&transport, &names, msg).await;
    }
    let running = Running::start(runtime);
    tap.take(12, WAIT).await;
    running.stop().await;
    assert_eq!(
        connector.platform.most_concurrent_calls(),
        3,
        "the limit was reached and never passed"
    );
}

/// The runtime across a broker restart: commands published before, during and after it all end in a
/// terminal event (duplicates allowed, losses not), and the consumers resume by themselves.
pub async fn runtime_survives_a_broker_restart(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let observer = broker.connect().await;
    let Scenario {
        names,
        connector: _,
        mut tap,
        running,
    } = scenario(&transport, &observer, &[ms(100), ms(500)]).await;
    let mut sent = std::collections::HashSet::new();
    for i in 0..100 {
        let (env, msg) = command("scripted.thing.do", json!({"echo": i}));
        sent.insert(env.message_id);
        send(&observer, &names, msg).await;
    }
    broker.restart().await;
    for i in 100..200 {
        let (env, msg) = command("scripted.thing.do", json!({"echo": i}));
        sent.insert(env.message_id);
        send(&observer, &names, msg).await;
    }
    let mut answered = std::collections::HashSet::new();
    let mut duplicates = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(90);
    while answered.len() < sent.len() {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let Some(e) = tap.next(left).await else {
            panic!(
                "{} of {} commands never got a terminal event",
                sent.len() - answered.len(),
                sent.len()
            );
        };
        let id = e.envelope.correlation_id.expect("correlated");
        assert!(sent.contains(&id), "an event for a command never sent");
        assert!(
            e.envelope.kind.as_str().ends_with(".completed"),
            "{}: {}",
            e.envelope.kind,
            e.body
        );
        if !answered.insert(id) {
            duplicates += 1;
        }
    }
    eprintln!(
        "broker restart: {} commands answered, {duplicates} duplicate events (de-duplicated by correlation_id)",
        sent.len()
    );
    running.stop().await;
}

/// While the broker blocks publishers (resource alarm), commands are consumed but not acknowledged,
/// readiness says why, and everything completes once the alarm clears.
pub async fn runtime_waits_out_a_blocked_broker(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let observer = broker.connect().await;
    let names = unique_names();
    let connector = ScriptedConnector::new();
    // Room for all ten at once: each holds its slot while its event waits for the broker.
    let settings = crate::runtime::RuntimeSettings {
        concurrency: 16,
        ..test_settings(&names, &[ms(100)])
    };
    let runtime = new_runtime(&transport, Arc::new(connector.clone()), settings);
    let mut tap = declare_for(&observer, &names, &runtime).await;
    let mut sent = std::collections::HashSet::new();
    for i in 0..10 {
        let (env, msg) = command("scripted.thing.do", json!({"echo": i}));
        sent.insert(env.message_id);
        send(&observer, &names, msg).await;
    }
    broker.block_publishers().await;
    let running = Running::start(runtime);
    let until = tokio::time::Instant::now() + WAIT;
    while connector.platform.calls().len() < 10 {
        assert!(
            tokio::time::Instant::now() < until,
            "commands are consumed while publishers are blocked"
        );
        tokio::time::sleep(ms(20)).await;
    }
    let until = tokio::time::Instant::now() + WAIT;
    while transport.status().blocked.is_none() {
        assert!(
            tokio::time::Instant::now() < until,
            "the transport reports the block"
        );
        tokio::time::sleep(ms(20)).await;
    }
    assert!(
        tap.next(ms(1500)).await.is_none(),
        "no event can be published while blocked"
    );
    let command_queue = names.command_queue("scripted");
    broker.unblock_publishers().await;
    let events = tap.take(10, Duration::from_secs(60)).await;
    let answered: std::collections::HashSet<_> =
        events.iter().filter_map(|e| e.envelope.correlation_id).collect();
    assert_eq!(answered, sent);
    running.stop().await;
    assert!(transport.status().blocked.is_none());
    assert_eq!(
        transport
            .queue_stats(&command_queue)
            .await
            .expect("stats")
            .messages,
        0
    );
}

/// Expands to one test per runtime case against the broker `$make` (an expression evaluated inside each
/// async test; it may `.await`).
#[macro_export]
macro_rules! runtime_conformance_tests {
    ($make:expr) => {
        mod runtime_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::runtime_conformance_tests!(@cases $make;
                completes_and_correlates,
                retries_with_the_same_external_key,
                retry_copy_expires_twice_in_the_same_delay_queue,
                dead_letters_after_the_last_attempt,
                rejection_fails_at_once,
                invalid_messages_are_dead_lettered,
                deadlines_are_honoured,
                request_reply_and_timeout,
                graceful_shutdown_finishes_in_flight_work,
                never_acks_before_the_confirm,
                a_killed_runtime_loses_nothing,
                concurrency_is_limited,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let broker = $make;
                $crate::testing::runtime_cases::$case(&broker).await;
            }
        )*
    };
}

/// The runtime cases that restart or block the broker: run them one at a time (`--test-threads=1`) when
/// the broker is shared between tests.
#[macro_export]
macro_rules! runtime_fault_tests {
    ($make:expr) => {
        mod fault_runtime {
            #[allow(unused_imports)]
            use super::*;
            $crate::runtime_conformance_tests!(@cases $make;
                runtime_survives_a_broker_restart,
                runtime_waits_out_a_blocked_broker,
            );
        }
    };
}
