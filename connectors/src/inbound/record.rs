//! Recording every call a platform makes to Snodo — a pagoPA primitive, a SAML ACS post, an ANPR
//! notification — once, in one place: [`record_calls`] wraps the inbound listener's routes, times
//! each call, and reports it to the instance's [`Telemetry`] (`snodo_inbound_calls_total`, the
//! journal's `inbound_call` record) with what the layers beneath noted while answering it:
//!
//! - the SOAP endpoint ([`crate::soap::server`]) notes the operation (the payload element,
//!   `paSendRT`), the business ids the request names (IUV, notice number, codice fiscale) and the
//!   raw bodies;
//! - [`InboundPublisher`](super::InboundPublisher) notes each event it stored (or failed to), and
//!   journals the event itself.
//!
//! So a trace by IUV finds the call even when it produced no event (a `paVerifyPaymentNotice`), and a
//! trace by an event's id finds the call that brought it. Connectors add nothing per endpoint.
//! Notes are kept in a task-local for the call's duration; outside [`record_calls`] they go nowhere.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use parking_lot::Mutex;
use snodo_queue::runtime::journal::{SharedJournalSink, with_sink};

use crate::journal::InboundRecord;
use crate::ops::SharedTelemetry;

/// Element names whose text is a business id in the platforms' inbound messages (pagoPA, ANPR).
pub const INBOUND_BUSINESS_ELEMENTS: &[&str] = &[
    "creditorReferenceId",
    "noticeNumber",
    "iuv",
    "IUV",
    "codiceFiscale",
    "idOperazioneANPR",
    "idOperazioneComune",
];

#[derive(Debug, Default)]
struct CallNotes {
    operation: Option<String>,
    business_ids: Vec<String>,
    /// (message id, type, tenant, stored).
    events: Vec<(String, String, Option<String>, bool)>,
    outcome: Option<&'static str>,
    request: Option<Bytes>,
    response: Option<Bytes>,
}

tokio::task_local! {
    static CALL: Arc<Mutex<CallNotes>>;
}

fn note(f: impl FnOnce(&mut CallNotes)) {
    let _ = CALL.try_with(|notes| f(&mut notes.lock()));
}

/// The operation the platform called, when the route serves several (the SOAP payload's name).
pub fn note_operation(operation: &str) {
    note(|n| n.operation = Some(operation.to_owned()));
}

/// Business ids the call names (indexed as keyed hashes, never kept in clear).
pub fn note_business_ids(ids: impl IntoIterator<Item = String>) {
    note(|n| n.business_ids.extend(ids));
}

/// How the call was answered when the HTTP status does not tell (a SOAP Fault, a pagoPA `KO`).
pub fn note_outcome(outcome: &'static str) {
    note(|n| n.outcome = Some(outcome));
}

/// The raw request and response (journaled only when `journal.raw_bodies` is on).
pub fn note_bodies(request: Option<Bytes>, response: Option<Bytes>) {
    note(|n| {
        if request.is_some() {
            n.request = request;
        }
        if response.is_some() {
            n.response = response;
        }
    });
}

pub(super) fn note_event(message_id: String, kind: String, tenant: Option<String>, stored: bool) {
    note(|n| n.events.push((message_id, kind, tenant, stored)));
}

/// Wraps every route of `router` so that each call is recorded (see the module documentation), with
/// `telemetry` as the journal sink in scope while it is answered.
pub fn record_calls(router: Router, telemetry: SharedTelemetry) -> Router {
    if !router.has_routes() {
        return router;
    }
    router.route_layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let telemetry = telemetry.clone();
        async move { record(telemetry, request, next).await }
    }))
}

async fn record(telemetry: SharedTelemetry, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let notes = Arc::new(Mutex::new(CallNotes::default()));
    let sink: SharedJournalSink = telemetry.clone();
    let response = CALL
        .scope(notes.clone(), with_sink(sink, next.run(request)))
        .await;
    let notes = std::mem::take(&mut *notes.lock());
    let status = response.status().as_u16();
    let outcome = if notes.events.iter().any(|(_, _, _, stored)| !stored) {
        "not_stored"
    } else if let Some(outcome) = notes.outcome {
        outcome
    } else {
        match status {
            200..=399 => "ok",
            400..=499 => "refused",
            _ => "error",
        }
    };
    let first = notes.events.first();
    telemetry.record_inbound(InboundRecord {
        endpoint: endpoint_label(route.as_deref(), notes.operation.as_deref()),
        route,
        outcome: outcome.to_owned(),
        status: Some(status),
        elapsed: started.elapsed(),
        message_id: first.map(|e| e.0.clone()),
        event_ids: notes.events.iter().map(|e| e.0.clone()).collect(),
        message_type: first.map(|e| e.1.clone()),
        tenant: first.and_then(|e| e.2.clone()),
        business_ids: notes.business_ids,
        request: notes.request,
        response: notes.response,
    });
    response
}

/// `<platform>.<what>`: the route's first segment, then the noted operation or the route's last
/// fixed segment — `pagopa.paSendRT`, `identity.acs`. Never a concrete path (it carries ids).
pub fn endpoint_label(route: Option<&str>, operation: Option<&str>) -> String {
    let Some(route) = route else {
        return "unmatched".to_owned();
    };
    let fixed: Vec<&str> = route
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .collect();
    let platform = fixed.first().copied().unwrap_or("root");
    let what = operation.or_else(|| fixed.last().copied()).unwrap_or("root");
    format!("{platform}.{what}")
}

#[cfg(test)]
mod tests {
    use super::endpoint_label;

    #[test]
    fn labels_name_the_platform_and_the_operation_never_an_id() {
        assert_eq!(
            endpoint_label(Some("/pagopa/{station}"), Some("paSendRT")),
            "pagopa.paSendRT"
        );
        assert_eq!(
            endpoint_label(Some("/identity/{tenant}/acs"), None),
            "identity.acs"
        );
        assert_eq!(
            endpoint_label(Some("/identity/{tenant}/{federation}/metadata"), None),
            "identity.metadata"
        );
        assert_eq!(endpoint_label(None, Some("x")), "unmatched");
    }
}
