//! The hooks platform connectors report into, shared by every part of one instance through
//! [`PlatformContext::telemetry`](crate::platform::PlatformContext): calls to a platform (latency and
//! outcome per operation, with the platform's own error code), inbound calls by endpoint and outcome, the
//! feed schedulers' counters and the certificates' expiry. The operations listener renders them on
//! `/metrics` and the operations page.
//!
//! It is also the instance's way into the message journal ([`Telemetry::with_journal`]): one report
//! of a platform call ([`Telemetry::start_call`], or the runtime's `record_platform_attempt` when the
//! telemetry is the runtimes' journal sink) feeds both the metrics and the journal, so a connector
//! reports each call once.
//!
//! Every label is bounded: platform and outcome are `&'static str` chosen by code; operations and
//! inbound endpoints are capped per platform ([`MAX_OPERATIONS`]); and the label that comes from
//! outside — a platform's error code — is checked and capped per operation, so a platform answering
//! garbage cannot grow the metrics without limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use snodo_queue::runtime::ErrorCode;
use snodo_queue::runtime::journal::{
    CommandRecord, CurrentCommand, EventRecord, JournalSink, PlatformAttempt,
};
use snodo_queue::runtime::metrics::{Histogram, HistogramSnapshot};

use super::calls::PlatformCall;
use crate::journal::{InboundRecord, Journal};
use crate::schedule::FeedMetrics;

/// Distinct platform codes kept per platform operation; the rest count as [`OTHER_CODE`].
pub const MAX_PLATFORM_CODES: usize = 64;
/// Distinct operations (inbound endpoints) kept per platform; the rest count as [`OTHER_CODE`].
pub const MAX_OPERATIONS: usize = 64;
pub const OTHER_CODE: &str = "other";
/// The `outcome` label of a call that succeeded.
pub const OUTCOME_OK: &str = "ok";

/// Everything one instance's connectors report into.
#[derive(Default)]
pub struct Telemetry {
    pub platform_calls: PlatformCallMetrics,
    pub inbound: InboundMetrics,
    feeds: Mutex<Vec<(String, Arc<FeedMetrics>)>>,
    certificates: Mutex<Vec<CertificateExpiry>>,
    journal: Option<Arc<Journal>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("platform_calls", &self.platform_calls)
            .field("inbound", &self.inbound)
            .field("journal", &self.journal.as_ref().map(|j| j.store_kind()))
            .finish_non_exhaustive()
    }
}

pub type SharedTelemetry = Arc<Telemetry>;

/// When one configured certificate expires (`snodo_certificate_expiry_days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    /// Where it is configured (`tenants[0].certificates.anpr_client`), never its subject.
    pub key: String,
    pub not_after: SystemTime,
}

impl Telemetry {
    /// Telemetry that also writes the message journal: what `snodo up` gives its connectors (and
    /// installs as every runtime's journal sink).
    pub fn with_journal(journal: Arc<Journal>) -> Telemetry {
        Telemetry {
            journal: Some(journal),
            ..Telemetry::default()
        }
    }

    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    /// Starts timing one call to `platform`; see [`PlatformCall`] (`crate::ops::calls`).
    pub fn start_call(
        self: &Arc<Self>,
        platform: &'static str,
        operation: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> PlatformCall {
        PlatformCall::with_telemetry(self.clone(), platform, operation, endpoint)
    }

    /// Records one finished platform call in the metrics and (attached to `command`, when there is
    /// one) in the journal. Outside a command (a feed's poll) only a failed call naming a business id
    /// is journaled: a successful poll every few seconds would crowd the journal, and a call naming
    /// nothing could not be traced; the metrics count every call.
    pub fn record_platform_attempt(&self, command: Option<&CurrentCommand>, attempt: PlatformAttempt) {
        self.platform_calls.record(
            attempt.platform,
            &attempt.operation,
            attempt.outcome,
            attempt.platform_code.as_deref(),
            attempt.elapsed,
        );
        if let Some(journal) = &self.journal
            && (command.is_some() || (attempt.outcome.is_err() && !attempt.business_ids.is_empty()))
        {
            journal.platform_attempt(command, attempt);
        }
    }

    /// Records one inbound call in the metrics (`endpoint`, `outcome`) and the journal.
    pub fn record_inbound(&self, call: InboundRecord) {
        self.inbound.record(&call.endpoint, &call.outcome, call.elapsed);
        if let Some(journal) = &self.journal {
            journal.inbound(call);
        }
    }

    /// Makes a feed scheduler's counters visible on `/metrics` (`snodo_feed_*{feed}`).
    pub fn register_feed(&self, feed: impl Into<String>, metrics: Arc<FeedMetrics>) {
        self.feeds.lock().push((feed.into(), metrics));
    }

    pub fn feeds(&self) -> Vec<(String, Arc<FeedMetrics>)> {
        self.feeds.lock().clone()
    }

    pub fn set_certificates(&self, certificates: Vec<CertificateExpiry>) {
        *self.certificates.lock() = certificates;
    }

    pub fn certificates(&self) -> Vec<CertificateExpiry> {
        self.certificates.lock().clone()
    }
}

/// `snodo up` installs the instance's telemetry as every runtime's journal sink: commands and events
/// go to the journal, platform attempts to the metrics and the journal.
impl JournalSink for Telemetry {
    fn command(&self, record: CommandRecord) {
        if let Some(journal) = &self.journal {
            journal.command(record);
        }
    }

    fn platform_attempt(&self, command: Option<&CurrentCommand>, attempt: PlatformAttempt) {
        self.record_platform_attempt(command, attempt);
    }

    fn event(&self, command: Option<&CurrentCommand>, event: EventRecord) {
        if let Some(journal) = &self.journal {
            journal.event(command, event);
        }
    }
}

/// Calls Snodo made to a platform, per platform and operation.
#[derive(Debug, Default)]
pub struct PlatformCallMetrics {
    operations: Mutex<HashMap<(&'static str, String), Arc<OperationStats>>>,
}

#[derive(Debug, Default)]
struct OperationStats {
    latency: Histogram,
    /// (outcome, platform code or "") → calls.
    outcomes: Mutex<HashMap<(&'static str, String), u64>>,
}

/// One row of [`PlatformCallMetrics::snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct OperationSnapshot {
    pub platform: &'static str,
    pub operation: String,
    pub latency: HistogramSnapshot,
    /// (outcome, platform code or "", calls), sorted.
    pub outcomes: Vec<(&'static str, String, u64)>,
}

impl OperationSnapshot {
    /// Calls that did not end [`OUTCOME_OK`].
    pub fn errors(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _, _)| *o != OUTCOME_OK)
            .map(|(_, _, n)| n)
            .sum()
    }
}

impl PlatformCallMetrics {
    /// Records one call: `Ok(())` or the DESIGN §5 code it was classified as, and the platform's own
    /// code when it answered one (ANPR `EN122`, pagoPA `PPT_DOMINIO_SCONOSCIUTO`), even on success
    /// when the platform reports warnings that way.
    pub fn record(
        &self,
        platform: &'static str,
        operation: &str,
        outcome: Result<(), ErrorCode>,
        platform_code: Option<&str>,
        elapsed: Duration,
    ) {
        let stats = {
            let mut operations = self.operations.lock();
            let known = operations.contains_key(&(platform, operation.to_owned()));
            let count = || operations.keys().filter(|(p, _)| *p == platform).count();
            let operation = if known || count() < MAX_OPERATIONS {
                bounded_code(Some(operation), |_| true)
            } else {
                OTHER_CODE.to_owned()
            };
            operations.entry((platform, operation)).or_default().clone()
        };
        stats.latency.observe(elapsed);
        let outcome = match outcome {
            Ok(()) => OUTCOME_OK,
            Err(code) => code.as_str(),
        };
        let mut outcomes = stats.outcomes.lock();
        let code = bounded_code(platform_code, |c| {
            outcomes.contains_key(&(outcome, c.to_owned())) || outcomes.len() < MAX_PLATFORM_CODES
        });
        *outcomes.entry((outcome, code)).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<OperationSnapshot> {
        let mut rows: Vec<OperationSnapshot> = self
            .operations
            .lock()
            .iter()
            .map(|((platform, operation), stats)| {
                let operation = operation.clone();
                let mut outcomes: Vec<_> = stats
                    .outcomes
                    .lock()
                    .iter()
                    .map(|((o, c), n)| (*o, c.clone(), *n))
                    .collect();
                outcomes.sort();
                OperationSnapshot {
                    platform,
                    operation,
                    latency: stats.latency.snapshot(),
                    outcomes,
                }
            })
            .collect();
        rows.sort_by(|a, b| (a.platform, &a.operation).cmp(&(b.platform, &b.operation)));
        rows
    }
}

/// A platform code as a label: the code when it looks like one (letters, digits, `_`, `-`, `.`, `:`,
/// space — `soap:Client`, `HTTP 503` —, at most
/// 48 characters) and `admit` lets it in, [`OTHER_CODE`] otherwise; `""` when there is none.
fn bounded_code(code: Option<&str>, admit: impl FnOnce(&str) -> bool) -> String {
    match code {
        None => String::new(),
        Some(c)
            if !c.is_empty()
                && c.len() <= 48
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b' '))
                && admit(c) =>
        {
            c.to_owned()
        }
        Some(_) => OTHER_CODE.to_owned(),
    }
}

/// Calls platforms made to Snodo's inbound endpoints, by endpoint and outcome.
#[derive(Debug, Default)]
pub struct InboundMetrics {
    endpoints: Mutex<HashMap<(String, String), u64>>,
    latency: Mutex<HashMap<String, Arc<Histogram>>>,
}

impl InboundMetrics {
    /// Records one inbound call: `endpoint` names it (`pagopa.paSendRT`, `identity.acs`), `outcome` says
    /// how it was answered (`ok`, `refused`, `not_stored`, `error`, …). Both are capped like
    /// operations ([`MAX_OPERATIONS`] endpoints, each checked as a label).
    pub fn record(&self, endpoint: &str, outcome: &str, elapsed: Duration) {
        let histogram = {
            let mut latency = self.latency.lock();
            let endpoint = if latency.contains_key(endpoint) || latency.len() < MAX_OPERATIONS {
                bounded_code(Some(endpoint), |_| true)
            } else {
                OTHER_CODE.to_owned()
            };
            let outcome = bounded_code(Some(outcome), |_| true);
            *self
                .endpoints
                .lock()
                .entry((endpoint.clone(), outcome))
                .or_default() += 1;
            latency.entry(endpoint).or_default().clone()
        };
        histogram.observe(elapsed);
    }

    /// (endpoint, outcome, calls), sorted.
    pub fn counts(&self) -> Vec<(String, String, u64)> {
        let mut v: Vec<_> = self
            .endpoints
            .lock()
            .iter()
            .map(|((e, o), n)| (e.clone(), o.clone(), *n))
            .collect();
        v.sort();
        v
    }

    pub fn latencies(&self) -> Vec<(String, HistogramSnapshot)> {
        let mut v: Vec<_> = self
            .latency
            .lock()
            .iter()
            .map(|(e, h)| (e.clone(), h.snapshot()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_codes_are_checked_and_capped_per_operation() {
        let m = PlatformCallMetrics::default();
        let ms = Duration::from_millis(3);
        m.record("anpr", "3002", Err(ErrorCode::Rejected), Some("EN122"), ms);
        m.record("anpr", "3002", Err(ErrorCode::Rejected), Some("EN122"), ms);
        m.record("anpr", "3002", Err(ErrorCode::Rejected), Some("a\"b{}"), ms);
        m.record("anpr", "3002", Ok(()), None, ms);
        for i in 0..MAX_PLATFORM_CODES + 5 {
            m.record(
                "pagopa",
                "verify",
                Err(ErrorCode::Rejected),
                Some(&format!("PAA_{i}")),
                ms,
            );
        }
        let rows = m.snapshot();
        assert_eq!(rows[0].platform, "anpr");
        assert_eq!(
            rows[0].outcomes,
            vec![
                ("ok", String::new(), 1),
                ("rejected", "EN122".to_owned(), 2),
                ("rejected", OTHER_CODE.to_owned(), 1)
            ]
        );
        assert_eq!(rows[0].errors(), 3);
        assert_eq!(rows[0].latency.count, 4);
        let pagopa = &rows[1].outcomes;
        assert_eq!(pagopa.len(), MAX_PLATFORM_CODES + 1);
        assert!(pagopa.contains(&("rejected", OTHER_CODE.to_owned(), 5)));
    }
}
