//! The two halves of issue 6 wired together for the end-to-end tests: Snodo's pagoPA connector built
//! as `snodo up` builds it (its `PlatformRegistration` with the instance's context: EC endpoint on the
//! inbound listener, the `pagopa.position.publish` runtime, the reporting poller on the scheduler) on
//! RabbitMQ, the node simulator driving payments at it over mutual TLS, and a test backend answering
//! `pagopa.position.get` / `pagopa.notice.demand` from its request queue as a Comune's software would.
//!
//! [`Options`] varies the set-up: the legacy SOAP reporting API; a second tenant (the TEFA
//! beneficiary, Città metropolitana) whose station the node knows as broadcast; and TLS ended at a
//! proxy in front of Snodo, which passes the node's certificate fingerprint in a header.
//!
//! Every answer Snodo's EC endpoint sends is tapped ([`AnswerTap`]) and, when the world is dropped at
//! the end of a test that passed, judged by `xmllint` against `paForNode.xsd` (issue 6's rule).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use snodo_connectors::config::{
    Config, Environment, PlatformEndpointConfig, TenantCertificates, TenantConfig, TenantPagopa,
};
use snodo_connectors::pagopa::config::{NodeClientConfig, ReportingApi};
use snodo_connectors::platform::{PlatformContext, PlatformRegistration};
use snodo_connectors::state::{self, StateSettings};
use snodo_connectors::tenants::Tenants;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::request::Requester;
use snodo_queue::runtime::ConnectorRuntime;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{send, test_settings, unique_names};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_queue::{Names, SharedTransport};
use snodo_security::devpki::shared_for_tests;
use snodo_security::tls::{
    ClientAuth, PeerCertificate, TlsClientConfig, TlsServer, TlsServerConfig, build_client,
};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::pagopa::settings::{EcTarget, EcTls};
use snodo_simulators::pagopa::{NodeSettings, PagopaNode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::xmllint::AnswerTap;
use super::{EC, STATION, TEFA_EC, TENANT, TestBackend};

const REGISTRATION: &PlatformRegistration = &snodo_connectors::pagopa::REGISTRATION;

/// The secondary beneficiary as a Snodo tenant of its own (same intermediary as Milan).
pub const TEFA_TENANT: &str = "215146";
pub const TEFA_STATION: &str = "08911820960_01";
/// The header the TLS-terminating proxy sets (and strips from what clients send).
pub const FINGERPRINT_HEADER: &str = "x-client-cert-sha256";

/// How the world is set up.
pub struct Options {
    pub broker: Option<RabbitTestBroker>,
    pub receipt_timeout: Duration,
    pub reporting: ReportingApi,
    /// Add the TEFA beneficiary as a tenant with its own station, broadcast on the node.
    pub secondary_tenant: bool,
    /// Serve Snodo's inbound listener in plain HTTP behind a proxy that ends the node's mutual TLS
    /// and passes the certificate's SHA-256 fingerprint in [`FINGERPRINT_HEADER`].
    pub behind_proxy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            broker: None,
            receipt_timeout: Duration::from_secs(10),
            reporting: ReportingApi::Rest,
            secondary_tenant: false,
            behind_proxy: false,
        }
    }
}

/// Snodo's pagoPA connector, the node simulator and the test backend on one RabbitMQ vhost.
pub struct World {
    pub broker: RabbitTestBroker,
    pub transport: SharedTransport,
    pub names: Names,
    pub backend: TestBackend,
    pub events_queue: String,
    pub simulator: RunningSimulator,
    pub clock: SimClock,
    pub admin: reqwest::Client,
    /// Snodo's inbound listener (`https://…` or, behind the proxy, `http://…`).
    pub inbound_url: String,
    /// The proxy the node calls, when there is one.
    pub proxy_url: Option<String>,
    /// Every answer Snodo's EC endpoint sent, judged by `xmllint` when the world is dropped.
    pub answers: AnswerTap,
    stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
        // Issue 6: every response Snodo produced in the tests goes before `xmllint` — unless the
        // test already failed, where a second panic would abort and hide the first.
        if !std::thread::panicking() {
            self.answers.judge_every_answer();
        }
    }
}

/// SHA-256 of the node's client certificate, as the proxy writes it (hex with colons).
pub fn node_certificate_fingerprint() -> String {
    let pem = std::fs::read(&shared_for_tests().tls_client().certificate_file).unwrap();
    let certificate = openssl::x509::X509::from_pem(&pem).unwrap();
    let digest = certificate
        .digest(openssl::hash::MessageDigest::sha256())
        .unwrap();
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The proxy's one route: any request, forwarded with the fingerprint of the client certificate the
/// proxy verified — and never a fingerprint header the client sent itself.
async fn forward(State((http, upstream)): State<(reqwest::Client, String)>, request: Request) -> Response {
    let fingerprint = request
        .extensions()
        .get::<PeerCertificate>()
        .map(|peer| peer.sha256_fingerprint.clone());
    let path = request.uri().path().to_owned();
    let mut headers: HeaderMap = request.headers().clone();
    headers.remove(FINGERPRINT_HEADER);
    headers.remove(axum::http::header::HOST);
    headers.remove(axum::http::header::CONTENT_LENGTH);
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut forwarded = http.post(format!("{upstream}{path}")).headers(headers).body(body);
    if let Some(f) = fingerprint {
        forwarded = forwarded.header(FINGERPRINT_HEADER, f);
    }
    match forwarded.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let content_type = answer.headers().get(axum::http::header::CONTENT_TYPE).cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(c) = content_type {
                response.headers_mut().insert(axum::http::header::CONTENT_TYPE, c);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl World {
    pub async fn start() -> World {
        World::with(Options::default()).await
    }

    pub async fn with(options: Options) -> World {
        let broker = match options.broker {
            Some(b) => b,
            None => RabbitTestBroker::shared().await,
        };
        let transport = broker.connect().await;
        let names = unique_names();
        let stop = CancellationToken::new();
        let pki = shared_for_tests();

        // The inbound listener first: the node must know the station's URL.
        let inbound = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbound_port = inbound.local_addr().unwrap().port();
        let proxy = if options.behind_proxy {
            Some(TcpListener::bind("127.0.0.1:0").await.unwrap())
        } else {
            None
        };
        let proxy_url = proxy
            .as_ref()
            .map(|p| format!("https://127.0.0.1:{}", p.local_addr().unwrap().port()));
        let inbound_url = if options.behind_proxy {
            format!("http://127.0.0.1:{inbound_port}")
        } else {
            format!("https://127.0.0.1:{inbound_port}")
        };
        let node_base = proxy_url.clone().unwrap_or_else(|| inbound_url.clone());

        // The node simulator over HTTPS, presenting the development PKI's client certificate to the
        // station as `snodo up` sets it up (EcTls::DevelopmentPki over the PKI's directory).
        let station = |id_pa: &str, station: &str| EcTarget {
            url: format!("{node_base}/pagopa/{station}"),
            id_pa: id_pa.into(),
            id_broker_pa: EC.into(),
            id_station: station.into(),
            tls: EcTls::DevelopmentPki,
        };
        let settings = NodeSettings {
            ec: station(EC, STATION),
            broadcast: if options.secondary_tenant {
                vec![station(TEFA_EC, TEFA_STATION)]
            } else {
                Vec::new()
            },
            // `DevPki::ensure` takes the parent of the generations, not a generation.
            dev_pki_dir: pki.directory().parent().unwrap().to_owned(),
            specs_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/pagopa"),
            ..NodeSettings::default()
        };
        let clock = SimClock::new();
        let node = PagopaNode::new(clock.clone(), settings);
        let instance = Arc::new(Instance::new(Arc::new(node), clock.clone()));
        let node_tls = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Optional(pki.trust_anchors()),
        ))
        .unwrap();
        let simulator = serve(
            instance,
            "127.0.0.1:0".parse().unwrap(),
            Transport::Https(node_tls),
            stop.clone(),
        )
        .await
        .unwrap();

        // The connector, from its registration, with the node simulator as `[platforms.pagopa]`.
        let mut config = Config::development();
        config.platforms.insert(
            "pagopa".into(),
            PlatformEndpointConfig {
                url: simulator.url(),
                ca: Vec::new(),
            },
        );
        config.pagopa.reporting.interval = Duration::from_millis(200);
        config.pagopa.reporting.api = options.reporting;
        config.pagopa.receipt_timeout = options.receipt_timeout;
        if options.behind_proxy {
            config.pagopa.node_client = NodeClientConfig {
                subjects: Vec::new(),
                fingerprint_header: Some(FINGERPRINT_HEADER.into()),
                trusted_fingerprints: vec![node_certificate_fingerprint()],
            };
        }
        let mut tenants = vec![TENANT.to_owned()];
        if options.secondary_tenant {
            config.tenants.push(TenantConfig {
                istat: TEFA_TENANT.into(),
                name: "Città metropolitana di Milano".into(),
                fiscal_code: TEFA_EC.into(),
                cadastral_code: "F205".into(),
                public_base_url: "https://127.0.0.1:7443".into(),
                environment: Environment::Development,
                certificates: TenantCertificates::default(),
                pagopa: Some(TenantPagopa {
                    broker_fiscal_code: EC.into(),
                    stations: vec![TEFA_STATION.into()],
                    segregation_code: None,
                }),
                anpr: None,
                identity: None,
                cie_booking: None,
            });
            tenants.push(TEFA_TENANT.to_owned());
        }
        let config = Arc::new(config);
        let requester = Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap());
        let store = state::connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap();
        let context = PlatformContext {
            config: config.clone(),
            tenants: Arc::new(Tenants::from_config(&config)),
            transport: transport.clone(),
            names: names.clone(),
            store,
            requester,
            development_ca: Some(pki.trust_anchors()),
            development_pki: Some(pki.clone()),
            simulator_port_offset: 0,
            shutdown: stop.clone(),
            telemetry: Default::default(),
        };
        let parts = (REGISTRATION.build)(&context).expect("the pagoPA connector builds");

        let events_queue = format!("{}.backend.events", names.prefix);
        let requests_queue = format!("{}.backend.requests", names.prefix);
        let runtime = ConnectorRuntime::new(
            transport.clone(),
            parts.handler.expect("the pagoPA connector handles commands"),
            Arc::new(tenants),
            test_settings(&names, &[Duration::from_millis(100)]),
        );
        let topology = Topology::snodo(
            &names,
            &[runtime.queues()],
            &[SubscriberQueue {
                queue: events_queue.clone(),
                patterns: vec!["pagopa.#".into()],
            }],
            &[SubscriberQueue {
                queue: requests_queue.clone(),
                patterns: vec!["pagopa.#".into()],
            }],
        );
        transport.declare(&topology).await.unwrap();
        let runtime_stop = stop.clone();
        tokio::spawn(async move { runtime.run(runtime_stop).await });
        for task in parts.background {
            tokio::spawn(task);
        }
        let answers = AnswerTap::default();
        let router = answers.tap(parts.inbound.expect("the pagoPA connector has an EC endpoint"));
        let inbound_stop = stop.clone();
        if let Some(proxy) = proxy {
            // TLS ends at the proxy: Snodo's listener is plain HTTP, reached only through it here.
            tokio::spawn(async move {
                axum::serve(inbound, router)
                    .with_graceful_shutdown(inbound_stop.cancelled_owned())
                    .await
            });
            let proxy_tls = TlsServer::new(TlsServerConfig::new(
                pki.tls_server().identity.clone(),
                ClientAuth::Required(pki.trust_anchors()),
            ))
            .unwrap();
            let upstream = inbound_url.clone();
            let app = axum::Router::new()
                .fallback(forward)
                .with_state((reqwest::Client::new(), upstream));
            let proxy_stop = stop.clone();
            tokio::spawn(async move { proxy_tls.serve(proxy, app, proxy_stop.cancelled_owned()).await });
        } else {
            let inbound_tls = TlsServer::new(TlsServerConfig::new(
                pki.tls_server().identity.clone(),
                ClientAuth::Optional(pki.trust_anchors()),
            ))
            .unwrap();
            tokio::spawn(async move {
                inbound_tls
                    .serve(inbound, router, inbound_stop.cancelled_owned())
                    .await
            });
        }

        let backend = TestBackend::default();
        tokio::spawn(
            backend
                .clone()
                .run(transport.clone(), requests_queue, stop.clone()),
        );
        World {
            broker,
            transport,
            names,
            backend,
            events_queue,
            simulator,
            clock,
            admin: build_client(&TlsClientConfig::new(pki.trust_anchors())).unwrap(),
            inbound_url,
            proxy_url,
            answers,
            stop,
        }
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .admin
            .post(format!("{}/admin{path}", self.simulator.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin
            .get(format!("{}/admin{path}", self.simulator.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn admin_text(&self, path: &str) -> String {
        self.admin
            .get(format!("{}/admin{path}", self.simulator.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `pagopa.position.publish` through the connector's runtime, until ACA holds the position.
    pub async fn publish_to_aca(&self, n: &str, amount_cents: u64) {
        let envelope =
            Envelope::command("pagopa.position.publish".parse::<MessageType>().unwrap()).with_tenant(TENANT);
        let body = json!({
            "fiscal_code": EC,
            "debtor_type": "F",
            "debtor_fiscal_code": "RSSMRA80A01F205X",
            "debtor_full_name": "Mario Rossi",
            "iuv": &n[1..],
            "notice_number": n,
            "amount_cents": amount_cents,
            "description": "Refezione scolastica, primo quadrimestre",
            "expiration": "2030-12-31T23:59:59Z",
            "iban": "IT60X0542811101000000123456",
        });
        let message = envelope.to_message(serde_json::to_vec(&body).unwrap());
        send(&self.transport, &self.names, message).await;
        let completed = self.events("pagopa.position.publish.completed", 1).await;
        assert_eq!(completed[0].0.correlation_id, Some(envelope.message_id));
        let aca = self.admin_get("/pagopa/aca").await;
        let positions = aca["positions"].as_array().unwrap();
        assert!(
            positions
                .iter()
                .any(|p| p["nav"] == n && p["position"]["amount"] == amount_cents),
            "{aca:#}"
        );
    }

    /// Runs a scenario of the node's runner and insists the node judged it passed.
    pub async fn scenario(&self, scenario: &str, notice: &str) -> Value {
        let report = self
            .admin_post(
                "/pagopa/scenarios",
                json!({ "scenario": scenario, "notice_number": notice }),
            )
            .await;
        assert_eq!(report["passed"], true, "{scenario} on {notice}: {report:#}");
        report
    }

    /// Waits until the backend's inbox held `n` events of `kind` (and returns them), then a little
    /// longer to be sure no more of that kind arrive.
    pub async fn events(&self, kind: &str, n: usize) -> Vec<(Envelope, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            seen.extend(self.drain(kind).await);
            if seen.len() >= n {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} {kind} events expected, saw {}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        seen.extend(self.drain(kind).await);
        assert_eq!(seen.len(), n, "{kind}: {seen:#?}");
        seen
    }

    pub async fn drain(&self, kind: &str) -> Vec<(Envelope, Value)> {
        let mut events = Vec::new();
        while let Some(d) = self.transport.get(&self.events_queue).await.unwrap() {
            let envelope = Envelope::parse(&d.message).expect("a Snodo envelope");
            let body: Value = serde_json::from_slice(&d.message.body).unwrap();
            d.ack().await.unwrap();
            if envelope.kind.as_str() == kind {
                events.push((envelope, body));
            }
        }
        events
    }
}
