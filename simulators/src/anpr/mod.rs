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
/// PDND tokens are checked with the security crate's JWS, the one the connector signs with.
pub use snodo_security::jws as jwt;
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

use crate::framework::{
    BuildContext, BuildError, DEVELOPMENT_INBOUND_PORT, PlatformError, PortPastRange, Registration,
    RequestView, SimClock, Simulator,
};
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
    #[error("the comune's inbound listener for pushes: {0}")]
    PushTarget(#[from] PortPastRange),
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
    /// Base URL of the comuni's inbound listener for pushes (`None`: no pushes). Where `snodo up
    /// --listener-offset` or `snodo simulate --port-offset` launch the simulator, already moved by the
    /// launch's offset ([`AnprSettings::for_launch`]).
    pub push_base_url: Option<String>,
    /// The TLS client that pushes (trusting the comune's server certificate).
    pub push_client: reqwest::Client,
    pub push_policy: RetryPolicy,
    /// The PDND clients the voucher endpoint knows.
    pub pdnd_clients: Vec<PdndClient>,
}

impl AnprSettings {
    /// The development set-up: the development PKI's ANPR certificate trusted, pushes to `snodo up`'s
    /// inbound listener (`https://127.0.0.1:7443`, before any offset) with the development client
    /// certificate.
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
            push_base_url: Some(format!("https://127.0.0.1:{DEVELOPMENT_INBOUND_PORT}")),
            push_client: client,
            push_policy: RetryPolicy::default(),
            pdnd_clients: vec![PdndClient::development(
                &DevTenant::default().istat,
                pki.anpr_client().identity.certificate().public_key()?,
            )],
        })
    }

    /// The development set-up as a launch runs it: the PKI of the launch's directory (the one the
    /// connectors beside it use), pushes to the inbound listener moved by the launch's offset — known
    /// from the start, so that a push scheduled before any request reached the simulator still goes
    /// to the right port.
    pub fn for_launch(context: &BuildContext) -> Result<AnprSettings, AnprSimulatorError> {
        let pki = DevPki::ensure(&context.pki_dir, &DevTenant::default())?;
        let mut settings = AnprSettings::development(&pki)?;
        settings.push_base_url = Some(context.development_inbound_url()?);
        Ok(settings)
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

    /// The simulator a launch runs: [`AnprSettings::for_launch`] and the development population.
    pub fn for_launch(context: &BuildContext) -> Result<AnprSimulator, AnprSimulatorError> {
        AnprSimulator::new(
            context.clock.clone(),
            AnprSettings::for_launch(context)?,
            population(),
        )
    }
}

fn build(context: &BuildContext) -> Result<Arc<dyn Simulator>, BuildError> {
    Ok(Arc::new(
        AnprSimulator::for_launch(context).map_err(BuildError::new)?,
    ))
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
            .with_state(self.shared.clone())
    }

    fn admin_router(&self) -> Option<Router> {
        Some(
            Router::new()
                .route("/admin/anpr/pushes", get(pushes))
                .route("/admin/anpr/notifications", post(push_now))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A port `7443 + offset` free now, for some non-zero offset.
    fn offset_inbound_listener() -> (std::net::TcpListener, u16) {
        let start = 20_000 + (std::process::id() % 20_000) as u16;
        for offset in (start..start + 2_000).step_by(7) {
            if let Ok(listener) =
                std::net::TcpListener::bind(("127.0.0.1", DEVELOPMENT_INBOUND_PORT + offset))
            {
                return (listener, offset);
            }
        }
        panic!("no free port for the stand-in inbound listener");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_launched_simulator_uses_the_launchs_pki_and_pushes_to_the_moved_port_before_any_request() {
        let pki_dir =
            std::env::temp_dir().join(format!("snodo-anpr-launch-{}", uuid::Uuid::new_v4().simple()));
        let (inbound, offset) = offset_inbound_listener();
        inbound.set_nonblocking(true).unwrap();
        let inbound = tokio::net::TcpListener::from_std(inbound).unwrap();
        let context = BuildContext {
            clock: SimClock::new(),
            pki_dir: pki_dir.clone(),
            port_offset: offset,
        };
        let simulator = AnprSimulator::for_launch(&context).expect("built for the launch");

        let pki = DevPki::ensure(&pki_dir, &DevTenant::default()).unwrap();
        assert!(
            pki.directory().starts_with(&pki_dir),
            "{}",
            pki.directory().display()
        );
        let trusted: Vec<Vec<u8>> = simulator
            .shared
            .settings
            .trusted_comuni
            .iter()
            .map(|c| c.to_der().unwrap())
            .collect();
        assert_eq!(
            trusted,
            vec![pki.anpr_client().identity.certificate().to_der().unwrap()],
            "the comune trusted is the one of the launch's PKI directory"
        );

        // No request has reached the simulator: the push target comes from the launch alone.
        simulator.notify(Notification {
            comune: DevTenant::default().istat,
            kind: "N010".into(),
            id_operazione_anpr: "7001".into(),
            content: "<notifica/>".into(),
        });
        let (connection, _) = tokio::time::timeout(Duration::from_secs(10), inbound.accept())
            .await
            .expect("the push reached the moved port")
            .unwrap();
        drop(connection);
        let attempt = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(attempt) = simulator.push_attempts().into_iter().next() {
                    break attempt;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await
        .expect("the attempt is recorded");
        assert_eq!(
            attempt.url,
            format!(
                "https://127.0.0.1:{}/anpr/{}/notifications",
                DEVELOPMENT_INBOUND_PORT + offset,
                DevTenant::default().istat
            )
        );
        let _ = std::fs::remove_dir_all(&pki_dir);
    }
}
