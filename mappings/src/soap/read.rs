//! Reading an envelope: screen, parse once, locate Header, Body and payload by position and expanded
//! name, and refuse every shape document/literal SOAP 1.1 does not have.

use snodo_security::xml::{Document, Limits, NodeId, NodeKind, parse};

use super::fault::{Fault, FaultCode};
use super::{QName, SOAP11_NAMESPACE, SOAP12_NAMESPACE, SoapError};

/// A parsed SOAP 1.1 message: the one tree, and where its parts are in it.
#[derive(Debug)]
pub struct Envelope {
    doc: Document,
    header: Option<NodeId>,
    body: NodeId,
    payload: NodeId,
    fault: Option<Fault>,
}

/// Reads a SOAP 1.1 envelope from `bytes`, screened under `limits`.
pub fn read_envelope(bytes: &[u8], limits: &Limits) -> Result<Envelope, SoapError> {
    let doc = parse(bytes, limits)?;
    let envelope = doc.document_element();
    let name = QName::of(&doc, envelope).expect("the document element is an element");
    if name.local_name() == "Envelope" && name.namespace() == Some(SOAP12_NAMESPACE) {
        return Err(SoapError::VersionMismatch);
    }
    if name != QName::new(SOAP11_NAMESPACE, "Envelope") {
        return Err(SoapError::NotAnEnvelope { found: name });
    }

    let mut header = None;
    let mut body = None;
    for child in doc.child_elements(envelope) {
        let child_name = QName::of(&doc, child).expect("an element");
        let is_soap = child_name.namespace() == Some(SOAP11_NAMESPACE);
        match child_name.local_name() {
            "Header" if is_soap && header.is_none() && body.is_none() => header = Some(child),
            "Body" if is_soap && body.is_none() => body = Some(child),
            _ => return Err(SoapError::UnexpectedEnvelopeChild { found: child_name }),
        }
    }
    let body = body.ok_or(SoapError::MissingBody)?;

    let mut elements = Vec::with_capacity(1);
    for child in doc.children(body) {
        match doc.kind(child) {
            NodeKind::Element(_) => elements.push(child),
            NodeKind::Text(t) if !t.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => {
                return Err(SoapError::TextInBody);
            }
            _ => {}
        }
    }
    let payload = match elements.as_slice() {
        [] => return Err(SoapError::EmptyBody),
        [one] => *one,
        more => return Err(SoapError::SeveralBodyElements { count: more.len() }),
    };
    let fault = if QName::new(SOAP11_NAMESPACE, "Fault").matches(&doc, payload) {
        Some(read_fault(&doc, payload)?)
    } else {
        None
    };
    Ok(Envelope {
        doc,
        header,
        body,
        payload,
        fault,
    })
}

impl Envelope {
    /// The parsed tree, for mappings and signature verification.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The Header element, if any.
    pub fn header(&self) -> Option<NodeId> {
        self.header
    }

    /// The Body element (what WS-Security signs).
    pub fn body(&self) -> NodeId {
        self.body
    }

    /// The one element in the Body: the operation's request or response, or the Fault.
    pub fn payload(&self) -> NodeId {
        self.payload
    }

    /// The payload's expanded name: the dispatch key.
    pub fn payload_name(&self) -> QName {
        QName::of(&self.doc, self.payload).expect("the payload is an element")
    }

    /// The Fault, when the Body holds one.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// The Fault's `detail` element, for the platform's mapping to read.
    pub fn fault_detail(&self) -> Option<NodeId> {
        self.fault.as_ref()?;
        self.doc
            .child_elements(self.payload)
            .find(|&c| QName::unqualified("detail").matches(&self.doc, c))
    }

    /// The header blocks (element children of the Header), in order.
    pub fn header_blocks(&self) -> Vec<NodeId> {
        self.header
            .map(|h| self.doc.child_elements(h).collect())
            .unwrap_or_default()
    }

    /// The first header block with this name.
    pub fn header_block(&self, name: &QName) -> Option<NodeId> {
        self.header_blocks()
            .into_iter()
            .find(|&b| name.matches(&self.doc, b))
    }

    /// Fails on the first header block marked `mustUnderstand="1"` (SOAP 1.1 §4.2.3) whose name is not
    /// in `understood`: an endpoint must not act on a message whose mandatory headers it ignores.
    pub fn check_must_understand(&self, understood: &[QName]) -> Result<(), SoapError> {
        for block in self.header_blocks() {
            let element = self.doc.element(block).expect("an element");
            let mandatory = matches!(
                element.attribute(Some(SOAP11_NAMESPACE), "mustUnderstand"),
                Some("1" | "true")
            );
            let name = QName::of(&self.doc, block).expect("an element");
            if mandatory && !understood.contains(&name) {
                return Err(SoapError::MustUnderstand { block: name });
            }
        }
        Ok(())
    }
}

fn read_fault(doc: &Document, fault: NodeId) -> Result<Fault, SoapError> {
    // SOAP 1.1 §4.4: faultcode, faultstring, faultactor and detail are unqualified children.
    let child = |local: &str| {
        doc.child_elements(fault)
            .find(|&c| QName::unqualified(local).matches(doc, c))
    };
    let code_node = child("faultcode").ok_or(SoapError::MalformedFault { missing: "faultcode" })?;
    let code_text = doc.text_content(code_node);
    let code_text = code_text.trim();
    let (prefix, local) = match code_text.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, code_text),
    };
    if local.is_empty() {
        return Err(SoapError::MalformedFault { missing: "faultcode" });
    }
    let code = match doc.lookup_namespace(code_node, prefix) {
        Some(ns) => FaultCode::from_qname(QName::new(ns, local)),
        None => FaultCode::from_qname(QName::unqualified(local)),
    };
    let string = child("faultstring").ok_or(SoapError::MalformedFault {
        missing: "faultstring",
    })?;
    Ok(Fault {
        code,
        string: doc.text_content(string),
        actor: child("faultactor").map(|a| doc.text_content(a)),
        detail: None,
    })
}

/// The operation named by a `SOAPAction` header, without the quotes SOAP 1.1 §6.1.1 puts around it
/// and clients are inconsistent about. Informational only: dispatch is on the payload.
pub fn soap_action(header: &str) -> &str {
    let trimmed = header.trim();
    trimmed
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(trimmed)
}
