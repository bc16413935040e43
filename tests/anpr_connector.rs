//! The ANPR connector against a test double of ANPR that verifies mutual TLS and the WS-Security
//! header: the connector compliance suite on both transports, and ANPR's own rules — lookups and
//! certificates complete with ANPR's warnings, `rispostaKO` is `rejected` with ANPR's code, a bad
//! codice fiscale never leaves, the `idOperazioneComune` is bound once and renewed only when ANPR
//! refuses it as lower than the last, and a bulk job completes through 4005 polling on the scheduler.

mod anpr_double;

use std::sync::Arc;
use std::time::Duration;

use anpr_double::FakeAnpr;
use serde_json::{Value, json};
use snodo_connectors::anpr::{AnprConnector, AnprTenant, BulkResultsFeed, soap::ID_NOT_INCREASING};
use snodo_connectors::config::Config;
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::schedule::{Scheduler, SchedulerSettings};
use snodo_connectors::state::{SharedStore, StateSettings, connect};
use snodo_mappings::codice_fiscale::check_character;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::compliance::{ComplianceSubject, FakePlatform, assert_connector_compliance};
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::{
    EventTap, Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::{Names, SharedTransport};
use snodo_security::devpki;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// A valid personal codice fiscale for person `n` (distinct for n < 12 * 28 * 100).
fn cf(n: usize) -> String {
    let months = b"ABCDEHLMPRST";
    let first15 = format!(
        "RSSMRA{:02}{}{:02}F205",
        n % 100,
        months[(n / 100) % 12] as char,
        (n / 1200) % 28 + 1
    );
    let check = check_character(first15.as_bytes()) as char;
    format!("{first15}{check}")
}

fn tenant(fake: &FakeAnpr) -> AnprTenant {
    let config = Config::development();
    let pki = devpki::shared_for_tests();
    AnprTenant::from_config(
        &config.tenants[0],
        &fake.url,
        pki.trust_anchors(),
        Some(pki),
        Duration::from_secs(5),
    )
    .expect("the development tenant builds")
    .expect("the development tenant uses ANPR")
}

async fn store() -> SharedStore {
    connect(None, StateSettings::with_prefix("anpr-test"))
        .await
        .unwrap()
}

fn lookup_body(cf: &str) -> Value {
    json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data", "residence"]})
}

struct Subject {
    fake: FakeAnpr,
    tenant: AnprTenant,
    store: SharedStore,
    events: InboundPublisher,
}

impl Subject {
    async fn new() -> Subject {
        let fake = FakeAnpr::start().await;
        let transport = EmbeddedTestBroker::new().connect().await;
        Subject {
            tenant: tenant(&fake),
            fake,
            store: store().await,
            events: InboundPublisher::new(transport, &unique_names(), "anpr"),
        }
    }
}

impl ComplianceSubject for Subject {
    fn handler(&self) -> SharedHandler {
        Arc::new(AnprConnector::new(
            vec![self.tenant.clone()],
            self.store.clone(),
            self.events.clone(),
        ))
    }

    fn valid_command(&self) -> (String, Value) {
        ("anpr.resident.lookup".into(), lookup_body(&cf(1)))
    }

    fn invalid_command(&self) -> (String, Value) {
        // The check character is wrong: ANPR must never see it.
        ("anpr.resident.lookup".into(), lookup_body("RSSMRA80A01F205A"))
    }

    fn platform(&self) -> Option<&dyn FakePlatform> {
        Some(self)
    }
}

impl FakePlatform for Subject {
    fn fail_transiently(&self, n: usize) {
        self.fake.fail_next(n);
    }

    fn stall_next(&self, d: Duration) {
        self.fake.stall_next(d);
    }

    fn idempotency_keys(&self) -> Vec<Option<String>> {
        self.fake
            .calls()
            .into_iter()
            .map(|c| Some(c.id_operazione_comune))
            .collect()
    }

    fn calls(&self) -> usize {
        self.fake.calls().len()
    }
}

#[tokio::test]
async fn the_connector_is_compliant_on_the_embedded_transport() {
    assert_connector_compliance(&EmbeddedTestBroker::new(), &Subject::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_is_compliant_on_rabbitmq() {
    assert_connector_compliance(&RabbitTestBroker::shared().await, &Subject::new().await).await;
}

/// A running connector on the embedded transport, with its event tap.
struct Connector {
    fake: FakeAnpr,
    transport: SharedTransport,
    names: Names,
    store: SharedStore,
    tap: EventTap,
    running: Running,
}

async fn run() -> Connector {
    let fake = FakeAnpr::start().await;
    let transport = EmbeddedTestBroker::new().connect().await;
    let names = unique_names();
    let store = store().await;
    let handler = AnprConnector::new(
        vec![tenant(&fake)],
        store.clone(),
        InboundPublisher::new(transport.clone(), &names, "anpr"),
    );
    let runtime = new_runtime(
        &transport,
        Arc::new(handler),
        test_settings(&names, &[Duration::from_millis(30), Duration::from_millis(60)]),
    );
    let tap = declare_for(&transport, &names, &runtime).await;
    Connector {
        fake,
        transport,
        names,
        store,
        tap,
        running: Running::start(runtime),
    }
}

impl Connector {
    async fn send(&self, kind: &str, body: Value) -> uuid::Uuid {
        let (env, msg) = command(kind, body);
        send(&self.transport, &self.names, msg).await;
        env.message_id
    }
}

#[tokio::test]
async fn a_lookup_is_signed_sent_over_mutual_tls_and_completes_with_anpr_warnings() {
    let mut r = run().await;
    let id = r.send("anpr.resident.lookup", lookup_body(&cf(2))).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(
        e.envelope.kind.as_str(),
        "anpr.resident.lookup.completed",
        "{}",
        e.body
    );
    assert_eq!(e.envelope.correlation_id, Some(id));
    assert_eq!(e.body["persons"][0]["person"]["codice_fiscale"], cf(2));
    assert_eq!(e.body["warnings"][0]["code"], "EN300");
    let calls = r.fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.service, "3002");
    assert_eq!(call.tipo_invio, "TEST");
    assert_eq!(call.id_sede, "015146", "the WS-Security assertion verified");
    assert_eq!(call.peer.as_deref(), Some("015146-CO-9999"));
    assert_eq!(
        e.envelope.external_key.as_deref(),
        Some(call.id_operazione_comune.as_str()),
        "the idOperazioneComune travels in x-snodo-external-key"
    );
    r.running.stop().await;
}

#[tokio::test]
async fn a_certificate_completes_with_its_pdf_and_protocol_number() {
    let mut r = run().await;
    let body = json!({"schema": 1, "holder": {"codice_fiscale": cf(3), "surname": "ROSSI", "given_name": "MARIO"},
        "certificate_types": [8], "requester": "holder", "delivery": "internet",
        "stamp_duty_cents": 1600, "fees_cents": 52, "officer": {"surname": "VERDI", "given_name": "ANNA"}});
    r.send("anpr.certificate.issue", body).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(
        e.envelope.kind.as_str(),
        "anpr.certificate.issue.completed",
        "{}",
        e.body
    );
    assert_eq!(e.body["protocol_number"], "2025000123");
    assert_eq!(e.body["pdf_base64"], "JVBERi0xLjQK");
    assert_eq!(r.fake.calls()[0].service, "6001");
    r.running.stop().await;
}

#[tokio::test]
async fn risposta_ko_is_rejected_with_anprs_code_and_italian_text() {
    let mut r = run().await;
    r.fake.reject_next(&["EN122"]);
    r.send("anpr.resident.lookup", lookup_body(&cf(4))).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.envelope.kind.as_str(), "anpr.resident.lookup.failed");
    assert_eq!(e.body["code"], "rejected");
    assert_eq!(e.body["platform_code"], "EN122");
    assert_eq!(
        e.body["platform_message"],
        "La richiesta effettuata non produce alcun risultato"
    );
    assert_eq!(e.body["retryable"], false);
    assert_eq!(r.fake.calls().len(), 1, "a rejection is not retried");
    r.running.stop().await;
}

#[tokio::test]
async fn a_bad_codice_fiscale_is_invalid_message_naming_the_field_and_nothing_is_sent() {
    let mut r = run().await;
    // Omocodia letters are fine; a wrong check character is not.
    r.send("anpr.resident.lookup", lookup_body("RSSMRA80A01F205A"))
        .await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "invalid_message", "{}", e.body);
    let message = e.body["message"].as_str().unwrap();
    assert!(message.contains("by.codice_fiscale"), "{message}");
    assert!(
        !message.contains("RSSMRA80A01F205A"),
        "personal data in an error: {message}"
    );
    assert!(r.fake.calls().is_empty());
    r.running.stop().await;
}

#[tokio::test]
async fn only_the_lower_than_last_refusal_takes_a_new_id_operazione_comune() {
    let mut r = run().await;
    // Another instance already sent 2: this command's first number, 1, is refused, and so is 2.
    r.fake.set_last_id(2);
    r.send("anpr.resident.lookup", lookup_body(&cf(5))).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(
        e.envelope.kind.as_str(),
        "anpr.resident.lookup.completed",
        "{}",
        e.body
    );
    let ids: Vec<String> = r
        .fake
        .calls()
        .into_iter()
        .map(|c| c.id_operazione_comune)
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(ID_NOT_INCREASING.0, "EN148");
    // A plain transient failure keeps the number.
    r.fake.fail_next(2);
    r.send("anpr.resident.lookup", lookup_body(&cf(6))).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(
        e.envelope.kind.as_str(),
        "anpr.resident.lookup.completed",
        "{}",
        e.body
    );
    let ids: Vec<String> = r
        .fake
        .calls()
        .into_iter()
        .skip(3)
        .map(|c| c.id_operazione_comune)
        .collect();
    assert_eq!(ids, ["4", "4", "4"]);
    r.running.stop().await;
}

#[tokio::test]
async fn a_redelivered_command_gets_the_number_recorded_before_the_crash() {
    // A crash between allocation and send loses the retry copy's header: the redelivery asks the
    // connector again, which must answer with the number recorded against the message_id.
    let subject = Subject::new().await;
    let handler = subject.handler();
    let (envelope, message) = command("anpr.resident.lookup", lookup_body(&cf(7)));
    let cmd = snodo_queue::runtime::Command {
        envelope,
        body: message.body.clone(),
    };
    let first = handler.external_key(&cmd).await.unwrap();
    let restarted = subject.handler();
    assert_eq!(restarted.external_key(&cmd).await.unwrap(), first);
    let (other, message) = command("anpr.resident.lookup", lookup_body(&cf(7)));
    let other = snodo_queue::runtime::Command {
        envelope: other,
        body: message.body.clone(),
    };
    let next = handler.external_key(&other).await.unwrap().unwrap();
    assert!(next.parse::<u64>().unwrap() > first.unwrap().parse::<u64>().unwrap());
    assert!(subject.fake.calls().is_empty(), "allocation sends nothing");
}

#[tokio::test]
async fn a_bulk_job_is_chunked_submitted_and_completed_through_4005_polling() {
    let mut r = run().await;
    r.fake.not_ready_polls(1);
    let codes: Vec<String> = (0..2_500).map(cf).collect();
    let job = r
        .send(
            "anpr.bulk_lookup.start",
            json!({"schema": 1, "codici_fiscali": codes, "sections": ["personal_data"]}),
        )
        .await;
    let mut events = r.tap.take(3, WAIT).await;
    events.sort_by_key(|e| e.envelope.kind.as_str().to_owned());
    assert_eq!(
        events[0].envelope.kind.as_str(),
        "anpr.bulk_lookup.start.completed"
    );
    assert_eq!(events[0].envelope.correlation_id, Some(job));
    assert_eq!(events[0].body["chunks"], 2);
    assert_eq!(events[0].body["codici_fiscali"], 2_500);
    let submitted: Vec<&Value> = events[1..].iter().map(|e| &e.body).collect();
    assert!(
        events[1..]
            .iter()
            .all(|e| e.envelope.kind.as_str() == "anpr.bulk_lookup.submitted")
    );
    let mut sizes: Vec<u64> = submitted
        .iter()
        .map(|b| b["codici_fiscali"].as_u64().unwrap())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [500, 2_000]);
    let submits: Vec<_> = r
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.service == "4002")
        .collect();
    assert_eq!(submits.len(), 2);
    assert!(submits[0].id_operazione_comune < submits[1].id_operazione_comune);

    // The poller: fast settings, its own shutdown.
    let tenant = Arc::new(tenant(&r.fake));
    let feed = BulkResultsFeed::new(tenant, r.store.clone());
    let mut settings = SchedulerSettings::new(r.names.clone());
    settings.interval = Duration::from_millis(50);
    settings.backoff_min = Duration::from_millis(20);
    settings.backoff_max = Duration::from_millis(100);
    let scheduler = Scheduler::new(Arc::new(feed), r.store.clone(), r.transport.clone(), settings).unwrap();
    let stop = CancellationToken::new();
    let poller = tokio::spawn(scheduler.run(stop.clone()));
    // 2 results, 2 notifications (N030), 1 completed.
    let events = r.tap.take(5, WAIT).await;
    let count = |kind: &str| events.iter().filter(|e| e.envelope.kind.as_str() == kind).count();
    assert_eq!(count("anpr.bulk_lookup.result"), 2);
    assert_eq!(count("anpr.notification.received"), 2);
    assert_eq!(count("anpr.bulk_lookup.completed"), 1);
    let completed = events
        .iter()
        .find(|e| e.envelope.kind.as_str() == "anpr.bulk_lookup.completed")
        .unwrap();
    assert_eq!(
        completed.body,
        json!({"schema": 1, "chunks": 2, "codici_fiscali": 2500, "result_files": 2})
    );
    // Finished jobs are not polled again.
    r.tap.assert_quiet(Duration::from_millis(400)).await;
    let polls = r.fake.calls().into_iter().filter(|c| c.service == "4005").count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.fake.calls().into_iter().filter(|c| c.service == "4005").count(),
        polls
    );
    stop.cancel();
    poller.await.unwrap();
    r.running.stop().await;
}

#[tokio::test]
async fn registry_changes_complete_with_anpr_and_place_warnings() {
    let mut r = run().await;
    let milano = json!({"name": "MILANO", "istat_code": "015146", "province": "MI"});
    let residence = json!({"schema": 1, "household": {"id": {"anpr": "900001"}, "cohabitation": false}, "change_kind": 2,
        "new_residence": {"kind": 1, "postal_code": "20121", "comune": milano, "street_kind": "VIA",
                          "street_name": "DEI MILLE", "house_number": "12"},
        "members": [{"person": {"codice_fiscale": "SGGNNA90R50F839T", "surname": "SOGGETTA", "given_name": "ANNA"},
                     "relationship": {"code": 1, "since": "2025-03-01"}}],
        "effective_date": "2025-03-01"});
    // A comune the archive (May 2023) cannot know: sent all the same, a warning on the event.
    let birth = json!({"schema": 1, "child": {"surname": "ROSSI", "given_name": "LUCA", "sex": "M", "birth_date": "2025-02-20",
            "birth_place": {"comune": {"name": "NUOVO COMUNE", "istat_code": "099999", "province": "MI"}}},
        "citizenship": {"country_code": "100", "country_name": "ITALIA"},
        "birth_record": {"comune": milano, "year": 2025, "part": "1", "series": "A", "number": "123"},
        "father": {"codice_fiscale": "RSSMRA45D25F205N", "surname": "ROSSI", "given_name": "MARIO"},
        "mother": {"codice_fiscale": "SGGNNA90R50F839T", "surname": "SOGGETTA", "given_name": "ANNA"},
        "joins": "parents"});
    let death = json!({"schema": 1, "person": {"codice_fiscale": "RSSMRA45D25F205N", "surname": "ROSSI", "given_name": "MARIO"},
        "death_date": "2025-01-05", "death_place": {"abroad": {"locality": "LUGANO", "country_name": "SVIZZERA", "country_code": "241"}},
        "presumed": false, "head_of_household": false});
    for (kind, body, service) in [
        ("anpr.residence.change", residence, "5005"),
        ("anpr.birth.register", birth, "1001"),
        ("anpr.death.register", death, "2001"),
    ] {
        r.send(kind, body).await;
        let e = r.tap.take(1, WAIT).await.remove(0);
        assert_eq!(
            e.envelope.kind.as_str(),
            format!("{kind}.completed"),
            "{}",
            e.body
        );
        assert_eq!(e.body["warnings"][0]["code"], "EN300");
        if kind == "anpr.birth.register" {
            assert_eq!(
                e.body["place_warnings"][0]["field"], "child.birth_place.comune",
                "{}",
                e.body
            );
        }
        assert_eq!(r.fake.calls().last().unwrap().service, service);
    }
    r.running.stop().await;
}

#[tokio::test]
async fn a_registration_with_a_bad_codice_fiscale_never_reaches_anpr() {
    let mut r = run().await;
    let death = json!({"schema": 1, "person": {"codice_fiscale": "RSSMRA45D25F205X", "surname": "ROSSI", "given_name": "MARIO"},
        "death_date": "2025-01-05", "death_place": {"abroad": {"locality": "LUGANO", "country_name": "SVIZZERA", "country_code": "241"}},
        "presumed": false, "head_of_household": false});
    r.send("anpr.death.register", death).await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "invalid_message", "{}", e.body);
    assert!(
        e.body["message"]
            .as_str()
            .unwrap()
            .contains("person.codice_fiscale"),
        "{}",
        e.body
    );
    assert!(r.fake.calls().is_empty());
    r.running.stop().await;
}

#[tokio::test]
async fn a_pdnd_lookup_gets_a_fresh_voucher_and_passes_the_modi_checks() {
    let mut r = run().await;
    for _ in 0..2 {
        r.send(
            "anpr.pdnd.lookup",
            json!({"schema": 1, "service": "C020", "by": {"codice_fiscale": cf(8)}, "reason": "Prot. 1234/2025"}),
        )
        .await;
        let e = r.tap.take(1, WAIT).await.remove(0);
        assert_eq!(
            e.envelope.kind.as_str(),
            "anpr.pdnd.lookup.completed",
            "{}",
            e.body
        );
        assert_eq!(e.body["service"], "C020");
        assert_eq!(e.body["subjects"][0]["identificativi"]["idANPR"], "AF41450AS");
        let id = e.envelope.correlation_id.unwrap().simple().to_string();
        assert_eq!(
            e.envelope.external_key.as_deref(),
            Some(id.as_str()),
            "idOperazioneClient from message_id"
        );
    }
    let calls = r.fake.pdnd_calls();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c.refused, None, "GovWay would refuse: {c:?}");
        assert_eq!(c.path, "C020-servizioAccertamentoResidenza");
        assert_eq!(c.purpose_id, "purpose-C020");
    }
    assert_ne!(calls[0].id_operazione_client, calls[1].id_operazione_client);
    assert!(r.fake.calls().is_empty(), "no SOAP call for an e-service");

    r.fake.pdnd_reject_next("EN122");
    r.send(
        "anpr.pdnd.lookup",
        json!({"schema": 1, "service": "C030", "by": {"codice_fiscale": cf(9)}, "reason": "Prot. 1/2025"}),
    )
    .await;
    let e = r.tap.take(1, WAIT).await.remove(0);
    assert_eq!(e.body["code"], "rejected", "{}", e.body);
    assert_eq!(e.body["platform_code"], "EN122");
    r.running.stop().await;
}

#[tokio::test]
async fn the_registration_builds_the_handler_the_push_route_and_one_poller_per_tenant() {
    use snodo_connectors::platform::PlatformContext;
    let config = Arc::new(Config::development());
    let transport = EmbeddedTestBroker::new().connect().await;
    let names = unique_names();
    let pki = devpki::shared_for_tests();
    let shutdown = CancellationToken::new();
    let context = PlatformContext {
        tenants: Arc::new(snodo_connectors::tenants::Tenants::from_config(&config)),
        config,
        requester: Arc::new(
            snodo_queue::request::Requester::start(transport.clone(), &names.prefix)
                .await
                .unwrap(),
        ),
        transport,
        names,
        store: store().await,
        development_ca: Some(pki.trust_anchors()),
        development_pki: Some(pki.clone()),
        simulator_port_offset: 0,
        shutdown: shutdown.clone(),
        telemetry: Default::default(),
    };
    let parts = (snodo_connectors::anpr::REGISTRATION.build)(&context).expect("the connector builds");
    assert_eq!(parts.handler.expect("a command handler").name(), "anpr");
    assert!(parts.inbound.is_some(), "the push endpoint");
    assert_eq!(
        parts.background.len(),
        2,
        "the 4005 poller and the 3003 pull of the one tenant"
    );
    // Without the development PKI a development tenant has no certificate: a configuration error,
    // not a connector that fails every command.
    let context = PlatformContext {
        development_pki: None,
        ..context
    };
    let error = (snodo_connectors::anpr::REGISTRATION.build)(&context)
        .err()
        .expect("no certificate");
    assert!(error.to_string().contains("anpr_client"), "{error}");
    shutdown.cancel();
}
