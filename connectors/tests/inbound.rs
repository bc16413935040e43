//! The inbound publisher passes the inbound compliance suite, through a minimal HTTP endpoint of the
//! shape every platform endpoint has: store the event, then answer; answer "retry" when storing
//! could not finish within the budget. Embedded broker here; RabbitMQ (private node, whose alarms the
//! suite raises) in the `inbound_faults` module, run by the broker-fault stage of `scripts/test`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use snodo_connectors::inbound::{InboundEvent, InboundPublisher};
use snodo_queue::Names;
use snodo_queue::SharedTransport;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::inbound::{
    InboundAnswer, InboundEndpoint, InboundSubject, assert_inbound_compliance,
};
use tokio::net::TcpListener;

const KIND: &str = "test.receipt.received";
/// What the endpoint may spend storing, well inside the platform's patience.
const STORE_BUDGET: Duration = Duration::from_secs(2);

struct ReceiptEndpointSubject;

struct Endpoint {
    url: String,
    http: reqwest::Client,
}

#[async_trait]
impl InboundEndpoint for Endpoint {
    async fn call(&self, platform_id: &str) -> InboundAnswer {
        match self.http.post(format!("{}/{platform_id}", self.url)).send().await {
            Ok(r) if r.status() == StatusCode::OK => InboundAnswer::Stored,
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => InboundAnswer::RetryLater,
            Ok(r) => InboundAnswer::Other(format!("HTTP {}", r.status())),
            Err(e) => InboundAnswer::Other(e.to_string()),
        }
    }
}

async fn receive(State(publisher): State<Arc<InboundPublisher>>, Path(receipt): Path<String>) -> StatusCode {
    let event = InboundEvent {
        kind: KIND.parse().unwrap(),
        tenant: Some("015146".into()),
        platform_id: receipt.clone(),
        body: serde_json::json!({ "receiptId": receipt }),
    };
    match publisher.store(&event, STORE_BUDGET).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[async_trait]
impl InboundSubject for ReceiptEndpointSubject {
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint> {
        let publisher = Arc::new(InboundPublisher::new(transport, names, "test"));
        let router = Router::new()
            .route("/receipts/{id}", axum::routing::post(receive))
            .with_state(publisher);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Box::new(Endpoint {
            url: format!("http://{address}/receipts"),
            http: reqwest::Client::new(),
        })
    }

    fn event_kind(&self) -> &str {
        KIND
    }

    fn platform_timeout(&self) -> Duration {
        Duration::from_secs(7)
    }
}

#[tokio::test]
async fn the_inbound_publisher_is_compliant_on_the_embedded_broker() {
    assert_inbound_compliance(&EmbeddedTestBroker::new(), &ReceiptEndpointSubject).await;
}

#[tokio::test]
async fn the_message_id_depends_on_the_fact_only() {
    let event = |id: &str, tenant: &str| InboundEvent {
        kind: KIND.parse().unwrap(),
        tenant: Some(tenant.into()),
        platform_id: id.into(),
        body: serde_json::json!({ "n": uuid::Uuid::new_v4().to_string() }),
    };
    assert_eq!(
        event("r1", "015146").message_id(),
        event("r1", "015146").message_id()
    );
    assert_ne!(
        event("r1", "015146").message_id(),
        event("r2", "015146").message_id()
    );
    assert_ne!(
        event("r1", "015146").message_id(),
        event("r1", "058091").message_id()
    );
}

/// An endpoint that answers first and stores in the background — the bug the suite exists for.
struct AnswersBeforeStoring;

async fn receive_carelessly(
    State(publisher): State<Arc<InboundPublisher>>,
    Path(receipt): Path<String>,
) -> StatusCode {
    tokio::spawn(async move {
        let event = InboundEvent {
            kind: KIND.parse().unwrap(),
            tenant: Some("015146".into()),
            platform_id: receipt,
            body: serde_json::json!({}),
        };
        let _ = publisher.store(&event, Duration::from_secs(60)).await;
    });
    StatusCode::OK
}

#[async_trait]
impl InboundSubject for AnswersBeforeStoring {
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint> {
        let publisher = Arc::new(InboundPublisher::new(transport, names, "test"));
        let router = Router::new()
            .route("/receipts/{id}", axum::routing::post(receive_carelessly))
            .with_state(publisher);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Box::new(Endpoint {
            url: format!("http://{address}/receipts"),
            http: reqwest::Client::new(),
        })
    }
    fn event_kind(&self) -> &str {
        KIND
    }
    fn platform_timeout(&self) -> Duration {
        Duration::from_secs(7)
    }
}

#[tokio::test]
async fn the_suite_fails_an_endpoint_that_answers_before_the_confirm() {
    let outcome = tokio::spawn(async {
        assert_inbound_compliance(&EmbeddedTestBroker::new(), &AnswersBeforeStoring).await;
    })
    .await;
    let panic = outcome.expect_err("the suite must reject this endpoint");
    assert!(panic.is_panic());
}

mod inbound_faults {
    use super::*;
    use snodo_queue::testing::rabbit::RabbitTestBroker;

    #[tokio::test]
    async fn the_inbound_publisher_is_compliant_on_rabbitmq() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        assert_inbound_compliance(&broker, &ReceiptEndpointSubject).await;
    }
}
