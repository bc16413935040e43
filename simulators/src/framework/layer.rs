//! The fault layer: one axum middleware in front of every simulator's protocol router, and the only
//! place faults are applied and exchanges recorded.
//!
//! Why a middleware and not a function each handler calls: a dropped connection, a gateway's 503 or a
//! hostile reply must happen before (instead of) the handler, a truncated reply after it, and the
//! recording around both — one wrapper sees all three points, and a simulator author cannot forget to
//! call it. What only the protocol knows comes from the [`Simulator`] trait: the operation name and
//! field checks (on a [`RequestView`] of the buffered body), and the rendering of platform errors.
//!
//! A dropped connection is a response whose body fails before its first byte: hyper then closes the
//! connection without writing the (still buffered) head, whichever accept loop serves the router —
//! plain `axum::serve` or the mutual-TLS loop — so the client sees the connection close unanswered.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::faults::{Fault, latency_ms};
use super::recorder::{Exchange, RecordedBody};
use super::request::RequestView;
use super::{Instance, PlatformError, replies};

/// Largest response body the layer buffers to record and possibly truncate; simulator replies are
/// kilobytes, so reaching this is a simulator bug, answered as a 500.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

pub(super) async fn apply(State(instance): State<Arc<Instance>>, request: Request, next: Next) -> Response {
    let at = instance.clock.now();
    let (parts, body) = request.into_parts();
    let peer_subject = parts
        .extensions
        .get::<snodo_security::tls::PeerCertificate>()
        .map(|peer| subject_line(&peer.subject));
    let mut exchange = Pending::new(
        &instance,
        Exchange {
            seq: 0,
            at,
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            operation: None,
            status: None,
            request: RecordedBody::new(b"", 0),
            response: None,
            fault: None,
            peer_subject,
        },
    );
    let bytes = match axum::body::to_bytes(body, instance.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let response = replies::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body larger than this simulator accepts ({} bytes) or not fully received",
                    instance.max_request_bytes
                ),
            );
            return exchange.finish(response).await;
        }
    };
    exchange.get().request = RecordedBody::new(&bytes, instance.recorder.body_cap());

    let (operation, applied) = {
        let simulator = &instance.simulator;
        let view = RequestView::new(&parts.method, &parts.uri, &parts.headers, &bytes);
        let operation = simulator.operation(&view);
        let applied = instance.faults.claim(operation.as_deref(), |field| {
            simulator.field_matches(&view, &field.path, &field.value)
        });
        (operation, applied)
    };
    exchange.get().operation = operation.clone();
    exchange.get().fault = applied.clone();
    let request = Request::from_parts(parts, Body::from(bytes));

    let Some(applied) = applied else {
        let response = next.run(request).await;
        return exchange.finish(response).await;
    };
    let response = match &applied.fault {
        Fault::Latency { .. } => {
            let ms = latency_ms(&applied).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Fault::HttpStatus {
            status,
            body,
            content_type,
        } => http_status(*status, body.as_deref(), content_type.as_deref()),
        Fault::PlatformError { code, message } => instance.simulator.render_platform_error(
            operation.as_deref(),
            &PlatformError {
                code: code.clone(),
                message: message.clone(),
            },
        ),
        Fault::SoapFault { code, string, detail } => {
            instance
                .simulator
                .render_soap_fault(operation.as_deref(), code, string, detail.as_deref())
        }
        // Recorded without a status when `exchange` is dropped with this function.
        Fault::DropConnection {} => return dropped_connection(),
        Fault::MalformedReply {} => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await {
                Ok(body) => replies::truncated(parts, &body),
                Err(e) => {
                    let (parts, body) = unbuffered(parts, e);
                    Response::from_parts(parts, Body::from(body))
                }
            }
        }
        Fault::HostileReply { payload } => replies::hostile_response(*payload),
    };
    exchange.finish(response).await
}

/// An exchange being served. Recorded when finished with its response — or, if the call ends first
/// (the connection was dropped by a fault, or the client gave up during a latency fault and hyper
/// dropped this future), recorded as it is, without a status: every request appears in the recording.
struct Pending {
    instance: Arc<Instance>,
    exchange: Option<Exchange>,
}

impl Pending {
    fn new(instance: &Arc<Instance>, exchange: Exchange) -> Pending {
        Pending {
            instance: instance.clone(),
            exchange: Some(exchange),
        }
    }

    fn get(&mut self) -> &mut Exchange {
        self.exchange.as_mut().expect("present until finished or dropped")
    }

    /// Records the exchange with the response, and returns the response rebuilt from its buffer.
    async fn finish(mut self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let (parts, body) = match axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await {
            Ok(body) => (parts, body),
            Err(e) => unbuffered(parts, e),
        };
        let body_cap = self.instance.recorder.body_cap();
        let exchange = self.get();
        exchange.status = Some(parts.status.as_u16());
        exchange.response = Some(RecordedBody::new(&body, body_cap));
        Response::from_parts(parts, Body::from(body))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(exchange) = self.exchange.take() {
            self.instance.recorder.push(exchange);
        }
    }
}

fn http_status(status: u16, body: Option<&str>, content_type: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body.unwrap_or_default().to_owned()).into_response();
    let content_type = match (content_type, body) {
        (Some(ct), _) => HeaderValue::from_str(ct).ok(),
        (None, Some(_)) => Some(HeaderValue::from_static("text/plain; charset=utf-8")),
        (None, None) => None,
    };
    match content_type {
        Some(ct) => response.headers_mut().insert(header::CONTENT_TYPE, ct),
        None => response.headers_mut().remove(header::CONTENT_TYPE),
    };
    response
}

/// A response hyper can never send: its body fails at once, so the connection is closed unanswered.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by a fault rule",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// The reply of a handler whose body could not be buffered: a JSON 500 saying so, in place of it.
fn unbuffered(
    mut parts: axum::http::response::Parts,
    e: axum::Error,
) -> (axum::http::response::Parts, Bytes) {
    let message =
        format!("the simulator's reply could not be buffered (over {MAX_RESPONSE_BYTES} bytes?): {e}");
    parts.status = StatusCode::INTERNAL_SERVER_ERROR;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (
        parts,
        Bytes::from(serde_json::json!({ "error": message }).to_string()),
    )
}

/// `CN=…, O=…` from the fields an integrator recognises a certificate by. The subject
/// `serialNumber` is left out: on a person's certificate it holds a codice fiscale.
fn subject_line(subject: &snodo_security::pki::SubjectFields) -> String {
    [
        ("CN", &subject.common_name),
        ("OU", &subject.organizational_unit),
        ("O", &subject.organization),
        ("organizationIdentifier", &subject.organization_identifier),
        ("L", &subject.locality),
        ("C", &subject.country),
    ]
    .iter()
    .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={v}")))
    .collect::<Vec<_>>()
    .join(", ")
}
