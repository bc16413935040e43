//! `[pagopa]` in `snodo.toml`: what the pagoPA connector needs beyond each tenant's broker and
//! stations (`[tenants.pagopa]`) and the node's address (`[platforms.pagopa]`) — how long the node's
//! calls may wait on a backend or on the broker, how the node's client is recognised, and the secrets
//! of the calls Snodo makes to the node (read from files, never printed).
//!
//! ```toml
//! [pagopa]
//! position_timeout = "2s"        # backend answer to verify / get-payment (node waits 7 s; SLA 2 s)
//! receipt_timeout = "10s"        # broker confirm of a receipt (node waits 15 s)
//! subscription_key_file = "/etc/snodo/pagopa.key"   # Ocp-Apim-Subscription-Key for ACA and FdR
//! [pagopa.node_client]
//! subjects = ["forwarder.platform.pagopa.it"]   # CN of the node's client certificate; empty: any
//! fingerprint_header = "x-client-cert-sha256"   # only when TLS ends at a proxy that sets it
//! trusted_fingerprints = ["ab:cd:…"]
//! [pagopa.reporting]
//! enabled = true                 # poll the node for this instance's tenants' reporting flows
//! interval = "10m"
//! api = "rest"                   # "rest": FdR; "soap": the legacy nodoChiedi…FlussoRendicontazione
//! password_file = "/etc/snodo/pagopa-station.pwd"   # "soap" only: the station's nodeForPa password
//! flow_schema = "/etc/snodo/FlussoRiversamento_1_0_4.xsd"   # "soap" only; default below
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The subscription key the development simulator accepts: development instances use it when no
/// `subscription_key_file` is configured.
pub const DEVELOPMENT_SUBSCRIPTION_KEY: &str = "snodo-development-subscription-key";
/// The `nodeForPa` password the development simulator accepts (8 to 15 characters, as the XSD wants).
pub const DEVELOPMENT_STATION_PASSWORD: &str = "snodo-dev-pwd";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagopaConfig {
    /// How long a verify / get-payment waits for the backend's position. The node gives up after 7 s
    /// and its SLA is 98% within 2 s; the request's AMQP `expiration` is the same, so a backend that
    /// comes back late never answers a question nobody waits for.
    #[serde(default = "default_position_timeout", with = "duration")]
    pub position_timeout: Duration,
    /// How long a paSendRT waits for the broker to confirm the receipt event (the node waits 15 s).
    #[serde(default = "default_receipt_timeout", with = "duration")]
    pub receipt_timeout: Duration,
    #[serde(default)]
    pub node_client: NodeClientConfig,
    /// File holding the `Ocp-Apim-Subscription-Key` of the node's REST APIs (ACA, FdR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_key_file: Option<PathBuf>,
    #[serde(default)]
    pub reporting: ReportingConfig,
}

impl Default for PagopaConfig {
    fn default() -> Self {
        PagopaConfig {
            position_timeout: default_position_timeout(),
            receipt_timeout: default_receipt_timeout(),
            node_client: NodeClientConfig::default(),
            subscription_key_file: None,
            reporting: ReportingConfig::default(),
        }
    }
}

/// How the node's calls are recognised (pagopa.md §6: the node presents PagoPA's client certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NodeClientConfig {
    /// Common names the client certificate may have (it is already verified against `tls.client_ca`);
    /// empty accepts any verified certificate.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// A header carrying the client certificate's SHA-256 fingerprint, set by a TLS-terminating proxy
    /// (which must remove it from what clients send). Absent: only TLS client certificates count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_header: Option<String>,
    /// Fingerprints accepted in that header (hex, with or without colons, any case).
    #[serde(default)]
    pub trusted_fingerprints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingConfig {
    /// Poll the node for reporting flows at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    /// Which of the node's reporting APIs to poll.
    #[serde(default)]
    pub api: ReportingApi,
    /// The legacy API only: the file holding the station's `nodeForPa` `password` (the XSD still
    /// requires one); development instances default to the simulator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The legacy API only: `FlussoRiversamento_1_0_4.xsd`, every flow is validated against it before
    /// a value is read. Default: `SNODO_PAGOPA_SPECS`'s `xsd-common/`, else the pagoPA specs beside
    /// the source tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_schema: Option<PathBuf>,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        ReportingConfig {
            enabled: true,
            interval: default_interval(),
            api: ReportingApi::default(),
            password_file: None,
            flow_schema: None,
        }
    }
}

/// The node's two ways of handing out reporting flows (pagopa.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReportingApi {
    /// The REST FdR API, the forward path.
    #[default]
    Rest,
    /// `nodoChiediElencoFlussiRendicontazione` / `nodoChiediFlussoRendicontazione`, deprecated from
    /// 30 June 2026, for stations not yet moved to FdR.
    Soap,
}

impl ReportingConfig {
    /// Where `FlussoRiversamento_1_0_4.xsd` is read from for the legacy API.
    pub fn flow_schema_path(&self) -> PathBuf {
        if let Some(path) = &self.flow_schema {
            return path.clone();
        }
        let specs = std::env::var_os("SNODO_PAGOPA_SPECS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/specs/pagopa"))
            });
        specs.join("xsd-common/FlussoRiversamento_1_0_4.xsd")
    }
}

/// A secret read from its file, or why it could not be.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("pagopa.{key}: cannot read {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pagopa.{key}: {} is empty", path.display())]
    Empty { key: &'static str, path: PathBuf },
    #[error("pagopa.{key} is not configured, and only development instances have a default")]
    Missing { key: &'static str },
}

/// Reads the secret of `key` from `path`, or gives the development default when there is no file.
pub fn read_secret(
    key: &'static str,
    path: Option<&Path>,
    development_default: Option<&str>,
) -> Result<String, SecretError> {
    let Some(path) = path else {
        return development_default
            .map(str::to_owned)
            .ok_or(SecretError::Missing { key });
    };
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        key,
        path: path.to_owned(),
        source,
    })?;
    let secret = text.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err(SecretError::Empty {
            key,
            path: path.to_owned(),
        });
    }
    Ok(secret)
}

/// Lower-case hex without separators, so fingerprints compare whatever way they were written.
pub fn normalize_fingerprint(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn yes() -> bool {
    true
}
fn default_position_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_receipt_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_interval() -> Duration {
    Duration::from_secs(600)
}

mod duration {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stay_inside_the_nodes_timeouts() {
        let c: PagopaConfig = toml::from_str("").unwrap();
        assert!(c.position_timeout < Duration::from_secs(7));
        assert!(c.receipt_timeout < Duration::from_secs(15));
        assert!(c.reporting.enabled);
    }

    #[test]
    fn the_legacy_reporting_api_is_chosen_by_name() {
        let c: PagopaConfig = toml::from_str("[reporting]\napi = \"soap\"").unwrap();
        assert_eq!(c.reporting.api, ReportingApi::Soap);
        assert_eq!(PagopaConfig::default().reporting.api, ReportingApi::Rest);
        assert!(toml::from_str::<PagopaConfig>("[reporting]\napi = \"ftp\"").is_err());
        assert!(
            c.reporting
                .flow_schema_path()
                .ends_with("xsd-common/FlussoRiversamento_1_0_4.xsd")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<PagopaConfig>("position_timout = \"1s\"").is_err());
    }

    #[test]
    fn fingerprints_compare_in_any_notation() {
        assert_eq!(normalize_fingerprint("AB:cd:01"), normalize_fingerprint("abcd01"));
    }

    #[test]
    fn a_missing_secret_outside_development_is_an_error() {
        assert!(matches!(
            read_secret("subscription_key_file", None, None),
            Err(SecretError::Missing { .. })
        ));
        assert_eq!(
            read_secret("subscription_key_file", None, Some("k")).unwrap(),
            "k"
        );
    }
}
