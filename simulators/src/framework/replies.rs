//! The replies the fault layer builds itself — SOAP Faults (through the one SOAP writer in
//! `snodo-mappings`), truncated bodies, hostile documents — and the JSON error shape of the admin API.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_mappings::soap::{
    EnvelopeBuilder, Fault as SoapFault, FaultCode, QName, SOAP11_CONTENT_TYPE, SOAP11_NAMESPACE,
};

use super::faults::HostilePayload;

/// The SOAP fault code for a rule's `code`: the four SOAP 1.1 codes and their dotted refinements.
pub fn soap_fault_code(code: &str) -> Result<FaultCode, String> {
    let base = code.split('.').next().unwrap_or_default();
    let valid_refinement = code.split('.').skip(1).all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    match (base, code.contains('.')) {
        ("Client", false) => Ok(FaultCode::Client),
        ("Server", false) => Ok(FaultCode::Server),
        ("VersionMismatch", false) => Ok(FaultCode::VersionMismatch),
        ("MustUnderstand", false) => Ok(FaultCode::MustUnderstand),
        ("Client" | "Server", true) if valid_refinement => {
            Ok(FaultCode::Other(QName::new(SOAP11_NAMESPACE, code)))
        }
        _ => Err(format!(
            "soap_fault: code {code:?} is not Client, Server, VersionMismatch, MustUnderstand or a \
             dotted refinement such as Client.Authentication"
        )),
    }
}

/// Refuses a Fault `detail` that is not well-formed XML (it is written into the envelope as is).
pub fn check_detail(detail: &str) -> Result<(), String> {
    let wrapped = format!("<detail>{detail}</detail>");
    snodo_security::xml::parse(wrapped.as_bytes(), &Default::default())
        .map(|_| ())
        .map_err(|e| format!("soap_fault: detail is not well-formed XML: {e}"))
}

/// A SOAP 1.1 Fault response: HTTP 500, as SOAP 1.1 §6.2 requires for a Fault over HTTP.
pub fn soap_fault_response(code: &str, string: &str, detail: Option<&str>) -> Response {
    let code = soap_fault_code(code).unwrap_or(FaultCode::Server);
    let mut fault = SoapFault::new(code, string);
    if let Some(detail) = detail {
        fault = fault.with_detail(detail);
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        EnvelopeBuilder::new().fault(&fault),
    )
        .into_response()
}

/// Elements of [`HostilePayload::DeepNesting`]: far past every parser limit Snodo sets (64) and past
/// the recursion most tree builders survive, yet small on the wire.
const NESTING: usize = 100_000;

/// A hostile document shaped like a SOAP reply, so that a client reaches its XML parser with it.
pub fn hostile_body(payload: HostilePayload) -> String {
    let envelope = |doctype: &str, content: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doctype}<soapenv:Envelope xmlns:soapenv=\"{SOAP11_NAMESPACE}\">\
             <soapenv:Body><reply>{content}</reply></soapenv:Body></soapenv:Envelope>"
        )
    };
    match payload {
        HostilePayload::EntityBomb => {
            let mut entities = String::from("<!ENTITY lol0 \"lol\">");
            for level in 1..=10 {
                let previous = format!("&lol{};", level - 1).repeat(10);
                entities.push_str(&format!("<!ENTITY lol{level} \"{previous}\">"));
            }
            envelope(&format!("<!DOCTYPE soapenv:Envelope [{entities}]>\n"), "&lol10;")
        }
        HostilePayload::ExternalEntity => envelope(
            "<!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n",
            "&xxe;",
        ),
        HostilePayload::DeepNesting => envelope(
            "",
            &format!("{}{}", "<a>".repeat(NESTING), "</a>".repeat(NESTING)),
        ),
    }
}

pub fn hostile_response(payload: HostilePayload) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        hostile_body(payload),
    )
        .into_response()
}

/// `body` cut to half its length (at least one byte shorter, never empty unless it was), with the
/// original status and headers but a `Content-Length` that matches what is sent: the reply must
/// look complete at the HTTP level and be broken only in its content.
pub fn truncated(parts: axum::http::response::Parts, body: &[u8]) -> Response {
    let keep = if body.len() <= 1 {
        0
    } else {
        (body.len() / 2).max(1)
    };
    let mut response = Response::from_parts(parts, Body::from(body[..keep].to_vec()));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&keep.to_string()).expect("digits are a valid header value"),
    );
    response
}

/// An error of the admin API or of the framework, as JSON: `{"error": "…"}`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bodies_are_refused_by_the_screening_parser() {
        for payload in [
            HostilePayload::EntityBomb,
            HostilePayload::ExternalEntity,
            HostilePayload::DeepNesting,
        ] {
            let body = hostile_body(payload);
            assert!(
                snodo_security::xml::parse(body.as_bytes(), &Default::default()).is_err(),
                "{payload:?} was accepted"
            );
        }
    }

    #[test]
    fn soap_codes_accept_refinements_only_of_client_and_server() {
        assert!(soap_fault_code("Client.Authentication").is_ok());
        assert!(soap_fault_code("Server").is_ok());
        assert!(soap_fault_code("Client.").is_err());
        assert!(soap_fault_code("MustUnderstand.X").is_err());
        assert!(soap_fault_code("Boom").is_err());
    }
}
