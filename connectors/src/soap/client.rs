//! Calling a platform: one POST of one envelope, with a deadline, a cap on what is read back, the
//! answer parsed by the screening parser, and every failure classified ([`SoapCallError`]).
//!
//! A client built [`with_recording`](SoapClient::with_recording) reports each exchange to the
//! instance's telemetry and journal through [`SoapClient::call_recorded`]: the shared part (request,
//! HTTP status, answer, timing, every failure classified) is done here, and the connector finishes the
//! returned [`PlatformCall`] with the business verdict it alone can read (a `rispostaKO` and its code).

use std::sync::Arc;
use std::time::Duration;

use snodo_mappings::soap::{Envelope, EnvelopeBuilder, SOAP11_CONTENT_TYPE, read_envelope};
use snodo_security::xml::Limits;

use super::classify::SoapCallError;
use crate::ops::{PlatformCall, SharedTelemetry};

/// Applied to the finished envelope before it is sent: WS-Security signing for ANPR. Synchronous
/// and CPU-bound (a signature is ~100 µs), so it runs inline.
pub trait OutboundSecurity: Send + Sync {
    fn secure(&self, envelope: &[u8]) -> Result<String, String>;
}

#[derive(Debug, Clone)]
pub struct SoapClientConfig {
    /// For the whole exchange, connection included.
    pub timeout: Duration,
    /// Answers longer than this are refused unread.
    pub max_response_bytes: usize,
    /// Screening limits for the answer.
    pub limits: Limits,
}

impl Default for SoapClientConfig {
    fn default() -> Self {
        SoapClientConfig {
            timeout: Duration::from_secs(30),
            max_response_bytes: 4 << 20,
            limits: Limits {
                max_document_bytes: 4 << 20,
                ..Limits::default()
            },
        }
    }
}

/// A SOAP 1.1 client for one endpoint. The `reqwest::Client` carries the TLS identity and pinned
/// CAs (`snodo_security::tls::build_client`); cloning is cheap and shares its connection pool.
#[derive(Clone)]
pub struct SoapClient {
    http: reqwest::Client,
    endpoint: String,
    config: SoapClientConfig,
    security: Option<Arc<dyn OutboundSecurity>>,
    recording: Option<(SharedTelemetry, &'static str)>,
}

impl std::fmt::Debug for SoapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoapClient")
            .field("endpoint", &self.endpoint)
            .field("config", &self.config)
            .field("secured", &self.security.is_some())
            .field("recorded_as", &self.recording.as_ref().map(|(_, p)| *p))
            .finish()
    }
}

impl SoapClient {
    pub fn new(http: reqwest::Client, endpoint: impl Into<String>, config: SoapClientConfig) -> SoapClient {
        SoapClient {
            http,
            endpoint: endpoint.into(),
            config,
            security: None,
            recording: None,
        }
    }

    /// Reports every [`call_recorded`](Self::call_recorded) exchange to `telemetry` (metrics and
    /// journal) as a call to `platform`.
    pub fn with_recording(mut self, telemetry: SharedTelemetry, platform: &'static str) -> SoapClient {
        self.recording = Some((telemetry, platform));
        self
    }

    pub fn with_security(mut self, security: Arc<dyn OutboundSecurity>) -> SoapClient {
        self.security = Some(security);
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Wraps `payload` (one element) in an envelope, secures it, sends it, and returns the answer's
    /// envelope when it is a normal response. A Fault, at any HTTP status, is an error.
    pub async fn call(&self, soap_action: &str, payload: &str) -> Result<Envelope, SoapCallError> {
        let envelope = EnvelopeBuilder::new().body(payload);
        self.call_envelope(soap_action, envelope.into_bytes()).await
    }

    /// [`call`](Self::call), reported as `operation`: the returned [`PlatformCall`] holds the request,
    /// status and answer, and the caller finishes it once it has read the answer
    /// ([`PlatformCall::succeeded`], [`PlatformCall::rejected`], …). A failed exchange — no answer, an
    /// HTTP error, a SOAP Fault, a malformed answer — is finished here, classified as
    /// [`SoapCallError::to_command_error`] classifies it, with the Fault code as the platform's code.
    /// Without [`with_recording`](Self::with_recording) the call records nowhere.
    pub async fn call_recorded(
        &self,
        operation: &str,
        soap_action: &str,
        payload: &str,
    ) -> Result<(Envelope, PlatformCall), SoapCallError> {
        let mut call = match &self.recording {
            Some((telemetry, platform)) => telemetry.start_call(platform, operation, &self.endpoint),
            None => PlatformCall::detached("soap", operation),
        };
        let envelope = EnvelopeBuilder::new().body(payload);
        match self
            .send(soap_action, envelope.into_bytes(), Some(&mut call))
            .await
        {
            Ok(envelope) => Ok((envelope, call)),
            Err(error) => {
                if let SoapCallError::Status { status, .. } | SoapCallError::Fault { status, .. } = &error {
                    call.status(*status);
                }
                let classified = error.to_command_error(true);
                let platform_code = match &error {
                    SoapCallError::Fault { fault, .. } => Some(fault.code.to_string()),
                    _ => classified.platform_code.clone(),
                };
                call.finish(Err(classified.code), platform_code);
                Err(error)
            }
        }
    }

    /// Sends a complete envelope (secured here when the client has [`OutboundSecurity`]).
    pub async fn call_envelope(
        &self,
        soap_action: &str,
        envelope: Vec<u8>,
    ) -> Result<Envelope, SoapCallError> {
        self.send(soap_action, envelope, None).await
    }

    async fn send(
        &self,
        soap_action: &str,
        envelope: Vec<u8>,
        mut call: Option<&mut PlatformCall>,
    ) -> Result<Envelope, SoapCallError> {
        let envelope = match &self.security {
            Some(security) => security
                .secure(&envelope)
                .map_err(|reason| SoapCallError::Security { reason })?
                .into_bytes(),
            None => envelope,
        };
        if let Some(call) = call.as_deref_mut() {
            call.request(envelope.clone());
        }
        let send = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)
            .header("SOAPAction", format!("\"{soap_action}\""))
            .body(envelope)
            .send();
        let exchange = async {
            let response = send.await.map_err(|e| self.transport_error(e))?;
            let status = response.status().as_u16();
            let body = self.read_capped(response).await?;
            Ok::<_, SoapCallError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.config.timeout, exchange)
            .await
            .map_err(|_| SoapCallError::Timeout {
                endpoint: self.endpoint.clone(),
                timeout_ms: self.config.timeout.as_millis(),
            })??;
        if let Some(call) = call {
            call.status(status).response(body.clone());
        }
        self.interpret(status, &body)
    }

    fn interpret(&self, status: u16, body: &[u8]) -> Result<Envelope, SoapCallError> {
        let parsed = read_envelope(body, &self.config.limits);
        match parsed {
            Ok(envelope) => {
                if let Some(fault) = envelope.fault() {
                    return Err(SoapCallError::Fault {
                        endpoint: self.endpoint.clone(),
                        status,
                        fault: Box::new(fault.clone()),
                    });
                }
                if (200..300).contains(&status) {
                    Ok(envelope)
                } else {
                    Err(SoapCallError::Status {
                        endpoint: self.endpoint.clone(),
                        status,
                    })
                }
            }
            // A non-2xx status without a SOAP body is an HTTP error (a proxy's page, a 503 from a
            // load balancer); a 2xx that is not SOAP is a malformed answer.
            Err(_) if !(200..300).contains(&status) => Err(SoapCallError::Status {
                endpoint: self.endpoint.clone(),
                status,
            }),
            Err(source) => Err(SoapCallError::Malformed {
                endpoint: self.endpoint.clone(),
                source: Box::new(source),
            }),
        }
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, SoapCallError> {
        let limit = self.config.max_response_bytes;
        if let Some(length) = response.content_length()
            && length as usize > limit
        {
            return Err(SoapCallError::TooLarge {
                endpoint: self.endpoint.clone(),
                size: length as usize,
                limit,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > limit {
                return Err(SoapCallError::TooLarge {
                    endpoint: self.endpoint.clone(),
                    size: body.len() + chunk.len(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, error: reqwest::Error) -> SoapCallError {
        let endpoint = self.endpoint.clone();
        let reason = chain(&error);
        if error.is_timeout() {
            return SoapCallError::Timeout {
                endpoint,
                timeout_ms: self.config.timeout.as_millis(),
            };
        }
        if is_tls(&error) {
            return SoapCallError::Tls { endpoint, reason };
        }
        if error.is_connect() {
            SoapCallError::Connect { endpoint, reason }
        } else {
            SoapCallError::Broken { endpoint, reason }
        }
    }
}

/// The error and its causes on one line: reqwest's own text ("error sending request") says little.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// True when a TLS handshake or certificate check failed somewhere in the error's causes.
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<native_tls::Error>().is_some()
            || e.downcast_ref::<openssl::ssl::Error>().is_some()
            || e.downcast_ref::<openssl::error::ErrorStack>().is_some()
        {
            return true;
        }
        current = e.source();
    }
    false
}
