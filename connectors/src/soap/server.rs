//! Serving platform calls: one axum route per SOAP endpoint that reads the body under a size cap,
//! refuses what is not SOAP 1.1 with the right Fault, enforces `mustUnderstand`, and hands the parsed
//! envelope — with the TLS peer certificate and the path's parameters (`{tenant}`, `{station}`) — to
//! the platform's handler. Faults go out with HTTP 500 (SOAP 1.1 §6.2); pagoPA's business KOs are
//! normal responses the handler writes itself.
//!
//! Each call's operation, business ids and raw bodies are noted for the inbound call record
//! ([`crate::inbound::record`]), so every SOAP endpoint is journaled without code of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawPathParams, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_mappings::soap::{
    Envelope, EnvelopeBuilder, Fault, FaultCode, QName, SOAP11_CONTENT_TYPE, SoapError, read_envelope,
    soap_action,
};
use snodo_security::tls::PeerCertificate;

use crate::inbound::record;
use snodo_security::xml::Limits;

#[derive(Debug, Clone)]
pub struct SoapEndpointConfig {
    /// Requests longer than this are answered 413 unread.
    pub max_request_bytes: usize,
    /// Screening limits for the request.
    pub limits: Limits,
    /// Header blocks the handler processes; any other block marked `mustUnderstand` is refused.
    pub understood_headers: Vec<QName>,
}

impl Default for SoapEndpointConfig {
    fn default() -> Self {
        SoapEndpointConfig {
            max_request_bytes: 1 << 20,
            limits: Limits::default(),
            understood_headers: Vec::new(),
        }
    }
}

/// One platform call, parsed.
#[derive(Debug)]
pub struct SoapRequest {
    pub envelope: Envelope,
    /// The `SOAPAction` header without quotes, for logs and records: never for dispatch.
    pub soap_action: Option<String>,
    /// The client certificate the TLS layer verified, when the connection had one.
    pub peer: Option<PeerCertificate>,
    /// The route's path parameters, e.g. `tenant` or `station`.
    pub path: BTreeMap<String, String>,
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapReply {
    /// A normal response: one payload element, sent in an envelope with HTTP 200.
    Payload(String),
    /// A Fault, sent with HTTP 500.
    Fault(Fault),
}

#[async_trait]
pub trait SoapHandler: Send + Sync + 'static {
    async fn handle(&self, request: SoapRequest) -> SoapReply;
}

/// Builds the route of one SOAP endpoint.
pub struct SoapEndpoint;

impl SoapEndpoint {
    /// A router serving `handler` at `path` (axum syntax: `/pagopa/{station}`).
    pub fn router(path: &str, handler: Arc<dyn SoapHandler>, config: SoapEndpointConfig) -> Router {
        let config = Arc::new(config);
        Router::new().route(
            path,
            axum::routing::any(move |params: RawPathParams, request: Request| {
                let handler = handler.clone();
                let config = config.clone();
                async move { serve(handler, config, params, request).await }
            }),
        )
    }
}

async fn serve(
    handler: Arc<dyn SoapHandler>,
    config: Arc<SoapEndpointConfig>,
    params: RawPathParams,
    request: Request,
) -> Response {
    if request.method() != Method::POST {
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, "SOAP endpoints take POST\n").into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (parts, body) = request.into_parts();
    if let Some(fault) = content_type_fault(&parts.headers) {
        return fault_response(StatusCode::INTERNAL_SERVER_ERROR, &fault);
    }
    let bytes: Bytes = match axum::body::to_bytes(body, config.max_request_bytes).await {
        Ok(b) => b,
        Err(error) => {
            // Only a body over the limit is 413; one that cannot be read (a broken chunk, a
            // connection closed early) is another mistake, and a 413 would send the client looking
            // for a size problem it does not have.
            return if error.into_inner().is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "SOAP requests are limited to {} bytes\n",
                        config.max_request_bytes
                    ),
                )
                    .into_response()
            } else {
                (StatusCode::BAD_REQUEST, "the request body could not be read\n").into_response()
            };
        }
    };
    let envelope = match read_envelope(&bytes, &config.limits) {
        Ok(e) => e,
        Err(error) => return refused(&error),
    };
    if let Err(error) = envelope.check_must_understand(&config.understood_headers) {
        return refused(&error);
    }
    note_call(&envelope);
    let soap_action = parts
        .headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .map(|v| soap_action(v).to_owned());
    let peer = parts.extensions.get::<PeerCertificate>().cloned();
    let path = params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let reply = handler
        .handle(SoapRequest {
            envelope,
            soap_action,
            peer,
            path,
        })
        .await;
    let answer = match &reply {
        SoapReply::Payload(payload) => EnvelopeBuilder::new().body(payload),
        SoapReply::Fault(fault) => EnvelopeBuilder::new().fault(fault),
    };
    match &reply {
        SoapReply::Fault(_) => record::note_outcome("fault"),
        // pagoPA answers a refusal as a normal response with `<outcome>KO</outcome>`.
        SoapReply::Payload(payload) if payload.contains("outcome>KO</") => record::note_outcome("ko"),
        SoapReply::Payload(_) => {}
    }
    record::note_bodies(Some(bytes), Some(Bytes::from(answer.clone())));
    match reply {
        SoapReply::Payload(_) => xml_response(StatusCode::OK, answer),
        SoapReply::Fault(_) => xml_response(StatusCode::INTERNAL_SERVER_ERROR, answer),
    }
}

/// Notes the called operation (the payload's name without the `Request`/`Req` suffix the platforms'
/// schemas add: `paSendRTV2Request` → `paSendRTV2`) and the business ids the request names.
fn note_call(envelope: &Envelope) {
    let doc = envelope.document();
    if let Some(payload) = doc.element(envelope.payload()) {
        let name = payload.name().local_name();
        let operation = ["Request", "Req"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|s| !s.is_empty()))
            .unwrap_or(name);
        record::note_operation(operation);
    }
    let mut ids = Vec::new();
    let mut stack = vec![envelope.body()];
    while let Some(node) = stack.pop() {
        for child in doc.child_elements(node) {
            let named = doc
                .element(child)
                .is_some_and(|e| record::INBOUND_BUSINESS_ELEMENTS.contains(&e.name().local_name()));
            if named {
                let text = doc.text_content(child);
                let text = text.trim();
                if !text.is_empty() && text.len() <= 64 {
                    ids.push(text.to_owned());
                }
            } else {
                stack.push(child);
            }
        }
    }
    record::note_business_ids(ids);
}

/// SOAP 1.1 travels as `text/xml`; `application/soap+xml` is SOAP 1.2 (VersionMismatch). A missing
/// Content-Type is tolerated: some platform clients omit it.
fn content_type_fault(headers: &HeaderMap) -> Option<Fault> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "text/xml" => None,
        "application/soap+xml" => Some(Fault::new(
            FaultCode::VersionMismatch,
            "SOAP 1.2 (application/soap+xml) received; this endpoint speaks SOAP 1.1 (text/xml)",
        )),
        _ => Some(Fault::new(
            FaultCode::Client,
            "SOAP 1.1 requests are sent as text/xml",
        )),
    }
}

fn refused(error: &SoapError) -> Response {
    tracing::info!(error = %error, "SOAP request refused");
    fault_response(StatusCode::INTERNAL_SERVER_ERROR, &error.fault())
}

fn fault_response(status: StatusCode, fault: &Fault) -> Response {
    xml_response(status, EnvelopeBuilder::new().fault(fault))
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SOAP11_CONTENT_TYPE),
    );
    response
}
