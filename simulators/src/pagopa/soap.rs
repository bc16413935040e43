//! What the node's SOAP endpoints (`nodeForPa` in [`super::api`], `nodeForPsp` in [`super::psp`])
//! share: the API gateway's subscription key first, then the envelope read through the screening
//! parser, and the SOAP answers they give when either refuses.

// The refusal is the finished answer (`Err(Response)`), as in the other handlers of the node.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_mappings::soap::{Envelope, EnvelopeBuilder, Fault, FaultCode, SOAP11_CONTENT_TYPE, read_envelope};
use snodo_security::xml::Limits;

use super::api::key_check;
use super::node::NodeCore;

/// A SOAP 1.1 answer.
pub(super) fn soap(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)], body).into_response()
}

/// A SOAP `Client` Fault (HTTP 500): a request the endpoint cannot take at all.
pub(super) fn client_fault(text: String) -> Response {
    soap(
        StatusCode::INTERNAL_SERVER_ERROR,
        EnvelopeBuilder::new().fault(&Fault::new(FaultCode::Client, text)),
    )
}

/// The request's envelope once the gateway has let it through; otherwise the gateway's 401, or the
/// Fault for an envelope that is not one.
pub(super) fn open_envelope(
    core: &NodeCore,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Envelope, Response> {
    key_check(core, headers, query)?;
    read_envelope(body, &Limits::default()).map_err(|e| {
        soap(
            StatusCode::INTERNAL_SERVER_ERROR,
            EnvelopeBuilder::new().fault(&e.fault()),
        )
    })
}
