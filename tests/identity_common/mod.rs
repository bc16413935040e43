//! What the identity connector's tests share: the Service Provider's real router on an ephemeral
//! port (two federations, signed metadata, the development SP key), the IdP simulator in the same
//! process as the identity provider it trusts (its metadata read by the connector's registry, ours
//! registered with it), a browser-like walk through a login (SP login → simulator SSO → simulator
//! login, JSON face → ACS), and the independent judges: `xmlsec1`, `xmllint` and `openssl`.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use snodo_connectors::identity::{
    Clock, FederationSp, IdentityService, IdentitySettings, IdpRegistry, TenantSp, read_metadata,
};
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::state::{MemoryStore, RedisStore, SharedStore, StateSettings};
use snodo_queue::envelope::Envelope;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::unique_names;
use snodo_queue::testing::inbound::GatedTransport;
use snodo_queue::topology::{BindingSpec, QueueSpec, Topology};
use snodo_queue::{Names, SharedTransport};
use snodo_security::dsig::SigningKey;
use snodo_security::saml::redirect::{url_decode, url_encode};
use snodo_security::saml::sp_metadata::{CIE_ATTRIBUTES, SpMetadata};
use snodo_security::saml::{Federation, SpidLevel};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use snodo_simulators::identity::{IdentityProvider, Profile};
use tokio_util::sync::CancellationToken;

mod judges;
// Not every test file runs every judge.
#[allow(unused_imports)]
pub use judges::*;

pub const TENANT: &str = "015146";
pub const RETURN: &str = "https://servizi.comune.example.it/area-personale";
pub const ALLOWED: &str = "https://servizi.comune.example.it/area-personale";

pub fn specs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/spid")
}

/// The development SP signing key (its certificate's `uri` is the demo entity ID).
pub fn sp_key() -> SigningKey {
    let issued = snodo_security::devpki::shared_for_tests().sp_signing();
    SigningKey::new(
        issued.identity.key().clone(),
        Some(issued.identity.certificate().clone()),
    )
}

pub fn sp_certificate_pem() -> Vec<u8> {
    sp_key()
        .certificate()
        .expect("the development SP key has a certificate")
        .to_pem()
        .expect("PEM")
}

/// The IdP simulator, in process, over plain HTTP.
pub struct Simulator {
    pub running: RunningSimulator,
    pub idp: IdentityProvider,
    _stop: tokio_util::sync::DropGuard,
}

impl Simulator {
    pub async fn start() -> Simulator {
        let clock = SimClock::new();
        let idp = IdentityProvider::new(clock.clone());
        let instance = Arc::new(Instance::new(Arc::new(idp.clone()), clock));
        let stop = CancellationToken::new();
        let running = serve(
            instance,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            Transport::Http,
            stop.clone(),
        )
        .await
        .expect("the IdP simulator starts");
        idp.set_base_url(&running.url());
        Simulator {
            running,
            idp,
            _stop: stop.drop_guard(),
        }
    }

    pub fn url(&self, profile: Profile, path: &str) -> String {
        format!("{}/{}/{path}", self.running.url(), profile.path())
    }

    pub fn entity_id(&self, federation: Federation) -> String {
        format!("{}/{}", self.running.url(), profile(federation).path())
    }
}

pub fn profile(federation: Federation) -> Profile {
    match federation {
        Federation::Spid => Profile::Spid,
        Federation::CieId => Profile::Cie,
    }
}

pub fn federation_path(federation: Federation) -> &'static str {
    match federation {
        Federation::Spid => "spid",
        Federation::CieId => "cie",
    }
}

/// The SP under test, with the simulator it trusts.
pub struct Sp {
    pub base: String,
    pub store: SharedStore,
    pub transport: SharedTransport,
    pub names: Names,
    pub inbox: String,
    pub service: Arc<IdentityService>,
    pub sim: Simulator,
    /// No redirects followed: the tests look at every hop.
    pub http: reqwest::Client,
}

#[derive(Default)]
pub struct SpOptions {
    pub settings: IdentitySettings,
    pub clock: Option<Clock>,
    /// The broker names to publish under (the inbound suite declares its own); fresh ones otherwise.
    pub names: Option<Names>,
    /// Return URL prefixes allowed besides [`ALLOWED`] (a page a real browser can load).
    pub return_urls: Vec<String>,
    /// The tenant's `minimum_level`; SpidL1 (no floor) when absent.
    pub minimum_level: Option<SpidLevel>,
}

pub fn entity_id(base: &str, federation: Federation) -> String {
    format!("{base}/identity/{TENANT}/{}", federation_path(federation))
}

pub fn metadata_for(base: &str, federation: Federation) -> SpMetadata {
    SpMetadata {
        federation,
        entity_id: entity_id(base, federation),
        acs_url: format!("{base}/identity/{TENANT}/acs"),
        slo_url: format!("{base}/identity/{TENANT}/slo"),
        organization_name: "Comune di Milano".into(),
        organization_display_name: "Comune di Milano".into(),
        organization_url: "https://www.comune.milano.it".into(),
        ipa_code: "c_f205".into(),
        contact_email: "servizi.online@comune.example.it".into(),
        municipality: "F205".into(),
        service_name: "Servizi online del Comune di Milano".into(),
        attributes: match federation {
            Federation::Spid => snodo_connectors::identity::setup::SPID_ATTRIBUTES.to_vec(),
            Federation::CieId => CIE_ATTRIBUTES.to_vec(),
        },
    }
}

impl Sp {
    /// The SP on `transport` and `store`, trusting a fresh simulator (registered with it both ways).
    pub async fn start(transport: SharedTransport, store: Option<SharedStore>, options: SpOptions) -> Sp {
        let names = options.names.clone().unwrap_or_else(unique_names);
        let inbox = format!("{}.identity-inbox", names.prefix);
        let mut topology = Topology::snodo(&names, &[], &[], &[]);
        topology.queues.push(QueueSpec::quorum(inbox.clone()));
        topology.bindings.push(BindingSpec {
            exchange: names.events_exchange(),
            queue: inbox.clone(),
            pattern: "identity.#".into(),
        });
        transport.declare(&topology).await.expect("declare");
        let store = store.unwrap_or_else(|| {
            Arc::new(MemoryStore::new(StateSettings::with_prefix(&names.prefix))) as SharedStore
        });
        let sim = Simulator::start().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let registry = Arc::new(IdpRegistry::new());
        for federation in [Federation::Spid, Federation::CieId] {
            let document = http
                .get(sim.url(profile(federation), "metadata"))
                .send()
                .await
                .expect("IdP metadata")
                .bytes()
                .await
                .expect("body");
            registry.replace(
                federation,
                read_metadata("simulator", &document, None).expect("the simulator's metadata reads"),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let key = sp_key();
        let federation_sp = |federation| {
            let metadata = metadata_for(&base, federation)
                .sign(&key)
                .expect("metadata signs");
            FederationSp {
                federation,
                entity_id: entity_id(&base, federation),
                key: key.clone(),
                metadata: Arc::new(metadata),
            }
        };
        let tenant = TenantSp {
            tenant: TENANT.into(),
            acs_url: format!("{base}/identity/{TENANT}/acs"),
            slo_url: format!("{base}/identity/{TENANT}/slo"),
            return_urls: std::iter::once(ALLOWED.to_owned())
                .chain(options.return_urls.iter().cloned())
                .collect(),
            spid: Some(federation_sp(Federation::Spid)),
            cie: Some(federation_sp(Federation::CieId)),
            registry,
            minimum_level: options.minimum_level.unwrap_or(SpidLevel::L1),
        };
        for federation in [Federation::Spid, Federation::CieId] {
            let reply = http
                .post(sim.url(profile(federation), "sp-metadata"))
                .body(tenant.federation(federation).unwrap().metadata.as_ref().clone())
                .send()
                .await
                .expect("registration answered");
            assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap_or_default());
        }
        let service = Arc::new(IdentityService {
            tenants: vec![tenant],
            store: store.clone(),
            publisher: InboundPublisher::new(transport.clone(), &names, "identity"),
            clock: options
                .clock
                .unwrap_or_else(snodo_connectors::identity::system_clock),
            settings: options.settings,
        });
        let router = service.clone().router();
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        Sp {
            base,
            store,
            transport,
            names,
            inbox,
            service,
            sim,
            http,
        }
    }

    /// The SP on an embedded broker whose link the test cuts and restores (`GatedTransport::set_down`),
    /// giving up on storing an event after half a second so that a cut link answers quickly; on
    /// `store` (in memory when `None`).
    pub async fn start_behind_gate(store: Option<SharedStore>) -> (Sp, Arc<GatedTransport>) {
        let gated = Arc::new(GatedTransport::new(EmbeddedTestBroker::new().connect().await));
        let settings = IdentitySettings {
            store_budget: std::time::Duration::from_millis(500),
            ..IdentitySettings::default()
        };
        let options = SpOptions {
            settings,
            ..SpOptions::default()
        };
        let sp = Sp::start(gated.clone(), store, options).await;
        (sp, gated)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/identity/{TENANT}/{path}", self.base)
    }

    /// `GET /login` with these query fields (values URL-encoded here).
    pub async fn login(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        let query = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.http
            .get(format!("{}?{query}", self.url("login")))
            .send()
            .await
            .expect("the login endpoint answers")
    }

    /// A login's standard query for `federation` at level 2.
    pub fn login_fields(&self, federation: Federation, binding: &str) -> Vec<(&'static str, String)> {
        vec![
            ("federation", federation_path(federation).to_owned()),
            ("idp", self.sim.entity_id(federation)),
            ("level", "2".to_owned()),
            ("return", RETURN.to_owned()),
            ("binding", binding.to_owned()),
        ]
    }

    pub async fn start_login(&self, federation: Federation, binding: &str) -> reqwest::Response {
        let fields = self.login_fields(federation, binding);
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.login(&borrowed).await
    }

    /// The events published so far on the inbox, acknowledged: (type, message_id, body).
    pub async fn events(&self) -> Vec<(String, uuid::Uuid, Value)> {
        let mut out = Vec::new();
        while let Some(d) = self.transport.get(&self.inbox).await.expect("get") {
            let envelope = Envelope::parse(&d.message).expect("an envelope");
            out.push((
                envelope.kind.as_str().to_owned(),
                envelope.message_id,
                serde_json::from_slice(&d.message.body).expect("JSON"),
            ));
            d.ack().await.expect("ack");
        }
        out
    }

    /// Everything the browser does from the SP's login answer up to the form the IdP posts back:
    /// forwards the AuthnRequest to the simulator (either binding), logs in a test user with
    /// `outcome`, and returns the simulator's JSON (`acs_url`, `SAMLResponse`, `RelayState`, …).
    pub async fn through_idp(
        &self,
        federation: Federation,
        sp_answer: reqwest::Response,
        outcome: &str,
    ) -> Value {
        self.through_idp_at(federation, sp_answer, outcome, "2").await
    }

    /// [`Sp::through_idp`], authenticating at `level` (`"1"` keeps an IdP session, for logout).
    pub async fn through_idp_at(
        &self,
        federation: Federation,
        sp_answer: reqwest::Response,
        outcome: &str,
        level: &str,
    ) -> Value {
        let json = "application/json";
        let reply = match sp_answer.status().as_u16() {
            302 => {
                let location = sp_answer.headers()["location"]
                    .to_str()
                    .expect("ASCII")
                    .to_owned();
                self.http
                    .get(location)
                    .header("accept", json)
                    .send()
                    .await
                    .expect("SSO answered")
            }
            200 => {
                let page = sp_answer.text().await.expect("page");
                let form = AutoPost::read(&page);
                self.http
                    .post(&form.action)
                    .header("accept", json)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.body())
                    .send()
                    .await
                    .expect("SSO answered")
            }
            other => panic!(
                "the login answered HTTP {other}: {}",
                sp_answer.text().await.unwrap_or_default()
            ),
        };
        assert_eq!(reply.status(), 200, "the simulator refused the AuthnRequest");
        let answer: Value = reply.json().await.expect("JSON");
        let ticket = answer["ticket"].as_str().expect("a login ticket").to_owned();
        let person = self.first_person().await;
        let reply = self
            .http
            .post(self.sim.url(profile(federation), "login"))
            .header("accept", json)
            .json(&json!({
                "ticket": ticket,
                "fiscal_code": person["fiscal_code"],
                "level": level,
                "outcome": outcome,
            }))
            .send()
            .await
            .expect("login answered");
        assert_eq!(reply.status(), 200);
        reply.json().await.expect("JSON")
    }

    pub async fn first_person(&self) -> Value {
        let reply: Value = self
            .http
            .get(self.sim.url(Profile::Spid, "people?limit=1"))
            .send()
            .await
            .expect("people")
            .json()
            .await
            .expect("JSON");
        reply["people"][0].clone()
    }

    /// Posts the IdP's answer to the ACS, as the browser's auto-submitted form does.
    pub async fn post_to_acs(&self, idp_answer: &Value) -> reqwest::Response {
        let mut body = format!(
            "SAMLResponse={}",
            url_encode(idp_answer["SAMLResponse"].as_str().expect("SAMLResponse"))
        );
        if let Some(relay) = idp_answer["RelayState"].as_str() {
            body.push_str(&format!("&RelayState={}", url_encode(relay)));
        }
        self.http
            .post(idp_answer["acs_url"].as_str().expect("acs_url"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the ACS answers")
    }

    /// Delivers what the simulator answered in JSON (a Redirect URL, or a POST form's fields) to the
    /// SP, as the browser would.
    pub async fn deliver(&self, idp_answer: &Value) -> reqwest::Response {
        if let Some(url) = idp_answer["redirect"].as_str() {
            return self.http.get(url).send().await.unwrap();
        }
        let url = idp_answer["url"]
            .as_str()
            .unwrap_or_else(|| panic!("neither redirect nor form: {idp_answer}"));
        let mut body = Vec::new();
        for name in ["SAMLRequest", "SAMLResponse", "RelayState"] {
            if let Some(value) = idp_answer[name].as_str() {
                body.push(format!("{name}={}", url_encode(value)));
            }
        }
        self.http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
            .send()
            .await
            .unwrap()
    }

    /// A whole successful login; returns the ACS answer.
    pub async fn full_login(&self, federation: Federation, binding: &str) -> reqwest::Response {
        let answer = self.start_login(federation, binding).await;
        let idp = self.through_idp(federation, answer, "success").await;
        self.post_to_acs(&idp).await
    }
}

/// The auto-submitting form of an HTTP-POST page.
pub struct AutoPost {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl AutoPost {
    pub fn read(page: &str) -> AutoPost {
        let attribute = |tag: &str, name: &str| -> Option<String> {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(unescape_html(&tag[start..end]))
        };
        let form_start = page.find("<form").expect("a form");
        let form_tag = &page[form_start..form_start + page[form_start..].find('>').expect("tag end")];
        let action = attribute(form_tag, "action").expect("form action");
        let mut fields = Vec::new();
        let mut rest = &page[form_start..];
        while let Some(i) = rest.find("<input") {
            let tag = &rest[i..i + rest[i..].find('>').expect("tag end")];
            if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
                fields.push((name, value));
            }
            rest = &rest[i + 6..];
        }
        AutoPost { action, fields }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn unescape_html(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The raw (still encoded) `name=value` pairs of a URL's query, in order.
pub fn raw_query(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

pub fn decoded(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| url_decode(v, "query field").expect("URL-encoded"))
}

/// The XML of a Redirect-binding message (base64 of raw DEFLATE).
pub fn inflate_message(encoded: &str) -> String {
    let deflated = openssl::base64::decode_block(encoded).expect("base64");
    let xml = snodo_security::saml::redirect::inflate(&deflated, 1 << 20, "message").expect("inflates");
    String::from_utf8(xml).expect("UTF-8")
}

pub fn fixed_clock(at: DateTime<Utc>) -> Clock {
    Arc::new(move || at)
}

/// The Redis the tests that need one share: `SNODO_TEST_REDIS_URL`, else the local one `scripts/test`
/// starts.
pub fn redis_url() -> String {
    std::env::var("SNODO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix of its own for one test, so that tests sharing the Redis never see each other's
/// requests, assertions or tickets.
pub fn unique_redis_prefix() -> String {
    format!(
        "snodo-identity-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A store on the shared Redis under `prefix`, on a connection of its own (as each Snodo instance
/// has); a test that needs Redis fails here, naming it, when none answers.
pub async fn redis_store(prefix: &str) -> SharedStore {
    let store = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        RedisStore::connect(&redis_url(), StateSettings::with_prefix(prefix)),
    )
    .await
    .expect("Redis answers in time (scripts/test starts it)")
    .unwrap_or_else(|e| panic!("Redis at SNODO_TEST_REDIS_URL is required: {e}"));
    Arc::new(store)
}
