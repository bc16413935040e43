//! The ANPR simulator: the SOAP services a comune calls (platform notes §1.2, paths of the official
//! example client), on the shared framework (admin API, faults, recorder, clock), registered as
//! `anpr` on port 9441 (DESIGN §6).
//!
//! - `soap`: one request judged as ANPR does — WS-Security, client certificate, official XSD, sender,
//!   `idOperazioneComune` rules — then answered;
//! - `services`: 3002, 6001 (a real PDF, `certificates`), 5005, 1001, 2001, 4002/4005;
//! - `registry`: the shared synthetic population behind an overlay of registered changes, and the
//!   idempotency bookkeeping; `jobs`: the asynchronous 4002 operations;
//! - `push`: notifications pushed to the comune's `/anpr/{tenant}/notifications` with ANPR's retries;
//!   `mailbox`: the same notifications kept for the 3003 pull;
//! - `pdnd` (with `jwt`): the PDND voucher endpoint and the ANPR e-services behind GovWay's checks;
//! - `pdf`: certificates as PDF files.
//!
//! Every service path accepts every service (ANPR routes by path; the simulator by payload, so a
//! client with a wrong path still gets a meaningful answer rather than a 404).

mod birth_parents;
mod certificates;
mod jobs;
mod jwt;
mod mailbox;
pub mod pdf;
pub mod pdnd;
pub mod push;
pub mod registry;
mod schemas;
mod services;
mod soap;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::TimeDelta;
use openssl::x509::X509;
use parking_lot::Mutex;
use snodo_mappings::anpr::{AnprMessage, Outcome, Rejection, RequestHeader, ResponseHeader};
use snodo_mappings::soap::FaultCode;
use snodo_security::devpki::{DevPki, DevTenant, cached_key};
use snodo_security::dsig::{SignaturePolicy, TrustedKeys};
use snodo_security::tls::{TlsClientConfig, build_client};
use snodo_security::wssec::RequestVerifier;

pub use pdnd::PdndClient;
pub use push::{Notification, PushAttempt, RetryPolicy};
pub use registry::AnprRegistry;
pub use schemas::default_schema_dir;
pub use soap::{CONNECTION_NAMESPACE, ID_NOT_INCREASING};

use crate::framework::{PlatformError, Registration, RequestView, SimClock, Simulator};
use crate::population::{Population, PopulationConfig};
use jobs::BulkJobs;
use services::Service;

/// The system name (`snodo simulate anpr`).
pub const NAME: &str = "anpr";
/// DESIGN §6.
pub const DEFAULT_PORT: u16 = 9441;
/// The shared population: the IdP simulator's (seed 1, 10,000 residents of Milano), so a SPID login
/// and an ANPR lookup agree about a person.
pub const POPULATION_SEED: u64 = crate::identity::POPULATION_SEED;
pub const POPULATION_RESIDENTS: u32 = crate::identity::POPULATION_RESIDENTS;

/// The service paths (`WSTypeHandler.java` of the official example client, platform notes §1.2),
/// and the connectivity test's.
pub const SERVICE_PATHS: [&str; 7] = [
    "/ANPR1000ServiziIscrizione/AnprService1000",
    "/ANPR2000ServiziCancellazione/AnprService2000",
    "/ANPR3000ServiziConsultazione/AnprService3000",
    "/ANPR4000ServiziEstrazione/AnprService4000",
    "/ANPR5000ServiziMutazione/AnprService5000",
    "/ANPR6001ServizioCertificazione/AnprService6001",
    "/ANPRTestConn/TestConn",
];

/// People per 4005 page: a full 4002 chunk (2,000 codes) comes back in four pages.
pub const DEFAULT_BULK_PAGE_SIZE: usize = 500;

/// The PDND voucher endpoint.
pub const PDND_TOKEN_PATH: &str = "/pdnd/token.oauth2";

/// The line in [`crate::framework::registry::REGISTERED`].
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    summary: "ANPR: SOAP services 3002, 6001, 5005, 1001, 2001, 4002/4005, notification push; PDND voucher and e-services C030/C020/C021/C001",
    build,
};

#[derive(Debug, thiserror::Error)]
pub enum AnprSimulatorError {
    #[error("the official ANPR schema {file} does not compile: {source}")]
    Schema {
        file: String,
        #[source]
        source: snodo_security::schema::SchemaError,
    },
    #[error("the development PKI for the ANPR simulator: {0}")]
    DevPki(#[from] snodo_security::devpki::DevPkiError),
    #[error("a trusted comune certificate is not usable: {0}")]
    TrustedCertificate(#[from] snodo_security::dsig::SignatureError),
    #[error("the population: {0}")]
    Population(#[from] crate::population::PopulationError),
    #[error("OpenSSL: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("the HTTPS client for notification pushes: {0}")]
    PushClient(#[from] snodo_security::tls::TlsError),
}

/// How the simulator is set up.
#[derive(Clone)]
pub struct AnprSettings {
    /// `soap/comuni/` of the official schema set (v9.0.3).
    pub schema_dir: PathBuf,
    /// Certificates of the comuni whose requests are accepted (the message, the SAML assertion and
    /// `IdPostazioneFirmato` must be signed with one of them).
    pub trusted_comuni: Vec<X509>,
    /// Whether a TLS client certificate `<ISTAT>-CO-…` of the `IdSede` comune is required (false
    /// only for plain-HTTP tests of other layers).
    pub require_client_certificate: bool,
    /// The `tipoInvio` this environment accepts (`TEST`: the simulator stands for the test environment).
    pub tipo_invio: String,
    /// How long a 4002 chunk takes on the simulator clock.
    pub bulk_processing: TimeDelta,
    /// How many people one 4005 page carries: a chunk's results beyond it come in further pages
    /// (`progressivoCorrente` of `progressivoTotale`), each asked for by its own 4005.
    pub bulk_page_size: usize,
    /// Base URL of the comuni's inbound listener for pushes (`None`: no pushes).
    pub push_base_url: Option<String>,
    /// Whether the push target's port moves with the simulator's own (reached on its default port +
    /// n, it pushes to `push_base_url`'s port + n): true where `snodo up --listener-offset` or `snodo
    /// simulate --port-offset` launch it, since every listener moves by the same offset there.
    pub push_follows_port_offset: bool,
    /// The TLS client that pushes (trusting the comune's server certificate).
    pub push_client: reqwest::Client,
    pub push_policy: RetryPolicy,
    /// The PDND clients the voucher endpoint knows.
    pub pdnd_clients: Vec<PdndClient>,
}

impl AnprSettings {
    /// The development set-up: the development PKI's ANPR certificate trusted, pushes to `snodo up`'s
    /// inbound listener (`https://127.0.0.1:7443`) with the development client certificate.
    pub fn development(pki: &DevPki) -> Result<AnprSettings, AnprSimulatorError> {
        let client = build_client(
            &TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.tls_client().identity.clone()),
        )?;
        Ok(AnprSettings {
            schema_dir: default_schema_dir(),
            trusted_comuni: vec![pki.anpr_client().identity.certificate().clone()],
            require_client_certificate: true,
            tipo_invio: "TEST".into(),
            bulk_processing: TimeDelta::seconds(2),
            bulk_page_size: DEFAULT_BULK_PAGE_SIZE,
            push_base_url: Some("https://127.0.0.1:7443".into()),
            push_follows_port_offset: false,
            push_client: client,
            push_policy: RetryPolicy::default(),
            pdnd_clients: vec![PdndClient::development(
                &DevTenant::default().istat,
                pki.anpr_client().identity.certificate().public_key()?,
            )],
        })
    }
}

/// What the handlers share.
pub(crate) struct Shared {
    settings: AnprSettings,
    verifier: RequestVerifier,
    schemas: schemas::Schemas,
    registry: AnprRegistry,
    jobs: BulkJobs,
    clock: SimClock,
    pusher: Arc<push::Pusher>,
    mailbox: mailbox::Mailbox,
    pdnd: pdnd::Pdnd,
}

impl Shared {
    /// Announces a 4002 operation's results with an N030 push when they are ready.
    fn schedule_n030(&self, job_id: &str) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        self.notify(
            Notification {
                comune: job.comune.clone(),
                kind: "N030".into(),
                id_operazione_anpr: job.notification_id.clone(),
                content: services::notification_content(&job.notification_id, job_id),
            },
            job.ready_at,
        );
    }

    /// A notification for a comune from simulator time `at`: kept for the 3003 pull and pushed.
    fn notify(&self, notification: Notification, at: chrono::DateTime<chrono::Utc>) {
        self.mailbox.deposit(at, notification.clone());
        self.pusher.schedule(notification, at);
    }
}

/// The ANPR simulator.
pub struct AnprSimulator {
    shared: Arc<Shared>,
}

/// The development population, built once per process.
pub fn population() -> Arc<Population> {
    static POPULATION: OnceLock<Arc<Population>> = OnceLock::new();
    POPULATION
        .get_or_init(|| {
            Arc::new(
                Population::build(PopulationConfig::development(
                    POPULATION_SEED,
                    POPULATION_RESIDENTS,
                ))
                .expect("the development population builds"),
            )
        })
        .clone()
}

impl AnprSimulator {
    pub fn new(
        clock: SimClock,
        settings: AnprSettings,
        population: Arc<Population>,
    ) -> Result<AnprSimulator, AnprSimulatorError> {
        let trusted = TrustedKeys::from_certificates(settings.trusted_comuni.clone())?;
        let verifier = RequestVerifier::new(SignaturePolicy::anpr_ws_security(), trusted.clone(), trusted)
            .with_workstations(settings.trusted_comuni.clone());
        let pusher = Arc::new(push::Pusher {
            base_url: settings.push_base_url.clone(),
            port_offset: settings
                .push_follows_port_offset
                .then(|| push::PortOffset::new(DEFAULT_PORT)),
            client: settings.push_client.clone(),
            policy: settings.push_policy,
            clock: clock.clone(),
            attempts: Mutex::new(Vec::new()),
        });
        Ok(AnprSimulator {
            shared: Arc::new(Shared {
                pdnd: pdnd::Pdnd::new(
                    settings.pdnd_clients.clone(),
                    cached_key("anpr-simulator-pdnd-voucher", 2048)?,
                ),
                mailbox: mailbox::Mailbox::default(),
                schemas: schemas::Schemas::compile(&settings.schema_dir)?,
                settings,
                verifier,
                registry: AnprRegistry::new(population),
                jobs: BulkJobs::default(),
                clock,
                pusher,
            }),
        })
    }

    /// The registry, for tests and the demo that inspect it.
    pub fn registry(&self) -> &AnprRegistry {
        &self.shared.registry
    }

    /// A notification now: kept for the 3003 pull and pushed (retried by the policy).
    pub fn notify(&self, notification: Notification) {
        self.shared.notify(notification, self.shared.clock.now());
    }

    /// Every push attempt so far.
    pub fn push_attempts(&self) -> Vec<PushAttempt> {
        self.shared.pusher.attempts.lock().clone()
    }

    fn build_development(clock: SimClock) -> Result<AnprSimulator, AnprSimulatorError> {
        let pki = DevPki::ensure(&crate::pagopa::settings::default_pki_dir(), &DevTenant::default())?;
        let mut settings = AnprSettings::development(&pki)?;
        settings.push_follows_port_offset = true;
        AnprSimulator::new(clock, settings, population())
    }
}

fn build(clock: SimClock) -> Arc<dyn Simulator> {
    Arc::new(AnprSimulator::build_development(clock).expect("the ANPR simulator's development set-up"))
}

impl Simulator for AnprSimulator {
    fn name(&self) -> &str {
        NAME
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }

    fn router(&self) -> Router {
        let mut router = Router::new();
        for path in SERVICE_PATHS {
            router = router.route(path, post(soap::serve));
        }
        router
            .route(PDND_TOKEN_PATH, post(pdnd::token))
            .route(
                "/govway/rest/in/MinInternoPortaANPR-PDND/{eservice}/v1/anpr-service-e002",
                post(pdnd::eservice),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                observe_port,
            ))
            .with_state(self.shared.clone())
    }

    fn admin_router(&self) -> Option<Router> {
        Some(
            Router::new()
                .route("/admin/anpr/pushes", get(pushes))
                .route("/admin/anpr/notifications", post(push_now))
                .layer(axum::middleware::from_fn_with_state(
                    self.shared.clone(),
                    observe_port,
                ))
                .with_state(self.shared.clone()),
        )
    }

    fn reset(&self) {
        self.shared.registry.reset();
        self.shared.jobs.clear();
        self.shared.pusher.attempts.lock().clear();
        self.shared.pdnd.reset();
        self.shared.mailbox.clear();
    }

    /// The request payload's local name (`Richiesta3002`); for PDND, `token` and the e-service code
    /// (`C020`). Fault rules and recordings use these names.
    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        let path = request.uri.path();
        if path == PDND_TOKEN_PATH {
            return Some("token".into());
        }
        if let Some(rest) = path.strip_prefix("/govway/rest/in/MinInternoPortaANPR-PDND/") {
            return rest.get(..4).map(str::to_owned);
        }
        request.soap_operation()
    }

    /// A `rispostaKO` with the fault's code. The fault layer answers before the request is read, so
    /// the header cannot echo the request: it carries zero ids and the population's comune.
    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        let Some(service) = operation.and_then(Service::of_request) else {
            return soap::fault(FaultCode::Server, &error.message, None);
        };
        let header = RequestHeader {
            id_operazione_comune: "0".into(),
            cod_mittente: self.shared.registry.city_istat().to_owned(),
            cod_destinatario: snodo_mappings::anpr::header::COD_DESTINATARIO.into(),
            operazione_richiesta: service.code().into(),
            data_ora_richiesta: self.shared.clock.now().to_rfc3339(),
            tipo_operazione: "C".into(),
            tipo_invio: "TEST".into(),
            data_decorrenza: None,
        };
        let rejection = Rejection {
            header: ResponseHeader::answering(
                &header,
                &self.shared.registry.next_operation_id(),
                Outcome::Rejected,
            ),
            errors: vec![AnprMessage::error(&error.code, &error.message)],
        };
        match service.rejection(&rejection) {
            Ok(payload) => soap::ok(&payload),
            Err(e) => soap::fault(FaultCode::Server, &e.to_string(), None),
        }
    }
}

/// Learns, from the port requests name, how far `--listener-offset` moved this simulator (and so
/// the comune's inbound listener it pushes to).
async fn observe_port(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(offset) = &shared.pusher.port_offset {
        let host = request
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        offset.observe(host);
    }
    next.run(request).await
}

async fn pushes(State(shared): State<Arc<Shared>>) -> Response {
    Json(serde_json::json!({"pushes": shared.pusher.attempts.lock().clone()})).into_response()
}

/// `POST /admin/anpr/notifications {"comune", "kind", "id_operazione_anpr"?, "content"?}`: pushes one
/// notification now, as ANPR would after an event in another comune (an N010 for a resident who
/// moved away, for instance).
async fn push_now(State(shared): State<Arc<Shared>>, Json(body): Json<serde_json::Value>) -> Response {
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(comune), Some(kind)) = (text("comune"), text("kind")) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "give comune (ISTAT code) and kind (e.g. N010)"})),
        )
            .into_response();
    };
    if comune.len() != 6 || !comune.bytes().all(|b| b.is_ascii_digit()) || kind.len() != 4 {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "comune is 6 digits, kind 4 characters"})),
        )
            .into_response();
    }
    let id = text("id_operazione_anpr").unwrap_or_else(|| shared.registry.next_operation_id());
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "id_operazione_anpr is digits"})),
        )
            .into_response();
    }
    let notification = Notification {
        comune,
        kind,
        id_operazione_anpr: id.clone(),
        content: text("content")
            .unwrap_or_else(|| format!("<notifica><idOperazioneANPR>{id}</idOperazioneANPR></notifica>")),
    };
    shared.notify(notification, shared.clock.now());
    (
        axum::http::StatusCode::ACCEPTED,
        Json(serde_json::json!({"id_operazione_anpr": id})),
    )
        .into_response()
}
