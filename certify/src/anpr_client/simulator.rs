//! The ANPR simulator in judging mode: the simulator itself (`snodo_simulators::anpr`, untouched),
//! wrapped so that every request to a SOAP service path is judged ([`RequestJudge`]) before the
//! simulator answers it, with the TLS client certificate the connection presented, and kept with a
//! summary of that answer. The wrapper adds two admin calls to the simulator's:
//!
//! | call | does |
//! |---|---|
//! | `GET /admin/certify/requests` | the verdicts so far, oldest first |
//! | `POST /admin/certify/done` | the client is done: the run ends and the reports are written |
//!
//! PDND requests (the voucher endpoint, the e-services) are judged by [`PdndJudge`] instead.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use snodo_queue::privacy::mask_personal_data;
use snodo_security::tls::PeerCertificate;
use snodo_security::wssec::SOAP11_NAMESPACE;
use snodo_security::xml::{Document, Limits, NodeId, parse};
use snodo_simulators::anpr::{AnprSimulator, SERVICE_PATHS};
use snodo_simulators::framework::{PlatformError, RequestView, Simulator};
use tokio_util::sync::CancellationToken;

use super::judge::RequestJudge;
use super::pdnd::{PdndJudge, TOKEN_PATH, eservice_of};

/// Bodies are already bounded by the framework's fault layer, which buffers them first.
const MAX_BODY: usize = 64 << 20;

/// What the judging layer and the admin calls share.
#[derive(Clone)]
pub struct Judging {
    pub judge: Arc<RequestJudge>,
    /// Voucher requests and e-service calls.
    pub pdnd: Arc<PdndJudge>,
    /// Cancelled by `POST /admin/certify/done`.
    pub done: CancellationToken,
    /// Prints one line per judged request (the CLI's progress).
    pub progress: bool,
}

pub struct JudgingAnpr {
    inner: AnprSimulator,
    judging: Judging,
}

impl JudgingAnpr {
    pub fn new(inner: AnprSimulator, judging: Judging) -> JudgingAnpr {
        JudgingAnpr { inner, judging }
    }
}

impl Simulator for JudgingAnpr {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn default_port(&self) -> u16 {
        self.inner.default_port()
    }

    fn router(&self) -> Router {
        self.inner.router().layer(axum::middleware::from_fn_with_state(
            self.judging.clone(),
            judge_layer,
        ))
    }

    /// The verdicts are the run's record: a reset of the simulator's data keeps them.
    fn reset(&self) {
        self.inner.reset();
    }

    fn operation(&self, request: &RequestView<'_>) -> Option<String> {
        self.inner.operation(request)
    }

    fn field_matches(&self, request: &RequestView<'_>, path: &str, value: &str) -> bool {
        self.inner.field_matches(request, path, value)
    }

    fn admin_router(&self) -> Option<Router> {
        let mine = Router::new()
            .route("/admin/certify/requests", get(requests))
            .route("/admin/certify/done", post(done))
            .with_state(self.judging.clone());
        Some(match self.inner.admin_router() {
            Some(theirs) => theirs.merge(mine),
            None => mine,
        })
    }

    fn render_platform_error(&self, operation: Option<&str>, error: &PlatformError) -> Response {
        self.inner.render_platform_error(operation, error)
    }

    fn render_soap_fault(
        &self,
        operation: Option<&str>,
        code: &str,
        string: &str,
        detail: Option<&str>,
    ) -> Response {
        self.inner.render_soap_fault(operation, code, string, detail)
    }
}

async fn judge_layer(State(judging): State<Judging>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if request.method() == Method::POST && (path == TOKEN_PATH || eservice_of(&path).is_some()) {
        return judge_pdnd(&judging, path, request, next).await;
    }
    if request.method() != Method::POST || !SERVICE_PATHS.contains(&path.as_str()) {
        judging.judge.note_other(format!("{} {path}", request.method()));
        return next.run(request).await;
    }
    let peer = request.extensions().get::<PeerCertificate>().cloned();
    let (parts, body) = request.into_parts();
    let bytes = match whole_request(body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    let mut verdict = judging
        .judge
        .judge(&path, &bytes, peer.as_ref(), SystemTime::now());
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = whole_answer(response).await;
    verdict.answer = Some(summarize_answer(parts.status.as_u16(), &body));
    if judging.progress {
        eprintln!("anpr-client: {}", one_line(&verdict));
    }
    judging.judge.record(verdict);
    Response::from_parts(parts, Body::from(body))
}

/// A PDND request: judged on its headers and body before the simulator answers, kept with the answer
/// (a voucher request's answer is the voucher later calls are matched with).
async fn judge_pdnd(judging: &Judging, path: String, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match whole_request(body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    let now = SystemTime::now();
    let headers = parts.headers.clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let judged = match eservice_of(&path) {
        Some(eservice) => Err(judging.pdnd.call(eservice, &header, &bytes, now)),
        None => Ok(judging.pdnd.voucher_request(&bytes, now)),
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = whole_answer(response).await;
    let status = parts.status.as_u16();
    match judged {
        Ok(pending) => judging.pdnd.voucher_answered(pending, status, &body),
        Err(verdict) => {
            if judging.progress {
                eprintln!("anpr-client: {}", pdnd_line(&verdict));
            }
            judging.pdnd.call_answered(verdict, status, &body);
        }
    }
    Response::from_parts(parts, Body::from(body))
}

/// A request's body, whole (a judge needs every byte), or the 413 to answer instead.
async fn whole_request(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body not received whole: {e}"),
        )
            .into_response()
    })
}

/// The simulator's answer, read whole so it can be kept with the verdict and passed on. The simulator
/// writes its answers in memory; one it could not give whole is judged and passed on as empty.
async fn whole_answer(response: Response) -> (axum::http::response::Parts, Bytes) {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_else(|_| Bytes::new());
    (parts, body)
}

fn pdnd_line(verdict: &super::pdnd::PdndVerdict) -> String {
    if verdict.passes {
        return format!("PDND #{} {}: passes", verdict.seq, verdict.what);
    }
    let failed: Vec<String> = verdict
        .checks
        .iter()
        .filter(|c| c.status == super::checks::Status::Fail)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    format!(
        "PDND #{} {}: FAILS {}",
        verdict.seq,
        verdict.what,
        failed.join("; ")
    )
}

/// `#3 Richiesta3002 (CN=015146-CO-9999): passes` or the failed checks with their reasons.
pub fn one_line(verdict: &super::judge::RequestVerdict) -> String {
    let what = verdict.payload.as_deref().unwrap_or("(no payload)");
    let who = verdict
        .client_certificate
        .as_deref()
        .unwrap_or("no client certificate");
    if verdict.passes {
        return format!("#{} {what} ({who}): passes", verdict.seq);
    }
    let failed: Vec<String> = verdict
        .checks
        .iter()
        .filter(|c| c.status == super::checks::Status::Fail)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    format!("#{} {what} ({who}): FAILS {}", verdict.seq, failed.join("; "))
}

async fn requests(State(judging): State<Judging>) -> Response {
    Json(serde_json::json!({
        "requests": judging.judge.verdicts(),
        "pdnd": judging.pdnd.verdicts(),
        "not_judged": judging.judge.others(),
    }))
    .into_response()
}

async fn done(State(judging): State<Judging>) -> Response {
    judging.done.cancel();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"judged": judging.judge.verdicts().len()})),
    )
        .into_response()
}

/// What the simulator answered, in one line: a SOAP Fault's string and reason, a `rispostaKO`'s
/// first error, or the OK element's name. Codici fiscali in texts are masked.
fn summarize_answer(status: u16, body: &[u8]) -> String {
    let Ok(doc) = parse(body, &Limits::default()) else {
        return format!("HTTP {status}, not XML");
    };
    let root = doc.document_element();
    let body_node = doc.child_elements(root).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(SOAP11_NAMESPACE), "Body"))
    });
    let Some(payload) = body_node.and_then(|b| doc.child_elements(b).next()) else {
        return format!("HTTP {status}, no SOAP Body");
    };
    let local = doc
        .element(payload)
        .map(|e| e.name().local_name().to_owned())
        .unwrap_or_default();
    let text = |local: &str| descendant(&doc, payload, local).map(|n| doc.text_content(n).trim().to_owned());
    let line = if local == "Fault" {
        let reason = text("motivo").map(|m| format!(" ({m})")).unwrap_or_default();
        format!(
            "HTTP {status} SOAP Fault {}: {}{reason}",
            text("faultcode").unwrap_or_default(),
            text("faultstring").unwrap_or_default()
        )
    } else if descendant(&doc, payload, "rispostaKO").is_some() {
        format!(
            "HTTP {status} {local} rispostaKO {}: {}",
            text("codiceErroreAnomalia").unwrap_or_default(),
            text("testoErroreAnomalia").unwrap_or_default()
        )
    } else {
        format!("HTTP {status} {local}")
    };
    mask_personal_data(&line)
}

fn descendant(doc: &Document, node: NodeId, local: &str) -> Option<NodeId> {
    for child in doc.child_elements(node) {
        if doc.element(child).is_some_and(|e| e.name().local_name() == local) {
            return Some(child);
        }
        if let Some(found) = descendant(doc, child, local) {
            return Some(found);
        }
    }
    None
}
