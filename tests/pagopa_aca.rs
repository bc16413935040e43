//! `pagopa.position.publish` → ACA `paCreatePosition`: the connector compliance suite (one terminal
//! event per command, deadlines, retries with the same key, `invalid_message`, graceful shutdown)
//! against a scripted ACA, on the embedded transport and on RabbitMQ; and what ACA receives — the
//! subscription key, the fields, a cancellation as amount 0 — and how its errors are classified.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use snodo_connectors::config::Config;
use snodo_connectors::pagopa::aca::{ACA_PATH, NodeApi, PublishHandler, SUBSCRIPTION_KEY_HEADER};
use snodo_connectors::tenants::Tenants;
use snodo_queue::runtime::{Command, ErrorCode, SharedHandler};
use snodo_queue::testing::compliance::{ComplianceSubject, FakePlatform, assert_connector_compliance};
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::command;
use snodo_queue::testing::rabbit::RabbitTestBroker;
use tokio::net::TcpListener;

const KEY: &str = "test-subscription-key";

#[derive(Default)]
struct Script {
    /// Statuses to answer next, before healthy 200s.
    next: VecDeque<u16>,
    stall: Option<Duration>,
    received: Vec<(Option<String>, serde_json::Value)>,
}

#[derive(Clone, Default)]
struct FakeAca(Arc<Mutex<Script>>);

async fn create_position(
    State(aca): State<FakeAca>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let key = headers
        .get(SUBSCRIPTION_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (status, stall) = {
        let mut s = aca.0.lock();
        s.received.push((key.clone(), json));
        (s.next.pop_front().unwrap_or(200), s.stall.take())
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    if key.as_deref() != Some(KEY) {
        return (StatusCode::UNAUTHORIZED, r#"{"statusCode":401}"#.into());
    }
    (StatusCode::from_u16(status).unwrap(), String::new())
}

impl FakeAca {
    async fn start() -> (FakeAca, String) {
        let aca = FakeAca::default();
        let app = Router::new()
            .route(ACA_PATH, post(create_position))
            .with_state(aca.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (aca, url)
    }
}

impl FakePlatform for FakeAca {
    fn fail_transiently(&self, n: usize) {
        self.0.lock().next.extend(std::iter::repeat_n(503, n));
    }
    fn stall_next(&self, d: Duration) {
        self.0.lock().stall = Some(d);
    }
    /// ACA's idempotency key is the position itself: (paFiscalCode, iuv).
    fn idempotency_keys(&self) -> Vec<Option<String>> {
        self.0
            .lock()
            .received
            .iter()
            .map(|(_, b)| Some(format!("{}/{}", b["paFiscalCode"], b["iuv"])))
            .collect()
    }
    fn calls(&self) -> usize {
        self.0.lock().received.len()
    }
}

struct Subject {
    aca: FakeAca,
    node: NodeApi,
}

impl Subject {
    async fn new(key: &str) -> Subject {
        let (aca, url) = FakeAca::start().await;
        Subject {
            aca,
            node: NodeApi::new(reqwest_client(), url, key),
        }
    }
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

fn position(iuv: &str, amount_cents: u64) -> serde_json::Value {
    serde_json::json!({
        "fiscal_code": "01199250158",
        "debtor_type": "F",
        "debtor_fiscal_code": "RSSMRA80A01F205X",
        "debtor_full_name": "Mario Rossi",
        "iuv": iuv,
        "amount_cents": amount_cents,
        "description": "TARI 2025",
        "expiration": "2030-12-31T23:59:59Z",
        "iban": "IT60X0542811101000000123456",
    })
}

impl ComplianceSubject for Subject {
    fn handler(&self) -> SharedHandler {
        Arc::new(PublishHandler::new(
            self.node.clone(),
            Arc::new(Tenants::from_config(&Config::development())),
        ))
    }
    fn valid_command(&self) -> (String, serde_json::Value) {
        let iuv = format!("01{:015}", rand_suffix());
        ("pagopa.position.publish".into(), position(&iuv, 10050))
    }
    fn invalid_command(&self) -> (String, serde_json::Value) {
        let mut body = position("01000000000000144", 10050);
        body["amount"] = serde_json::json!(1);
        ("pagopa.position.publish".into(), body)
    }
    fn platform(&self) -> Option<&dyn FakePlatform> {
        Some(&self.aca)
    }
}

fn rand_suffix() -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) % 1_000_000_000_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_is_compliant_on_the_embedded_transport() {
    assert_connector_compliance(&EmbeddedTestBroker::new(), &Subject::new(KEY).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_is_compliant_on_rabbitmq() {
    assert_connector_compliance(&RabbitTestBroker::shared().await, &Subject::new(KEY).await).await;
}

async fn handle(subject: &Subject, body: serde_json::Value) -> Result<serde_json::Value, ErrorCode> {
    let (envelope, message) = command("pagopa.position.publish", body);
    subject
        .handler()
        .handle(&Command {
            envelope,
            body: message.body,
        })
        .await
        .map_err(|e| e.code)
}

#[tokio::test]
async fn aca_receives_the_subscription_key_and_a_cancellation_as_amount_zero() {
    let subject = Subject::new(KEY).await;
    let done = handle(&subject, position("01000000000000144", 0)).await.unwrap();
    assert_eq!(done["cancelled"], true);
    let received = subject.aca.0.lock().received.clone();
    assert_eq!(received[0].0.as_deref(), Some(KEY));
    assert_eq!(received[0].1["amount"], 0);
    assert_eq!(received[0].1["paFiscalCode"], "01199250158");
    assert_eq!(received[0].1["entityType"], "F");
    assert_eq!(received[0].1["payStandIn"], true);
}

#[tokio::test]
async fn a_wrong_subscription_key_is_rejected_not_retried() {
    let subject = Subject::new("wrong-key").await;
    assert_eq!(
        handle(&subject, position("01000000000000144", 100)).await,
        Err(ErrorCode::Rejected)
    );
}

#[tokio::test]
async fn a_tenant_publishes_only_its_own_positions() {
    let subject = Subject::new(KEY).await;
    let mut body = position("01000000000000144", 100);
    body["fiscal_code"] = serde_json::json!("80101590153");
    assert_eq!(handle(&subject, body).await, Err(ErrorCode::InvalidMessage));
    assert_eq!(subject.aca.calls(), 0);
}
