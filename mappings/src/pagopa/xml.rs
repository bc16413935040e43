//! Reading pagoPA payloads strictly; they are written with the shared [`XmlOut`], by construction.
//!
//! The reader walks a payload the way its XSD sequence reads: each child element in order, with its
//! cardinality, unqualified (the schemas declare no `elementFormDefault`), no attributes, no character
//! data between elements, and every simple value checked against its type. What it refuses carries the
//! path of the element and the rule broken — never the value, which may be personal data — and whether
//! the XSD itself was broken ([`SyntaxKind::Xsd`]) or a rule beyond it ([`SyntaxKind::ExtraXsd`]),
//! which decides the fault code the endpoint answers.

use base64::Engine as _;
use snodo_security::xml::{Document, NodeId, NodeKind};

use super::simple::{
    self, Amount, XsdDate, XsdDateTime, is_country, is_digits, is_email, parse_boolean, parse_integer,
    xsd_length,
};

pub(crate) use crate::payload_xml::XmlOut;

/// Which kind of syntax rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxKind {
    /// The request does not conform to the service's XSD: `PAA_SINTASSI_XSD`.
    Xsd,
    /// The request conforms to the XSD but breaks a syntax rule beyond it (for instance an embedded
    /// document that is not XML): `PAA_SINTASSI_EXTRAXSD`.
    ExtraXsd,
}

/// A request refused for its syntax: where, and which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {rule}")]
pub struct SyntaxError {
    pub kind: SyntaxKind,
    /// Element path from the payload root, e.g. `paGetPaymentReq/qrCode/noticeNumber`.
    pub path: String,
    pub rule: String,
}

impl SyntaxError {
    pub(crate) fn xsd(path: &str, rule: impl Into<String>) -> SyntaxError {
        SyntaxError {
            kind: SyntaxKind::Xsd,
            path: path.to_owned(),
            rule: rule.into(),
        }
    }

    pub(crate) fn extra_xsd(path: &str, rule: impl Into<String>) -> SyntaxError {
        SyntaxError {
            kind: SyntaxKind::ExtraXsd,
            path: path.to_owned(),
            rule: rule.into(),
        }
    }
}

type Result<T> = std::result::Result<T, SyntaxError>;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One element being read.
#[derive(Clone)]
pub(crate) struct Node<'d> {
    doc: &'d Document,
    id: NodeId,
    path: String,
    /// The namespace of child elements: `None` for pagoPA's unqualified locals, the target namespace
    /// for schemas with `elementFormDefault="qualified"` (FlussoRiversamento).
    child_ns: Option<&'static str>,
}

impl<'d> Node<'d> {
    /// The payload root (its name was checked by dispatch).
    pub(crate) fn root(doc: &'d Document, id: NodeId) -> Result<Node<'d>> {
        Node::root_with(doc, id, None)
    }

    /// A root whose descendants are all in `namespace`.
    pub(crate) fn qualified_root(doc: &'d Document, id: NodeId, namespace: &'static str) -> Result<Node<'d>> {
        Node::root_with(doc, id, Some(namespace))
    }

    fn root_with(doc: &'d Document, id: NodeId, child_ns: Option<&'static str>) -> Result<Node<'d>> {
        let name = doc
            .element(id)
            .map(|e| e.name().local_name().to_owned())
            .unwrap_or_default();
        let node = Node {
            doc,
            id,
            path: name,
            child_ns,
        };
        node.check_attributes(false)?;
        Ok(node)
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// `xsi:nil="true"` on an element declared nillable.
    pub(crate) fn is_nil(&self) -> bool {
        let element = self.doc.element(self.id).expect("an element");
        matches!(element.attribute(Some(XSI), "nil"), Some("true" | "1"))
    }

    fn check_attributes(&self, nillable: bool) -> Result<()> {
        let element = self.doc.element(self.id).expect("an element");
        for attribute in element.attributes() {
            let name = attribute.name();
            let allowed = name.namespace() == Some(XSI)
                && (matches!(name.local_name(), "schemaLocation" | "noNamespaceSchemaLocation")
                    || nillable && name.local_name() == "nil");
            if !allowed {
                return Err(SyntaxError::xsd(
                    &self.path,
                    format!("attribute {} is not allowed", name.qualified()),
                ));
            }
        }
        Ok(())
    }

    /// The element children, for a complex type: character data other than whitespace is refused.
    pub(crate) fn children(&self) -> Result<Children<'d>> {
        let mut elements = Vec::new();
        for child in self.doc.children(self.id) {
            match self.doc.kind(child) {
                NodeKind::Element(_) => elements.push(child),
                NodeKind::Text(t) if !t.chars().all(simple::is_xml_space) => {
                    return Err(SyntaxError::xsd(&self.path, "character data is not allowed here"));
                }
                _ => {}
            }
        }
        Ok(Children {
            parent: self.clone(),
            elements,
            next: 0,
        })
    }

    /// The character data of a simple-typed element (no child elements), unmodified.
    pub(crate) fn text(&self) -> Result<String> {
        if self.doc.child_elements(self.id).next().is_some() {
            return Err(SyntaxError::xsd(
                &self.path,
                "a simple value cannot contain elements",
            ));
        }
        Ok(self.doc.text_content(self.id))
    }

    /// `xsd:string` restricted to `min..=max` characters (whitespace preserved, as XSD does).
    pub(crate) fn string(&self, min: usize, max: usize) -> Result<String> {
        let text = self.text()?;
        let length = xsd_length(&text);
        if length < min || length > max {
            return Err(SyntaxError::xsd(
                &self.path,
                format!("length must be {min} to {max} characters, is {length}"),
            ));
        }
        Ok(text)
    }

    /// `xsd:string` without facets.
    pub(crate) fn any_string(&self) -> Result<String> {
        self.text()
    }

    pub(crate) fn amount(&self) -> Result<Amount> {
        Amount::parse(&self.text()?).ok_or_else(|| {
            SyntaxError::xsd(
                &self.path,
                "not an amount with exactly two decimals up to 999999999.99",
            )
        })
    }

    /// `stAmountNotZero`: at least 0.01.
    pub(crate) fn amount_not_zero(&self) -> Result<Amount> {
        let amount = self.amount()?;
        if amount == Amount::ZERO {
            return Err(SyntaxError::xsd(&self.path, "amount must be at least 0.01"));
        }
        Ok(amount)
    }

    pub(crate) fn date(&self) -> Result<XsdDate> {
        XsdDate::parse(&self.text()?).ok_or_else(|| SyntaxError::xsd(&self.path, "not an xsd:date"))
    }

    pub(crate) fn date_time(&self) -> Result<XsdDateTime> {
        XsdDateTime::parse(&self.text()?).ok_or_else(|| SyntaxError::xsd(&self.path, "not an xsd:dateTime"))
    }

    pub(crate) fn boolean(&self) -> Result<bool> {
        parse_boolean(&self.text()?).ok_or_else(|| SyntaxError::xsd(&self.path, "not an xsd:boolean"))
    }

    /// An integer in `min..=max` (the `stIdTransfer` enumeration, `stIndice`, `xsd:int`).
    pub(crate) fn integer(&self, min: i64, max: i64) -> Result<i64> {
        match parse_integer(&self.text()?) {
            Some(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(SyntaxError::xsd(
                &self.path,
                format!("not an integer from {min} to {max}"),
            )),
        }
    }

    /// `stFiscalCodePA`: 11 digits.
    pub(crate) fn fiscal_code_pa(&self) -> Result<String> {
        let text = self.text()?;
        if !is_digits(&text, 11) {
            return Err(SyntaxError::xsd(&self.path, "not 11 digits (stFiscalCodePA)"));
        }
        Ok(text)
    }

    /// `stNoticeNumber`: 18 digits.
    pub(crate) fn notice_number(&self) -> Result<String> {
        let text = self.text()?;
        if !is_digits(&text, 18) {
            return Err(SyntaxError::xsd(&self.path, "not 18 digits (stNoticeNumber)"));
        }
        Ok(text)
    }

    /// One of `values` (string enumerations compare the unmodified text).
    pub(crate) fn enumeration(&self, values: &[&'static str]) -> Result<&'static str> {
        let text = self.text()?;
        values
            .iter()
            .find(|v| **v == text)
            .copied()
            .ok_or_else(|| SyntaxError::xsd(&self.path, format!("not one of {}", values.join(", "))))
    }

    pub(crate) fn email(&self) -> Result<String> {
        let text = self.text()?;
        if !is_email(&text) {
            return Err(SyntaxError::xsd(&self.path, "not an e-mail address (stEMail)"));
        }
        Ok(text)
    }

    pub(crate) fn country(&self) -> Result<String> {
        let text = self.text()?;
        if !is_country(&text) {
            return Err(SyntaxError::xsd(
                &self.path,
                "not two capital letters (stNazioneProvincia)",
            ));
        }
        Ok(text)
    }

    /// `xsd:base64Binary`, decoded. XSD allows single spaces between characters once collapsed.
    pub(crate) fn base64(&self) -> Result<Vec<u8>> {
        let text = self.text()?;
        let compact: String = text.chars().filter(|c| !simple::is_xml_space(*c)).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| SyntaxError::xsd(&self.path, "not base64 (xsd:base64Binary)"))
    }
}

/// The element children of one element, consumed in schema order.
pub(crate) struct Children<'d> {
    parent: Node<'d>,
    elements: Vec<NodeId>,
    next: usize,
}

impl<'d> Children<'d> {
    fn peek_is(&self, local: &str) -> bool {
        self.elements.get(self.next).is_some_and(|&id| {
            self.parent
                .doc
                .element(id)
                .is_some_and(|e| e.name().is(self.parent.child_ns, local))
        })
    }

    fn take_checked(&mut self, local: &str, nillable: bool) -> Result<Node<'d>> {
        let id = self.elements[self.next];
        self.next += 1;
        let node = Node {
            doc: self.parent.doc,
            id,
            path: format!("{}/{local}", self.parent.path),
            child_ns: self.parent.child_ns,
        };
        node.check_attributes(nillable)?;
        Ok(node)
    }

    fn take(&mut self, local: &str) -> Result<Node<'d>> {
        self.take_checked(local, false)
    }

    /// Any number of consecutive `local` elements declared `nillable`: the nil ones are `None`.
    pub(crate) fn repeated_nillable(&mut self, local: &str) -> Result<Vec<Option<Node<'d>>>> {
        let mut out = Vec::new();
        while self.peek_is(local) {
            let node = self.take_checked(local, true)?;
            out.push((!node.is_nil()).then_some(node));
        }
        Ok(out)
    }

    /// The next element, which must be the unqualified `local`.
    pub(crate) fn required(&mut self, local: &str) -> Result<Node<'d>> {
        if self.peek_is(local) {
            return self.take(local);
        }
        Err(SyntaxError::xsd(
            &self.parent.path,
            match self.found() {
                Some(found) => format!("expected element {local}, found {found}"),
                None => format!("missing element {local}"),
            },
        ))
    }

    /// The next element if it is the unqualified `local`.
    pub(crate) fn optional(&mut self, local: &str) -> Result<Option<Node<'d>>> {
        if self.peek_is(local) {
            return self.take(local).map(Some);
        }
        Ok(None)
    }

    /// `min..=max` consecutive elements named `local`.
    pub(crate) fn repeated(&mut self, local: &str, min: usize, max: usize) -> Result<Vec<Node<'d>>> {
        let mut out = Vec::new();
        while self.peek_is(local) {
            if out.len() == max {
                return Err(SyntaxError::xsd(
                    &self.parent.path,
                    format!("more than {max} {local} elements"),
                ));
            }
            out.push(self.take(local)?);
        }
        if out.len() < min {
            return Err(SyntaxError::xsd(
                &self.parent.path,
                format!("at least {min} {local} element(s) required, found {}", out.len()),
            ));
        }
        Ok(out)
    }

    /// Fails when elements remain: anything after the sequence is not in the schema.
    pub(crate) fn end(self) -> Result<()> {
        match self.found() {
            Some(found) => Err(SyntaxError::xsd(
                &self.parent.path,
                format!("unexpected element {found}"),
            )),
            None => Ok(()),
        }
    }

    fn found(&self) -> Option<String> {
        let id = *self.elements.get(self.next)?;
        let element = self.parent.doc.element(id)?;
        let name = element.name();
        Some(match name.namespace() {
            Some(ns) if Some(ns) != self.parent.child_ns => format!("{{{ns}}}{}", name.local_name()),
            _ => name.local_name().to_owned(),
        })
    }
}
