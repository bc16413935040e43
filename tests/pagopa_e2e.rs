//! The two halves of issue 6 against each other: Snodo's pagoPA connector, built as `snodo up` builds
//! it (its [`PlatformRegistration`] with the instance's context: EC endpoint on the inbound HTTPS
//! listener with client certificates, the `pagopa.position.publish` runtime, the FdR poller on the
//! scheduler) on RabbitMQ, the node simulator driving payments at it over mutual TLS, and a test
//! backend answering `pagopa.position.get` from its request queue as a Comune's software would.
//!
//! What each scenario must end with is what the backend sees: `pagopa.receipt.received` events (the
//! same `message_id` for a duplicate), the ACA position in the node's archive, one
//! `pagopa.reporting.flow` per flow the node publishes. The node's verdicts are its own (XSD and
//! semantics of every answer), so a disagreement between the halves fails here.

mod pagopa_common;

use std::sync::Arc;
use std::time::Duration;

use pagopa_common::{Behaviour, EC, STATION, TEFA_EC, TENANT, TestBackend, payable};
use serde_json::{Value, json};
use snodo_connectors::config::{Config, PlatformEndpointConfig};
use snodo_connectors::platform::{PlatformContext, PlatformRegistration};
use snodo_connectors::state::{self, StateSettings};
use snodo_connectors::tenants::Tenants;
use snodo_mappings::pagopa::NoticeNumber;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::request::Requester;
use snodo_queue::runtime::ConnectorRuntime;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{send, test_settings, unique_names};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_queue::{Names, SharedTransport};
use snodo_security::devpki::shared_for_tests;
use snodo_security::tls::{ClientAuth, TlsClientConfig, TlsServer, TlsServerConfig, build_client};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::pagopa::settings::{EcTarget, EcTls};
use snodo_simulators::pagopa::{NodeSettings, PagopaNode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const REGISTRATION: &PlatformRegistration = &snodo_connectors::pagopa::REGISTRATION;

/// Snodo's pagoPA connector, the node simulator and the test backend on one RabbitMQ vhost.
struct World {
    broker: RabbitTestBroker,
    transport: SharedTransport,
    names: Names,
    backend: TestBackend,
    events_queue: String,
    simulator: RunningSimulator,
    clock: SimClock,
    admin: reqwest::Client,
    stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl World {
    async fn start() -> World {
        World::start_on(RabbitTestBroker::shared().await, Duration::from_secs(10)).await
    }

    async fn start_on(broker: RabbitTestBroker, receipt_timeout: Duration) -> World {
        let transport = broker.connect().await;
        let names = unique_names();
        let stop = CancellationToken::new();
        let pki = shared_for_tests();

        // The inbound listener first: the node must know the station's URL.
        let inbound = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbound_port = inbound.local_addr().unwrap().port();

        // The node simulator over HTTPS, presenting the development PKI's client certificate to the
        // station as `snodo up` sets it up (EcTls::DevelopmentPki over the PKI's directory).
        let settings = NodeSettings {
            ec: EcTarget {
                url: format!("https://127.0.0.1:{inbound_port}/pagopa/{STATION}"),
                tls: EcTls::DevelopmentPki,
                ..EcTarget::development()
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
        config.pagopa.receipt_timeout = receipt_timeout;
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
            Arc::new(vec![TENANT.to_owned()]),
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
        let inbound_tls = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Optional(pki.trust_anchors()),
        ))
        .unwrap();
        let router = parts.inbound.expect("the pagoPA connector has an EC endpoint");
        let inbound_stop = stop.clone();
        tokio::spawn(async move {
            inbound_tls
                .serve(inbound, router, inbound_stop.cancelled_owned())
                .await
        });

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
            stop,
        }
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
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

    async fn admin_get(&self, path: &str) -> Value {
        self.admin
            .get(format!("{}/admin{path}", self.simulator.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `pagopa.position.publish` through the connector's runtime, until ACA holds the position.
    async fn publish_to_aca(&self, n: &str, amount_cents: u64) {
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
    async fn scenario(&self, scenario: &str, notice: &str) -> Value {
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
    async fn events(&self, kind: &str, n: usize) -> Vec<(Envelope, Value)> {
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

    async fn drain(&self, kind: &str) -> Vec<(Envelope, Value)> {
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

fn notice(base: u64) -> String {
    NoticeNumber::aux3(1, base).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_paid_at_the_node_reaches_the_backend_as_one_receipt_event() {
    let world = World::start().await;
    let n = notice(4_100_000_001);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 12_350)])));
    let report = world.scenario("pay_notice", &n).await;
    let steps: Vec<&str> = report["payment"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ec_primitive"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(steps, ["paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2"]);

    let receipts = world.events("pagopa.receipt.received", 1).await;
    let (envelope, body) = &receipts[0];
    assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
    assert_eq!(body["notice_number"], n.as_str());
    assert_eq!(body["amount_cents"], 12_350);
    assert_eq!(body["stand_in"], false);
    assert_eq!(body["receipt_id"], report["payment"]["payment_token"]);
    // The backend was asked twice (verify, activation), with the tenant and an expiration.
    let questions = world.backend.questions();
    assert_eq!(questions.len(), 2, "{questions:?}");
    assert!(questions.iter().all(|q| q.kind == "pagopa.position.get"
        && q.tenant.as_deref() == Some(TENANT)
        && q.expiration.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_transfer_tari_tefa_notice_and_a_duplicate_receipt() {
    let world = World::start().await;
    let tari = notice(4_100_000_002);
    let transfers = [
        (EC, 10_000),
        (TEFA_EC, 500),
        (EC, 2_000),
        (TEFA_EC, 100),
        (EC, 1_234),
    ];
    world
        .backend
        .set(&tari, Behaviour::Answer(payable(&tari, &transfers)));
    world.scenario("pay_tari_tefa", &tari).await;
    let receipts = world.events("pagopa.receipt.received", 1).await;
    let body = &receipts[0].1;
    assert_eq!(body["amount_cents"], 13_834);
    let beneficiaries: Vec<&str> = body["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["fiscal_code"].as_str().unwrap())
        .collect();
    assert_eq!(beneficiaries, [EC, TEFA_EC, EC, TEFA_EC, EC]);

    // The same receipt twice (the node's retry, a broadcast copy): both stored, one message_id.
    let twice = notice(4_100_000_003);
    world
        .backend
        .set(&twice, Behaviour::Answer(payable(&twice, &[(EC, 4_200)])));
    let report = world.scenario("duplicate_receipt", &twice).await;
    assert_eq!(report["duplicate"]["delivered"], true, "{report:#}");
    let receipts = world.events("pagopa.receipt.received", 2).await;
    assert_eq!(receipts[0].0.message_id, receipts[1].0.message_id);
    assert_eq!(receipts[0].1, receipts[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_published_to_aca_is_paid_in_stand_in_and_its_receipt_accepted() {
    let world = World::start().await;
    let n = notice(4_100_000_004);
    world.publish_to_aca(&n, 8_800).await;

    // The station declared down: the node pays from ACA without asking the EC, and the EC accepts
    // the receipt of a notice it never verified.
    let report = world.scenario("pay_with_stand_in", &n).await;
    assert_eq!(report["payment"]["stand_in"], true);
    let receipts = world.events("pagopa.receipt.received", 1).await;
    assert_eq!(receipts[0].1["stand_in"], true);
    assert_eq!(receipts[0].1["amount_cents"], 8_800);
    assert!(world.backend.questions().is_empty(), "Stand-In asks no backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_flow_the_node_publishes_becomes_one_event() {
    let world = World::start().await;
    let n = notice(4_100_000_005);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 5_000)])));
    world.scenario("pay_notice", &n).await;
    world.events("pagopa.receipt.received", 1).await;
    let published = world.admin_post("/pagopa/flows", json!({})).await;
    assert_eq!(published["published"], 1, "{published:#}");
    let flows = world.events("pagopa.reporting.flow", 1).await;
    let (envelope, flow) = &flows[0];
    assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
    let text = flow.to_string();
    assert!(text.contains(&n[1..]), "the flow reports the IUV paid: {flow:#}");
}

mod inbound_faults {
    use super::*;

    /// The broker blocked (memory alarm) while the node sends paSendRT: the node hears
    /// `PAA_SYSTEM_ERROR` before its 15 s and queues the receipt; an hour later on its clock, with the
    /// broker back, the re-submission is accepted and the backend holds the receipt — nothing lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receipt_refused_while_the_broker_is_blocked_arrives_on_the_nodes_retry() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        let world = World::start_on(broker, Duration::from_secs(3)).await;
        let n = notice(4_100_000_006);
        world.publish_to_aca(&n, 7_700).await;
        // Stand-In: the node asks the EC nothing before the receipt, so only paSendRT meets the
        // blocked broker.
        world.broker.block_publishers().await;
        let started = std::time::Instant::now();
        let report = world
            .admin_post(
                "/pagopa/scenarios",
                json!({ "scenario": "pay_with_stand_in", "notice_number": n }),
            )
            .await;
        world.broker.unblock_publishers().await;
        let steps = report["payment"]["steps"].as_array().unwrap();
        let send = steps.last().unwrap();
        assert_eq!(report["payment"]["result"], "paid_receipt_pending", "{report:#}");
        assert_eq!(
            send["fault"]["original_fault_code"], "PAA_SYSTEM_ERROR",
            "{report:#}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );

        world.clock.advance(chrono::TimeDelta::hours(1)).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let payments = world.admin_get("/pagopa/payments").await;
            let delivery = &payments["payments"][0]["delivery"];
            if delivery["state"] == "sent" {
                assert_eq!(delivery["attempts"], 2, "{payments:#}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{payments:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // At least the retry's event; the blocked attempt's may land too once the alarm clears,
        // with the same message_id, which is what lets the backend de-duplicate.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let receipts = world.drain("pagopa.receipt.received").await;
        assert!(!receipts.is_empty());
        assert!(
            receipts
                .iter()
                .all(|(e, _)| e.message_id == receipts[0].0.message_id)
        );
        assert_eq!(receipts[0].1["notice_number"], n.as_str());
    }
}
