//! Hostile-input XML: the screening parser and the tree every other module of this crate reads.
//!
//! Nothing in Snodo parses XML from outside except through [`parse`]: SAML messages, SOAP answers and
//! metadata alike. See `security/README.md` for why this is our own layer over quick-xml rather than
//! libxml2 or a library's DOM.

pub(crate) mod chars;
mod error;
mod parse;
pub(crate) mod scope;
mod tree;

pub use error::XmlError;
pub use parse::{parse, parse_str};
pub use tree::{
    Attribute, Children, Document, Element, Name, NamespaceDeclaration, NodeId, NodeKind,
    ProcessingInstruction, XML_NAMESPACE, XMLNS_NAMESPACE,
};

/// Limits applied while parsing; each one, when exceeded, has its own [`XmlError`] variant.
///
/// The defaults fit SPID/CIE Responses (6–20 KB, depth ~8, at most ~10 attributes per element) and ANPR
/// and pagoPA SOAP messages with ample margin, while keeping the work per hostile message bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size of the whole input in bytes ([`XmlError::TooLarge`]).
    pub max_document_bytes: usize,
    /// Element nesting depth, the document element being depth 1 ([`XmlError::TooDeep`]).
    pub max_depth: usize,
    /// Attributes on one element, namespace declarations included ([`XmlError::TooManyAttributes`]).
    pub max_attributes: usize,
    /// Bytes in one text node (adjacent text, CDATA and references merged), comment, processing
    /// instruction ([`XmlError::TextTooLong`]) or attribute value ([`XmlError::AttributeValueTooLong`]).
    pub max_text_bytes: usize,
    /// Nodes in the tree, the document node included ([`XmlError::TooManyNodes`]).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 1 << 20,
            max_depth: 64,
            max_attributes: 64,
            max_text_bytes: 256 << 10,
            max_nodes: 65_536,
        }
    }
}
