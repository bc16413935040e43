//! The two small tools every ANPR service file uses: a writer of unqualified child elements under a
//! namespaced payload element (ANPR's schemas are `elementFormDefault="unqualified"`), and a reader
//! that walks an already screened tree by local name and reports missing elements by path.

use snodo_security::xml::{Document, NodeId};

use super::AnprError;
use crate::soap::{QName, escape_attribute, escape_text};

/// Writes a payload: the root and `ref`'d elements carry the service namespace (prefix `ns`), every
/// local element is unqualified.
#[derive(Debug, Default)]
pub(crate) struct XmlOut {
    buf: String,
}

impl XmlOut {
    /// Starts the payload element `local` in `namespace`.
    pub(crate) fn root(namespace: &str, local: &str) -> XmlOut {
        let mut out = XmlOut {
            buf: String::with_capacity(1024),
        };
        out.buf.push_str(&format!(
            "<ns:{local} xmlns:ns=\"{}\">",
            escape_attribute(namespace)
        ));
        out
    }

    /// Opens a qualified (`ref`'d) element in the root's namespace.
    pub(crate) fn open_ns(&mut self, local: &str) {
        self.buf.push_str(&format!("<ns:{local}>"));
    }

    pub(crate) fn close_ns(&mut self, local: &str) {
        self.buf.push_str(&format!("</ns:{local}>"));
    }

    /// Opens an element of another namespace than the root's (`Risposta_Comune`, which the service
    /// schemas `ref` from `rispostaComune.xsd`), declaring it on the element.
    pub(crate) fn open_qualified(&mut self, prefix: &str, namespace: &str, local: &str) {
        self.buf.push_str(&format!(
            "<{prefix}:{local} xmlns:{prefix}=\"{}\">",
            escape_attribute(namespace)
        ));
    }

    pub(crate) fn close_qualified(&mut self, prefix: &str, local: &str) {
        self.buf.push_str(&format!("</{prefix}:{local}>"));
    }

    pub(crate) fn open(&mut self, local: &str) {
        self.buf.push('<');
        self.buf.push_str(local);
        self.buf.push('>');
    }

    pub(crate) fn close(&mut self, local: &str) {
        self.buf.push_str("</");
        self.buf.push_str(local);
        self.buf.push('>');
    }

    pub(crate) fn leaf(&mut self, local: &str, text: &str) {
        self.open(local);
        self.buf.push_str(&escape_text(text));
        self.close(local);
    }

    pub(crate) fn opt(&mut self, local: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(local, text);
        }
    }

    /// Closes the root and returns the payload text.
    pub(crate) fn finish(mut self, root_local: &str) -> String {
        self.close_ns(root_local);
        self.buf
    }
}

/// One element of a parsed payload, with the path that names it in errors.
#[derive(Clone)]
pub(crate) struct El<'d> {
    doc: &'d Document,
    node: NodeId,
    path: String,
}

impl<'d> El<'d> {
    pub(crate) fn new(doc: &'d Document, node: NodeId) -> El<'d> {
        let path = doc
            .element(node)
            .map(|e| e.name().local_name().to_owned())
            .unwrap_or_default();
        El { doc, node, path }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn local_name(&self) -> &'d str {
        self.doc
            .element(self.node)
            .map(|e| e.name().local_name())
            .unwrap_or_default()
    }

    pub(crate) fn qname(&self) -> QName {
        QName::of(self.doc, self.node).expect("El always wraps an element")
    }

    /// Fails unless this element is `{namespace}local`.
    pub(crate) fn expect(&self, namespace: &str, local: &str) -> Result<(), AnprError> {
        let expected = QName::new(namespace, local);
        if expected.matches(self.doc, self.node) {
            Ok(())
        } else {
            Err(AnprError::UnexpectedElement {
                expected: expected.to_string(),
                found: self.qname().to_string(),
            })
        }
    }

    /// Element children in document order, whatever their namespace.
    pub(crate) fn elements(&self) -> Vec<El<'d>> {
        self.doc
            .child_elements(self.node)
            .map(|c| {
                let mut el = El::new(self.doc, c);
                el.path = format!("{}/{}", self.path, el.path);
                el
            })
            .collect()
    }

    /// Every child named `local` (in no namespace: ANPR's local elements are unqualified).
    pub(crate) fn all(&self, local: &str) -> Vec<El<'d>> {
        self.elements()
            .into_iter()
            .filter(|c| self.doc.element(c.node).is_some_and(|e| e.name().is(None, local)))
            .collect()
    }

    pub(crate) fn child(&self, local: &str) -> Option<El<'d>> {
        self.all(local).into_iter().next()
    }

    pub(crate) fn req(&self, local: &str) -> Result<El<'d>, AnprError> {
        self.child(local).ok_or_else(|| AnprError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }

    /// The element's text, whitespace-trimmed (every ANPR simple type is collapsed or padded in the
    /// wild; none is meaningful at the edges).
    pub(crate) fn text(&self) -> String {
        self.doc.text_content(self.node).trim().to_owned()
    }

    pub(crate) fn opt_text(&self, local: &str) -> Option<String> {
        self.child(local).map(|c| c.text())
    }

    pub(crate) fn req_text(&self, local: &str) -> Result<String, AnprError> {
        self.req(local).map(|c| c.text())
    }

    /// An `xs:date`, without the optional timezone ANPR's own examples put on dates
    /// (`2017-03-27+02:00`): a registry date is a calendar day.
    pub(crate) fn opt_date(&self, local: &str) -> Result<Option<chrono::NaiveDate>, AnprError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        parse_date(&child.text())
            .map(Some)
            .ok_or_else(|| AnprError::invalid(child.path, "is not an xs:date"))
    }

    pub(crate) fn req_date(&self, local: &str) -> Result<chrono::NaiveDate, AnprError> {
        self.opt_date(local)?.ok_or_else(|| AnprError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }

    /// A small number (`numerico1`, `numericoMax2`, …).
    pub(crate) fn opt_u32(&self, local: &str) -> Result<Option<u32>, AnprError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        let text = child.text();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AnprError::invalid(child.path, "is not a number"));
        }
        text.parse()
            .map(Some)
            .map_err(|_| AnprError::invalid(child.path, "is out of range"))
    }

    pub(crate) fn req_u32(&self, local: &str) -> Result<u32, AnprError> {
        self.opt_u32(local)?.ok_or_else(|| AnprError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }
}

/// `YYYY-MM-DD`, optionally followed by `Z` or `±hh:mm`.
pub(crate) fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    let (day, zone) = text.split_at_checked(10)?;
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone[1..3]
                .bytes()
                .chain(zone[4..].bytes())
                .all(|b| b.is_ascii_digit()));
    if !zone_ok {
        return None;
    }
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

pub(crate) fn date_text(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}
