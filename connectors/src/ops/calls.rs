//! Recording one call Snodo makes to a platform — the one helper every connector uses, whatever the
//! protocol, so that each call is reported once and lands in both places operators look: the
//! `/metrics` series (`snodo_platform_calls_total`, `snodo_platform_call_seconds`, the `/ops` page's
//! platform table) and the message journal (`snodo ops trace`, attached to the command being handled).
//!
//! Start a call with [`Telemetry::start_call`](super::Telemetry::start_call) when the code holds the
//! instance's telemetry (`PlatformContext::telemetry`), or with [`start`] when it does not (it then
//! reports through the journal sink in scope, which in `snodo up` is that same telemetry for every
//! command handler, inbound call and background task).
//!
//! ```text
//! // REST (pagoPA ACA, FdR, …): start, say what was sent, finish once with the outcome.
//! let mut call = context.telemetry.start_call("pagopa", "getAllPublishedFlows", &url);
//! // or, without the handle: let mut call = snodo_connectors::ops::calls::start("pagopa", …);
//! call.request(body.clone()).business_id(&iuv);
//! match http.post(&url).body(body).send().await {
//!     Err(e) => call.transport_error(&e),                  // timeout, connect, TLS, …
//!     Ok(response) => {
//!         call.status(response.status().as_u16());
//!         let text = response.bytes().await?;
//!         call.response(text.clone());
//!         call.finish_http();                              // 2xx ok, 429/5xx unavailable, else rejected
//!     }
//! }
//! ```
//!
//! Calls through the pagoPA node's REST client finish with
//! [`finish_node_call`](crate::pagopa::aca::finish_node_call), which classifies its errors.
//!
//! SOAP connectors let the shared client do the exchange's part
//! ([`SoapClient::call_recorded`](crate::soap::SoapClient::call_recorded): request, status, answer,
//! every transport failure and fault classified) and only finish with the business verdict.
//!
//! A call dropped unfinished is still recorded: as `unavailable` when an answer had arrived (the
//! caller could not use it and returned early), as `timeout` when none had (its future was cancelled
//! by a deadline or a shutdown while waiting).
//!
//! Inside a command handler the call is attached to the command (message id, correlation id, tenant);
//! elsewhere (a feed poller) it is journaled only when it failed and names a business id (see
//! [`Telemetry::record_platform_attempt`](super::Telemetry::record_platform_attempt)); `/metrics`
//! counts every call. The same path serves the runtime's hook
//! ([`record_platform_attempt`](snodo_queue::runtime::journal::record_platform_attempt)) when the
//! instance's [`Telemetry`] is the runtimes' journal sink, as in `snodo up`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use snodo_queue::runtime::ErrorCode;
use snodo_queue::runtime::journal::{PlatformAttempt, current_command, record_platform_attempt};

use super::telemetry::SharedTelemetry;

/// One call in progress; see the module documentation.
#[must_use = "a call is recorded when it is finished (or dropped, as a timeout)"]
pub struct PlatformCall {
    target: Target,
    started: Instant,
    attempt: Option<PlatformAttempt>,
}

/// Where a finished call is reported.
enum Target {
    /// The instance's telemetry, held by the connector ([`Telemetry::start_call`](super::Telemetry::start_call)).
    Telemetry(SharedTelemetry),
    /// The journal sink in scope on this task (a command handler's, or what `snodo up` gives inbound
    /// calls and background tasks) — its telemetry in `snodo up` ([`start`]).
    Scope,
    /// Nowhere (a client nobody asked to record).
    Detached,
}

/// Starts timing one call to `platform`, reported through the journal sink in scope when it finishes:
/// for code that holds no telemetry handle (a command handler, a feed). In `snodo up` every handler,
/// inbound call and background task has the instance's telemetry in scope, so this reaches the
/// metrics and the journal like [`Telemetry::start_call`](super::Telemetry::start_call).
pub fn start(
    platform: &'static str,
    operation: impl Into<String>,
    endpoint: impl Into<String>,
) -> PlatformCall {
    PlatformCall::new(Target::Scope, platform, operation, endpoint)
}

impl std::fmt::Debug for PlatformCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformCall")
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl PlatformCall {
    pub(super) fn with_telemetry(
        telemetry: SharedTelemetry,
        platform: &'static str,
        operation: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> PlatformCall {
        PlatformCall::new(Target::Telemetry(telemetry), platform, operation, endpoint)
    }

    fn new(
        target: Target,
        platform: &'static str,
        operation: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> PlatformCall {
        PlatformCall {
            target,
            started: Instant::now(),
            attempt: Some(PlatformAttempt {
                platform,
                operation: operation.into(),
                endpoint: endpoint.into(),
                status: None,
                outcome: Ok(()),
                platform_code: None,
                elapsed: Duration::ZERO,
                request: None,
                response: None,
                business_ids: Vec::new(),
            }),
        }
    }

    /// A call that records nowhere, for code paths whose owner did not ask for recording.
    pub fn detached(platform: &'static str, operation: impl Into<String>) -> PlatformCall {
        PlatformCall::new(Target::Detached, platform, operation, String::new())
    }

    fn report(&self, attempt: PlatformAttempt) {
        match &self.target {
            Target::Telemetry(t) => t.record_platform_attempt(current_command().as_ref(), attempt),
            Target::Scope => record_platform_attempt(attempt),
            Target::Detached => {}
        }
    }

    fn attempt(&mut self) -> &mut PlatformAttempt {
        self.attempt.as_mut().expect("an unfinished call has its attempt")
    }

    /// The body sent (kept in the journal only when `journal.raw_bodies` is on).
    pub fn request(&mut self, body: impl Into<Bytes>) -> &mut Self {
        self.attempt().request = Some(body.into());
        self
    }

    /// A business id the call concerns beyond the command's own (an IUV, a booking code): indexed
    /// (keyed hash, never in clear) so `snodo ops trace <id>` finds the call.
    pub fn business_id(&mut self, id: impl Into<String>) -> &mut Self {
        self.attempt().business_ids.push(id.into());
        self
    }

    /// The HTTP status of the answer.
    pub fn status(&mut self, status: u16) -> &mut Self {
        self.attempt().status = Some(status);
        self
    }

    /// The body answered (kept only when raw bodies are on).
    pub fn response(&mut self, body: impl Into<Bytes>) -> &mut Self {
        self.attempt().response = Some(body.into());
        self
    }

    /// Records the call: `Ok(())` or the DESIGN §5 code it was classified as, and the platform's own
    /// error code when it answered one.
    pub fn finish(mut self, outcome: Result<(), ErrorCode>, platform_code: Option<String>) {
        let mut attempt = self.attempt.take().expect("a call is finished once");
        attempt.outcome = outcome;
        attempt.platform_code = platform_code;
        attempt.elapsed = self.started.elapsed();
        self.report(attempt);
    }

    /// The platform answered and the answer was what was asked for.
    pub fn succeeded(self) {
        self.finish(Ok(()), None);
    }

    /// The platform answered with a business refusal carrying its own code.
    pub fn rejected(self, platform_code: impl Into<String>) {
        self.finish(Err(ErrorCode::Rejected), Some(platform_code.into()));
    }

    /// Finishes by the HTTP status set with [`status`](Self::status) ([`classify_status`]).
    pub fn finish_http(self) {
        let status = self.attempt.as_ref().and_then(|a| a.status);
        match status.map(classify_status) {
            Some(Ok(())) => self.succeeded(),
            Some(Err(code)) => {
                let label = status.map(|s| format!("HTTP {s}"));
                self.finish(Err(code), label);
            }
            None => self.finish(Err(ErrorCode::Unavailable), None),
        }
    }

    /// Finishes a call that got no answer: the request could not be sent or the answer not read.
    pub fn transport_error(self, error: &reqwest::Error) {
        self.finish(Err(classify_transport(error)), None);
    }
}

impl Drop for PlatformCall {
    fn drop(&mut self) {
        // Unfinished: with an answer, the caller could not use it; without, its future was cancelled
        // (deadline, shutdown) while waiting.
        if let Some(mut attempt) = self.attempt.take() {
            attempt.outcome = Err(match attempt.status {
                Some(_) => ErrorCode::Unavailable,
                None => ErrorCode::Timeout,
            });
            attempt.elapsed = self.started.elapsed();
            self.report(attempt);
        }
    }
}

/// How an HTTP status classifies (DESIGN §5): 2xx and 3xx answered, 429 and 5xx `unavailable` (worth
/// a retry), any other 4xx `rejected` (the request itself is wrong).
pub fn classify_status(status: u16) -> Result<(), ErrorCode> {
    match status {
        200..=399 => Ok(()),
        429 | 500..=599 => Err(ErrorCode::Unavailable),
        _ => Err(ErrorCode::Rejected),
    }
}

/// How a failure without an answer classifies: a timeout is `timeout`, a TLS failure `security`,
/// anything else (refused, reset, DNS) `unavailable`.
pub fn classify_transport(error: &reqwest::Error) -> ErrorCode {
    if error.is_timeout() {
        return ErrorCode::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<native_tls::Error>().is_some()
            || e.downcast_ref::<openssl::ssl::Error>().is_some()
        {
            return ErrorCode::Security;
        }
        source = e.source();
    }
    ErrorCode::Unavailable
}
