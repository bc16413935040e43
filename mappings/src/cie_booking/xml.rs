//! The two small tools every booking payload uses: a writer of unqualified child elements under a
//! namespaced payload element (the contract is `elementFormDefault="unqualified"`, like ANPR's), and
//! a reader that walks an already screened tree by local name, checks each value with the field
//! rule of its simple type, and reports problems by element path.

use chrono::{DateTime, FixedOffset, NaiveDate};
use snodo_security::xml::{Document, NodeId};

use super::{BookingError, NAMESPACE, rules};
use crate::soap::{QName, escape_text};

/// Writes a payload: the root element in the contract's namespace (prefix `cb`), every other
/// element unqualified.
#[derive(Debug)]
pub(crate) struct XmlOut {
    buf: String,
    root: &'static str,
}

impl XmlOut {
    pub(crate) fn root(local: &'static str) -> XmlOut {
        let mut buf = String::with_capacity(1024);
        buf.push_str(&format!("<cb:{local} xmlns:cb=\"{NAMESPACE}\">"));
        XmlOut { buf, root: local }
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

    /// A `tipoDataOra` leaf; `field` names the value in the error when it cannot be written.
    pub(crate) fn date_time(
        &mut self,
        local: &str,
        field: &str,
        at: &DateTime<FixedOffset>,
    ) -> Result<(), BookingError> {
        let text = rules::date_time_text(field, at)?;
        self.leaf(local, &text);
        Ok(())
    }

    pub(crate) fn date(&mut self, local: &str, field: &str, day: NaiveDate) -> Result<(), BookingError> {
        let text = rules::date_text(field, day)?;
        self.leaf(local, &text);
        Ok(())
    }

    pub(crate) fn boolean(&mut self, local: &str, value: bool) {
        self.leaf(local, if value { "true" } else { "false" });
    }

    /// Closes the root and returns the payload text.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push_str(&format!("</cb:{}>", self.root));
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

    pub(crate) fn qname(&self) -> QName {
        QName::of(self.doc, self.node).expect("El always wraps an element")
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

    /// Every child named `local` in no namespace (local elements are unqualified).
    pub(crate) fn all(&self, local: &str) -> Vec<El<'d>> {
        self.elements()
            .into_iter()
            .filter(|c| self.doc.element(c.node).is_some_and(|e| e.name().is(None, local)))
            .collect()
    }

    pub(crate) fn child(&self, local: &str) -> Option<El<'d>> {
        self.all(local).into_iter().next()
    }

    pub(crate) fn req(&self, local: &str) -> Result<El<'d>, BookingError> {
        self.child(local).ok_or_else(|| BookingError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }

    /// The element's text. Not trimmed: the string types of the contract are patterns without
    /// whitespace at the edges, so padding is an error the field rule reports. The types derived
    /// from `xs:date`, `xs:dateTime`, `xs:boolean` and the integers collapse whitespace (XSD Part 2),
    /// so their readers trim.
    pub(crate) fn text(&self) -> String {
        self.doc.text_content(self.node)
    }

    /// The text of child `local`, checked by `rule`.
    pub(crate) fn req_checked(
        &self,
        local: &str,
        rule: fn(&str, &str) -> rules::Rule,
    ) -> Result<String, BookingError> {
        let child = self.req(local)?;
        let text = child.text();
        rule(local, &text).map_err(|e| e.at(&child.path))?;
        Ok(text)
    }

    pub(crate) fn opt_checked(
        &self,
        local: &str,
        rule: fn(&str, &str) -> rules::Rule,
    ) -> Result<Option<String>, BookingError> {
        match self.child(local) {
            Some(_) => self.req_checked(local, rule).map(Some),
            None => Ok(None),
        }
    }

    /// Child `local` as one of the codes `parse` knows.
    pub(crate) fn req_code<T>(&self, local: &str, parse: fn(&str) -> Option<T>) -> Result<T, BookingError> {
        let child = self.req(local)?;
        parse(&child.text())
            .ok_or_else(|| BookingError::invalid(child.path, "is not one of the contract's codes"))
    }

    pub(crate) fn req_date(&self, local: &str) -> Result<NaiveDate, BookingError> {
        let child = self.req(local)?;
        rules::parse_date(child.text().trim())
            .ok_or_else(|| BookingError::invalid(child.path, "is not a date (YYYY-MM-DD)"))
    }

    pub(crate) fn opt_date_time(&self, local: &str) -> Result<Option<DateTime<FixedOffset>>, BookingError> {
        let Some(child) = self.child(local) else {
            return Ok(None);
        };
        rules::parse_date_time(child.text().trim())
            .map(Some)
            .ok_or_else(|| {
                BookingError::invalid(
                    child.path,
                    "is not a date-time with an offset (YYYY-MM-DDThh:mm:ss±hh:mm)",
                )
            })
    }

    pub(crate) fn req_date_time(&self, local: &str) -> Result<DateTime<FixedOffset>, BookingError> {
        self.opt_date_time(local)?.ok_or_else(|| BookingError::Missing {
            path: format!("{}/{local}", self.path),
        })
    }

    /// A non-negative integer (`xs:unsignedShort`, `xs:positiveInteger` and their restrictions),
    /// in `min..=max`.
    pub(crate) fn req_number(&self, local: &str, min: u32, max: u32) -> Result<u32, BookingError> {
        let child = self.req(local)?;
        let text = child.text();
        // The integer lexical space: an optional sign and leading zeros are allowed.
        let digits = text.trim();
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        let significant = digits.trim_start_matches('0');
        let value =
            (!digits.is_empty() && significant.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| {
                    if significant.is_empty() {
                        Some(0)
                    } else {
                        significant.parse::<u32>().ok()
                    }
                })
                .flatten()
                .filter(|n| (min..=max).contains(n));
        value.ok_or_else(|| {
            BookingError::invalid(child.path, format!("is not a whole number from {min} to {max}"))
        })
    }

    pub(crate) fn req_bool(&self, local: &str) -> Result<bool, BookingError> {
        let child = self.req(local)?;
        match child.text().trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(BookingError::invalid(child.path, "is not a boolean")),
        }
    }
}
