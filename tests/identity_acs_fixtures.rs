//! The ACS against the 111 spid-sp-test fixture Responses (shared/specs/spid/fixtures, §2.6 of the
//! platform notes), over HTTP, with the fixtures' clock (2026-12-01T10:00:05Z) and their pending
//! request seeded in the coordination store: each case is accepted (303 to the return URL with a
//! ticket, `identity.login.succeeded` confirmed) or refused (a non-200 status, the only thing
//! spid-sp-test looks at) exactly as index.json says. Then what the fixtures cannot show: the ticket
//! is redeemed once, the Response replayed is refused, a wrong RelayState is refused, and the failed
//! login is published with the SPID error code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use snodo_connectors::identity::contract::{LOGIN_FAILED, LOGIN_SUCCEEDED, TICKET_REDEEM};
use snodo_connectors::identity::{
    FederationSp, IdentityService, IdentitySettings, IdpRegistry, PendingLogin, TenantSp, TicketRedeemer,
    read_metadata,
};
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::state::{MemoryStore, SharedStore, StateSettings};
use snodo_queue::envelope::Envelope;
use snodo_queue::runtime::{Command, CommandHandler, ErrorCode};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::unique_names;
use snodo_queue::topology::{BindingSpec, QueueSpec, Topology};
use snodo_queue::{Names, SharedTransport};
use snodo_security::dsig::SigningKey;
use snodo_security::saml::Federation;

const TENANT: &str = "015146";
const RELAY: &str = "fixturerelaystate";
const RETURN: &str = "https://servizi.comune.example.it/area-personale";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/spid/fixtures")
}

struct Harness {
    url: String,
    store: SharedStore,
    transport: SharedTransport,
    inbox: String,
    http: reqwest::Client,
    index: Value,
}

async fn harness() -> Harness {
    let index: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("index.json")).expect("index.json"))
            .expect("json");
    let transport = EmbeddedTestBroker::new().connect().await;
    let names: Names = unique_names();
    let inbox = format!("{}.identity-inbox", names.prefix);
    let mut topology = Topology::snodo(&names, &[], &[], &[]);
    topology.queues.push(QueueSpec::quorum(inbox.clone()));
    topology.bindings.push(BindingSpec {
        exchange: names.events_exchange(),
        queue: inbox.clone(),
        pattern: "identity.#".into(),
    });
    transport.declare(&topology).await.expect("declare");
    let store: SharedStore = Arc::new(MemoryStore::new(StateSettings::with_prefix(&names.prefix)));
    let registry = Arc::new(IdpRegistry::new());
    let metadata = std::fs::read(fixtures().join("idp-metadata.xml")).expect("idp metadata");
    registry.replace(
        Federation::Spid,
        read_metadata("idp-metadata.xml", &metadata, None).expect("the fixture IdP metadata reads"),
    );
    let dev = snodo_security::devpki::shared_for_tests().sp_signing();
    let key = SigningKey::new(
        dev.identity.key().clone(),
        Some(dev.identity.certificate().clone()),
    );
    let now: DateTime<Utc> = index["fixed_now_utc"].as_str().unwrap().parse().unwrap();
    let service = Arc::new(IdentityService {
        tenants: vec![TenantSp {
            tenant: TENANT.into(),
            acs_url: index["acs_url"].as_str().unwrap().into(),
            slo_url: "https://comune.example.it/spid/slo".into(),
            return_urls: vec!["https://servizi.comune.example.it/".into()],
            spid: Some(FederationSp {
                federation: Federation::Spid,
                entity_id: index["sp_entity_id"].as_str().unwrap().into(),
                key,
                metadata: Arc::new(String::new()),
            }),
            cie: None,
            registry,
            minimum_level: snodo_security::saml::SpidLevel::L1,
        }],
        store: store.clone(),
        publisher: InboundPublisher::new(transport.clone(), &names, "identity"),
        clock: Arc::new(move || now),
        settings: IdentitySettings::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Harness {
        url: format!("http://{address}/identity/{TENANT}/acs"),
        store,
        transport,
        inbox,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        index,
    }
}

impl Harness {
    async fn seed(&self) {
        PendingLogin {
            tenant: TENANT.into(),
            federation: "spid".into(),
            idp: self.index["idp_entity_id"].as_str().unwrap().into(),
            request_id: self.index["authn_request_id"].as_str().unwrap().into(),
            issue_instant: self.index["authn_request_issue_instant"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            level: 2,
            comparison: "minimum".into(),
            return_url: RETURN.into(),
            relay_state: RELAY.into(),
            retry_of: None,
        }
        .store(&self.store, Duration::from_secs(600))
        .await
        .expect("seeded");
    }

    async fn post(&self, file: &str, relay: &str) -> reqwest::Response {
        let xml = std::fs::read(fixtures().join("responses").join(file)).expect("fixture");
        let form = format!(
            "SAMLResponse={}&RelayState={relay}",
            snodo_security::saml::redirect::url_encode(&openssl::base64::encode_block(&xml))
        );
        self.http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("the ACS answers")
    }

    async fn events(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(d) = self.transport.get(&self.inbox).await.expect("get") {
            let envelope = Envelope::parse(&d.message).expect("an envelope");
            out.push((
                envelope.kind.as_str().to_owned(),
                serde_json::from_slice(&d.message.body).unwrap(),
            ));
            d.ack().await.expect("ack");
        }
        out
    }
}

fn redeem(ticket: &str, tenant: &str) -> Command {
    let (envelope, message) =
        snodo_queue::testing::harness::command(TICKET_REDEEM, serde_json::json!({ "ticket": ticket }));
    let mut envelope = envelope;
    envelope.tenant = Some(tenant.into());
    Command {
        envelope,
        body: message.body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_response_is_judged_as_spid_sp_test_expects() {
    let h = harness().await;
    let cases = h.index["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 111);
    let (mut accepted, mut refused) = (0, 0);
    let mut silent = Vec::new();
    for case in &cases {
        let file = case["file"].as_str().unwrap();
        h.seed().await;
        let answer = h.post(file, RELAY).await;
        let status = answer.status().as_u16();
        let accepted_here = status == 303;
        match case["expected"].as_str().unwrap() {
            "accept" => assert!(
                accepted_here,
                "case {file}: expected accept, got HTTP {status}: {}",
                answer.text().await.unwrap()
            ),
            "reject" => assert!(
                [400, 401, 403, 422, 500].contains(&status),
                "case {file}: expected a refusal status, got HTTP {status}"
            ),
            _ => assert!(accepted_here || status == 403, "case {file}: HTTP {status}"),
        }
        let events = h.events().await;
        if events.is_empty() {
            // Unsolicited: nothing names our pending request, so nothing is published.
            assert!(!accepted_here, "case {file}");
            silent.push(case["test"].as_str().unwrap().to_owned());
            refused += 1;
            let _ = h
                .store
                .take_token("identity-request", h.index["authn_request_id"].as_str().unwrap())
                .await;
            continue;
        }
        assert_eq!(events.len(), 1, "case {file}: one event per login attempt");
        if accepted_here {
            accepted += 1;
            assert_eq!(events[0].0, LOGIN_SUCCEEDED);
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let ticket = events[0].1["ticket"].as_str().unwrap();
            assert_eq!(location, format!("{RETURN}?ticket={ticket}"));
        } else {
            refused += 1;
            assert_eq!(events[0].0, LOGIN_FAILED, "case {file}");
        }
        // A refused case may leave the request unconsumed (refused before lookup): clear it.
        let _ = h
            .store
            .take_token("identity-request", h.index["authn_request_id"].as_str().unwrap())
            .await;
    }
    assert_eq!((accepted, refused), (7, 104));
    // InResponseTo empty, missing, or another request's: the Response answers no request of ours.
    assert_eq!(silent, ["16", "17", "18"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_yields_a_ticket_redeemed_once_with_the_normalised_attributes() {
    let h = harness().await;
    h.seed().await;
    let answer = h.post("response-1.xml", RELAY).await;
    assert_eq!(answer.status().as_u16(), 303);
    let events = h.events().await;
    let (kind, body) = &events[0];
    assert_eq!(kind, LOGIN_SUCCEEDED);
    assert_eq!(body["federation"], "spid");
    assert_eq!(body["idp"], "https://localhost:8443");
    assert!(body["level"].as_u64().unwrap() >= 2);
    let fiscal = body["attributes"]["fiscalNumber"].as_str().expect("fiscalNumber");
    assert!(
        !fiscal.starts_with("TINIT-") && fiscal.len() == 16,
        "normalised codice fiscale"
    );
    if let Some(date) = body["attributes"]["dateOfBirth"].as_str() {
        assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok());
    }
    let ticket = body["ticket"].as_str().unwrap();
    let handler = TicketRedeemer {
        store: h.store.clone(),
    };
    let refused = handler
        .handle(&redeem(ticket, "058091"))
        .await
        .expect_err("another tenant");
    assert_eq!(refused.code, ErrorCode::Rejected);
    // The wrong tenant's attempt took the ticket: a ticket is one attempt, not one success.
    let again = handler
        .handle(&redeem(ticket, TENANT))
        .await
        .expect_err("second redemption");
    assert_eq!(again.code, ErrorCode::Rejected);

    // A fresh login: redeemed by its tenant once, then refused.
    h.seed().await;
    let answer = h.post("response-31.xml", RELAY).await;
    assert_eq!(answer.status().as_u16(), 303);
    let ticket = h.events().await[0].1["ticket"].as_str().unwrap().to_owned();
    let login = handler
        .handle(&redeem(&ticket, TENANT))
        .await
        .expect("first redemption");
    assert_eq!(login["federation"], "spid");
    assert!(login.get("ticket").is_none());
    let second = handler
        .handle(&redeem(&ticket, TENANT))
        .await
        .expect_err("second redemption");
    assert_eq!(second.code, ErrorCode::Rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_response_and_a_wrong_relay_state_are_refused() {
    let h = harness().await;
    h.seed().await;
    assert_eq!(h.post("response-1.xml", RELAY).await.status().as_u16(), 303);
    // Same Response again, even with its request seeded anew: the Assertion ID is remembered.
    h.seed().await;
    let replay = h.post("response-1.xml", RELAY).await;
    assert_eq!(replay.status().as_u16(), 403);
    // Without a pending request: unsolicited, and nothing is published for it.
    let unsolicited = h.post("response-1.xml", RELAY).await;
    assert_eq!(unsolicited.status().as_u16(), 403);
    let events = h.events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, LOGIN_FAILED);
    assert_eq!(events[1].1["reason"], "replayed");

    h.seed().await;
    let wrong = h.post("response-95.xml", "anotherrelaystate").await;
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(h.events().await[0].1["reason"], "invalid_response");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_error_is_explained_in_italian_and_published_with_its_code() {
    let h = harness().await;
    let case = h.index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["test"] == "107")
        .expect("case 107 (nr22)")
        .clone();
    h.seed().await;
    let answer = h.post(case["file"].as_str().unwrap(), RELAY).await;
    assert_eq!(answer.status().as_u16(), 403);
    let page = answer.text().await.unwrap();
    assert!(page.contains("consenso") && page.contains("codice 22"), "{page}");
    let events = h.events().await;
    assert_eq!(events[0].0, LOGIN_FAILED);
    assert_eq!(events[0].1["reason"], "idp_error");
    assert_eq!(events[0].1["spid_error_code"], 22);
}
