//! The demo municipal backend: it records the events it receives and answers Snodo's requests from its
//! seeded answers, with a `.failed` reply for a request type it has no answer for.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use snodo_queue::request::Requester;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::{command, unique_names};
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{Publish, Topology};
use snodo_simulators::backend::{Answers, DemoBackend};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_seeded_requests_and_records_events() {
    let broker = EmbeddedTestBroker::new();
    let transport = broker.connect().await;
    let names = unique_names();
    let events = format!("{}.demo.events", names.prefix);
    let requests = format!("{}.demo.requests", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[],
        &[SubscriberQueue {
            queue: events.clone(),
            patterns: vec!["#".into()],
        }],
        &[SubscriberQueue {
            queue: requests.clone(),
            patterns: vec!["#".into()],
        }],
    );
    transport.declare(&topology).await.unwrap();
    let mut answers = Answers::default();
    answers.insert(
        "pagopa.position.get",
        Arc::new(|body: &serde_json::Value| match body["iuv"].as_str() {
            Some("01000000000000001") => Ok(json!({"amount": "16.00", "status": "payable"})),
            _ => Err("no such position".to_owned()),
        }),
    );
    let backend = DemoBackend::new(transport.clone(), events.clone(), Some(requests), answers);
    let stop = CancellationToken::new();
    let running = tokio::spawn(backend.clone().run(stop.clone()));
    let requester = Requester::start(transport.clone(), &names.prefix).await.unwrap();
    let ask = |iuv: &str, kind: &str| command(kind, json!({ "iuv": iuv })).1;
    let wait = Duration::from_secs(5);

    let reply = requester
        .request(
            &names.requests_exchange(),
            "pagopa.position.get",
            ask("01000000000000001", "pagopa.position.get"),
            wait,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.properties.kind.as_deref(),
        Some("pagopa.position.get.completed")
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["amount"], "16.00");

    let reply = requester
        .request(
            &names.requests_exchange(),
            "pagopa.position.get",
            ask("09999999999999999", "pagopa.position.get"),
            wait,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.properties.kind.as_deref(),
        Some("pagopa.position.get.failed")
    );

    let reply = requester
        .request(
            &names.requests_exchange(),
            "anpr.something.get",
            ask("x", "anpr.something.get"),
            wait,
        )
        .await
        .unwrap();
    assert_eq!(
        reply.properties.kind.as_deref(),
        Some("anpr.something.get.failed")
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("no seeded answer"),
        "{body}"
    );

    let (_, event) = command("snodo.ping.completed", json!({"hello": 1}));
    transport
        .publish(Publish::new(
            names.events_exchange(),
            "snodo.ping.completed",
            event,
        ))
        .await
        .unwrap();
    let until = tokio::time::Instant::now() + wait;
    while !backend
        .entries()
        .iter()
        .any(|e| e.direction == "event" && e.kind == "snodo.ping.completed")
    {
        assert!(tokio::time::Instant::now() < until, "the event was not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        backend
            .entries()
            .iter()
            .filter(|e| e.direction == "request")
            .count(),
        3
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}
