//! Shared by the ANPR simulator tests: the simulator served over real HTTPS (mutual TLS, the
//! development PKI), a client that signs every request the way the connector does
//! (`snodo_security::wssec::RequestSigner` with the comune's certificate `015146-CO-9999`), and
//! helpers to read answers with the connector-side mappings.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use snodo_mappings::anpr::{RequestContext, SendMode};
use snodo_mappings::soap::{Envelope, EnvelopeBuilder, read_envelope};
use snodo_security::devpki::{DevPki, shared_for_tests};
use snodo_security::dsig::{SignaturePolicy, SigningKey};
use snodo_security::pki::Identity;
use snodo_security::tls::{ClientAuth, TlsClientConfig, TlsServer, TlsServerConfig, build_client};
use snodo_security::wssec::{AnprIdentity, RequestSigner};
use snodo_security::xml::Limits;
use snodo_simulators::anpr::{
    AnprSettings, AnprSimulator, PdndClient, RetryPolicy, default_schema_dir, population,
};
use snodo_simulators::framework::{Instance, RunningSimulator, SimClock, Transport, serve};
use tokio_util::sync::CancellationToken;

pub const ISTAT: &str = "015146";
pub const LOOKUP_PATH: &str = "/ANPR3000ServiziConsultazione/AnprService3000";
pub const CERTIFICATE_PATH: &str = "/ANPR6001ServizioCertificazione/AnprService6001";
pub const MUTATION_PATH: &str = "/ANPR5000ServiziMutazione/AnprService5000";
pub const BIRTH_PATH: &str = "/ANPR1000ServiziIscrizione/AnprService1000";
pub const DEATH_PATH: &str = "/ANPR2000ServiziCancellazione/AnprService2000";
pub const BULK_PATH: &str = "/ANPR4000ServiziEstrazione/AnprService4000";
pub const CONNECTION_PATH: &str = "/ANPRTestConn/TestConn";

pub struct Harness {
    pub sim: Arc<AnprSimulator>,
    pub clock: SimClock,
    pub running: RunningSimulator,
    /// Mutual TLS with the comune's certificate `015146-CO-9999`.
    pub client: reqwest::Client,
    pub signer: RequestSigner,
    pub shutdown: CancellationToken,
    next_id: AtomicU64,
}

pub fn pki() -> &'static DevPki {
    shared_for_tests()
}

pub fn comune_key() -> SigningKey {
    let id = &pki().anpr_client().identity;
    SigningKey::new(id.key().clone(), Some(id.certificate().clone()))
}

pub fn signer_with(key: SigningKey) -> RequestSigner {
    RequestSigner::new(
        &SignaturePolicy::anpr_ws_security(),
        key.clone(),
        key,
        AnprIdentity {
            id_sede: ISTAT.into(),
            id_operatore: "SNODO".into(),
            id_postazione: "015146-CO-9999".into(),
            id_applicazione: "SNODO".into(),
            ip_address: "127.0.0.1".into(),
        },
    )
    .expect("signer")
}

pub fn client_with(identity: Identity) -> reqwest::Client {
    build_client(&TlsClientConfig::new(pki().trust_anchors()).with_identity(identity)).expect("client")
}

pub fn settings(push_base_url: Option<String>) -> AnprSettings {
    AnprSettings {
        schema_dir: default_schema_dir(),
        trusted_comuni: vec![pki().anpr_client().identity.certificate().clone()],
        require_client_certificate: true,
        tipo_invio: "TEST".into(),
        bulk_processing: TimeDelta::seconds(60),
        bulk_page_size: snodo_simulators::anpr::DEFAULT_BULK_PAGE_SIZE,
        push_base_url,
        push_client: client_with(pki().tls_client().identity.clone()),
        push_policy: RetryPolicy::default(),
        pdnd_clients: vec![PdndClient::development(
            ISTAT,
            pki().anpr_client().identity.certificate().public_key().unwrap(),
        )],
    }
}

pub async fn start() -> Harness {
    start_with(settings(None)).await
}

pub async fn start_with(settings: AnprSettings) -> Harness {
    let clock = SimClock::new();
    let sim = Arc::new(AnprSimulator::new(clock.clone(), settings, population()).expect("simulator"));
    let instance = Arc::new(Instance::new(sim.clone(), clock.clone()));
    let tls = TlsServer::new(TlsServerConfig::new(
        pki().tls_server().identity.clone(),
        ClientAuth::Optional(pki().trust_anchors()),
    ))
    .expect("tls server");
    let shutdown = CancellationToken::new();
    let running = serve(
        instance,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Transport::Https(tls),
        shutdown.clone(),
    )
    .await
    .expect("serve");
    Harness {
        sim,
        clock,
        running,
        client: client_with(pki().anpr_client().identity.clone()),
        signer: signer_with(comune_key()),
        shutdown,
        next_id: AtomicU64::new(1_000),
    }
}

/// What came back: the HTTP status and the envelope.
pub struct Answer {
    pub status: u16,
    pub text: String,
    pub envelope: Envelope,
}

impl Answer {
    pub fn fault_string(&self) -> Option<String> {
        self.envelope.fault().map(|f| f.string.clone())
    }
}

impl Harness {
    /// A fresh, increasing `idOperazioneComune`.
    pub fn next_id(&self) -> String {
        self.next_id.fetch_add(1, Ordering::Relaxed).to_string()
    }

    pub fn context(&self, id: &str) -> RequestContext {
        let now: DateTime<Utc> = self.clock.now();
        RequestContext {
            id_operazione_comune: id.into(),
            istat_code: ISTAT.into(),
            mode: SendMode::Test,
            requested_at: now.with_timezone(&FixedOffset::east_opt(3600).expect("offset")),
        }
    }

    /// `payload` in an envelope, signed now.
    pub fn signed(&self, payload: &str) -> String {
        let envelope = EnvelopeBuilder::new().body(payload);
        self.signer
            .sign(envelope.as_bytes(), SystemTime::now())
            .expect("signs")
    }

    pub async fn post_raw(&self, client: &reqwest::Client, path: &str, body: String) -> Answer {
        let response = client
            .post(format!("{}{path}", self.running.url()))
            .header("content-type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let envelope = read_envelope(text.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("not a SOAP answer ({e}): {text}"));
        Answer {
            status,
            text,
            envelope,
        }
    }

    /// `payload` signed and sent over mutual TLS with the comune's certificate.
    pub async fn call(&self, path: &str, payload: &str) -> Answer {
        self.post_raw(&self.client, path, self.signed(payload)).await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.running.admin_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin answers");
        response.json().await.expect("admin JSON")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
