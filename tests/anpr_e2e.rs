//! The two halves of issue 5 against each other, through RabbitMQ: Snodo's ANPR connector (its
//! tenant as configuration builds it: the development `015146-CO-9999` over mutual TLS and the
//! WS-Security signer) and the ANPR simulator, which judges every request as ANPR does (client
//! certificate, WS-Security, official XSD, numbering). The simulator's record is then judged again by
//! independent implementations: `xmllint` against the official XSD and `xmlsec1 --verify`.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::{Value, json};
use snodo_connectors::anpr::{AnprConnector, AnprTenant, BulkResultsFeed, notification_router};
use snodo_connectors::config::Config;
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::schedule::{Scheduler, SchedulerSettings};
use snodo_connectors::state::{SharedStore, StateSettings, connect};
use snodo_connectors::tenants::Tenants;
use snodo_queue::envelope::Envelope;
use snodo_queue::runtime::ConnectorRuntime;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{command, send, test_settings, unique_names};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_queue::{Names, SharedTransport};
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::devpki::shared_for_tests;
use snodo_security::tls::{ClientAuth, TlsClientConfig, TlsServer, TlsServerConfig, build_client};
use snodo_security::xml::{Limits, parse};
use snodo_simulators::anpr::{AnprSettings, AnprSimulator, population};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use tokio_util::sync::CancellationToken;

const TENANT: &str = "015146";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    _broker: RabbitTestBroker,
    transport: SharedTransport,
    names: Names,
    events_queue: String,
    simulator: RunningSimulator,
    store: SharedStore,
    tenant: AnprTenant,
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
        World::start_pushing_to(None).await
    }

    /// With the simulator pushing notifications to `https://127.0.0.1:{port}`.
    async fn start_pushing_to(push_port: Option<u16>) -> World {
        World::start_with(push_port, 8, 1).await
    }

    /// `instances` connectors (each its own tenant, as separate Snodo processes would have, sharing
    /// the coordination store), each handling `concurrency` commands at once.
    async fn start_with(push_port: Option<u16>, concurrency: usize, instances: usize) -> World {
        let broker = RabbitTestBroker::shared().await;
        let transport = broker.connect().await;
        let names = unique_names();
        let stop = CancellationToken::new();
        let pki = shared_for_tests();

        let mut settings = AnprSettings::development(pki).unwrap();
        settings.push_base_url = push_port.map(|p| format!("https://127.0.0.1:{p}"));
        settings.bulk_processing = TimeDelta::milliseconds(300);
        let clock = SimClock::new();
        let sim = Arc::new(AnprSimulator::new(clock.clone(), settings, population()).unwrap());
        let tls = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Optional(pki.trust_anchors()),
        ))
        .unwrap();
        let simulator = serve(
            Arc::new(Instance::new(sim, clock)),
            "127.0.0.1:0".parse().unwrap(),
            Transport::Https(tls),
            stop.clone(),
        )
        .await
        .unwrap();

        let config = Config::development();
        let build_tenant = || {
            AnprTenant::from_config(
                &config.tenants[0],
                &simulator.url(),
                pki.trust_anchors(),
                Some(pki),
                Duration::from_secs(5),
            )
            .unwrap()
            .unwrap()
        };
        let tenant = build_tenant();
        let store = connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap();
        let events_queue = format!("{}.backend.events", names.prefix);
        for instance in 0..instances {
            let tenant = if instance == 0 {
                tenant.clone()
            } else {
                build_tenant()
            };
            let connector = AnprConnector::new(
                vec![tenant],
                store.clone(),
                InboundPublisher::new(transport.clone(), &names, "anpr"),
            );
            let mut settings =
                test_settings(&names, &[Duration::from_millis(50), Duration::from_millis(100)]);
            settings.concurrency = concurrency;
            settings.prefetch = (2 * concurrency) as u16;
            let runtime = ConnectorRuntime::new(
                transport.clone(),
                Arc::new(connector),
                Arc::new(vec![TENANT.to_owned()]),
                settings,
            );
            let topology = Topology::snodo(
                &names,
                &[runtime.queues()],
                &[SubscriberQueue {
                    queue: events_queue.clone(),
                    patterns: vec!["anpr.#".into()],
                }],
                &[],
            );
            transport.declare(&topology).await.unwrap();
            let shutdown = stop.clone();
            tokio::spawn(async move { runtime.run(shutdown).await });
        }
        let admin = build_client(&TlsClientConfig::new(pki.trust_anchors())).unwrap();
        World {
            _broker: broker,
            transport,
            names,
            events_queue,
            simulator,
            store,
            tenant,
            admin,
            stop,
        }
    }

    async fn send(&self, kind: &str, body: Value) -> uuid::Uuid {
        let (env, msg) = command(kind, body);
        send(&self.transport, &self.names, msg).await;
        env.message_id
    }

    /// The next events on the backend's queue, `n` of them.
    async fn events(&self, n: usize) -> Vec<(Envelope, Value)> {
        let mut out = Vec::new();
        let until = tokio::time::Instant::now() + WAIT;
        while out.len() < n {
            assert!(
                tokio::time::Instant::now() < until,
                "only {} of {n} events: {out:?}",
                out.len()
            );
            match self.transport.get(&self.events_queue).await.unwrap() {
                Some(d) => {
                    let env = Envelope::parse(&d.message).unwrap();
                    let body = serde_json::from_slice(&d.message.body).unwrap();
                    d.ack().await.unwrap();
                    out.push((env, body));
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        out
    }

    async fn outcome(&self, kind: &str, body: Value) -> (Envelope, Value) {
        let id = self.send(kind, body).await;
        let (env, body) = self.events(1).await.remove(0);
        assert_eq!(env.correlation_id, Some(id), "{body}");
        (env, body)
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.admin
            .get(format!("{}{path}", self.simulator.admin_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn admin_post(&self, path: &str, body: Value) {
        let r = self
            .admin
            .post(format!("{}{path}", self.simulator.admin_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.text().await.unwrap());
    }

    /// The requests the simulator recorded for `operation` (a payload's local name), oldest first.
    async fn recorded(&self, operation: &str) -> Vec<String> {
        let page: Value = self
            .admin
            .get(format!(
                "{}/exchanges?operation={operation}",
                self.simulator.admin_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["request"]["truncated"], false, "the record is complete");
                e["request"]["text"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

/// Residents of the simulator's population that ANPR knows alive at their address.
fn residents(n: usize) -> Vec<String> {
    population()
        .iter()
        .filter(|p| p.is_resident() && p.death_date.is_none())
        .take(n)
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect()
}

/// Codici fiscali of the population, whoever they are (ANPR answers a bulk lookup for each).
fn anyone(n: usize) -> Vec<String> {
    population()
        .iter()
        .take(n)
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect()
}

fn id_operazione_comune(request: &str) -> String {
    let start = request.find("<idOperazioneComune>").unwrap() + "<idOperazioneComune>".len();
    let end = start + request[start..].find('<').unwrap();
    request[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_certificates_complete_and_unknown_people_are_rejected() {
    let w = World::start().await;
    let cf = residents(1).remove(0);
    let (env, body) = w
        .outcome(
            "anpr.resident.lookup",
            json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data", "residence", "family"]}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.resident.lookup.completed", "{body}");
    assert_eq!(body["persons"][0]["person"]["codice_fiscale"], cf.as_str());
    assert!(body["persons"][0]["residence"].is_object(), "{body}");

    let (env, body) = w
        .outcome(
            "anpr.certificate.issue",
            json!({"schema": 1, "holder": {"codice_fiscale": cf}, "certificate_types": [8],
                   "requester": "holder", "delivery": "internet", "stamp_duty_cents": 1600, "fees_cents": 52,
                   "officer": {"surname": "VERDI", "given_name": "ANNA"}}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.certificate.issue.completed", "{body}");
    assert!(body["pdf_base64"].as_str().unwrap().starts_with("JVBER"), "a PDF");

    // A valid code nobody in the population has.
    let (env, body) = w
        .outcome(
            "anpr.resident.lookup",
            json!({"schema": 1, "by": {"codice_fiscale": "RSSMRA80A01H501U"}, "sections": ["residence"]}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.resident.lookup.failed");
    assert_eq!(body["code"], "rejected");
    assert_eq!(body["platform_code"], "EN122");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_503s_then_success_is_one_completed_event_with_one_id_operazione_comune() {
    let w = World::start().await;
    w.admin_post(
        "/faults",
        json!({"operation": "Richiesta3002", "times": 2, "fault": {"kind": "http_status", "status": 503}}),
    )
    .await;
    let cf = residents(2).remove(1);
    let (env, body) = w
        .outcome(
            "anpr.resident.lookup",
            json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data"]}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.resident.lookup.completed", "{body}");
    assert_eq!(env.attempt, 3);
    let ids: Vec<String> = w
        .recorded("Richiesta3002")
        .await
        .iter()
        .map(|r| id_operazione_comune(r))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(env.external_key.as_deref(), Some(ids[0].as_str()));
    // Exactly one terminal event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.transport.get(&w.events_queue).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_residence_shows_in_the_next_lookup() {
    let w = World::start().await;
    let cf = residents(3).remove(2);
    let lookup = json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["residence", "family"]});
    let (_, before) = w.outcome("anpr.resident.lookup", lookup.clone()).await;
    let household = before["persons"][0]["household"]["id_anpr"]
        .as_str()
        .expect("a household")
        .to_owned();
    let since = before["persons"][0]["residence"]["since"]
        .as_str()
        .unwrap_or("2000-01-01");
    let effective = std::cmp::max(since.to_owned(), "2025-03-01".to_owned());
    let (env, body) = w
        .outcome(
            "anpr.residence.change",
            json!({"schema": 1, "household": {"id": {"anpr": household}, "cohabitation": false}, "change_kind": 2,
                   "new_residence": {"kind": 1, "postal_code": "20121",
                        "comune": {"name": "MILANO", "istat_code": "015146", "province": "MI"},
                        "street_kind": "VIA", "street_name": "SNODO DI PROVA", "house_number": "7"},
                   "effective_date": effective}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.residence.change.completed", "{body}");
    let (_, after) = w.outcome("anpr.resident.lookup", lookup).await;
    assert_eq!(
        after["persons"][0]["residence"]["street_name"], "SNODO DI PROVA",
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_requests_are_valid_for_the_official_xsd_and_xmlsec1() {
    let w = World::start().await;
    let cf = residents(4).remove(3);
    w.outcome(
        "anpr.resident.lookup",
        json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data"]}),
    )
    .await;
    let request = w.recorded("Richiesta3002").await.remove(0);
    let dir = std::env::temp_dir().join(format!("snodo-anpr-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    // xmllint: the payload (Body's element, exclusively canonicalized so it stands alone).
    let doc = parse(request.as_bytes(), &Limits::default()).unwrap();
    let body = doc
        .child_elements(doc.document_element())
        .find(|&n| doc.element(n).is_some_and(|e| e.name().local_name() == "Body"))
        .unwrap();
    let payload = doc.child_elements(body).next().unwrap();
    let standalone = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&doc, payload, &[])
        .unwrap();
    let payload_file = dir.join("payload.xml");
    std::fs::write(&payload_file, &standalone).unwrap();
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/anpr/soap/comuni");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(specs.join("3000consultazione.xsd"))
        .arg(&payload_file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // xmlsec1: both signatures (the assertion's and the message's) with the comune's certificate.
    let message_file = dir.join("message.xml");
    std::fs::write(&message_file, &request).unwrap();
    let cert = shared_for_tests().anpr_client().certificate_file.clone();
    for xpath in [
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
        "//*[local-name()='Security']/*[local-name()='Signature']",
    ] {
        let out = std::process::Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&cert)
            .arg("--trusted-pem")
            .arg(&cert)
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                "--id-attr:Id",
                "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd:Timestamp",
                "--id-attr:Id",
                "http://schemas.xmlsoap.org/soap/envelope/:Body",
                "--node-xpath",
                xpath,
            ])
            .arg(&message_file)
            .output()
            .expect("xmlsec1 is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "xmlsec1 {xpath}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_of_10000_codici_fiscali_completes_through_4005_polling() {
    let w = World::start().await;
    let codes = anyone(10_000);
    assert_eq!(codes.len(), 10_000);
    let job = w
        .send(
            "anpr.bulk_lookup.start",
            json!({"schema": 1, "codici_fiscali": codes, "sections": ["personal_data"]}),
        )
        .await;
    // The command's outcome and five submitted chunks.
    let events = w.events(6).await;
    let started = events
        .iter()
        .find(|(e, _)| e.kind.as_str() == "anpr.bulk_lookup.start.completed")
        .expect("the command completes without waiting for the results");
    assert_eq!(started.0.correlation_id, Some(job));
    assert_eq!(started.1["chunks"], 5);
    let submitted = events
        .iter()
        .filter(|(e, _)| e.kind.as_str() == "anpr.bulk_lookup.submitted")
        .count();
    assert_eq!(submitted, 5);

    let feed = BulkResultsFeed::new(Arc::new(w.tenant.clone()), w.store.clone());
    let mut settings = SchedulerSettings::new(w.names.clone());
    settings.interval = Duration::from_millis(200);
    settings.backoff_min = Duration::from_millis(50);
    settings.backoff_max = Duration::from_millis(200);
    let scheduler = Scheduler::new(Arc::new(feed), w.store.clone(), w.transport.clone(), settings).unwrap();
    tokio::spawn(scheduler.run(w.stop.clone()));

    let mut results = 0;
    let mut answered = 0;
    let mut notifications = std::collections::HashSet::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let completed = loop {
        assert!(tokio::time::Instant::now() < until, "the job did not complete");
        let (env, body) = w.events(1).await.remove(0);
        match env.kind.as_str() {
            "anpr.bulk_lookup.result" => {
                results += 1;
                // Each page answers for its share of the chunk's codes: a person, or EN122.
                let xml = openssl::base64::decode_block(body["content_base64"].as_str().unwrap()).unwrap();
                let doc = parse(&xml, &Limits::default()).unwrap();
                let listed = snodo_mappings::anpr::lookup::read_response(&doc, doc.document_element())
                    .unwrap()
                    .unwrap();
                answered += listed.persons.len() + listed.warnings.len();
            }
            "anpr.notification.received" => {
                notifications.insert(env.message_id);
            }
            "anpr.bulk_lookup.completed" => break body,
            other => panic!("unexpected {other}: {body}"),
        }
    };
    assert_eq!(completed["chunks"], 5);
    assert_eq!(completed["codici_fiscali"], 10_000);
    assert_eq!(completed["result_files"], results);
    // The simulator pages 500 people at a time: every page of every chunk was followed.
    assert_eq!(results, 20, "four pages per chunk of 2,000");
    assert_eq!(answered, 10_000);
    assert!(
        notifications.len() <= 5,
        "one N030 per chunk at most: {notifications:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdnd_e_services_answer_through_voucher_and_modi_checks() {
    let w = World::start().await;
    let cf = residents(5).remove(4);
    let mut id_anpr = None;
    for service in ["C030", "C020", "C021", "C001"] {
        let (env, body) = w
            .outcome(
                "anpr.pdnd.lookup",
                json!({"schema": 1, "service": service, "by": {"codice_fiscale": cf}, "reason": "Prot. 77/2025"}),
            )
            .await;
        assert_eq!(
            env.kind.as_str(),
            "anpr.pdnd.lookup.completed",
            "{service}: {body}"
        );
        assert_eq!(body["service"], service);
        let found = body["subjects"][0]["identificativi"]["idANPR"]
            .as_str()
            .map(str::to_owned);
        assert!(found.is_some(), "{service}: {body}");
        if let Some(previous) = &id_anpr {
            assert_eq!(found.as_ref(), Some(previous), "one person, one idANPR");
        }
        id_anpr = found;
    }
    let (env, body) = w
        .outcome(
            "anpr.pdnd.lookup",
            json!({"schema": 1, "service": "C030", "by": {"codice_fiscale": "RSSMRA80A01H501U"}, "reason": "Prot. 78/2025"}),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.pdnd.lookup.failed");
    assert_eq!(body["code"], "rejected", "{body}");
    assert_eq!(body["platform_code"], "EN122");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_retried_by_anpr_is_one_message_id() {
    // A port nobody listens on yet: ANPR's first push is refused, as when Snodo is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = World::start_pushing_to(Some(port)).await;
    w.admin_post(
        "/anpr/notifications",
        json!({"comune": TENANT, "kind": "N010", "id_operazione_anpr": "88001"}),
    )
    .await;
    let attempts = |v: Value| v["pushes"].as_array().map_or(0, Vec::len);
    let until = tokio::time::Instant::now() + WAIT;
    while attempts(w.admin_get("/anpr/pushes").await) < 1 {
        assert!(tokio::time::Instant::now() < until, "no push attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(w.transport.get(&w.events_queue).await.unwrap().is_none());

    // Snodo's inbound listener comes up; ANPR retries 5 minutes later (its clock moved on).
    let pki = shared_for_tests();
    let router = notification_router(
        Arc::new(Tenants::from_config(&Config::development())),
        InboundPublisher::new(w.transport.clone(), &w.names, "anpr"),
        Duration::from_secs(10),
    );
    let server = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let stop = w.stop.clone();
    tokio::spawn(async move { server.serve(listener, router, stop.cancelled_owned()).await });
    w.admin_post("/clock", json!({"advance": "6min"})).await;
    let (first, body) = w.events(1).await.remove(0);
    assert_eq!(first.kind.as_str(), "anpr.notification.received");
    assert_eq!(body["notification_id"], "88001");
    assert_eq!(body["kind"], "N010");
    // ANPR records its attempt once it has read our answer, which comes after the confirm.
    let until = tokio::time::Instant::now() + WAIT;
    let pushes = loop {
        let pushes = w.admin_get("/anpr/pushes").await;
        if attempts(pushes.clone()) >= 2 || tokio::time::Instant::now() > until {
            break pushes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        attempts(pushes.clone()),
        2,
        "refused once, stored on the retry: {pushes}"
    );
    assert_eq!(pushes["pushes"][0]["delivered"], false);
    assert_eq!(pushes["pushes"][1]["delivered"], true);

    // The same notification pushed again (a retry whose answer was lost) is the same message.
    w.admin_post(
        "/anpr/notifications",
        json!({"comune": TENANT, "kind": "N010", "id_operazione_anpr": "88001"}),
    )
    .await;
    let (second, _) = w.events(1).await.remove(0);
    assert_eq!(second.message_id, first.message_id);
}

/// Publishes a lookup for each of `people` at once and returns the kinds of their outcome events, each
/// command's exactly once.
async fn concurrent_lookups(w: &World, people: &[String]) -> Vec<String> {
    let mut ids = std::collections::HashSet::new();
    for cf in people {
        ids.insert(
            w.send(
                "anpr.resident.lookup",
                json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data"]}),
            )
            .await,
        );
    }
    let events = w.events(people.len()).await;
    let mut kinds = Vec::new();
    for (env, body) in events {
        let id = env.correlation_id.expect("an outcome names its command");
        assert!(ids.remove(&id), "one outcome per command: {id} again");
        if env.kind.as_str() != "anpr.resident.lookup.completed" {
            kinds.push(format!("{}: {body}", env.kind));
        } else {
            kinds.push(env.kind.to_string());
        }
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_eight_lookups_in_flight_reach_anpr_in_number_order_and_all_complete() {
    // 32 handled at once, 96 delivered ahead: without the comune's line, requests that took their
    // idOperazioneComune earlier overtake each other and ANPR refuses them as lower than its last.
    let w = World::start_with(None, 32, 1).await;
    let people = residents(48);
    let kinds = concurrent_lookups(&w, &people).await;
    let failed: Vec<&String> = kinds
        .iter()
        .filter(|k| *k != "anpr.resident.lookup.completed")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // One request per lookup, numbers strictly increasing in the order ANPR received them: no
    // refusal and no renumbering was needed.
    let ids: Vec<u64> = w
        .recorded("Richiesta3002")
        .await
        .iter()
        .map(|r| id_operazione_comune(r).parse().unwrap())
        .collect();
    assert_eq!(ids.len(), people.len(), "{ids:?}");
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sending_for_one_comune_complete_every_lookup() {
    // Two Snodo instances share the counter but not a line: what one sends can overtake the other's,
    // ANPR refuses the overtaken number, and that command takes a new one.
    let w = World::start_with(None, 16, 2).await;
    let people = residents(40);
    let kinds = concurrent_lookups(&w, &people).await;
    let failed: Vec<&String> = kinds
        .iter()
        .filter(|k| *k != "anpr.resident.lookup.completed")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // ANPR accepted each number once and one per lookup; every refused number was lower than one it
    // accepted. (The record lists exchanges as their answers left, which for two requests judged at
    // once is not always the order they were judged in, so order is not compared here.)
    let exchanges: Value = w.admin_get("/exchanges?operation=Richiesta3002&limit=1000").await;
    let mut accepted = std::collections::BTreeSet::new();
    let mut refused = Vec::new();
    for e in exchanges["exchanges"].as_array().unwrap() {
        let id: u64 = id_operazione_comune(e["request"]["text"].as_str().unwrap())
            .parse()
            .unwrap();
        if e["response"]["text"]
            .as_str()
            .unwrap()
            .contains("<codiceErroreAnomalia>EN148</codiceErroreAnomalia>")
        {
            refused.push(id);
        } else {
            assert!(accepted.insert(id), "{id} accepted twice");
        }
    }
    assert_eq!(accepted.len(), people.len());
    let highest = accepted.last().copied().unwrap_or_default();
    for id in refused {
        assert!(id < highest, "{id} refused though nothing higher was accepted");
        assert!(!accepted.contains(&id), "{id} both refused and accepted");
    }
}

/// Two living women of the population who share a surname and a given name.
fn namesake_mothers() -> (String, String, Vec<String>) {
    let mut by_name: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for p in population().iter() {
        if p.death_date.is_none() && p.sex == snodo_mappings::codice_fiscale::Sex::Female {
            by_name
                .entry((p.surname.to_owned(), p.given_name.to_owned()))
                .or_default()
                .push(p.codice_fiscale.as_str().to_owned());
        }
    }
    let ((surname, given_name), codes) = by_name
        .into_iter()
        .find(|(_, codes)| codes.len() >= 2)
        .expect("the seeded population has namesakes");
    (surname, given_name, codes)
}

/// The candidates' codici fiscali of one side of a `parents_to_choose` event.
fn candidate_codes(event: &Value, side: &str) -> Vec<String> {
    let mut codes: Vec<String> = event[side]
        .as_array()
        .unwrap_or_else(|| panic!("{side} in {event}"))
        .iter()
        .map(|c| c["person"]["codice_fiscale"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_birth_naming_a_mother_with_namesakes_lists_the_candidates_and_the_choice_registers_it() {
    let w = World::start().await;
    let (surname, given_name, mut namesakes) = namesake_mothers();
    namesakes.sort();
    let birth = |mother: Value| {
        json!({"schema": 1, "child": {"surname": surname, "given_name": "GIULIA", "sex": "F", "birth_date": "2025-03-10",
                    "birth_place": {"comune": {"name": "MILANO", "istat_code": "015146", "province": "MI"}}},
               "citizenship": {"country_code": "100", "country_name": "ITALIA"},
               "mother": mother, "joins": "mother"})
    };

    // Named without a code, the mother is several people: nothing registered, the candidates listed.
    let (env, event) = w
        .outcome(
            "anpr.birth.register",
            birth(json!({"surname": surname, "given_name": given_name})),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.birth.register.completed", "{event}");
    assert_eq!(event["outcome"], "parents_to_choose", "{event}");
    assert_eq!(candidate_codes(&event, "candidate_mothers"), namesakes);
    assert!(event.get("candidate_fathers").is_none(), "{event}");
    assert!(event["id_operazione_anpr"].as_str().is_some(), "{event}");

    // ANPR's answer as the simulator sent it is valid for the official XSD (xmllint).
    let page = w.admin_get("/exchanges?operation=Richiesta1001").await;
    let answer = page["exchanges"][0]["response"]["text"]
        .as_str()
        .expect("the answer is recorded")
        .to_owned();
    assert!(answer.contains("RispostaMultipla1001"), "{answer}");
    let doc = parse(answer.as_bytes(), &Limits::default()).unwrap();
    let body = doc
        .child_elements(doc.document_element())
        .find(|&n| doc.element(n).is_some_and(|e| e.name().local_name() == "Body"))
        .unwrap();
    let payload = doc.child_elements(body).next().unwrap();
    let standalone = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&doc, payload, &[])
        .unwrap();
    let file = std::env::temp_dir().join(format!(
        "snodo-anpr-1001-multiple-{}.xml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, &standalone).unwrap();
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/anpr/soap/comuni");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(specs.join("1000iscrizione.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    std::fs::remove_file(&file).ok();
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The backend chooses one and re-submits naming her by codice fiscale: registered.
    let chosen = &namesakes[1];
    let (env, event) = w
        .outcome(
            "anpr.birth.register",
            birth(json!({"codice_fiscale": chosen, "surname": surname, "given_name": given_name})),
        )
        .await;
    assert_eq!(env.kind.as_str(), "anpr.birth.register.completed", "{event}");
    assert_eq!(event["outcome"], "registered", "{event}");
    assert!(
        event["subjects"][0]["person"]["codice_fiscale"]
            .as_str()
            .is_some(),
        "{event}"
    );
}
