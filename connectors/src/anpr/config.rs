//! How the connector reaches ANPR for one tenant: the mutual-TLS client with the comune's certificate
//! (`[tenants.certificates.anpr_client]`, or the development PKI's `<ISTAT>-CO-9999` in development),
//! the WS-Security signer of `snodo_security::wssec` plugged into the SOAP client as its
//! [`OutboundSecurity`], one SOAP client per service path, and the tenant's `tipoInvio`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use snodo_mappings::anpr::SendMode;
use snodo_mappings::soap::EnvelopeBuilder;
use snodo_security::devpki::DevPki;
use snodo_security::dsig::{SignaturePolicy, SigningKey};
use snodo_security::pki::{Identity, TrustAnchors, read_identity};
use snodo_security::tls::{TlsClientConfig, build_client};
use snodo_security::wssec::{AnprIdentity, RequestSigner};

use super::pdnd::PdndClient;
use super::send_order::SendLine;
use crate::config::{AnprSendType, CertificateFiles, TenantConfig};
use crate::soap::{OutboundSecurity, SoapCallError, SoapClient, SoapClientConfig};

/// The SOAP services the connector calls, by service code: (path under the ANPR host).
/// Paths from anpr-and-cie-booking.md §1.2 (`WSTypeHandler.java` of the official example client).
pub const SERVICE_PATHS: &[(&str, &str)] = &[
    ("1001", "/ANPR1000ServiziIscrizione/AnprService1000"),
    ("2001", "/ANPR2000ServiziCancellazione/AnprService2000"),
    ("3002", "/ANPR3000ServiziConsultazione/AnprService3000"),
    ("3003", "/ANPR3000ServiziConsultazione/AnprService3000"),
    ("4002", "/ANPR4000ServiziEstrazione/AnprService4000"),
    ("4005", "/ANPR4000ServiziEstrazione/AnprService4000"),
    ("5005", "/ANPR5000ServiziMutazione/AnprService5000"),
    ("6001", "/ANPR6001ServizioCertificazione/AnprService6001"),
];

/// The client settings for `service`: the answers that carry files as one base64 text node — a
/// certificate's PDF (6001), a bulk chunk's results for up to 2,000 people (4005, several MB) — get
/// room for them; every other answer keeps the default screening limits.
fn sized_for(service: &str, base: &SoapClientConfig) -> SoapClientConfig {
    let room: usize = match service {
        "4005" => 64 << 20,
        "6001" => 16 << 20,
        _ => return base.clone(),
    };
    let mut config = base.clone();
    config.max_response_bytes = config.max_response_bytes.max(room);
    config.limits.max_document_bytes = config.limits.max_document_bytes.max(room);
    config.limits.max_text_bytes = config.limits.max_text_bytes.max(room);
    config
}

#[derive(Debug, thiserror::Error)]
pub enum AnprConfigError {
    #[error("tenant {tenant}: the ANPR client certificate cannot be read: {reason}")]
    Certificate { tenant: String, reason: String },
    #[error(
        "tenant {tenant}: no ANPR client certificate (certificates.anpr_client) and no development PKI to take one from"
    )]
    NoCertificate { tenant: String },
    #[error("tenant {tenant}: the WS-Security signer cannot be built: {reason}")]
    Signer { tenant: String, reason: String },
    #[error("tenant {tenant}: the PDND client cannot be built: {reason}")]
    Pdnd { tenant: String, reason: String },
    #[error("tenant {tenant}: the HTTPS client cannot be built: {reason}")]
    Client { tenant: String, reason: String },
}

/// Signs every request with the tenant's [`RequestSigner`] at the moment it leaves.
struct WsSecurity(RequestSigner);

impl OutboundSecurity for WsSecurity {
    fn secure(&self, envelope: &[u8]) -> Result<String, String> {
        self.0
            .sign(envelope, SystemTime::now())
            .map_err(|e| format!("WS-Security signing failed: {e}"))
    }
}

/// At most one signing per core at a time, in the order commands ask: more would not sign faster
/// — the work is CPU — but would crowd out the request holding a comune's line, and sign the
/// numbers the line waits for later than numbers that must wait anyway.
fn signing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Everything needed to call ANPR for one tenant. Clones share the comune's [`SendLine`].
#[derive(Clone)]
pub struct AnprTenant {
    /// ISTAT code: `codMittente`, `IdSede` and the tenant id.
    pub istat: String,
    pub mode: SendMode,
    /// Unsecured clients: requests are signed by [`AnprTenant::secure`] before they queue for the
    /// line, so that signing — the costly part — runs in parallel and the line holds only the send.
    clients: HashMap<&'static str, SoapClient>,
    security: Option<Arc<dyn OutboundSecurity>>,
    /// The comune's requests leave through it, lowest number first, a bounded number in flight.
    pub line: SendLine,
    /// The PDND e-services client, when the tenant has one (or is in development).
    pub pdnd: Option<PdndClient>,
}

impl std::fmt::Debug for AnprTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnprTenant")
            .field("istat", &self.istat)
            .field("mode", &self.mode)
            .field("clients", &self.clients)
            .field("secured", &self.security.is_some())
            .field("line", &self.line)
            .field("pdnd", &self.pdnd)
            .finish()
    }
}

impl AnprTenant {
    /// A tenant calling `base_url` (no trailing path) through `http` — which carries the TLS identity
    /// and trusted CAs — with each request secured by `security` (WS-Security in production; tests of
    /// the SOAP plumbing alone may pass `None`).
    pub fn new(
        istat: impl Into<String>,
        mode: SendMode,
        http: reqwest::Client,
        base_url: &str,
        security: Option<Arc<dyn OutboundSecurity>>,
        soap: SoapClientConfig,
    ) -> AnprTenant {
        let base = base_url.trim_end_matches('/');
        let clients = SERVICE_PATHS
            .iter()
            .map(|(service, path)| {
                let client =
                    SoapClient::new(http.clone(), format!("{base}{path}"), sized_for(service, &soap));
                (*service, client)
            })
            .collect();
        AnprTenant {
            istat: istat.into(),
            mode,
            clients,
            security,
            line: SendLine::default(),
            pdnd: None,
        }
    }

    /// The tenant with a line letting `in_flight` requests be sent together.
    pub fn with_sends_in_flight(mut self, in_flight: usize) -> AnprTenant {
        self.line = SendLine::new(in_flight);
        self
    }

    /// The envelope around `payload`, signed (WS-Security) when the tenant signs.
    ///
    /// Signing is a millisecond of CPU (three RSA signatures, canonicalisation) and runs on the
    /// blocking pool: on the async workers it would delay, behind every other command's signing,
    /// the request holding the comune's line and the answers the line waits for.
    pub async fn secure(&self, payload: &str) -> Result<Vec<u8>, SoapCallError> {
        let envelope = EnvelopeBuilder::new().body(payload).into_bytes();
        let Some(security) = self.security.clone() else {
            return Ok(envelope);
        };
        let _slot = signing_slots()
            .acquire()
            .await
            .map_err(|e| SoapCallError::Security {
                reason: format!("the signing slots are closed: {e}"),
            })?;
        tokio::task::spawn_blocking(move || security.secure(&envelope))
            .await
            .map_err(|e| SoapCallError::Security {
                reason: format!("the signing task stopped: {e}"),
            })?
            .map(String::into_bytes)
            .map_err(|reason| SoapCallError::Security { reason })
    }

    /// With the PDND e-services client `pdnd`.
    pub fn with_pdnd(mut self, pdnd: Option<PdndClient>) -> AnprTenant {
        self.pdnd = pdnd;
        self
    }

    /// The SOAP client of `service` (a code of [`SERVICE_PATHS`]).
    pub fn client(&self, service: &str) -> Option<&SoapClient> {
        self.clients.get(service)
    }

    /// The tenant as configured: its certificate (or the development one), the WS-Security signer
    /// and the mutual-TLS client towards `base_url`, whose server certificate must chain to `trusted`.
    pub fn from_config(
        tenant: &TenantConfig,
        base_url: &str,
        trusted: TrustAnchors,
        development: Option<&DevPki>,
        timeout: Duration,
    ) -> Result<Option<AnprTenant>, AnprConfigError> {
        let Some(anpr) = &tenant.anpr else {
            return Ok(None);
        };
        let istat = tenant.istat.clone();
        let (identity, development_identity) = match (&tenant.certificates.anpr_client, development) {
            (Some(files), _) => (
                read_files(files).map_err(|reason| AnprConfigError::Certificate {
                    tenant: istat.clone(),
                    reason,
                })?,
                None,
            ),
            (None, Some(pki)) => (
                pki.anpr_client().identity.clone(),
                Some(&pki.anpr_client().identity),
            ),
            (None, None) => return Err(AnprConfigError::NoCertificate { tenant: istat }),
        };
        let pdnd = PdndClient::from_config(
            tenant,
            anpr.pdnd.as_ref(),
            base_url,
            trusted.clone(),
            development_identity,
            timeout,
        )?;
        let key = SigningKey::new(identity.key().clone(), Some(identity.certificate().clone()));
        // The server-to-server certificate `<ISTAT>-CO-9999` is both the comune's key and the
        // workstation's: a gestionale has no operator workstation of its own (§1.6).
        let signer = RequestSigner::new(
            &SignaturePolicy::anpr_ws_security(),
            key.clone(),
            key,
            AnprIdentity {
                id_sede: istat.clone(),
                id_operatore: anpr.application_id.clone(),
                id_postazione: anpr.workstation_id.clone(),
                id_applicazione: anpr.application_id.clone(),
                ip_address: "127.0.0.1".into(),
            },
        )
        .map_err(|e| AnprConfigError::Signer {
            tenant: istat.clone(),
            reason: e.to_string(),
        })?;
        let mut tls = TlsClientConfig::new(trusted).with_identity(identity);
        tls.timeout = timeout;
        let http = build_client(&tls).map_err(|e| AnprConfigError::Client {
            tenant: istat.clone(),
            reason: e.to_string(),
        })?;
        let mode = match anpr.tipo_invio {
            AnprSendType::Test => SendMode::Test,
            AnprSendType::Prod => SendMode::Prod,
        };
        let soap = SoapClientConfig {
            timeout,
            ..SoapClientConfig::default()
        };
        Ok(Some(
            AnprTenant::new(
                istat,
                mode,
                http,
                base_url,
                Some(Arc::new(WsSecurity(signer))),
                soap,
            )
            .with_pdnd(pdnd)
            .with_sends_in_flight(anpr.sends_in_flight.unwrap_or(super::DEFAULT_SENDS_IN_FLIGHT)),
        ))
    }
}

fn read_files(files: &CertificateFiles) -> Result<Identity, String> {
    let password = match &files.password_file {
        Some(path) => Some(read_secret(path)?),
        None => None,
    };
    read_identity(&files.certificate, files.key.as_deref(), password.as_deref()).map_err(|e| e.to_string())
}

/// A secret from a file, without its trailing newline; the error names the file, never the content.
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}
