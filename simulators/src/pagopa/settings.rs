//! What the simulated node is configured with: the EC station it drives payments against (where,
//! with which ids, over which TLS), the PSP it plays, the keys its REST APIs accept, the legacy SOAP
//! password, its timeouts towards the EC and the paSendRT retry schedule (pagopa.md §5, §6), and the
//! broadcast stations of other beneficiaries.
//!
//! The defaults are the development set-up of `snodo up` (DESIGN §6): the demo tenant Milan acting as
//! its own intermediary, station `01199250158_01`, its EC endpoint on the inbound listener, and the
//! development PKI's client certificate for mutual TLS — loaded only when a payment is first driven,
//! because generating the PKI the first time takes seconds.

use std::path::PathBuf;

use chrono::TimeDelta;
use serde::Deserialize;

use crate::framework::{BuildContext, DEVELOPMENT_INBOUND_PORT, PortPastRange};

/// The subscription key the development connector sends (`connectors/src/pagopa/config.rs`).
pub const DEVELOPMENT_SUBSCRIPTION_KEY: &str = "snodo-development-subscription-key";
/// The legacy `password` the development station uses on `nodeForPa` (8 to 15 characters).
pub const DEVELOPMENT_PASSWORD: &str = "snodo-dev-pwd";
/// The `password` the simulated PSP's channel uses on `nodeForPsp`.
pub const DEVELOPMENT_PSP_PASSWORD: &str = "snodo-psp-pwd";
/// The demo tenant: Comune di Milano, its own intermediary.
pub const DEMO_FISCAL_CODE: &str = "01199250158";
pub const DEMO_STATION: &str = "01199250158_01";

/// The EC station the node calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcTarget {
    /// The station's registered URL, e.g. `https://127.0.0.1:7443/pagopa/01199250158_01`.
    pub url: String,
    pub id_pa: String,
    pub id_broker_pa: String,
    pub id_station: String,
    /// How the node's TLS client is set up for this station.
    #[serde(default)]
    pub tls: EcTls,
}

/// The node's TLS towards the EC: mutual TLS with a client certificate, as the real node presents
/// PagoPA's `forwarder` certificate (pagopa.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields, tag = "kind")]
pub enum EcTls {
    /// The development PKI in `dir` (default: `snodo up`'s): trust its CA, present its client
    /// certificate.
    #[default]
    DevelopmentPki,
    /// Explicit files (PEM): the CA(s) the EC's server certificate chains to, and the client
    /// certificate and key to present.
    Files {
        ca_files: Vec<PathBuf>,
        client_certificate_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    },
}

impl EcTarget {
    /// The demo station on `snodo up`'s inbound listener at its default port.
    pub fn development() -> EcTarget {
        EcTarget::development_at(&format!("https://127.0.0.1:{DEVELOPMENT_INBOUND_PORT}"))
    }

    /// The demo station on the inbound listener at `inbound` (its base URL).
    pub fn development_at(inbound: &str) -> EcTarget {
        EcTarget {
            url: format!("{}/pagopa/{DEMO_STATION}", inbound.trim_end_matches('/')),
            id_pa: DEMO_FISCAL_CODE.into(),
            id_broker_pa: DEMO_FISCAL_CODE.into(),
            id_station: DEMO_STATION.into(),
            tls: EcTls::DevelopmentPki,
        }
    }
}

/// The PSP the node plays when it drives a payment (fictional, recognisable in receipts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PspIdentity {
    pub id: String,
    pub broker_id: String,
    pub company_name: String,
    pub fiscal_code: String,
    pub channel_id: String,
    pub channel_description: String,
    /// The BIC written as the sender of its reporting flows.
    pub bic: String,
    /// The channel's `password` on `nodeForPsp` (8 to 15 characters).
    pub password: String,
}

impl Default for PspIdentity {
    fn default() -> Self {
        PspIdentity {
            id: "SNODOPSP01".into(),
            broker_id: "SNODOPSP01".into(),
            company_name: "PSP simulato Snodo".into(),
            fiscal_code: "00000000000".into(),
            channel_id: "SNODOPSP01_01".into(),
            channel_description: "canale simulato".into(),
            bic: "SNODITM1XXX".into(),
            password: DEVELOPMENT_PSP_PASSWORD.into(),
        }
    }
}

/// The node's timeouts towards the EC (SANP "Livelli di Servizio Enti Creditori"), in simulated
/// time: a test speeds the clock up instead of shortening them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub verify: TimeDelta,
    pub get_payment: TimeDelta,
    pub send_rt: TimeDelta,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            verify: TimeDelta::seconds(7),
            get_payment: TimeDelta::seconds(7),
            send_rt: TimeDelta::seconds(15),
        }
    }
}

/// paSendRT re-submission: 48 attempts, one an hour (SANP "Best practice"), in simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub attempts: u32,
    pub every: TimeDelta,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            attempts: 48,
            every: TimeDelta::hours(1),
        }
    }
}

/// Everything the simulated node is configured with.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub ec: EcTarget,
    /// Stations other ECs configured as broadcast: a receipt with a transfer to one of their
    /// `id_pa`s is also sent there (pagopa.md §2.2).
    pub broadcast: Vec<EcTarget>,
    /// The development PKI directory for [`EcTls::DevelopmentPki`].
    pub dev_pki_dir: PathBuf,
    pub psp: PspIdentity,
    /// `Ocp-Apim-Subscription-Key` values the REST and SOAP APIs for ECs accept.
    pub subscription_keys: Vec<String>,
    /// The `password` `nodeForPa` requests must carry.
    pub legacy_password: String,
    pub timeouts: Timeouts,
    pub retry: RetrySchedule,
    /// Where `paForNode.xsd` is (`wsdl/xsd/` under it); see [`default_specs_dir`].
    pub specs_dir: PathBuf,
    /// How long an activation's payment token is valid (`expirationTime`, at most 30 minutes).
    pub token_validity: TimeDelta,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            ec: EcTarget::development(),
            broadcast: Vec::new(),
            dev_pki_dir: default_pki_dir(),
            psp: PspIdentity::default(),
            subscription_keys: vec![DEVELOPMENT_SUBSCRIPTION_KEY.into()],
            legacy_password: DEVELOPMENT_PASSWORD.into(),
            timeouts: Timeouts::default(),
            retry: RetrySchedule::default(),
            specs_dir: default_specs_dir(),
            token_validity: TimeDelta::minutes(30),
        }
    }
}

/// The program's one default development PKI directory, here too for the node's users.
pub use crate::framework::default_pki_dir;

impl NodeSettings {
    /// The development settings as a launch runs them: the launch's PKI directory, the demo station
    /// on the inbound listener moved by the launch's offset.
    pub fn for_launch(context: &BuildContext) -> Result<NodeSettings, PortPastRange> {
        Ok(NodeSettings {
            ec: EcTarget::development_at(&context.development_inbound_url()?),
            dev_pki_dir: context.pki_dir.clone(),
            ..NodeSettings::default()
        })
    }
}

/// The official pagoPA interface files: `SNODO_PAGOPA_SPECS`, else the `shared/specs/pagopa` beside
/// the source tree this was built from (the specs are pagoPA's files, not copied into the project).
pub fn default_specs_dir() -> PathBuf {
    std::env::var_os("SNODO_PAGOPA_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/pagopa")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::SimClock;

    #[test]
    fn a_launched_node_uses_the_launchs_pki_and_finds_the_station_on_the_moved_listener() {
        let context = BuildContext {
            clock: SimClock::new(),
            pki_dir: PathBuf::from("/elsewhere/devpki"),
            port_offset: 100,
        };
        let settings = NodeSettings::for_launch(&context).unwrap();
        assert_eq!(settings.dev_pki_dir, PathBuf::from("/elsewhere/devpki"));
        assert_eq!(settings.ec.url, "https://127.0.0.1:7543/pagopa/01199250158_01");
        assert_eq!(settings.ec, EcTarget::development_at("https://127.0.0.1:7543/"));
        assert_eq!(
            EcTarget::development().url,
            "https://127.0.0.1:7443/pagopa/01199250158_01"
        );
    }
}
