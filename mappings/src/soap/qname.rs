//! Expanded names: what dispatch and header processing compare, since prefixes carry no meaning.

use std::fmt;

use snodo_security::xml::{Document, NodeId};

/// A namespace and a local name. Displayed in Clark notation, `{namespace}local`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QName {
    namespace: Option<String>,
    local: String,
}

impl QName {
    pub fn new(namespace: &str, local: &str) -> QName {
        QName {
            namespace: Some(namespace.to_owned()),
            local: local.to_owned(),
        }
    }

    /// A name in no namespace (pagoPA's unqualified payload children).
    pub fn unqualified(local: &str) -> QName {
        QName {
            namespace: None,
            local: local.to_owned(),
        }
    }

    /// The name of element `node` of `doc`, `None` when `node` is not an element.
    pub fn of(doc: &Document, node: NodeId) -> Option<QName> {
        let name = doc.element(node)?.name();
        Some(QName {
            namespace: name.namespace().map(str::to_owned),
            local: name.local_name().to_owned(),
        })
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn local_name(&self) -> &str {
        &self.local
    }

    /// True when element `node` of `doc` has this name.
    pub fn matches(&self, doc: &Document, node: NodeId) -> bool {
        doc.element(node)
            .is_some_and(|e| e.name().is(self.namespace(), &self.local))
    }
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}
