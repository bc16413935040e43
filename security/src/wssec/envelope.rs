//! The SOAP 1.1 frame both sides read by absolute path: Envelope, its optional Header, its one Body,
//! and the one `wsse:Security` header in it.
//!
//! Reading by position rather than by search is what makes wrapping visible: the Body is
//! `/Envelope/Body`, the Timestamp `/Envelope/Header/Security/Timestamp`, and the verifier compares
//! the signature's covered nodes with exactly these.

use super::{WSSE_NAMESPACE, WsSecurityError};
use crate::xml::{Document, NodeId, NodeKind};

/// SOAP 1.1 envelope namespace (ANPR's services are SOAP 1.1 document/literal).
pub const SOAP11_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";

#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvelopeParts {
    pub(crate) envelope: NodeId,
    pub(crate) header: Option<NodeId>,
    pub(crate) body: NodeId,
}

/// Envelope, Header, Body, per SOAP 1.1 §4: an optional Header first, then exactly one Body. SOAP 1.1
/// lets elements follow the Body; ANPR's messages have none, and refusing them leaves no second place
/// for a payload.
pub(crate) fn envelope_parts(doc: &Document) -> Result<EnvelopeParts, WsSecurityError> {
    let envelope = doc.document_element();
    if !is(doc, envelope, SOAP11_NAMESPACE, "Envelope") {
        return Err(WsSecurityError::NotAnEnvelope);
    }
    let structure = |reason| WsSecurityError::EnvelopeStructure { reason };
    let children = element_children(doc, envelope)
        .ok_or_else(|| structure("character data directly inside the Envelope"))?;
    let (header, rest) = match children.split_first() {
        Some((&first, rest)) if is(doc, first, SOAP11_NAMESPACE, "Header") => (Some(first), rest),
        _ => (None, &children[..]),
    };
    match rest {
        [body] if is(doc, *body, SOAP11_NAMESPACE, "Body") => Ok(EnvelopeParts {
            envelope,
            header,
            body: *body,
        }),
        [] => Err(structure("no Body")),
        _ if rest
            .iter()
            .filter(|&&c| is(doc, c, SOAP11_NAMESPACE, "Body"))
            .count()
            > 1 =>
        {
            Err(structure("more than one Body"))
        }
        _ => Err(structure(
            "only an optional Header followed by one Body may appear in the Envelope",
        )),
    }
}

/// The Header's `wsse:Security` children.
pub(crate) fn security_headers(doc: &Document, header: NodeId) -> Vec<NodeId> {
    doc.child_elements(header)
        .filter(|&c| is(doc, c, WSSE_NAMESPACE, "Security"))
        .collect()
}

pub(crate) fn is(doc: &Document, node: NodeId, namespace: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name().is(Some(namespace), local))
}

/// The element children of `parent`, or `None` when it also holds non-whitespace text.
pub(crate) fn element_children(doc: &Document, parent: NodeId) -> Option<Vec<NodeId>> {
    let mut out = Vec::new();
    for child in doc.children(parent) {
        match doc.kind(child) {
            NodeKind::Element(_) => out.push(child),
            NodeKind::Text(t) if !t.trim_matches([' ', '\t', '\n', '\r']).is_empty() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// The one child of `parent` named `{namespace}local`; `None` when there are none or several.
pub(crate) fn only_child(doc: &Document, parent: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
    let mut found = doc
        .child_elements(parent)
        .filter(|&c| is(doc, c, namespace, local));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}
