//! The SPID and CIE ID Service Provider (issue 7): Snodo speaks SAML so that the backend never has to.
//!
//! ```text
//! backend page ─► GET /identity/{tenant}/login?federation&idp&level&return ─► signed AuthnRequest
//!      (Redirect or POST) ─► IdP ─► POST /identity/{tenant}/acs ─► saml::verify_response ─► replay
//!      cache (coordination store) ─► identity.login.succeeded confirmed by the broker ─► 303 to the
//!      return URL with a one-time ticket ─► identity.ticket.redeem ─► the login, once
//! ```
//!
//! Everything several instances must agree on lives in the coordination store (DESIGN §1): the
//! pending AuthnRequest under its ID (the IdP's cross-site POST carries no SameSite cookie
//! reliably, so the Response's InResponseTo finds it), assertion IDs until they expire, tickets, and
//! a request's answer while it is on its way (so that the browser's re-post of the same Response to
//! another instance gets it if the answering instance died). The files: `setup` (from
//! configuration), `registry` (IdP metadata), `login`, `acs`, `outcome` (answers on their way),
//! `slo`, `ticket` (the command handler), `pages` (HTML), `contract` (event and command bodies).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use snodo_security::dsig::SigningKey;
use snodo_security::saml::{Federation, SpidLevel};

use crate::inbound::InboundPublisher;
use crate::state::SharedStore;

mod acs;
pub mod contract;
mod login;
mod outcome;
mod pages;
pub mod registry;
pub mod setup;
mod slo;
pub mod ticket;

pub use acs::PendingLogin;
pub use registry::{IdentityProvider, IdpRegistry, read_metadata};
pub use ticket::TicketRedeemer;

/// The connector's name and command family.
pub const IDENTITY_CONNECTOR: &str = "identity";

/// Store kinds (see [`crate::state`]).
pub(crate) const REQUEST_TOKEN_KIND: &str = "identity-request";
pub(crate) const TICKET_TOKEN_KIND: &str = "identity-ticket";
pub(crate) const ASSERTION_REPLAY_KIND: &str = "identity-assertion";
pub(crate) const LOGOUT_TOKEN_KIND: &str = "identity-logout";
/// The answer a request is to get, with its event, until it is given (see `outcome`).
pub(crate) const OUTCOME_KIND: &str = "identity-outcome";

/// The clock the SP judges instants with; tests inject a fixed one (the fixtures' 2026-12-01).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// One federation of one tenant's SP: who we are and what we sign with.
#[derive(Clone)]
pub struct FederationSp {
    pub federation: Federation,
    pub entity_id: String,
    pub key: SigningKey,
    /// The signed metadata document, built once at start.
    pub metadata: Arc<String>,
}

/// One tenant's Service Provider.
#[derive(Clone)]
pub struct TenantSp {
    pub tenant: String,
    pub acs_url: String,
    pub slo_url: String,
    /// Prefixes the `return` parameter must start with (at a path boundary).
    pub return_urls: Vec<String>,
    pub spid: Option<FederationSp>,
    pub cie: Option<FederationSp>,
    pub registry: Arc<IdpRegistry>,
    /// The lowest level any login must reach (`[tenants.identity] minimum_level`): a login link may
    /// not ask less, and the ACS refuses an Assertion below it whatever the request said.
    pub minimum_level: SpidLevel,
}

impl TenantSp {
    pub fn federation(&self, federation: Federation) -> Option<&FederationSp> {
        match federation {
            Federation::Spid => self.spid.as_ref(),
            Federation::CieId => self.cie.as_ref(),
        }
    }
}

/// Timing of the SP.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// How long a pending AuthnRequest waits for its Response (the citizen is typing credentials).
    pub request_ttl: Duration,
    /// How long the backend has to redeem a ticket after the redirect.
    pub ticket_ttl: Duration,
    /// What the ACS may spend storing the event before it answers "try again".
    pub store_budget: Duration,
    pub clock_skew: TimeDelta,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            request_ttl: Duration::from_secs(15 * 60),
            ticket_ttl: Duration::from_secs(120),
            store_budget: Duration::from_secs(5),
            clock_skew: TimeDelta::seconds(90),
        }
    }
}

/// Everything the endpoints share.
pub struct IdentityService {
    pub tenants: Vec<TenantSp>,
    pub store: SharedStore,
    pub publisher: InboundPublisher,
    pub clock: Clock,
    pub settings: IdentitySettings,
}

impl IdentityService {
    pub fn tenant(&self, istat: &str) -> Option<&TenantSp> {
        self.tenants.iter().find(|t| t.tenant == istat)
    }

    /// The routes of the inbound listener (DESIGN §6).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/identity/{tenant}/{federation}/metadata", get(login::metadata))
            .route("/identity/{tenant}/idps", get(login::idps))
            .route("/identity/{tenant}/login", get(login::login))
            .route("/identity/{tenant}/acs", post(acs::acs))
            .route(
                "/identity/{tenant}/slo",
                get(slo::slo_redirect).post(slo::slo_post),
            )
            .route("/identity/{tenant}/logout", get(slo::logout))
            .with_state(self)
    }
}

/// 256 random bits in hex: tickets and RelayState (alphanumeric, so spid-sp-test's `quote_plus`
/// rebuild of the signed query matches ours, and no `http` in it).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).expect("the OpenSSL random generator is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The connector's line in [`crate::platform::PLATFORMS`].
pub const REGISTRATION: crate::platform::PlatformRegistration = crate::platform::PlatformRegistration {
    name: IDENTITY_CONNECTOR,
    families: &[IDENTITY_CONNECTOR],
    build: setup::build,
};
