//! The connector compliance suite: every connector proves its citizenship by passing
//! [`assert_connector_compliance`] with its real handler in front of a scripted fake platform, as Vector's
//! sinks pass `assert_sink_compliance`. Behaviour that must be uniform across connectors is tested
//! uniformly: one terminal event per command, deadlines, retries with the same idempotency key,
//! `invalid_message` for bad input, no acknowledgement before the confirm, graceful shutdown.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::TestBroker;
use super::harness::{Running, command, declare_for, new_runtime, send, test_settings, unique_names};
use super::recording::RecordingTransport;
use super::scripted::ScriptedConnector;
use crate::envelope::{Envelope, HEADER_ERROR_CODE};
use crate::runtime::{CommandError, SharedHandler};
use crate::transport::SharedTransport;

const WAIT: Duration = Duration::from_secs(15);

/// The platform behind a connector, scripted by the suite.
pub trait FakePlatform: Send + Sync {
    /// The next `n` calls fail the way the platform fails transiently (HTTP 503, a dropped connection).
    fn fail_transiently(&self, n: usize);
    /// The next call answers only after `d`.
    fn stall_next(&self, d: Duration);
    /// The platform idempotency key of every call received so far, in order (`None` where the operation
    /// carries none).
    fn idempotency_keys(&self) -> Vec<Option<String>>;
    fn calls(&self) -> usize;
}

/// A connector under test.
pub trait ComplianceSubject: Send + Sync {
    /// A fresh handler wired to the fake platform.
    fn handler(&self) -> SharedHandler;
    /// A command the connector completes when the platform is healthy: (type, body).
    fn valid_command(&self) -> (String, serde_json::Value);
    /// A command of a type the connector handles, whose JSON body breaks the contract.
    fn invalid_command(&self) -> (String, serde_json::Value);
    /// The fake platform; `None` for built-ins that call no platform (their platform cases are skipped).
    fn platform(&self) -> Option<&dyn FakePlatform>;
}

/// Runs every compliance check against `subject` on `broker`.
pub async fn assert_connector_compliance(broker: &dyn TestBroker, subject: &dyn ComplianceSubject) {
    one_terminal_event_per_command_and_no_early_ack(broker, subject).await;
    invalid_input_is_dead_lettered(broker, subject).await;
    deadline_is_honoured(broker, subject).await;
    if let Some(platform) = subject.platform() {
        transient_failures_are_retried_with_the_same_key(broker, subject, platform).await;
        shuts_down_gracefully(broker, subject, platform).await;
    }
}

fn delays() -> Vec<Duration> {
    vec![Duration::from_millis(30), Duration::from_millis(60)]
}

async fn start(
    transport: &SharedTransport,
    subject: &dyn ComplianceSubject,
) -> (crate::topology::Names, super::harness::EventTap, Running) {
    let names = unique_names();
    let runtime = new_runtime(transport, subject.handler(), test_settings(&names, &delays()));
    let tap = declare_for(transport, &names, &runtime).await;
    (names, tap, Running::start(runtime))
}

async fn one_terminal_event_per_command_and_no_early_ack(
    broker: &dyn TestBroker,
    subject: &dyn ComplianceSubject,
) {
    let recording = RecordingTransport::new(broker.connect().await, Duration::from_millis(5));
    let transport: SharedTransport = Arc::new(recording.clone());
    let (names, mut tap, running) = start(&transport, subject).await;
    if let Some(p) = subject.platform() {
        p.fail_transiently(3);
    }
    let mut sent = HashSet::new();
    for _ in 0..20 {
        let (kind, body) = subject.valid_command();
        let (env, msg) = command(&kind, body);
        sent.insert(env.message_id);
        send(&transport, &names, msg).await;
    }
    let events = tap.take(sent.len(), WAIT).await;
    let mut answered = HashSet::new();
    for e in &events {
        let id = e.envelope.correlation_id.expect("terminal events are correlated");
        assert!(sent.contains(&id), "an event for a command never sent");
        assert!(answered.insert(id), "two terminal events for one command");
        assert!(
            e.envelope.kind.as_str().ends_with(".completed"),
            "{}: {}",
            e.envelope.kind,
            e.body
        );
    }
    tap.assert_quiet(Duration::from_millis(300)).await;
    running.stop().await;
    assert_eq!(
        recording.acks_before_confirm(),
        Vec::<String>::new(),
        "acknowledged before the confirm"
    );
}

async fn invalid_input_is_dead_lettered(broker: &dyn TestBroker, subject: &dyn ComplianceSubject) {
    let transport = broker.connect().await;
    let (names, mut tap, running) = start(&transport, subject).await;
    let calls_before = subject.platform().map(|p| p.calls());
    let (kind, body) = subject.invalid_command();
    let (env, msg) = command(&kind, body);
    send(&transport, &names, msg).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.envelope.correlation_id, Some(env.message_id));
    assert_eq!(e.body["code"], "invalid_message", "{}", e.body);
    running.stop().await;
    assert_eq!(
        subject.platform().map(|p| p.calls()),
        calls_before,
        "invalid input reached the platform"
    );
    let connector = subject.handler().name().to_owned();
    let dead = transport
        .get(&names.dead_queue(&connector))
        .await
        .expect("get")
        .expect("dead letter");
    assert_eq!(
        dead.message.header_str(HEADER_ERROR_CODE),
        Some("invalid_message")
    );
    dead.ack().await.expect("ack");
}

async fn deadline_is_honoured(broker: &dyn TestBroker, subject: &dyn ComplianceSubject) {
    let transport = broker.connect().await;
    let (names, mut tap, running) = start(&transport, subject).await;
    let calls_before = subject.platform().map(|p| p.calls());
    let (kind, body) = subject.valid_command();
    let (_, msg) = command(&kind, body);
    let mut env = Envelope::parse(&msg).expect("valid");
    env.deadline = Some(Utc::now() - chrono::Duration::seconds(1));
    send(&transport, &names, env.to_message(msg.body.clone())).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "deadline_exceeded", "{}", e.body);
    assert_eq!(
        subject.platform().map(|p| p.calls()),
        calls_before,
        "called the platform past the deadline"
    );
    running.stop().await;
}

async fn transient_failures_are_retried_with_the_same_key(
    broker: &dyn TestBroker,
    subject: &dyn ComplianceSubject,
    platform: &dyn FakePlatform,
) {
    let transport = broker.connect().await;
    let (names, mut tap, running) = start(&transport, subject).await;
    let before = platform.calls();
    platform.fail_transiently(2);
    let (kind, body) = subject.valid_command();
    let (_, msg) = command(&kind, body);
    send(&transport, &names, msg).await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert!(e.envelope.kind.as_str().ends_with(".completed"), "{}", e.body);
    assert_eq!(e.envelope.attempt, 3);
    let keys = platform.idempotency_keys();
    assert_eq!(platform.calls() - before, 3, "two failures and a success");
    let attempts = &keys[keys.len() - 3..];
    assert!(
        attempts.windows(2).all(|w| w[0] == w[1]),
        "the idempotency key changed between attempts: {attempts:?}"
    );
    running.stop().await;
}

async fn shuts_down_gracefully(
    broker: &dyn TestBroker,
    subject: &dyn ComplianceSubject,
    platform: &dyn FakePlatform,
) {
    let transport = broker.connect().await;
    let (names, mut tap, running) = start(&transport, subject).await;
    let before = platform.calls();
    platform.stall_next(Duration::from_millis(600));
    let (kind, body) = subject.valid_command();
    let (env, msg) = command(&kind, body);
    send(&transport, &names, msg).await;
    let until = tokio::time::Instant::now() + WAIT;
    while platform.calls() == before {
        assert!(
            tokio::time::Instant::now() < until,
            "the command never reached the platform"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await;
    let e = tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.envelope.correlation_id, Some(env.message_id));
    assert!(
        e.envelope.kind.as_str().ends_with(".completed"),
        "in-flight work finished: {}",
        e.body
    );
    let connector = subject.handler().name().to_owned();
    let stats = transport
        .queue_stats(&names.command_queue(&connector))
        .await
        .expect("stats");
    assert_eq!(stats.messages, 0, "the in-flight command was acknowledged");
}

/// The scripted connector as a compliance subject: the reference that proves the suite itself.
pub struct ScriptedSubject {
    pub connector: ScriptedConnector,
}

impl ScriptedSubject {
    pub fn new() -> Self {
        ScriptedSubject {
            connector: ScriptedConnector::new(),
        }
    }
}

impl Default for ScriptedSubject {
    fn default() -> Self {
        ScriptedSubject::new()
    }
}

impl ComplianceSubject for ScriptedSubject {
    fn handler(&self) -> SharedHandler {
        Arc::new(self.connector.clone())
    }

    fn valid_command(&self) -> (String, serde_json::Value) {
        ("scripted.thing.do".into(), serde_json::json!({"echo": "x"}))
    }

    fn invalid_command(&self) -> (String, serde_json::Value) {
        (
            "scripted.thing.do".into(),
            serde_json::json!({"echo": "x", "unexpected": 1}),
        )
    }

    fn platform(&self) -> Option<&dyn FakePlatform> {
        Some(self)
    }
}

impl FakePlatform for ScriptedSubject {
    fn fail_transiently(&self, n: usize) {
        self.connector
            .platform
            .fail_next(n, CommandError::unavailable("HTTP 503 Service Unavailable"));
    }

    fn stall_next(&self, d: Duration) {
        self.connector.platform.stall_next(d);
    }

    fn idempotency_keys(&self) -> Vec<Option<String>> {
        self.connector
            .platform
            .calls()
            .into_iter()
            .map(|c| c.external_key)
            .collect()
    }

    fn calls(&self) -> usize {
        self.connector.platform.calls().len()
    }
}
