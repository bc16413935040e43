//! The SPID and CIE ID identity provider simulator (issue 7; DESIGN §6: port 9443, `/spid/…` and
//! `/cie/…`), on the simulator framework: scripted faults and the recording come from
//! [`crate::framework`], the people from [`crate::population`].
//!
//! Per federation (`{p}` = `spid` or `cie`):
//!
//! | path | does |
//! |---|---|
//! | `GET /{p}/metadata` | the IdP metadata, signed |
//! | `GET /{p}/sso` (HTTP-Redirect), `POST /{p}/sso` (HTTP-POST) | judges the AuthnRequest ([`request`]): signature with the SP metadata's certificate, every SPID rule (CIE's variant); answers the login page, or a diagnostic page (400) listing each broken rule |
//! | `GET /{p}/login?ticket=` / `POST /{p}/login` | the login page; posting it (fields `ticket`, `fiscal_code`, `level` 1–3, default the level asked, `outcome` = `success`, `error:NN` or `case:<id>`) answers, for `success`, the consent page, otherwise the auto-submitting form that posts the chosen Response to the SP's ACS |
//! | `POST /{p}/consent` | the consent page's answer (`ticket`, `decision` = `consent` or `refuse`): the signed Response, or on refusal the `ErrorCode nr22` Response (user denied consent, messaggi-errore.rst; CIE ID's codici-errori-anomalie-utente.csv), posted to the ACS |
//! | `GET`/`POST /{p}/slo` | Single Logout ([`slo`]) |
//! | `POST /{p}/logout` | IdP-initiated logout of a session (`session_index`) |
//! | `POST /{p}/sp-metadata` | registers an SP from its signed metadata |
//! | `GET /{p}/cases`, `GET /{p}/people` | the conformance catalogue and test users, JSON |
//!
//! Browsers get HTML; a client sending `Accept: application/json` gets the same answers as JSON
//! (the ticket, the Response and where it goes, the expected SP verdict), which is how tests and
//! integrators log a user in without a browser. A JSON login skips the consent page: its `consent`
//! field (`given`, the default, or `refused`) is the person's answer.
//!
//! Levels: both profiles authenticate at the level the request asked unless the tester picks
//! another; CIE ID too (its profile has SpidL1–L3: username and password, OTP or the CieID app, the
//! card), so an SP that asked CIE ID for SpidL1 gets SpidL1 back, not an L3 it must also accept.
//!
//! Faults: operations are `{p}.metadata`, `{p}.sso`, `{p}.login`, `{p}.consent`, `{p}.slo`,
//! `{p}.logout`, `{p}.sp-metadata`. A `platform_error` rule on `{p}.login` or `{p}.consent` with
//! `code` `nr19`…`nr30` answers that SPID error Response to the pending request the post names.

pub mod catalogue;
mod handler;
pub mod metadata;
pub mod page;
pub mod request;
pub mod response;
mod slo;
mod sp;
pub mod tree;
mod users;
pub mod xsd;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use parking_lot::{Mutex, RwLock};
use snodo_security::devpki::{Authority, LeafProfile, Validity, cached_key};
use snodo_security::dsig::SigningKey;

pub use catalogue::{CASES, Case, Expected};
pub use request::{AcceptedRequest, Binding, Problem};
pub use sp::{MetadataError, ServiceProvider};
pub use users::{POPULATION_RESIDENTS, POPULATION_SEED};

use crate::framework::{
    BuildContext, BuildError, PlatformError, Registration, RequestView, SimClock, Simulator,
};
use crate::population::Population;

/// DESIGN §6.
pub const DEFAULT_PORT: u16 = 9443;
/// Signed SP metadata files to trust at start, comma-separated.
pub const SP_METADATA_VARIABLE: &str = "SNODO_IDP_SP_METADATA";
/// The base URL the IdP names itself with (entity IDs, endpoints); by default the request's Host.
pub const BASE_URL_VARIABLE: &str = "SNODO_IDP_BASE_URL";
/// PEM files of the IdP's signing key and certificate; by default a development pair made at start.
pub const SIGNING_KEY_VARIABLE: &str = "SNODO_IDP_SIGNING_KEY";
pub const SIGNING_CERT_VARIABLE: &str = "SNODO_IDP_SIGNING_CERT";

/// The federation a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Spid,
    Cie,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Spid, Profile::Cie];

    /// The path segment (`spid`, `cie`).
    pub fn path(self) -> &'static str {
        match self {
            Profile::Spid => "spid",
            Profile::Cie => "cie",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Profile::Spid => "SPID",
            Profile::Cie => "CIE ID",
        }
    }
}

/// The IdP's signing material: its own key and the foreign keys of the catalogue's signature cases.
struct Credentials {
    idp: SigningKey,
    other: SigningKey,
    other_bare: SigningKey,
}

impl Credentials {
    /// From `SNODO_IDP_SIGNING_KEY`/`_CERT` when set, else a development certificate (RSA 3072,
    /// O = "Snodo DEVELOPMENT") issued at start by a throwaway CA.
    fn load() -> Credentials {
        let idp = match (
            std::env::var(SIGNING_KEY_VARIABLE),
            std::env::var(SIGNING_CERT_VARIABLE),
        ) {
            (Ok(key), Ok(cert)) => {
                let read = |path: &str| {
                    std::fs::read(path)
                        .unwrap_or_else(|e| panic!("the IdP simulator cannot read {path}: {e}"))
                };
                SigningKey::from_pem(&read(&key), Some(&read(&cert))).unwrap_or_else(|e| {
                    panic!("{SIGNING_KEY_VARIABLE}/{SIGNING_CERT_VARIABLE} are not a usable key and certificate: {e}")
                })
            }
            _ => development_key(
                "Snodo DEVELOPMENT SPID and CIE IdP simulator",
                "idp-signing",
                3072,
            ),
        };
        let other = development_key(
            "Snodo DEVELOPMENT foreign signer (not in any metadata)",
            "idp-foreign",
            2048,
        );
        let other_bare = SigningKey::new(other.private_key().clone(), None);
        Credentials {
            idp,
            other,
            other_bare,
        }
    }
}

fn development_key(common_name: &str, role: &str, bits: u32) -> SigningKey {
    let validity = Validity::days_from(SystemTime::now(), 365);
    let make = || -> Result<SigningKey, snodo_security::devpki::DevPkiError> {
        let ca = Authority::self_signed(
            "Snodo DEVELOPMENT IdP simulator CA",
            &cached_key("ca", 2048)?,
            validity,
            &[],
        )?;
        let key = cached_key(role, bits)?;
        let certificate = ca.issue(
            &LeafProfile::IdpSigning {
                common_name: common_name.to_owned(),
            },
            &key,
            validity,
        )?;
        Ok(SigningKey::new(key, Some(certificate)))
    };
    make().expect("OpenSSL generates development keys and certificates")
}

/// A request accepted at SSO, waiting for the person to log in.
#[derive(Debug, Clone)]
struct PendingLogin {
    profile: Profile,
    request: AcceptedRequest,
    sp_name: String,
}

/// A person who gave valid credentials and now sees what would be released (the consent page).
#[derive(Debug, Clone)]
struct AwaitingConsent {
    pending: PendingLogin,
    login: response::Login,
}

/// An IdP session (SpidL1 logins, and CIE ID's), for Single Logout.
#[derive(Debug, Clone)]
struct Session {
    profile: Profile,
    sp_entity_id: String,
    name_id: String,
}

struct Inner {
    clock: SimClock,
    credentials: Credentials,
    base_url: RwLock<Option<String>>,
    providers: RwLock<HashMap<(Profile, String), ServiceProvider>>,
    logins: Mutex<HashMap<String, PendingLogin>>,
    /// Under the login's ticket, once its credentials were accepted.
    consents: Mutex<HashMap<String, AwaitingConsent>>,
    sessions: Mutex<HashMap<String, Session>>,
    population: OnceLock<Arc<Population>>,
    /// The SAML protocol schema AuthnRequests are validated against.
    schema: RwLock<Arc<xsd::ProtocolSchema>>,
}

/// The IdP simulator. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct IdentityProvider {
    inner: Arc<Inner>,
}

thread_local! {
    /// The login a request names, noted by [`Simulator::operation`] for
    /// [`Simulator::render_platform_error`]: the framework calls both for one request on one thread
    /// with no await between them, and the error Response must answer *that* pending request.
    static LOGIN_IN_FLIGHT: RefCell<Option<handler::InFlight>> = const { RefCell::new(None) };
}

/// The entry of [`crate::framework::registry::REGISTERED`] (DESIGN §6: `identity`, port 9443).
pub const REGISTRATION: Registration = Registration {
    name: "identity",
    summary: "SPID and CIE ID identity providers (/spid/…, /cie/…): metadata, SSO, login page, SLO, conformance cases",
    build,
};

fn build(context: &BuildContext) -> Result<Arc<dyn Simulator>, BuildError> {
    Ok(Arc::new(IdentityProvider::new(context.clock.clone())))
}

impl IdentityProvider {
    /// The simulator with its credentials, the SPs of `SNODO_IDP_SP_METADATA` (registered for both
    /// federations) and `SNODO_IDP_BASE_URL` if set. Panics when a configured file is unusable:
    /// this runs at start, and an IdP that silently trusts nothing helps no one.
    pub fn new(clock: SimClock) -> IdentityProvider {
        let idp = IdentityProvider {
            inner: Arc::new(Inner {
                clock,
                credentials: Credentials::load(),
                base_url: RwLock::new(std::env::var(BASE_URL_VARIABLE).ok().filter(|u| !u.is_empty())),
                providers: RwLock::new(HashMap::new()),
                logins: Mutex::new(HashMap::new()),
                consents: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
                population: OnceLock::new(),
                schema: RwLock::new(Arc::new(xsd::ProtocolSchema::new(&xsd::default_specs_dir()))),
            }),
        };
        if let Ok(list) = std::env::var(SP_METADATA_VARIABLE) {
            let providers =
                ServiceProvider::from_files(&list).unwrap_or_else(|e| panic!("{SP_METADATA_VARIABLE}: {e}"));
            for sp in providers {
                for profile in Profile::ALL {
                    idp.register(profile, sp.clone());
                }
            }
        }
        idp
    }

    /// Uses `population` for the users (the one the ANPR simulator of the same process uses).
    pub fn with_population(self, population: Arc<Population>) -> IdentityProvider {
        let _ = self.inner.population.set(population);
        self
    }

    /// Validates AuthnRequests with the schemas of this SPID specs directory (`xsd/spid/` under it)
    /// instead of [`xsd::default_specs_dir`].
    pub fn set_specs_dir(&self, dir: &std::path::Path) {
        *self.inner.schema.write() = Arc::new(xsd::ProtocolSchema::new(dir));
    }

    /// Names the IdP with this base URL (e.g. `https://127.0.0.1:9443`) instead of the Host header.
    pub fn set_base_url(&self, url: &str) {
        *self.inner.base_url.write() = Some(url.trim_end_matches('/').to_owned());
    }

    /// Trusts an SP for `profile`.
    pub fn register(&self, profile: Profile, sp: ServiceProvider) {
        self.inner
            .providers
            .write()
            .insert((profile, sp.entity_id.clone()), sp);
    }

    /// The IdP's signing certificate, PEM: what an SP trusts.
    pub fn certificate_pem(&self) -> Vec<u8> {
        self.inner
            .credentials
            .idp
            .certificate()
            .and_then(|c| c.to_pem().ok())
            .unwrap_or_default()
    }

    /// The entity ID of `profile` for requests that reached the IdP with `headers`.
    pub fn entity_id(&self, profile: Profile, headers: &HeaderMap) -> String {
        format!("{}/{}", self.base_url(headers), profile.path())
    }

    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = self.inner.base_url.read().clone() {
            return url;
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:9443");
        format!("https://{host}")
    }

    fn find_sp(&self, profile: Profile, entity_id: &str) -> Option<ServiceProvider> {
        self.inner
            .providers
            .read()
            .get(&(profile, entity_id.to_owned()))
            .cloned()
    }

    fn population(&self) -> Arc<Population> {
        self.inner
            .population
            .get_or_init(|| Arc::new(users::default_population().expect("the development population builds")))
            .clone()
    }

    fn today(&self) -> chrono::NaiveDate {
        self.inner.clock.now().date_naive()
    }
}

impl Simulator for IdentityProvider {
    fn name(&self) -> &str {
        "identity"
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }

    fn router(&self) -> Router {
        let mut router = Router::new();
        for profile in Profile::ALL {
            router = router.nest(
                &format!("/{}", profile.path()),
                handler::routes(self.clone(), profile),
            );
        }
        router
    }

    /// Pending logins and sessions are forgotten; registered SPs stay (they are configuration, as the
    /// metadata AgID distributes to IdPs).
    fn reset(&self) {
        self.inner.logins.lock().clear();
        self.inner.consents.lock().clear();
        self.inner.sessions.lock().clear();
    }

    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        LOGIN_IN_FLIGHT.with(|slot| slot.borrow_mut().take());
        let mut segments = request.uri.path().trim_start_matches('/').splitn(2, '/');
        let first = segments.next()?;
        let profile = Profile::ALL.into_iter().find(|p| p.path() == first)?;
        let action = segments.next()?.trim_end_matches('/');
        let step = match action {
            "login" => Some(handler::Step::Credentials),
            "consent" => Some(handler::Step::Consent),
            _ => None,
        };
        let in_flight = step
            .filter(|_| request.method == axum::http::Method::POST)
            .and_then(|step| {
                let ticket = handler::ticket_field(request.headers, request.body)?;
                Some(handler::InFlight {
                    step,
                    ticket,
                    json: handler::wants_json(request.headers),
                })
            });
        LOGIN_IN_FLIGHT.with(|slot| *slot.borrow_mut() = in_flight);
        Some(format!("{}.{action}", profile.path()))
    }

    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        let in_flight = LOGIN_IN_FLIGHT.with(|slot| slot.borrow_mut().take());
        handler::platform_error(self, operation, error, in_flight)
    }
}
