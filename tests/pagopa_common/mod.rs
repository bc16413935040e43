//! Shared by the pagoPA end-to-end tests: the EC endpoint served on mutual TLS with the development
//! PKI, wired to a broker; a test backend answering `pagopa.position.get` from RabbitMQ as a Comune's
//! software would; a client playing the node; request builders; and `xmllint` judging every answer
//! against the official `paForNode.xsd`.

#![allow(dead_code)]

pub mod world;
pub mod xmllint;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use snodo_connectors::config::Config;
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::pagopa::config::NodeClientConfig;
use snodo_connectors::pagopa::endpoint::EcEndpoint;
use snodo_connectors::pagopa::positions::PositionSource;
use snodo_connectors::pagopa::receipts::ReceiptSink;
use snodo_connectors::tenants::Tenants;
use snodo_mappings::pagopa::contract::{
    Credit, EntityType, MapEntry, Payable, PaymentPosition, Subject, Transfer,
};
use snodo_mappings::soap::EnvelopeBuilder;
use snodo_queue::envelope::{Envelope, MessageType, Outcome};
use snodo_queue::request::{Requester, reply_to};
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_queue::{ConsumeOptions, Names, SharedTransport};
use snodo_security::devpki::shared_for_tests;
use snodo_security::tls::{ClientAuth, TlsClientConfig, TlsServer, TlsServerConfig, build_client};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const EC: &str = "01199250158";
pub const STATION: &str = "01199250158_01";
pub const TENANT: &str = "015146";
/// A second EC, the TEFA beneficiary (Città metropolitana di Milano).
pub const TEFA_EC: &str = "08911820960";

/// What the test backend does with a question about a notice.
#[derive(Clone)]
// Test set-up values, built a handful of times: boxing would only make the tests noisier.
#[allow(clippy::large_enum_variant)]
pub enum Behaviour {
    Answer(PaymentPosition),
    /// A reply body that is not a valid position.
    Raw(serde_json::Value),
    /// A `.failed` reply.
    Fail(String),
    /// No reply at all.
    Silent,
}

/// One question the backend received.
#[derive(Debug, Clone)]
pub struct Question {
    pub kind: String,
    pub tenant: Option<String>,
    pub expiration: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone, Default)]
pub struct TestBackend {
    behaviours: Arc<Mutex<HashMap<String, Behaviour>>>,
    questions: Arc<Mutex<Vec<Question>>>,
}

impl TestBackend {
    pub fn set(&self, notice_number: &str, behaviour: Behaviour) {
        self.behaviours.lock().insert(notice_number.to_owned(), behaviour);
    }

    pub fn questions(&self) -> Vec<Question> {
        self.questions.lock().clone()
    }

    pub async fn run(self, transport: SharedTransport, queue: String, stop: CancellationToken) {
        let mut requests = transport
            .consume(&queue, ConsumeOptions { prefetch: 32 })
            .await
            .expect("consume the backend's request queue");
        loop {
            let delivery = tokio::select! {
                _ = stop.cancelled() => return,
                d = requests.next() => match d { Some(d) => d, None => return },
            };
            let request = delivery.message.clone();
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let kind = request.properties.kind.clone().unwrap_or_default();
            self.questions.lock().push(Question {
                kind: kind.clone(),
                tenant: request.header_str("x-snodo-tenant").map(str::to_owned),
                expiration: request.properties.expiration.clone(),
                body: body.clone(),
            });
            let key = body["notice_number"]
                .as_str()
                .or_else(|| body["service_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let behaviour = self
                .behaviours
                .lock()
                .get(&key)
                .cloned()
                .unwrap_or(Behaviour::Answer(PaymentPosition::Unknown));
            let (outcome, reply) = match behaviour {
                Behaviour::Answer(p) => (Outcome::Completed, serde_json::to_value(p).unwrap()),
                Behaviour::Raw(v) => (Outcome::Completed, v),
                Behaviour::Fail(e) => (Outcome::Failed, serde_json::json!({ "error": e })),
                Behaviour::Silent => {
                    delivery.ack().await.unwrap();
                    continue;
                }
            };
            let reply_kind = kind.parse::<MessageType>().unwrap().outcome(outcome);
            let message = Envelope::command(reply_kind).to_message(serde_json::to_vec(&reply).unwrap());
            reply_to(&transport, &request, message).await.unwrap();
            delivery.ack().await.unwrap();
        }
    }
}

/// The node's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn outcome(&self) -> Option<&str> {
        between(&self.body, "<outcome>", "</outcome>")
    }

    pub fn fault_code(&self) -> Option<&str> {
        between(&self.body, "<faultCode>", "</faultCode>")
    }

    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.outcome(), Some("OK"), "{}", self.body);
    }

    pub fn assert_ko(&self, code: &str) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.outcome(), Some("KO"), "{}", self.body);
        assert_eq!(self.fault_code(), Some(code), "{}", self.body);
        for required in ["<faultString>", "<id>"] {
            assert!(
                self.body.contains(required),
                "a KO without a complete fault: {}",
                self.body
            );
        }
    }

    /// The payload alone: what `xmllint` validates.
    pub fn payload(&self) -> String {
        let frame = EnvelopeBuilder::new().body("\u{0}");
        let (head, tail) = frame.split_once('\u{0}').unwrap();
        self.body
            .strip_prefix(head)
            .and_then(|r| r.strip_suffix(tail))
            .unwrap_or_else(|| panic!("not an envelope Snodo writes: {}", self.body))
            .to_owned()
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// One EC endpoint under test, with its backend and the backend's event inbox.
pub struct Ec {
    pub url: String,
    pub names: Names,
    pub transport: SharedTransport,
    pub backend: TestBackend,
    pub events_queue: String,
    client: reqwest::Client,
    stop: CancellationToken,
    _requester: Arc<Requester>,
}

pub struct Timeouts {
    pub position: Duration,
    pub receipt: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            position: Duration::from_millis(1500),
            receipt: Duration::from_secs(5),
        }
    }
}

impl Ec {
    pub async fn start(transport: SharedTransport, names: Names, timeouts: Timeouts) -> Ec {
        let events_queue = format!("{}.backend.events", names.prefix);
        let requests_queue = format!("{}.backend.requests", names.prefix);
        let topology = Topology::snodo(
            &names,
            &[],
            &[SubscriberQueue {
                queue: events_queue.clone(),
                patterns: vec!["pagopa.#".into()],
            }],
            &[SubscriberQueue {
                queue: requests_queue.clone(),
                patterns: vec!["pagopa.#".into()],
            }],
        );
        transport.declare(&topology).await.expect("declare the topology");
        let requester = Arc::new(
            Requester::start(transport.clone(), &names.prefix)
                .await
                .expect("the reply queue"),
        );
        let stop = CancellationToken::new();
        let backend = TestBackend::default();
        tokio::spawn(
            backend
                .clone()
                .run(transport.clone(), requests_queue, stop.clone()),
        );

        let tenants = Arc::new(Tenants::from_config(&Config::development()));
        let publisher = InboundPublisher::new(transport.clone(), &names, "pagopa");
        let endpoint = EcEndpoint {
            tenants,
            positions: PositionSource::new(requester.clone(), &names, publisher.clone(), timeouts.position),
            receipts: ReceiptSink::new(publisher, timeouts.receipt),
        };
        let router = endpoint.router(NodeClientConfig::default());
        let pki = shared_for_tests();
        let server = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Optional(pki.trust_anchors()),
        ))
        .expect("the TLS server");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = stop.clone();
        tokio::spawn(async move { server.serve(listener, router, shutdown.cancelled_owned()).await });
        let client = build_client(
            &TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.tls_client().identity.clone()),
        )
        .expect("the node's client");
        Ec {
            url: format!("https://localhost:{}/pagopa/{STATION}", address.port()),
            names,
            transport,
            backend,
            events_queue,
            client,
            stop,
            _requester: requester,
        }
    }

    /// Calls the endpoint as the node does (mutual TLS, SOAP 1.1).
    pub async fn call(&self, envelope: &str) -> Answer {
        self.call_at(&self.url, envelope, &self.client).await
    }

    pub async fn call_at(&self, url: &str, envelope: &str, client: &reqwest::Client) -> Answer {
        let response = client
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"whatever\"")
            .body(envelope.to_owned())
            .send()
            .await
            .expect("the endpoint answers");
        let status = response.status().as_u16();
        Answer {
            status,
            body: response.text().await.unwrap(),
        }
    }

    /// A client without a certificate.
    pub fn anonymous_client(&self) -> reqwest::Client {
        build_client(&TlsClientConfig::new(shared_for_tests().trust_anchors())).unwrap()
    }

    /// Every event in the backend's inbox now.
    pub async fn drain_events(&self) -> Vec<(Envelope, serde_json::Value)> {
        let mut events = Vec::new();
        while let Some(d) = self.transport.get(&self.events_queue).await.unwrap() {
            let envelope = Envelope::parse(&d.message).expect("a Snodo envelope");
            let body = serde_json::from_slice(&d.message.body).unwrap();
            d.ack().await.unwrap();
            events.push((envelope, body));
        }
        events
    }

    /// Waits until the inbox holds `n` events of `kind`.
    pub async fn wait_events(&self, kind: &str, n: usize) -> Vec<(Envelope, serde_json::Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            seen.extend(
                self.drain_events()
                    .await
                    .into_iter()
                    .filter(|(e, _)| e.kind.as_str() == kind),
            );
            if seen.len() >= n {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} {kind} events expected, saw {}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Ec {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const NS: &str = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd";

fn envelope(payload: &str) -> String {
    // The node's own style: generated prefixes, SOAP prefix `soap`.
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{payload}</soap:Body></soap:Envelope>"#
    )
}

fn header(id_pa: &str, broker: &str, station: &str) -> String {
    format!("<idPA>{id_pa}</idPA><idBrokerPA>{broker}</idBrokerPA><idStation>{station}</idStation>")
}

pub fn verify_ids(id_pa: &str, broker: &str, station: &str, fiscal_code: &str, notice: &str) -> String {
    envelope(&format!(
        r#"<ns3:paVerifyPaymentNoticeReq xmlns:ns3="{NS}">{}<qrCode><fiscalCode>{fiscal_code}</fiscalCode><noticeNumber>{notice}</noticeNumber></qrCode></ns3:paVerifyPaymentNoticeReq>"#,
        header(id_pa, broker, station)
    ))
}

pub fn verify(notice: &str) -> String {
    verify_ids(EC, EC, STATION, EC, notice)
}

pub fn get_payment(notice: &str, v2: bool, amount: &str) -> String {
    let root = if v2 {
        "paGetPaymentV2Request"
    } else {
        "paGetPaymentReq"
    };
    envelope(&format!(
        r#"<ns5:{root} xmlns:ns5="{NS}">{}<qrCode><fiscalCode>{EC}</fiscalCode><noticeNumber>{notice}</noticeNumber></qrCode><amount>{amount}</amount><transferType>PAGOPA</transferType></ns5:{root}>"#,
        header(EC, EC, STATION)
    ))
}

/// A receipt for `notice` (IUV = its last 17 digits) of `amount_cents`, split over `transfers`
/// (fiscal code, cents); `stand_in` marks a Stand-In payment.
pub fn send_rt(receipt_id: &str, notice: &str, transfers: &[(&str, u64)], stand_in: bool) -> String {
    let total: u64 = transfers.iter().map(|t| t.1).sum();
    let money = |c: u64| format!("{}.{:02}", c / 100, c % 100);
    let iuv = &notice[1..];
    let transfer_list: String = transfers
        .iter()
        .enumerate()
        .map(|(i, (cf, cents))| {
            format!(
                "<transfer><idTransfer>{}</idTransfer><transferAmount>{}</transferAmount><fiscalCodePA>{cf}</fiscalCodePA><IBAN>IT60X0542811101000000123456</IBAN><remittanceInformation>/RFB/{iuv}/TXT/quota</remittanceInformation><transferCategory>9/0101002IM/</transferCategory></transfer>",
                i + 1,
                money(*cents)
            )
        })
        .collect();
    envelope(&format!(
        r#"<ns2:paSendRTReq xmlns:ns2="{NS}">{}<receipt><receiptId>{receipt_id}</receiptId><noticeNumber>{notice}</noticeNumber><fiscalCode>{EC}</fiscalCode><outcome>OK</outcome><creditorReferenceId>{iuv}</creditorReferenceId><paymentAmount>{}</paymentAmount><description>TARI 2025</description><companyName>Comune di Milano</companyName><debtor><uniqueIdentifier><entityUniqueIdentifierType>F</entityUniqueIdentifierType><entityUniqueIdentifierValue>RSSMRA80A01F205X</entityUniqueIdentifierValue></uniqueIdentifier><fullName>Mario Rossi</fullName></debtor><transferList>{transfer_list}</transferList><idPSP>BCITITMM</idPSP><PSPCompanyName>Banca Test</PSPCompanyName><idChannel>BCITITMM_01</idChannel><channelDescription>app</channelDescription><fee>1.00</fee><paymentDateTime>2025-07-03T21:02:48</paymentDateTime><standIn>{stand_in}</standIn></receipt></ns2:paSendRTReq>"#,
        header(EC, EC, STATION),
        money(total)
    ))
}

pub fn debtor() -> Subject {
    Subject {
        entity_type: EntityType::F,
        unique_identifier: "RSSMRA80A01F205X".into(),
        full_name: "Mario Rossi".into(),
        street_name: None,
        civic_number: None,
        postal_code: None,
        city: Some("Milano".into()),
        state_province_region: None,
        country: Some("IT".into()),
        email: None,
    }
}

/// A payable position for `notice` with `transfers` (fiscal code, cents).
pub fn payable(notice: &str, transfers: &[(&str, u64)]) -> PaymentPosition {
    PaymentPosition::Payable(Payable {
        iuv: notice[1..].to_owned(),
        notice_number: None,
        amount_cents: transfers.iter().map(|t| t.1).sum(),
        due_date: "2030-12-31".into(),
        retention_date: None,
        description: "TARI 2025 rata unica".into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: Some("Ufficio Tributi".into()),
        debtor: debtor(),
        transfers: transfers
            .iter()
            .map(|(cf, cents)| Transfer {
                amount_cents: *cents,
                fiscal_code: (*cf).to_owned(),
                company_name: None,
                credit: Credit::Account {
                    iban: "IT60X0542811101000000123456".into(),
                    postal_iban: None,
                },
                remittance_information: format!("/RFB/{}/TXT/quota", &notice[1..]),
                category: "9/0101002IM/".into(),
                metadata: vec![MapEntry::new("capitolo", "1234")],
            })
            .collect(),
        metadata: Vec::new(),
    })
}

/// Every answer Snodo produced, judged by `xmllint` against the official `paForNode.xsd`.
pub fn xmllint_judges(answers: &[Answer]) {
    let payloads: Vec<String> = answers.iter().map(Answer::payload).collect();
    xmllint::judge_payloads(&payloads);
}
