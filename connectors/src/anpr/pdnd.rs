//! `anpr.pdnd.lookup`: ANPR's REST e-services on PDND (C030, C020, C021, C001; platform notes §2) —
//! a fresh voucher per call (the audit binding requires it), the ModI headers of [`super::modi`],
//! `idOperazioneClient` derived from the command's `message_id`, and the answer classified: ANPR's
//! `RispostaKO` is `rejected` with its code, GovWay's problem+json is `security` when the voucher or
//! the ModI headers were refused, `unavailable` when throttled or failing.
//!
//! ```toml
//! [tenants.anpr.pdnd]                       # inside a [[tenants]] entry with [tenants.anpr]
//! client_id = "0a1b…"                       # the PDND client
//! key_id = "kid-registered-on-pdnd"
//! key = "/etc/snodo/pdnd-client.key"        # its RSA private key (PEM)
//! purposes = { C030 = "…", C020 = "…" }     # purposeId per e-service
//! user_id = "ufficio-anagrafe"              # AUDIT_REST_02
//! user_location = "sportello-1"
//! ```
//!
//! Without a section, a development tenant uses the ANPR simulator's PDND side with the development
//! ANPR key: client `snodo-<istat>`, key id `anpr-<istat>`, purposes `purpose-<code>`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use snodo_mappings::anpr::pdnd::{self, EService, PdndLookup, PdndReply};
use snodo_queue::runtime::{CommandError, ErrorCode};
use snodo_security::pki::{Identity, TrustAnchors, read_private_key};
use snodo_security::tls::{TlsClientConfig, build_client};

use super::config::AnprConfigError;
use super::modi::{AuditSubject, CallContext, JwtSigner, call_tokens};
use crate::config::TenantConfig;

/// `[tenants.anpr.pdnd]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdndConfig {
    pub client_id: String,
    pub key_id: String,
    /// The client's RSA private key, PEM.
    pub key: PathBuf,
    /// purposeId per e-service code (`C030`, `C020`, `C021`, `C001`).
    pub purposes: BTreeMap<String, String>,
    pub user_id: String,
    pub user_location: String,
    #[serde(default = "default_loa")]
    pub loa: String,
    #[serde(default = "default_token_url")]
    pub token_url: String,
    #[serde(default = "default_assertion_audience")]
    pub assertion_audience: String,
    /// Base of the e-services: `…/govway/rest/in` (collaudo: `modipa-val.anpr.interno.it`).
    #[serde(default = "default_eservices_url")]
    pub eservices_url: String,
    /// CAs of the voucher and e-service servers; empty: those of `[platforms.anpr]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
}

fn default_loa() -> String {
    "LoA2".into()
}

fn default_token_url() -> String {
    "https://auth.interop.pagopa.it/token.oauth2".into()
}

fn default_assertion_audience() -> String {
    "auth.interop.pagopa.it/client-assertion".into()
}

fn default_eservices_url() -> String {
    "https://modipa.anpr.interno.it/govway/rest/in".into()
}

/// One tenant's PDND client.
#[derive(Debug, Clone)]
pub struct PdndClient {
    http: reqwest::Client,
    signer: JwtSigner,
    client_id: String,
    purposes: BTreeMap<String, String>,
    audit: AuditSubject,
    token_url: String,
    assertion_audience: String,
    eservices_url: String,
}

#[derive(Debug, Deserialize)]
struct Voucher {
    access_token: String,
}

impl PdndClient {
    /// The tenant's client from `[tenants.anpr.pdnd]`, or the development one against `base_url`
    /// (the simulator) with the development ANPR key.
    pub fn from_config(
        tenant: &TenantConfig,
        configured: Option<&PdndConfig>,
        base_url: &str,
        trusted: TrustAnchors,
        development: Option<&Identity>,
        timeout: Duration,
    ) -> Result<Option<PdndClient>, AnprConfigError> {
        let istat = &tenant.istat;
        let fail = |reason: String| AnprConfigError::Pdnd {
            tenant: istat.clone(),
            reason,
        };
        let base = base_url.trim_end_matches('/');
        let (signer, settings, trusted) = match (configured, development) {
            (Some(c), _) => {
                let key = read_private_key(&c.key, None).map_err(|e| fail(e.to_string()))?;
                let trusted = if c.ca.is_empty() {
                    trusted
                } else {
                    TrustAnchors::read(&c.ca).map_err(|e| fail(e.to_string()))?
                };
                (JwtSigner::new(key, c.key_id.clone()), c.clone(), trusted)
            }
            (None, Some(identity)) => {
                let key = identity.key().clone();
                let settings = PdndConfig {
                    client_id: format!("snodo-{istat}"),
                    key_id: format!("anpr-{istat}"),
                    key: PathBuf::new(),
                    purposes: ["C030", "C020", "C021", "C001"]
                        .iter()
                        .map(|c| ((*c).to_owned(), format!("purpose-{c}")))
                        .collect(),
                    user_id: "snodo".into(),
                    user_location: "snodo".into(),
                    loa: default_loa(),
                    token_url: format!("{base}/pdnd/token.oauth2"),
                    assertion_audience: format!("{base}/pdnd/client-assertion"),
                    eservices_url: format!("{base}/govway/rest/in"),
                    ca: Vec::new(),
                };
                (JwtSigner::new(key, settings.key_id.clone()), settings, trusted)
            }
            (None, None) => return Ok(None),
        };
        let mut tls = TlsClientConfig::new(trusted);
        // The simulator serves PDND on the ANPR listener, which asks for the client certificate;
        // the real PDND hosts do not.
        if configured.is_none()
            && let Some(identity) = development
        {
            tls = tls.with_identity(identity.clone());
        }
        tls.timeout = timeout;
        let http = build_client(&tls).map_err(|e| fail(e.to_string()))?;
        Ok(Some(PdndClient {
            http,
            signer,
            client_id: settings.client_id,
            purposes: settings.purposes,
            audit: AuditSubject {
                user_id: settings.user_id,
                user_location: settings.user_location,
                loa: settings.loa,
            },
            token_url: settings.token_url,
            assertion_audience: settings.assertion_audience,
            eservices_url: settings.eservices_url.trim_end_matches('/').to_owned(),
        }))
    }

    /// The e-service URL (`…-PDND/<name>/v1/anpr-service-e002`) and its ModI audience (§2.2).
    pub fn urls(&self, service: EService) -> (String, String) {
        let base = &self.eservices_url;
        let name = service.name();
        (
            format!("{base}/MinInternoPortaANPR-PDND/{name}/v1/anpr-service-e002"),
            format!("{base}/MinInternoPortaANPR/{name}/v1"),
        )
    }

    /// Performs `cmd` for the command `message_id`.
    pub async fn lookup(&self, cmd: &PdndLookup, message_id: &str) -> Result<Value, CommandError> {
        let purpose = self.purposes.get(cmd.service.case_code()).ok_or_else(|| {
            CommandError::invalid_message(format!(
                "field `service`: this tenant has no PDND purpose for {}",
                cmd.service.case_code()
            ))
        })?;
        let request = pdnd::request(cmd, message_id, Utc::now().date_naive())
            .map_err(|e| CommandError::invalid_message(e.to_string()))?;
        let body = serde_json::to_vec(&request).expect("RichiestaE002 always serializes");
        let (url, audience) = self.urls(cmd.service);
        let tokens = call_tokens(
            &self.signer,
            &CallContext {
                client_id: &self.client_id,
                purpose_id: purpose,
                audience: &audience,
                assertion_audience: &self.assertion_audience,
                audit: &self.audit,
                now: Utc::now().timestamp(),
            },
            &body,
        )
        .map_err(|e| CommandError::new(ErrorCode::Security, e.to_string()))?;
        let voucher = self.voucher(&tokens.client_assertion).await?;
        let response = self
            .http
            .post(&url)
            .header("Authorization", format!("Bearer {voucher}"))
            .header("Agid-JWT-TrackingEvidence", &tokens.tracking_evidence)
            .header("Agid-JWT-Signature", &tokens.signature)
            .header("Digest", &tokens.digest)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport("the e-service", &e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport("the e-service", &e))?;
        let reply = pdnd::read_response(cmd.service, status, &content_type, &bytes).map_err(|e| {
            CommandError::unavailable(format!("the e-service answered HTTP {status} unreadably: {e}"))
        })?;
        match reply {
            PdndReply::Completed(event) => {
                serde_json::to_value(&event).map_err(|e| CommandError::internal(e.to_string()))
            }
            PdndReply::Rejected(ko) => {
                let first = ko
                    .lista_errori
                    .iter()
                    .find(|e| e.tipo_errore_anomalia.eq_ignore_ascii_case("E"))
                    .or(ko.lista_errori.first());
                let (code, text) = first.map_or(("KO".to_owned(), String::new()), |e| {
                    (e.codice_errore_anomalia.clone(), e.testo_errore_anomalia.clone())
                });
                Err(CommandError::rejected(code, text))
            }
            PdndReply::Problem(problem) => {
                let status = problem.status.unwrap_or(status);
                let title = problem.title.clone().unwrap_or_else(|| format!("HTTP {status}"));
                let detail = problem.detail.clone().unwrap_or_default();
                Err(match status {
                    429 | 500..=599 => {
                        CommandError::unavailable(format!("the e-service answered {status}: {title}"))
                    }
                    // The voucher or the ModI headers were refused (InteroperabilityInvalidRequest).
                    401 | 403 => {
                        CommandError::new(ErrorCode::Security, format!("GovWay refused the call: {title}"))
                            .with_platform(title, detail)
                    }
                    _ if title.starts_with("Interoperability") => CommandError::new(
                        ErrorCode::Security,
                        format!("GovWay refused the ModI headers: {title}"),
                    )
                    .with_platform(title, detail),
                    _ => CommandError::rejected(title, detail),
                })
            }
        }
    }

    /// A fresh voucher (`client_credentials` with the signed client assertion).
    async fn voucher(&self, client_assertion: &str) -> Result<String, CommandError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", client_assertion),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .post(&self.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| transport("the PDND voucher endpoint", &e))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport("the PDND voucher endpoint", &e))?;
        match status {
            200 => serde_json::from_slice::<Voucher>(&bytes)
                .map(|v| v.access_token)
                .map_err(|e| {
                    CommandError::unavailable(format!("the PDND voucher answer is not a token: {e}"))
                }),
            429 | 500..=599 => Err(CommandError::unavailable(format!(
                "PDND answered HTTP {status} to the voucher request"
            ))),
            _ => Err(CommandError::new(
                ErrorCode::Security,
                format!("PDND refused the voucher (HTTP {status}): check client_id, key_id and purposeId"),
            )
            .with_platform(
                format!("HTTP {status}"),
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)]),
            )),
        }
    }
}

fn transport(what: &str, e: &reqwest::Error) -> CommandError {
    if e.is_timeout() {
        CommandError::timeout(format!("no answer from {what} in time"), true)
    } else {
        CommandError::unavailable(format!("cannot reach {what}: {e}"))
    }
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
