//! How a platform connector plugs into a Snodo instance: one [`PlatformRegistration`] per platform in
//! [`PLATFORMS`], and `snodo up` does the rest — a consumer runtime per command handler, the inbound
//! routes merged into the one HTTPS listener, background tasks (feed pollers) started and stopped with
//! the instance. A connector therefore never edits the assembly: it adds its module and one line
//! here, which keeps four platforms built side by side out of each other's way.
//!
//! Where a platform is reached ([`PlatformContext::endpoint`]) comes from `[platforms.<name>]` in the
//! configuration; for development tenants without one, it is the platform's simulator on its default
//! port (DESIGN §6), trusted through the development CA.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use snodo_queue::request::Requester;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::topology::ConnectorQueues;
use snodo_queue::{Names, SharedTransport};
use snodo_security::devpki::DevPki;
use snodo_security::pki::TrustAnchors;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Environment, PlatformEndpointConfig};
use crate::state::SharedStore;
use crate::tenants::Tenants;

/// A task that runs until the instance stops (a feed poller, a notification pusher).
pub type Background = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What one platform contributes to an instance.
#[derive(Default)]
pub struct PlatformParts {
    /// The command handler, named as the registration: it runs on its own consumer runtime and
    /// queue (`snodo.commands.<name>`).
    pub handler: Option<SharedHandler>,
    /// Routes of the inbound HTTPS listener (`/pagopa/{station}`, `/identity/{tenant}/…`, …).
    pub inbound: Option<Router>,
    /// Tasks to run until [`PlatformContext::shutdown`] fires.
    pub background: Vec<Background>,
}

/// Everything a platform may use to build its parts.
#[derive(Clone)]
pub struct PlatformContext {
    pub config: Arc<Config>,
    pub tenants: Arc<Tenants>,
    pub transport: SharedTransport,
    pub names: Names,
    pub store: SharedStore,
    pub requester: Arc<Requester>,
    /// The development CA, when the instance has development tenants (the simulators' trust anchor).
    pub development_ca: Option<TrustAnchors>,
    /// The development PKI itself, when the instance has development tenants: the certificates a
    /// connector presents to a simulator (the ANPR `<ISTAT>-CO-9999`) when a tenant configures none.
    pub development_pki: Option<DevPki>,
    /// Added to the simulators' default ports (`snodo up --listener-offset`).
    pub simulator_port_offset: u16,
    pub shutdown: CancellationToken,
    /// Where the connector reports platform calls, inbound calls and feeds (`/metrics`, `/ops`).
    pub telemetry: crate::ops::SharedTelemetry,
}

/// Where a platform is, and which CAs its server certificate may chain to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub trusted: TrustAnchors,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(
        "platform {platform}: no endpoint configured ([platforms.{platform}] url) and no simulator to use instead"
    )]
    NoEndpoint { platform: String },
    #[error("platform {platform}: {reason}")]
    Configuration { platform: String, reason: String },
}

impl PlatformContext {
    /// The endpoint of `platform`: `[platforms.<platform>]` if configured, else — when every tenant is
    /// in development — its simulator at `https://127.0.0.1:<simulator_port>` with the development CA.
    pub fn endpoint(&self, platform: &str, simulator_port: u16) -> Result<Endpoint, PlatformError> {
        if let Some(PlatformEndpointConfig { url, ca }) = self.config.platforms.get(platform) {
            let trusted = if ca.is_empty() {
                self.development_ca
                    .clone()
                    .ok_or_else(|| PlatformError::Configuration {
                        platform: platform.to_owned(),
                        reason: "no `ca` configured for its server certificate".into(),
                    })?
            } else {
                TrustAnchors::read(ca).map_err(|e| PlatformError::Configuration {
                    platform: platform.to_owned(),
                    reason: e.to_string(),
                })?
            };
            return Ok(Endpoint {
                url: url.clone(),
                trusted,
            });
        }
        let development = self
            .config
            .tenants
            .iter()
            .all(|t| t.environment == Environment::Development);
        match (&self.development_ca, development) {
            (Some(ca), true) => Ok(Endpoint {
                url: format!(
                    "https://127.0.0.1:{}",
                    simulator_port.saturating_add(self.simulator_port_offset)
                ),
                trusted: ca.clone(),
            }),
            _ => Err(PlatformError::NoEndpoint {
                platform: platform.to_owned(),
            }),
        }
    }
}

/// One platform connector.
pub struct PlatformRegistration {
    /// The connector's name: its queue (`snodo.commands.<name>`), `[connectors.<name>]` overrides,
    /// and metrics label.
    pub name: &'static str,
    /// Its command families (`anpr` → `anpr.#`), known without building it so that `snodo ops` can
    /// name the queues.
    pub families: &'static [&'static str],
    pub build: fn(&PlatformContext) -> Result<PlatformParts, PlatformError>,
}

impl PlatformRegistration {
    /// The broker objects of its command queue, for `snodo ops` and topology declarations.
    pub fn queues(&self, config: &Config) -> ConnectorQueues {
        ConnectorQueues {
            connector: self.name.to_owned(),
            families: self.families.iter().map(|f| (*f).to_owned()).collect(),
            retry_delays: config.runtime_for(self.name).retry,
        }
    }
}

/// Every platform connector of this build. Each platform adds its line when it lands.
pub const PLATFORMS: &[PlatformRegistration] = &[
    crate::anpr::REGISTRATION,
    crate::pagopa::REGISTRATION,
    crate::identity::REGISTRATION,
    crate::cie_booking::REGISTRATION,
];
