//! Shared by the pagoPA node simulator tests: a small EC station of our own over real HTTPS with
//! mutual TLS (the development PKI; it requires the node's client certificate and records whether it
//! saw one), answering from positions with the EC-side builders of `snodo_mappings::pagopa`, with
//! scripted misbehaviour; and the simulator served on an ephemeral port with its admin API.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_mappings::pagopa::contract::{
    Credit, EntityType, Payable, PaymentPosition, Receipt, Subject, Transfer,
};
use snodo_mappings::pagopa::{
    FaultBean, NoticeNumber, Operation, PaFaultCode, PaRequest, answer_position, ko, read_request, receipt_ok,
};
use snodo_mappings::soap::{SOAP11_CONTENT_TYPE, read_envelope};
use snodo_security::devpki::shared_for_tests;
use snodo_security::tls::{ClientAuth, PeerCertificate, TlsServer, TlsServerConfig};
use snodo_security::xml::Limits;
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::pagopa::settings::{EcTarget, EcTls};
use snodo_simulators::pagopa::{NodeSettings, PagopaNode};
use tokio_util::sync::CancellationToken;

pub const EC: &str = "01199250158";
pub const TEFA_EC: &str = "80101590153";
pub const STATION: &str = "01199250158_01";
pub const KEY: &str = "snodo-development-subscription-key";

/// How the stub spoils its next answers to one operation.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// Replace the first occurrence of `from` with `to` in the good answer.
    Edit {
        from: String,
        to: String,
    },
    /// Answer this body instead.
    Body(String),
    Status(u16),
    /// Answer after this much real time.
    Delay(Duration),
}

#[derive(Default)]
pub struct StubState {
    pub positions: HashMap<String, PaymentPosition>,
    /// Per operation name (`paVerifyPaymentNotice`…): what to do instead of answering well.
    pub misbehave: HashMap<&'static str, Misbehaviour>,
    /// paSendRT answers KO PAA_SYSTEM_ERROR this many more times.
    pub failing_receipts: u32,
    pub calls: Vec<(&'static str, bool)>,
    pub receipts: Vec<Receipt>,
}

#[derive(Clone, Default)]
pub struct Stub(pub Arc<Mutex<StubState>>);

impl Stub {
    pub fn calls(&self, operation: &str) -> usize {
        self.0
            .lock()
            .calls
            .iter()
            .filter(|(op, _)| *op == operation)
            .count()
    }
    pub fn receipts(&self) -> Vec<Receipt> {
        self.0.lock().receipts.clone()
    }
    pub fn misbehave(&self, operation: &'static str, how: Misbehaviour) {
        self.0.lock().misbehave.insert(operation, how);
    }
}

async fn station(State(stub): State<Stub>, request: Request) -> Response {
    let client_certificate = request.extensions().get::<PeerCertificate>().is_some();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let envelope = read_envelope(&body, &Limits::default()).expect("the node sends SOAP envelopes");
    let request = read_request(&envelope).expect("the node's requests follow paForNode.xsd");
    let operation = request.operation();
    let good = {
        let mut s = stub.0.lock();
        s.calls.push((operation.name(), client_certificate));
        match &request {
            PaRequest::SendRt(receipt) => {
                s.receipts.push((**receipt).clone());
                if s.failing_receipts > 0 {
                    s.failing_receipts -= 1;
                    ko(operation, &FaultBean::new(PaFaultCode::SystemError, EC))
                } else {
                    receipt_ok(operation)
                }
            }
            _ => {
                let notice = match &request {
                    PaRequest::Verify(r) => r.qr_code.notice_number.clone(),
                    PaRequest::GetPayment(r) => r.qr_code.notice_number.clone(),
                    _ => String::new(),
                };
                let position = s
                    .positions
                    .get(&notice)
                    .cloned()
                    .unwrap_or(PaymentPosition::Unknown);
                answer_position(&request, &position)
            }
        }
    };
    let misbehaviour = stub.0.lock().misbehave.get(operation.name()).cloned();
    let answer =
        |body: String| (StatusCode::OK, [("content-type", SOAP11_CONTENT_TYPE)], body).into_response();
    match misbehaviour {
        None => answer(good),
        Some(Misbehaviour::Edit { from, to }) => {
            assert!(good.contains(&from), "the good answer has no {from:?}: {good}");
            answer(good.replacen(&from, &to, 1))
        }
        Some(Misbehaviour::Body(body)) => answer(body),
        Some(Misbehaviour::Status(status)) => (StatusCode::from_u16(status).unwrap(), good).into_response(),
        Some(Misbehaviour::Delay(d)) => {
            tokio::time::sleep(d).await;
            answer(good)
        }
    }
}

pub struct Harness {
    pub stub: Stub,
    pub simulator: RunningSimulator,
    pub http: reqwest::Client,
    pub clock: SimClock,
    pub node: Arc<snodo_simulators::pagopa::NodeCore>,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn specs() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/pagopa")
}

impl Harness {
    /// The stub EC on HTTPS requiring a client certificate, and the node simulator pointed at it.
    pub async fn start() -> Harness {
        let pki = shared_for_tests();
        let shutdown = CancellationToken::new();
        let stub = Stub::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ec_addr: SocketAddr = listener.local_addr().unwrap();
        let tls = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Required(pki.trust_anchors()),
        ))
        .unwrap();
        let router = Router::new()
            .route("/pagopa/{station}", post(station))
            .with_state(stub.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tls.serve(listener, router, async move { stop.cancelled().await })
                .await
        });

        let settings = NodeSettings {
            ec: EcTarget {
                url: format!("https://127.0.0.1:{}/pagopa/{STATION}", ec_addr.port()),
                id_pa: EC.into(),
                id_broker_pa: EC.into(),
                id_station: STATION.into(),
                tls: EcTls::Files {
                    ca_files: vec![pki.ca_file().to_owned()],
                    client_certificate_file: Some(pki.tls_client().certificate_file.clone()),
                    client_key_file: Some(pki.tls_client().key_file.clone()),
                },
            },
            specs_dir: specs(),
            ..NodeSettings::default()
        };
        let clock = SimClock::new();
        let node = PagopaNode::new(clock.clone(), settings);
        let core = node.core().clone();
        let instance = Arc::new(Instance::new(Arc::new(node), clock.clone()));
        let simulator = serve(
            instance,
            "127.0.0.1:0".parse().unwrap(),
            Transport::Http,
            shutdown.clone(),
        )
        .await
        .unwrap();
        Harness {
            stub,
            simulator,
            http: reqwest::Client::new(),
            clock,
            node: core,
            shutdown,
        }
    }

    pub fn position(&self, notice: &str, position: PaymentPosition) {
        self.stub.0.lock().positions.insert(notice.to_owned(), position);
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/admin{path}", self.simulator.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/admin{path}", self.simulator.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn scenario(&self, scenario: &str, notice: &str) -> Value {
        self.admin(
            "/pagopa/scenarios",
            json!({ "scenario": scenario, "notice_number": notice }),
        )
        .await
    }
}

/// The outcome code of each step of a scenario's payment.
pub fn outcomes(report: &Value) -> Vec<String> {
    report["payment"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap().to_owned())
        .collect()
}

pub fn notice(base: u64) -> String {
    NoticeNumber::aux3(1, base).unwrap().to_string()
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

fn transfer(amount_cents: u64, fiscal_code: &str, category: &str) -> Transfer {
    Transfer {
        amount_cents,
        fiscal_code: fiscal_code.into(),
        company_name: None,
        credit: Credit::Account {
            iban: "IT60X0542811101000000123456".into(),
            postal_iban: None,
        },
        remittance_information: "TARI 2025".into(),
        category: category.into(),
        metadata: Vec::new(),
    }
}

/// A payable position for `notice` whose transfers are `amounts` (the first to the EC, the others
/// alternating the EC and the metropolitan city's TEFA).
pub fn payable(notice: &str, amounts: &[u64]) -> PaymentPosition {
    let transfers = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i % 2 == 1 {
                transfer(*a, TEFA_EC, "9/0201102IM/")
            } else {
                transfer(*a, EC, "9/0101002IM/")
            }
        })
        .collect();
    PaymentPosition::Payable(Payable {
        iuv: NoticeNumber::parse(notice).unwrap().iuv().to_owned(),
        notice_number: None,
        amount_cents: amounts.iter().sum(),
        due_date: "2030-12-31".into(),
        retention_date: None,
        description: "TARI 2025".into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: None,
        debtor: debtor(),
        transfers,
        metadata: Vec::new(),
    })
}

/// Polls `check` on the admin API until it holds (bounded, no timing asserted).
pub async fn eventually(h: &Harness, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..2000 {
        let value = h.admin_get(path).await;
        if check(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{path} never reached the expected state: {}",
        h.admin_get(path).await
    );
}

pub fn ko_body(operation: Operation, code: PaFaultCode) -> String {
    ko(operation, &FaultBean::new(code, EC))
}

pub fn json_pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}
