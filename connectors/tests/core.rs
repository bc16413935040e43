//! The built-in `core` connector: `snodo.ping` passes the connector compliance suite, and a command of a
//! type nobody handles is answered `unknown_type` through `snodo.commands.unrouted` — on both transports.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use snodo_connectors::core::{Ping, Unrouted};
use snodo_queue::runtime::{RuntimeSettings, SharedHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::compliance::{ComplianceSubject, FakePlatform, assert_connector_compliance};
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};

struct PingSubject;

impl ComplianceSubject for PingSubject {
    fn handler(&self) -> SharedHandler {
        Arc::new(Ping)
    }

    fn valid_command(&self) -> (String, serde_json::Value) {
        ("snodo.ping".into(), json!({"hello": "Milano"}))
    }

    fn invalid_command(&self) -> (String, serde_json::Value) {
        // JSON, but not the object that snodo.ping takes.
        ("snodo.ping".into(), json!(["not", "an", "object"]))
    }

    fn platform(&self) -> Option<&dyn FakePlatform> {
        None
    }
}

async fn ping_is_compliant(broker: &dyn TestBroker) {
    assert_connector_compliance(broker, &PingSubject).await;
}

async fn ping_echoes_its_body(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let runtime = new_runtime(
        &transport,
        Arc::new(Ping),
        test_settings(&names, &[Duration::from_millis(50)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let running = Running::start(runtime);
    let (env, mut msg) = command("snodo.ping", json!({"n": 1, "nested": {"è": "ok"}}));
    // Ping needs no tenant.
    msg.headers.remove(snodo_queue::envelope::HEADER_TENANT);
    send(&transport, &names, msg).await;
    let e = tap.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(e.envelope.kind.as_str(), "snodo.ping.completed");
    assert_eq!(e.envelope.correlation_id, Some(env.message_id));
    assert_eq!(e.body, json!({"n": 1, "nested": {"è": "ok"}}));
    running.stop().await;
}

async fn unknown_types_are_answered(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let ping = new_runtime(
        &transport,
        Arc::new(Ping),
        test_settings(&names, &[Duration::from_millis(50)]),
    );
    let mut tap = declare_for(&transport, &names, &ping).await;
    let unrouted = new_runtime(
        &transport,
        Arc::new(Unrouted {
            known_families: vec!["snodo".into()],
        }),
        RuntimeSettings {
            queue_override: Some(names.commands_unrouted()),
            ..test_settings(&names, &[])
        },
    );
    let running = Running::start(unrouted);
    let (env, msg) = command(
        "anrp.resident.lookup",
        json!({"codice_fiscale": "RSSMRA85T10A562S"}),
    );
    send(&transport, &names, msg).await;
    let e = tap.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(e.envelope.kind.as_str(), "anrp.resident.lookup.failed");
    assert_eq!(e.envelope.correlation_id, Some(env.message_id));
    assert_eq!(e.body["code"], "unknown_type");
    assert!(
        e.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("anrp.resident.lookup"),
        "{}",
        e.body
    );
    running.stop().await;
    let dead = transport
        .get(&names.dead_queue("core"))
        .await
        .expect("get")
        .expect("parked");
    assert_eq!(
        dead.message.header_str("x-snodo-error-code"),
        Some("unknown_type")
    );
    dead.ack().await.expect("ack");
    assert_eq!(
        transport
            .queue_stats(&names.commands_unrouted())
            .await
            .expect("stats")
            .messages,
        0
    );
}

macro_rules! core_tests {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ping_passes_the_compliance_suite() {
                ping_is_compliant(&$make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ping_completes_with_its_body_echoed() {
                ping_echoes_its_body(&$make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_unhandled_type_fails_with_unknown_type() {
                unknown_types_are_answered(&$make).await;
            }
        }
    };
}

core_tests!(
    embedded,
    snodo_queue::testing::embedded::EmbeddedTestBroker::new()
);
core_tests!(
    rabbitmq,
    snodo_queue::testing::rabbit::RabbitTestBroker::shared().await
);
