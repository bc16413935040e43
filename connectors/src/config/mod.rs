//! Snodo's configuration (`snodo.toml`, DESIGN §7): the transport, the connectors' runtime settings, the
//! listeners, the tenants (municipalities) and the backends' queues.
//!
//! Every value can be overridden by an `SNODO_*` environment variable (see [`load`]); an invalid value is
//! reported with the file, the key and the reason. Without a file, [`Config::development`] describes the
//! demo set-up of `snodo up`: the Comune di Milano, the demo backend and every simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod certificates;
mod load;
mod platforms;
mod validate;

pub use certificates::{
    CertificateFiles, CertificateRole, ConfiguredCertificate, TenantCertificates, TlsConfig,
};
pub use load::{ConfigError, load, load_from_str};
pub use platforms::{AnprSendType, TenantAnpr, TenantBooking, TenantIdentity, TenantPagopa};

/// The demo tenant: Comune di Milano.
pub const DEMO_TENANT_ISTAT: &str = "015146";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub transport: TransportConfig,
    #[serde(default)]
    pub redis: RedisConfig,
    /// Defaults for every connector.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Per-connector overrides of `runtime`, by connector name (`core`, `anpr`, `pagopa`, …).
    #[serde(default)]
    pub connectors: BTreeMap<String, RuntimeOverride>,
    #[serde(default)]
    pub listeners: ListenersConfig,
    /// The inbound listener's certificate and client CAs (see [`certificates`]).
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    #[serde(default)]
    pub demo: DemoConfig,
    /// Where each platform is (`[platforms.anpr]`, `[platforms.pagopa]`, …); without an entry,
    /// development instances use the platform's simulator (see [`crate::platform`]).
    #[serde(default)]
    pub platforms: BTreeMap<String, PlatformEndpointConfig>,
    /// The pagoPA connector's own settings (`[pagopa]`, see [`crate::pagopa::config`]).
    #[serde(default)]
    pub pagopa: crate::pagopa::config::PagopaConfig,
    /// The message journal (`[journal]`: retention, raw bodies, the business-id key; see
    /// [`crate::journal::writer`]).
    #[serde(default)]
    pub journal: crate::journal::JournalSettings,
}

/// `[platforms.<name>]`: a platform's base URL and the CAs its server certificate chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformEndpointConfig {
    pub url: String,
    #[serde(default)]
    pub ca: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// RabbitMQ URL; absent means the embedded in-process transport. Also `SNODO_AMQP_URL`.
    #[serde(default)]
    pub amqp_url: Option<String>,
    /// Prefix of every exchange and queue name.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How long a publish may wait for the broker's confirm (across reconnections) before it fails.
    #[serde(default = "default_publish_timeout", with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Publisher channels (\"lanes\") on RabbitMQ, each pipelining up to 64 unconfirmed messages; see the
    /// transport's `publisher` module.
    #[serde(default = "default_publisher_channels")]
    pub publisher_channels: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            amqp_url: None,
            prefix: default_prefix(),
            publish_timeout: default_publish_timeout(),
            publisher_channels: default_publisher_channels(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Redis URL for the coordination state; absent means in-process. Also `SNODO_REDIS_URL`.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retry delays, e.g. `["1s", "5s", "30s", "2m", "10m", "1h"]`; milliseconds are allowed for tests.
    #[serde(default = "default_retry", with = "humantime_serde_vec")]
    pub retry: Vec<Duration>,
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            prefetch: default_prefetch(),
            concurrency: default_concurrency(),
            retry: default_retry(),
            shutdown_grace: default_grace(),
        }
    }
}

/// Per-connector overrides; unset fields fall back to `[runtime]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuntimeOverride {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub prefetch: Option<u16>,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default, with = "humantime_serde_opt_vec")]
    pub retry: Option<Vec<Duration>>,
}

impl Config {
    /// The effective runtime settings of `connector`.
    pub fn runtime_for(&self, connector: &str) -> RuntimeConfig {
        let mut r = self.runtime.clone();
        if let Some(o) = self.connectors.get(connector) {
            if let Some(p) = o.prefetch {
                r.prefetch = p;
            }
            if let Some(c) = o.concurrency {
                r.concurrency = c;
            }
            if let Some(retry) = &o.retry {
                r.retry = retry.clone();
            }
        }
        r
    }

    pub fn connector_enabled(&self, connector: &str) -> bool {
        self.connectors
            .get(connector)
            .and_then(|o| o.enabled)
            .unwrap_or(true)
    }

    pub fn tenant(&self, istat: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.istat == istat)
    }

    /// The development configuration `snodo up` uses without a file.
    pub fn development() -> Config {
        Config {
            transport: TransportConfig::default(),
            redis: RedisConfig::default(),
            runtime: RuntimeConfig::default(),
            connectors: BTreeMap::new(),
            listeners: ListenersConfig::default(),
            tls: TlsConfig::default(),
            tenants: vec![TenantConfig {
                istat: DEMO_TENANT_ISTAT.into(),
                name: "Comune di Milano".into(),
                fiscal_code: "01199250158".into(),
                cadastral_code: "F205".into(),
                public_base_url: "https://127.0.0.1:7443".into(),
                environment: Environment::Development,
                certificates: TenantCertificates::default(),
                // The demo tenant is its own pagoPA intermediary (its EC endpoint is
                // /pagopa/01199250158_01) and logs in through the IdP simulator.
                pagopa: Some(TenantPagopa {
                    broker_fiscal_code: "01199250158".into(),
                    stations: vec!["01199250158_01".into()],
                    segregation_code: None,
                }),
                anpr: Some(TenantAnpr {
                    tipo_invio: AnprSendType::Test,
                    workstation_id: "pc-001".into(),
                    application_id: "snodo".into(),
                    sends_in_flight: None,
                    pdnd: None,
                }),
                identity: Some(TenantIdentity {
                    // The development PKI's SP certificate carries this entity id as its uri
                    // (SPID requires the two to match).
                    spid_entity_id: Some("https://127.0.0.1:7443/identity/015146".into()),
                    cie_entity_id: Some("https://127.0.0.1:7443/identity/015146/cie".into()),
                    return_urls: vec!["http://127.0.0.1:9400/demo".into()],
                    ..TenantIdentity::default()
                }),
                cie_booking: Some(TenantBooking::default()),
            }],
            backends: vec![BackendConfig::demo()],
            demo: DemoConfig { enabled: true },
            platforms: BTreeMap::new(),
            pagopa: Default::default(),
            journal: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenersConfig {
    #[serde(default = "default_ops_listener")]
    pub ops: SocketAddr,
    #[serde(default = "default_inbound_listener")]
    pub inbound: SocketAddr,
    /// File holding the operations listener's access token (`SNODO_OPS_TOKEN` takes precedence);
    /// mandatory when `ops` is not a loopback address (see `ops::auth`).
    #[serde(default)]
    pub ops_token_file: Option<std::path::PathBuf>,
}

impl Default for ListenersConfig {
    fn default() -> Self {
        ListenersConfig {
            ops: default_ops_listener(),
            inbound: default_inbound_listener(),
            ops_token_file: None,
        }
    }
}

impl ListenersConfig {
    /// Every listener moved by `offset` ports, so that several instances can run on one machine.
    pub fn offset(&self, offset: u16) -> ListenersConfig {
        // Port 0 (any free port) stays 0: shifting it would pick a fixed port by accident.
        let shift = |a: SocketAddr| match a.port() {
            0 => a,
            port => SocketAddr::new(a.ip(), port.saturating_add(offset)),
        };
        ListenersConfig {
            ops: shift(self.ops),
            inbound: shift(self.inbound),
            ops_token_file: self.ops_token_file.clone(),
        }
    }
}

/// Whether a tenant talks to the real platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Simulators and throwaway certificates.
    #[default]
    Development,
    /// The platforms' test environments (collaudo, UAT).
    Test,
    /// Real platforms, real certificates: never on the embedded transport (DESIGN §4).
    Production,
}

/// One municipality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// ISTAT code (6 digits): the tenant id in `x-snodo-tenant`.
    pub istat: String,
    pub name: String,
    /// The municipality's codice fiscale (11 digits).
    pub fiscal_code: String,
    /// Codice catastale (Belfiore), e.g. `F205`.
    pub cadastral_code: String,
    /// Base URL under which the platforms reach this tenant's inbound endpoints.
    pub public_base_url: String,
    #[serde(default)]
    pub environment: Environment,
    /// The municipality's own certificates (ANPR client, SPID/CIE signing).
    #[serde(default)]
    pub certificates: TenantCertificates,
    /// Its identities on each platform it uses (see [`platforms`]); absent: the platform is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagopa: Option<TenantPagopa>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anpr: Option<TenantAnpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<TenantIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cie_booking: Option<TenantBooking>,
}

/// A backend's queues: its durable inbox of events, and optionally the queue where it answers requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    pub events_queue: String,
    /// Binding patterns on `snodo.events`, e.g. `["anpr.#", "pagopa.receipt.#"]`.
    pub events: Vec<String>,
    #[serde(default)]
    pub requests_queue: Option<String>,
    /// Binding patterns on `snodo.requests`.
    #[serde(default)]
    pub requests: Vec<String>,
}

impl BackendConfig {
    /// The demo municipal backend of `snodo up`.
    pub fn demo() -> BackendConfig {
        BackendConfig {
            name: "demo".into(),
            events_queue: "demo.events".into(),
            events: vec!["#".into()],
            requests_queue: Some("demo.requests".into()),
            requests: vec!["#".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Run the demo municipal backend (consumes the `demo` backend's queues).
    #[serde(default)]
    pub enabled: bool,
}

fn default_prefix() -> String {
    "snodo".into()
}
fn default_publish_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_publisher_channels() -> usize {
    64
}
fn default_prefetch() -> u16 {
    64
}
fn default_concurrency() -> usize {
    32
}
fn default_retry() -> Vec<Duration> {
    snodo_queue::runtime::RetrySchedule::default().delays
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_ops_listener() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9400))
}
fn default_inbound_listener() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7443))
}

/// `"30s"`-style durations.
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

mod humantime_serde_vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| humantime::format_duration(*d).to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| {
                humantime::parse_duration(t).map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}")))
            })
            .collect()
    }
}

mod humantime_serde_opt_vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<Duration>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::humantime_serde_vec::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?;
        v.map(|v| {
            v.iter()
                .map(|t| {
                    humantime::parse_duration(t).map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}")))
                })
                .collect()
        })
        .transpose()
    }
}
