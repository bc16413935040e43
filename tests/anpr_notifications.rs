//! `/anpr/{tenant}/notifications` through the inbound compliance suite: ANPR gets `codiceEsito` 0
//! only after the broker confirmed `anpr.notification.received`, a notification pushed twice is one
//! `message_id` (the same as its pulled copy's), and with the broker unreachable or blocked ANPR gets
//! a Server fault in time, which it retries. The RabbitMQ variant (which blocks the private node) is
//! in `inbound_faults`, run by the broker-fault stage of `scripts/test`. Also: what the endpoint
//! refuses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use snodo_connectors::anpr::{NOTIFICATION_NAMESPACE, notification_items, notification_router};
use snodo_connectors::config::Config;
use snodo_connectors::inbound::{InboundPublisher, item_message_id};
use snodo_connectors::tenants::Tenants;
use snodo_mappings::anpr::bulk::{PollItem, PollResult};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::unique_names;
use snodo_queue::testing::inbound::{
    InboundAnswer, InboundEndpoint, InboundSubject, assert_inbound_compliance,
};
use snodo_queue::{Names, SharedTransport};
use tokio::net::TcpListener;

/// How long the endpoint may take to store a notification in these tests.
const STORE_WITHIN: Duration = Duration::from_secs(3);

/// A digits-only notification id for a suite's platform id (stable: the same id for the same fact).
fn notification_id(platform_id: &str) -> String {
    let hash = platform_id.bytes().fold(1_469_598_103_934_665_603_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
    });
    (hash % 1_000_000_000_000).to_string()
}

fn push(tenant: &str, kind: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<n:RichiestaN000 xmlns:n="{NOTIFICATION_NAMESPACE}"><testataNotifica><tipoNotifica>{kind}</tipoNotifica>
<codMittente>ANPR00</codMittente><codDestinatario>{tenant}</codDestinatario>
<dataOraRichiesta>2025-03-14T10:00:00</dataOraRichiesta><idOperazioneANPR>{id}</idOperazioneANPR></testataNotifica>
<contenuto>PE4wMTAvPg==</contenuto></n:RichiestaN000></soapenv:Body></soapenv:Envelope>"#
    )
}

struct Endpoint {
    url: String,
    http: reqwest::Client,
}

impl Endpoint {
    async fn start(transport: SharedTransport, names: &Names) -> Endpoint {
        let tenants = Arc::new(Tenants::from_config(&Config::development()));
        let router = notification_router(
            tenants,
            InboundPublisher::new(transport, names, "anpr"),
            STORE_WITHIN,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Endpoint {
            url,
            http: reqwest::Client::new(),
        }
    }

    /// (status, body) of one push to `/anpr/{tenant}/notifications`.
    async fn post(&self, tenant: &str, body: String) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}/anpr/{tenant}/notifications", self.url))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

#[async_trait]
impl InboundEndpoint for Endpoint {
    async fn call(&self, platform_id: &str) -> InboundAnswer {
        let (status, body) = self
            .post("015146", push("015146", "N010", &notification_id(platform_id)))
            .await;
        match status {
            200 if body.contains("<codiceEsito>0</codiceEsito>") => InboundAnswer::Stored,
            500 if body.contains("Server") => InboundAnswer::RetryLater,
            _ => InboundAnswer::Other(format!("HTTP {status}: {body}")),
        }
    }
}

struct Notifications;

#[async_trait]
impl InboundSubject for Notifications {
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint> {
        Box::new(Endpoint::start(transport, names).await)
    }

    fn event_kind(&self) -> &str {
        "anpr.notification.received"
    }

    fn platform_timeout(&self) -> Duration {
        // A SOAP client's usual patience; the endpoint answers within STORE_WITHIN.
        Duration::from_secs(10)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_endpoint_is_inbound_compliant_on_the_embedded_transport() {
    assert_inbound_compliance(&EmbeddedTestBroker::new(), &Notifications).await;
}

#[tokio::test]
async fn a_pushed_and_a_pulled_copy_of_a_notification_carry_one_message_id() {
    let pulled = notification_items(
        "015146",
        &PollResult {
            status: "OK".into(),
            id_operazione_anpr: "1".into(),
            available_at: "2025-03-14T10:00:00".into(),
            page: None,
            items: vec![PollItem {
                id_operazione_anpr: "9000001".into(),
                state: Some(1),
                kind: Some("N010".into()),
                content_base64: None,
                format: None,
            }],
        },
    );
    let pulled = &pulled[0];
    let pulled_id = item_message_id(&pulled.kind, pulled.tenant.as_deref(), &pulled.platform_id);

    let broker = EmbeddedTestBroker::new();
    let transport = broker.connect().await;
    let names = unique_names();
    let inbox = "anpr-notifications-test";
    let mut topology = snodo_queue::topology::Topology::snodo(&names, &[], &[], &[]);
    topology
        .queues
        .push(snodo_queue::topology::QueueSpec::quorum(inbox));
    topology.bindings.push(snodo_queue::topology::BindingSpec {
        exchange: names.events_exchange(),
        queue: inbox.into(),
        pattern: "anpr.#".into(),
    });
    transport.declare(&topology).await.unwrap();
    let endpoint = Endpoint::start(transport.clone(), &names).await;
    let (status, body) = endpoint.post("015146", push("015146", "N010", "9000001")).await;
    assert_eq!(status, 200, "{body}");
    let delivery = transport.get(inbox).await.unwrap().expect("the pushed event");
    let envelope = snodo_queue::envelope::Envelope::parse(&delivery.message).unwrap();
    assert_eq!(envelope.message_id, pulled_id);
    let event: serde_json::Value = serde_json::from_slice(&delivery.message.body).unwrap();
    assert_eq!(event["kind"], "N010");
    assert_eq!(event["notification_id"], "9000001");
    assert_eq!(event["content_base64"], "PE4wMTAvPg==");
}

#[tokio::test]
async fn the_endpoint_refuses_what_is_not_a_notification_for_its_tenant() {
    let transport = EmbeddedTestBroker::new().connect().await;
    let names = unique_names();
    let endpoint = Endpoint::start(transport, &names).await;
    for (tenant, body, why) in [
        ("999999", push("999999", "N010", "1"), "unknown tenant"),
        (
            "015146",
            push("058091", "N010", "1"),
            "another comune's notification",
        ),
        (
            "015146",
            push("015146", "N010", "12ab"),
            "non-numeric idOperazioneANPR",
        ),
        (
            "015146",
            push("015146", "N0100", "1"),
            "a five-character tipoNotifica",
        ),
    ] {
        let (status, answer) = endpoint.post(tenant, body).await;
        assert_eq!(status, 500, "{why}: {answer}");
        assert!(answer.contains("Client"), "{why}: {answer}");
        assert!(!answer.contains("codiceEsito"), "{why}");
    }
}

mod inbound_faults {
    use super::*;
    use snodo_queue::testing::rabbit::RabbitTestBroker;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_push_endpoint_is_inbound_compliant_on_rabbitmq() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        assert_inbound_compliance(&broker, &Notifications).await;
    }
}
