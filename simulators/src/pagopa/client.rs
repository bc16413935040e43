//! The node's HTTP client towards an EC station: SOAP 1.1 over HTTPS with mutual TLS (the security
//! crate's one client, presenting the node's certificate and trusting only the configured CA), and
//! the node's timeouts measured on the simulator clock — so a test that runs the clock a hundred
//! times faster sees `PPT_STAZIONE_INT_PA_TIMEOUT` after 70 ms of real time instead of 7 s.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use chrono::TimeDelta;
use snodo_mappings::soap::SOAP11_CONTENT_TYPE;
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_security::pki::{TrustAnchors, read_identity};
use snodo_security::tls::{TlsClientConfig, build_client};

use super::settings::{EcTarget, EcTls};
use crate::framework::SimClock;

/// Longest real time one call may take whatever the simulated timeout: a frozen clock must not hang
/// a call forever.
const REAL_TIME_CAP: Duration = Duration::from_secs(600);
/// How often a pending call looks at the simulator clock (which an admin call may move).
const CLOCK_POLL: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the EC station's TLS set-up: {0}")]
    Tls(String),
}

/// How a call to the EC ended, before the answer is judged.
#[derive(Debug)]
pub enum CallOutcome {
    /// An HTTP answer, whatever its status.
    Answered { status: u16, body: Vec<u8> },
    /// No complete answer within the node's timeout (simulated time).
    TimedOut,
    /// No connection: refused, TLS handshake failed, name unknown.
    Unreachable(String),
    /// Connected, but the exchange broke before a complete answer (connection closed or reset).
    Broken(String),
}

/// One EC station as the node reaches it.
#[derive(Debug, Clone)]
pub struct EcClient {
    http: reqwest::Client,
    url: String,
}

impl EcClient {
    /// The client for `target`; `dev_pki_dir` serves [`EcTls::DevelopmentPki`].
    pub fn build(target: &EcTarget, dev_pki_dir: &Path) -> Result<EcClient, ClientError> {
        let tls = |e: String| ClientError::Tls(e);
        let http = if target.url.starts_with("http://") {
            reqwest::Client::builder()
                .timeout(REAL_TIME_CAP)
                .build()
                .map_err(|e| tls(e.to_string()))?
        } else {
            let config = match &target.tls {
                EcTls::DevelopmentPki => {
                    let pki =
                        DevPki::ensure(dev_pki_dir, &DevTenant::default()).map_err(|e| tls(e.to_string()))?;
                    TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.tls_client().identity.clone())
                }
                EcTls::Files {
                    ca_files,
                    client_certificate_file,
                    client_key_file,
                } => {
                    let trusted = TrustAnchors::read(ca_files).map_err(|e| tls(e.to_string()))?;
                    let mut config = TlsClientConfig::new(trusted);
                    if let Some(certificate) = client_certificate_file {
                        let identity = read_identity(certificate, client_key_file.as_deref(), None)
                            .map_err(|e| tls(e.to_string()))?;
                        config = config.with_identity(identity);
                    }
                    config
                }
            };
            let config = TlsClientConfig {
                timeout: REAL_TIME_CAP,
                ..config
            };
            build_client(&config).map_err(|e| tls(e.to_string()))?
        };
        Ok(EcClient {
            http,
            url: target.url.clone(),
        })
    }

    /// Posts `envelope` with `SOAPAction: operation` and waits at most `limit` of simulated time.
    pub async fn call(
        &self,
        clock: &SimClock,
        operation: &str,
        envelope: String,
        limit: TimeDelta,
    ) -> CallOutcome {
        let request = async {
            let response = self
                .http
                .post(&self.url)
                .header("Content-Type", SOAP11_CONTENT_TYPE)
                .header("SOAPAction", format!("\"{operation}\""))
                .body(envelope)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|e| CallOutcome::Broken(error_chain(&e)))?;
            Ok(CallOutcome::Answered {
                status,
                body: body.to_vec(),
            })
        };
        match within(clock, limit, request).await {
            Some(Ok(outcome)) | Some(Err(outcome)) => outcome,
            None => CallOutcome::TimedOut,
        }
    }
}

fn classify(e: &reqwest::Error) -> CallOutcome {
    if e.is_connect() {
        CallOutcome::Unreachable(error_chain(e))
    } else if e.is_timeout() {
        CallOutcome::TimedOut
    } else {
        CallOutcome::Broken(error_chain(e))
    }
}

/// The error with its causes: reqwest's own message alone rarely says what failed.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs `work` until it finishes or `limit` of simulated time has passed on `clock`.
pub async fn within<T>(clock: &SimClock, limit: TimeDelta, work: impl Future<Output = T>) -> Option<T> {
    let deadline = clock.now() + limit;
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            _ = tokio::time::sleep(CLOCK_POLL) => {
                if clock.now() >= deadline {
                    return None;
                }
            }
        }
    }
}

/// Sleeps until `at` on the simulator clock (moved by admin calls or sped up), checking it often.
pub async fn sleep_until(clock: &SimClock, at: chrono::DateTime<chrono::Utc>) {
    while clock.now() < at {
        tokio::time::sleep(CLOCK_POLL).await;
    }
}
