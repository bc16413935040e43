//! The payload writer and the payload reader the platforms share, so that each platform's `xml.rs`
//! keeps only what is its own (typed values, its error type, its prefix).
//!
//! A payload is the one element a SOAP Body carries. Every platform here writes it the same way: a
//! root qualified with a prefix bound to the service namespace, children unqualified (the schemas are
//! `elementFormDefault="unqualified"` or declare none), text always escaped. ANPR and the booking
//! contract also read it the same way: a tree already screened by the security crate's parser, walked
//! by local name, every problem reported by the element path rather than by the value (which may be
//! personal data). pagoPA reads with its own stricter, schema-ordered reader (`pagopa::xml::Node`).

use std::fmt::Display;
use std::marker::PhantomData;

use snodo_security::xml::{Document, NodeId};

use crate::soap::{QName, escape_attribute, escape_text};

/// Writes one payload element by construction: nothing reaches the text unescaped.
#[derive(Debug)]
pub(crate) struct XmlOut {
    buf: String,
    prefix: String,
    root: String,
}

impl XmlOut {
    /// Starts the payload element `local` in `namespace`, with `prefix` bound to it on the element.
    pub(crate) fn root(prefix: &str, namespace: &str, local: &str) -> XmlOut {
        let mut buf = String::with_capacity(1024);
        buf.push_str(&format!(
            "<{prefix}:{local} xmlns:{prefix}=\"{}\">",
            escape_attribute(namespace)
        ));
        XmlOut {
            buf,
            prefix: prefix.to_owned(),
            root: local.to_owned(),
        }
    }

    /// Opens an element in the root's namespace (a `ref`'d element such as ANPR's `Risposta3002_OK`).
    pub(crate) fn open_ns(&mut self, local: &str) -> &mut XmlOut {
        self.buf.push_str(&format!("<{}:{local}>", self.prefix));
        self
    }

    pub(crate) fn close_ns(&mut self, local: &str) -> &mut XmlOut {
        self.buf.push_str(&format!("</{}:{local}>", self.prefix));
        self
    }

    /// Opens an element of another namespace than the root's, declaring it on the element.
    pub(crate) fn open_qualified(&mut self, prefix: &str, namespace: &str, local: &str) -> &mut XmlOut {
        self.buf.push_str(&format!(
            "<{prefix}:{local} xmlns:{prefix}=\"{}\">",
            escape_attribute(namespace)
        ));
        self
    }

    pub(crate) fn close_qualified(&mut self, prefix: &str, local: &str) -> &mut XmlOut {
        self.buf.push_str(&format!("</{prefix}:{local}>"));
        self
    }

    /// Opens an unqualified element. `local` is always one of the schema's names, never input.
    pub(crate) fn open(&mut self, local: &str) -> &mut XmlOut {
        self.buf.push('<');
        self.buf.push_str(local);
        self.buf.push('>');
        self
    }

    pub(crate) fn close(&mut self, local: &str) -> &mut XmlOut {
        self.buf.push_str("</");
        self.buf.push_str(local);
        self.buf.push('>');
        self
    }

    /// An unqualified simple-typed element with `text`, escaped.
    pub(crate) fn leaf(&mut self, local: &str, text: impl Display) -> &mut XmlOut {
        self.open(local);
        self.buf.push_str(&escape_text(&text.to_string()));
        self.close(local)
    }

    /// [`XmlOut::leaf`] when there is a value; an optional element is left out, never written empty.
    pub(crate) fn opt_leaf<T: Display>(&mut self, local: &str, text: Option<T>) -> &mut XmlOut {
        if let Some(text) = text {
            self.leaf(local, text);
        }
        self
    }

    /// Closes the root and returns the payload text.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push_str(&format!("</{}:{}>", self.prefix, self.root));
        self.buf
    }
}

/// How a platform's error says that a required element is absent: the one error the shared reader
/// raises itself, so that each platform keeps its own error type.
pub(crate) trait MissingElement {
    fn missing(path: String) -> Self;
}

/// One element of a parsed payload, with the path from the payload root that names it in errors.
///
/// `E` is the platform's error type; the platform adds its typed readers (dates, numbers, codes, and
/// whether text is trimmed) in an `impl` of its own instance, in its `xml.rs`.
pub(crate) struct El<'d, E> {
    doc: &'d Document,
    node: NodeId,
    path: String,
    error: PhantomData<fn() -> E>,
}

// By hand: a derive would ask for `E: Clone`, which the errors need not be.
impl<E> Clone for El<'_, E> {
    fn clone(&self) -> Self {
        El {
            doc: self.doc,
            node: self.node,
            path: self.path.clone(),
            error: PhantomData,
        }
    }
}

impl<'d, E: MissingElement> El<'d, E> {
    pub(crate) fn new(doc: &'d Document, node: NodeId) -> El<'d, E> {
        let path = doc
            .element(node)
            .map(|e| e.name().local_name().to_owned())
            .unwrap_or_default();
        El {
            doc,
            node,
            path,
            error: PhantomData,
        }
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

    /// Element children in document order, whatever their namespace.
    pub(crate) fn elements(&self) -> Vec<El<'d, E>> {
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
    pub(crate) fn all(&self, local: &str) -> Vec<El<'d, E>> {
        self.elements()
            .into_iter()
            .filter(|c| self.doc.element(c.node).is_some_and(|e| e.name().is(None, local)))
            .collect()
    }

    pub(crate) fn child(&self, local: &str) -> Option<El<'d, E>> {
        self.all(local).into_iter().next()
    }

    pub(crate) fn req(&self, local: &str) -> Result<El<'d, E>, E> {
        self.child(local).ok_or_else(|| self.missing(local))
    }

    /// The error for a required child `local` that is absent.
    pub(crate) fn missing(&self, local: &str) -> E {
        E::missing(format!("{}/{local}", self.path))
    }

    /// The element's character data, unmodified: whether to trim is the platform's rule.
    pub(crate) fn text_content(&self) -> String {
        self.doc.text_content(self.node)
    }
}
