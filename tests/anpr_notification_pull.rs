//! The scheduled notification pull (3003) through RabbitMQ against the ANPR simulator, which judges
//! each pull like every other request (client certificate, WS-Security, official XSD, numbering):
//! a notification ANPR both pushes and keeps for the pull becomes two events with one `message_id`,
//! later polls do not publish it again, and the recorded 3003 requests pass `xmllint` against the
//! official XSD.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use snodo_connectors::anpr::{AnprTenant, NotificationFeed, notification_router};
use snodo_connectors::config::Config;
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::schedule::{Scheduler, SchedulerSettings};
use snodo_connectors::state::{SharedStore, StateSettings, connect};
use snodo_connectors::tenants::Tenants;
use snodo_queue::envelope::Envelope;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::unique_names;
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
    /// The simulator, pushing to Snodo's notification endpoint when `push` is set.
    async fn start(push: bool) -> World {
        let broker = RabbitTestBroker::shared().await;
        let transport = broker.connect().await;
        let names = unique_names();
        let stop = CancellationToken::new();
        let pki = shared_for_tests();
        let tls = || {
            TlsServer::new(TlsServerConfig::new(
                pki.tls_server().identity.clone(),
                ClientAuth::Optional(pki.trust_anchors()),
            ))
            .unwrap()
        };

        let mut settings = AnprSettings::development(pki).unwrap();
        if push {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let router = notification_router(
                Arc::new(Tenants::from_config(&Config::development())),
                InboundPublisher::new(transport.clone(), &names, "anpr"),
                Duration::from_secs(10),
            );
            let server = tls();
            let stop = stop.clone();
            tokio::spawn(async move { server.serve(listener, router, stop.cancelled_owned()).await });
            settings.push_base_url = Some(format!("https://127.0.0.1:{port}"));
        }
        let clock = SimClock::new();
        let sim = Arc::new(AnprSimulator::new(clock.clone(), settings, population()).unwrap());
        let simulator = serve(
            Arc::new(Instance::new(sim, clock)),
            "127.0.0.1:0".parse().unwrap(),
            Transport::Https(tls()),
            stop.clone(),
        )
        .await
        .unwrap();

        let tenant = AnprTenant::from_config(
            &Config::development().tenants[0],
            &simulator.url(),
            pki.trust_anchors(),
            Some(pki),
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        let store = connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap();
        let events_queue = format!("{}.backend.events", names.prefix);
        let topology = Topology::snodo(
            &names,
            &[],
            &[SubscriberQueue {
                queue: events_queue.clone(),
                patterns: vec!["anpr.#".into()],
            }],
            &[],
        );
        transport.declare(&topology).await.unwrap();
        World {
            _broker: broker,
            transport,
            names,
            events_queue,
            simulator,
            store,
            tenant,
            admin: build_client(&TlsClientConfig::new(pki.trust_anchors())).unwrap(),
            stop,
        }
    }

    /// The notification pull on the shared scheduler, polling often.
    fn start_pulling(&self) {
        let feed = NotificationFeed::new(Arc::new(self.tenant.clone()), self.store.clone());
        let mut settings = SchedulerSettings::new(self.names.clone());
        settings.app_id = "anpr".into();
        settings.interval = Duration::from_millis(100);
        settings.backoff_min = Duration::from_millis(50);
        settings.backoff_max = Duration::from_millis(200);
        let scheduler = Scheduler::new(
            Arc::new(feed),
            self.store.clone(),
            self.transport.clone(),
            settings,
        )
        .unwrap();
        tokio::spawn(scheduler.run(self.stop.clone()));
    }

    async fn next_event(&self) -> (Envelope, Value) {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < until, "no event arrived");
            match self.transport.get(&self.events_queue).await.unwrap() {
                Some(d) => {
                    let env = Envelope::parse(&d.message).unwrap();
                    let body = serde_json::from_slice(&d.message.body).unwrap();
                    d.ack().await.unwrap();
                    return (env, body);
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn notify(&self, kind: &str, id: &str) {
        let r = self
            .admin
            .post(format!("{}/anpr/notifications", self.simulator.admin_url()))
            .json(&json!({"comune": TENANT, "kind": kind, "id_operazione_anpr": id}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

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
            .map(|e| e["request"]["text"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_pushed_and_pulled_is_two_events_with_one_message_id() {
    let w = World::start(true).await;
    w.notify("N010", "88101").await;
    let (pushed, pushed_body) = w.next_event().await;
    assert_eq!(pushed.kind.as_str(), "anpr.notification.received");
    assert_eq!(pushed_body["notification_id"], "88101");

    w.start_pulling();
    let (pulled, pulled_body) = w.next_event().await;
    assert_eq!(pulled.kind.as_str(), "anpr.notification.received");
    assert_eq!(pulled.tenant.as_deref(), Some(TENANT));
    assert_eq!(pulled_body["notification_id"], "88101");
    assert_eq!(pulled_body["kind"], "N010");
    assert_eq!(pulled_body["content_base64"], pushed_body["content_base64"]);
    assert_eq!(
        pulled.message_id, pushed.message_id,
        "one notification, one message_id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_polls_publish_only_new_notifications_and_the_pulls_are_valid() {
    let w = World::start(false).await;
    w.notify("N010", "88201").await;
    w.notify("N015", "88202").await;
    w.start_pulling();
    let mut first = [w.next_event().await.1, w.next_event().await.1];
    first.sort_by_key(|b| b["notification_id"].as_str().unwrap().to_owned());
    assert_eq!(first[0]["notification_id"], "88201");
    assert_eq!(first[0]["kind"], "N010");
    assert_eq!(first[1]["notification_id"], "88202");
    assert_eq!(first[1]["kind"], "N015");

    // Let the feed poll again over the same period before anything new arrives.
    let until = tokio::time::Instant::now() + WAIT;
    while w.recorded("Richiesta3003").await.len() < 3 {
        assert!(tokio::time::Instant::now() < until, "the feed stopped polling");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.notify("N010", "88203").await;
    let (_, next) = w.next_event().await;
    assert_eq!(
        next["notification_id"], "88203",
        "the earlier ones are not published again"
    );

    // Every pull is a distinct, increasing idOperazioneComune and valid against the official XSD.
    let requests = w.recorded("Richiesta3003").await;
    let ids: Vec<u64> = requests
        .iter()
        .map(|r| {
            let start = r.find("<idOperazioneComune>").unwrap() + "<idOperazioneComune>".len();
            r[start..start + r[start..].find('<').unwrap()].parse().unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
    let dir = std::env::temp_dir().join(format!("snodo-anpr-3003-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let request = &requests[0];
    let doc = parse(request.as_bytes(), &Limits::default()).unwrap();
    let body = doc
        .child_elements(doc.document_element())
        .find(|&n| doc.element(n).is_some_and(|e| e.name().local_name() == "Body"))
        .unwrap();
    let payload = doc.child_elements(body).next().unwrap();
    let standalone = Canonicalization::new(Algorithm::Exclusive)
        .subtree(&doc, payload, &[])
        .unwrap();
    let file = dir.join("richiesta3003.xml");
    std::fs::write(&file, &standalone).unwrap();
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/specs/anpr/soap/comuni/3000consultazione.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("xmllint is installed");
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_n030_pushed_and_pulled_carries_one_id() {
    use snodo_connectors::anpr::soap::{allocate, exchange};
    use snodo_mappings::anpr::bulk::{self, Chunk};
    use snodo_mappings::anpr::lookup::Section;

    let w = World::start(true).await;
    // A 4002 chunk: ANPR announces its results with an N030, pushed and kept for the pull.
    let chunk = Chunk {
        codici_fiscali: population()
            .iter()
            .take(3)
            .map(|p| p.codice_fiscale.as_str().to_owned())
            .collect(),
        sections: vec![Section::PersonalData],
        reference_date: chrono::Utc::now().date_naive(),
    };
    let key = uuid::Uuid::new_v4();
    let id = allocate(&w.tenant, &w.store, key).await.unwrap();
    let accepted = exchange(
        &w.tenant,
        &w.store,
        bulk::SUBMIT_SERVICE,
        key,
        id,
        |ctx| bulk::write_request(&chunk, ctx),
        bulk::read_response,
    )
    .await
    .unwrap()
    .expect("ANPR accepts the chunk");

    let (pushed, pushed_body) = w.next_event().await;
    assert_eq!(pushed_body["kind"], "N030", "{pushed_body}");
    w.start_pulling();
    let (pulled, pulled_body) = w.next_event().await;
    assert_eq!(pulled_body["kind"], "N030", "{pulled_body}");
    assert_eq!(pulled_body["notification_id"], pushed_body["notification_id"]);
    assert_eq!(
        pulled.message_id, pushed.message_id,
        "one notification, one message_id"
    );
    // It is the notification's own id, and its content names the operation whose results are ready.
    assert_ne!(
        pulled_body["notification_id"],
        accepted.id_operazione_anpr.as_str()
    );
    let content = openssl::base64::decode_block(pulled_body["content_base64"].as_str().unwrap()).unwrap();
    let content = String::from_utf8(content).unwrap();
    assert!(
        content.contains(&format!(
            "<idOperazioneANPR>{}</idOperazioneANPR>",
            accepted.id_operazione_anpr
        )),
        "{content}"
    );
}
