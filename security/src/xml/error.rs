//! Why a document was refused by the parser.
//!
//! Every variant names one thing that went wrong, with the byte offset in the input and, for limits,
//! the limit in force, so an operator can tell an attack from a legitimate message that needs a larger
//! limit. Attribute values and text are never quoted: they may be personal data (names, codici fiscali).

/// The parser refused the document. Offsets are byte offsets into the input as given to
/// [`parse`](crate::xml::parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    #[error("document is not UTF-8 (invalid byte sequence at offset {offset})")]
    NotUtf8 { offset: usize },

    #[error("XML declaration names encoding {encoding:?}; only UTF-8 is accepted")]
    UnsupportedEncoding { encoding: String },

    #[error("XML declaration names version {version:?}; only 1.0 is accepted")]
    UnsupportedVersion { version: String },

    #[error(
        "DOCTYPE at offset {offset} rejected: document type declarations are never accepted \
         (they carry entity definitions and external references)"
    )]
    DoctypeForbidden { offset: usize },

    #[error(
        "entity reference &{name}; at offset {offset} rejected: only the five predefined entities and \
         character references are accepted, entities are never expanded"
    )]
    EntityReference { name: String, offset: usize },

    #[error("character reference &{reference}; at offset {offset} does not denote a legal XML 1.0 character")]
    InvalidCharacterReference { reference: String, offset: usize },

    #[error("character U+{codepoint:04X} at offset {offset} is not allowed in XML 1.0")]
    InvalidCharacter { codepoint: u32, offset: usize },

    #[error("element at offset {offset} is nested {depth} deep, over the limit of {limit}")]
    TooDeep {
        depth: usize,
        limit: usize,
        offset: usize,
    },

    #[error(
        "element <{element}> at offset {offset} has more than {limit} attributes (namespace declarations included)"
    )]
    TooManyAttributes {
        element: String,
        limit: usize,
        offset: usize,
    },

    #[error("text at offset {offset} is longer than the limit of {limit} bytes")]
    TextTooLong { limit: usize, offset: usize },

    #[error(
        "value of attribute {attribute} on <{element}> at offset {offset} is {length} bytes, over the limit of {limit}"
    )]
    AttributeValueTooLong {
        element: String,
        attribute: String,
        length: usize,
        limit: usize,
        offset: usize,
    },

    #[error("document has more than {limit} nodes (limit reached at offset {offset})")]
    TooManyNodes { limit: usize, offset: usize },

    #[error("prefix {prefix:?} at offset {offset} is not bound to a namespace")]
    UnboundPrefix { prefix: String, offset: usize },

    #[error(
        "namespace declaration {attribute}=\"{uri}\" on <{element}> at offset {offset} is not allowed: {reason}"
    )]
    InvalidNamespaceDeclaration {
        element: String,
        attribute: String,
        uri: String,
        reason: &'static str,
        offset: usize,
    },

    #[error("attribute {name} appears twice on <{element}> at offset {offset}")]
    DuplicateAttribute {
        element: String,
        name: String,
        offset: usize,
    },

    #[error("{name:?} at offset {offset} is not a valid XML name")]
    InvalidName { name: String, offset: usize },

    #[error("document has no root element")]
    NoRootElement,

    #[error("second root element at offset {offset}: a document has exactly one")]
    MultipleRootElements { offset: usize },

    #[error("character data at offset {offset} is outside the root element")]
    ContentOutsideRoot { offset: usize },

    #[error("malformed XML at offset {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
}
