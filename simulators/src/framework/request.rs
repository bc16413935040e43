//! The read-only view of a buffered request that a simulator's protocol layer inspects to name the
//! operation and check a fault rule's field, parsed at most once per request whatever the number of
//! rules. XML goes through the security crate's screening parser (a request is hostile input even
//! to a simulator) and SOAP through the one envelope reader.

use std::sync::OnceLock;

use axum::http::{HeaderMap, Method, Uri};
use snodo_mappings::soap::{Envelope, read_envelope};
use snodo_security::xml::{Document, Limits, NodeKind, parse};

/// A request as the fault layer buffered it.
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    json: OnceLock<Option<serde_json::Value>>,
    xml: OnceLock<Option<Document>>,
    soap: OnceLock<Option<Envelope>>,
}

impl<'a> RequestView<'a> {
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        RequestView {
            method,
            uri,
            headers,
            body,
            json: OnceLock::new(),
            xml: OnceLock::new(),
            soap: OnceLock::new(),
        }
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }

    /// The body as an XML tree, if it is XML within the default limits.
    pub fn xml(&self) -> Option<&Document> {
        self.xml
            .get_or_init(|| parse(self.body, &Limits::default()).ok())
            .as_ref()
    }

    /// The body as a SOAP 1.1 envelope, if it is one.
    pub fn soap(&self) -> Option<&Envelope> {
        self.soap
            .get_or_init(|| read_envelope(self.body, &Limits::default()).ok())
            .as_ref()
    }

    /// The local name of the SOAP Body's payload element: the operation of a document/literal call
    /// (`paVerifyPaymentNoticeReq`), which is what most SOAP simulators report as their operation.
    pub fn soap_operation(&self) -> Option<String> {
        self.soap().map(|e| e.payload_name().local_name().to_owned())
    }

    /// The generic field check: on a JSON body `path` is a JSON pointer (`/a/0/b`) and the value
    /// there, a string, number or boolean, must equal `value` as text; on an XML body `path` is an
    /// element's local name and some element of that name must have exactly `value` as its text
    /// (surrounding whitespace ignored).
    pub fn field_equals(&self, path: &str, value: &str) -> bool {
        if let Some(json) = self.json() {
            return match json.pointer(path) {
                Some(serde_json::Value::String(s)) => s == value,
                // Numbers and booleans compare by their JSON text (`12.5`, `true`), not as strings.
                Some(serde_json::Value::Number(n)) => n.to_string() == value,
                Some(serde_json::Value::Bool(b)) => value == if *b { "true" } else { "false" },
                _ => false,
            };
        }
        let Some(doc) = self.xml() else {
            return false;
        };
        // Pre-order walk without recursion: an element of that local name whose text matches.
        let mut stack = vec![doc.document_element()];
        while let Some(node) = stack.pop() {
            if let NodeKind::Element(element) = doc.kind(node) {
                if element.name().local_name() == path && doc.text_content(node).trim() == value {
                    return true;
                }
                stack.extend(doc.child_elements(node));
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, path: &str, value: &str) -> bool {
        let (m, u, h) = (Method::POST, Uri::from_static("/"), HeaderMap::new());
        RequestView::new(&m, &u, &h, body.as_bytes()).field_equals(path, value)
    }

    #[test]
    fn json_pointer_matches_strings_numbers_and_booleans() {
        let body = r#"{"payer": {"fiscalCode": "RSSMRA80A01F205X", "amount": 12.5, "ok": true}}"#;
        assert!(check(body, "/payer/fiscalCode", "RSSMRA80A01F205X"));
        assert!(check(body, "/payer/amount", "12.5"));
        assert!(check(body, "/payer/ok", "true"));
        assert!(!check(body, "/payer/fiscalCode", "other"));
        assert!(!check(body, "/payer", "x"));
    }

    #[test]
    fn xml_local_name_matches_any_element_with_that_text() {
        let body = "<s:E xmlns:s=\"urn:x\"><s:B><n:req xmlns:n=\"urn:y\"><noticeNumber> 302001 </noticeNumber>\
                    <noticeNumber>302002</noticeNumber></n:req></s:B></s:E>";
        assert!(check(body, "noticeNumber", "302001"));
        assert!(check(body, "noticeNumber", "302002"));
        assert!(!check(body, "noticeNumber", "302003"));
        assert!(!check(body, "fiscalCode", "302001"));
    }
}
