//! Canonicalization: Canonical XML 1.0 (W3C REC 2001-03-15) and Exclusive XML Canonicalization 1.0
//! (W3C REC 2002-07-18), each with and without comments, over a parsed [`Document`].
//!
//! These are the byte strings XML-DSig digests and signs, so they must equal xmlsec1's to the byte
//! (the tests compare against it). Two inputs are supported, the ones XML-DSig produces:
//! - a whole document ([`Canonicalization::document`]), as `URI=""` or `#xpointer(/)` select it;
//! - an element subtree minus some excluded subtrees ([`Canonicalization::subtree`]), as `URI="#id"`
//!   followed by the enveloped-signature transform selects it (the `<Signature>` is excluded).
//!
//! General XPath node-sets are deliberately not supported: the transform allowlist (spid-and-cie-id.md
//! §5 "Transform injection") admits no XPath or XSLT, so no document subset other than these occurs.

mod render;
mod uri;

use crate::xml::{Document, NodeId, NodeKind};

/// A canonicalization algorithm, by its XML-DSig identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Canonical XML 1.0, comments omitted.
    Inclusive,
    /// Canonical XML 1.0 with comments.
    InclusiveWithComments,
    /// Exclusive XML Canonicalization 1.0, comments omitted: what SAML and WS-Security use.
    Exclusive,
    /// Exclusive XML Canonicalization 1.0 with comments.
    ExclusiveWithComments,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Inclusive,
        Algorithm::InclusiveWithComments,
        Algorithm::Exclusive,
        Algorithm::ExclusiveWithComments,
    ];

    /// The algorithm URI used in `CanonicalizationMethod` and `Transform` (C14N 1.0 §1, Exc-C14N §1.1).
    pub const fn uri(self) -> &'static str {
        match self {
            Algorithm::Inclusive => "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            Algorithm::InclusiveWithComments => {
                "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
            }
            Algorithm::Exclusive => "http://www.w3.org/2001/10/xml-exc-c14n#",
            Algorithm::ExclusiveWithComments => "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        }
    }

    /// The algorithm with this URI; `None` for anything else (C14N 1.1 among them: not needed here).
    pub fn from_uri(uri: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.uri() == uri)
    }

    pub const fn with_comments(self) -> bool {
        matches!(
            self,
            Algorithm::InclusiveWithComments | Algorithm::ExclusiveWithComments
        )
    }

    pub const fn is_exclusive(self) -> bool {
        matches!(self, Algorithm::Exclusive | Algorithm::ExclusiveWithComments)
    }
}

/// The `InclusiveNamespaces PrefixList` parameter of Exclusive C14N (Exc-C14N §3): prefixes whose
/// namespace declarations are rendered by the rules of inclusive Canonical XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InclusivePrefixes {
    default: bool,
    prefixes: Vec<String>,
}

impl InclusivePrefixes {
    /// The empty list: pure exclusive canonicalization.
    pub fn none() -> Self {
        InclusivePrefixes::default()
    }

    /// Parses a `PrefixList` attribute value: whitespace-separated prefixes, `#default` standing for
    /// the default namespace (Exc-C14N §3).
    pub fn parse(list: &str) -> Result<Self, C14nError> {
        let mut parsed = InclusivePrefixes::default();
        for entry in list.split([' ', '\t', '\n', '\r']).filter(|e| !e.is_empty()) {
            if entry == "#default" {
                parsed.default = true;
            } else if crate::xml::chars::is_ncname(entry) {
                if !parsed.prefixes.iter().any(|p| p == entry) {
                    parsed.prefixes.push(entry.to_owned());
                }
            } else {
                return Err(C14nError::InvalidPrefixList {
                    entry: entry.to_owned(),
                });
            }
        }
        Ok(parsed)
    }

    pub fn includes_default(&self) -> bool {
        self.default
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum C14nError {
    #[error("node {node:?} is not an element: only element subtrees can be canonicalized")]
    NotAnElement { node: NodeId },

    /// Canonical XML 1.0 §2.1 ("Data Model"): implementations MUST report failure on documents with
    /// relative namespace URIs, which libxml2/xmlsec1 do.
    #[error(
        "namespace URI {uri:?} on <{element}> is relative: canonicalization fails by Canonical XML 1.0 §2.1"
    )]
    RelativeNamespaceUri { element: String, uri: String },

    /// Not a URI at all by RFC 3986 (`urn:{`, `urn:a b`): libxml2 fails on these too.
    #[error("namespace name {uri:?} on <{element}> is not an RFC 3986 URI: canonicalization is undefined")]
    InvalidNamespaceUri { element: String, uri: String },

    #[error("InclusiveNamespaces PrefixList entry {entry:?} is neither a prefix nor #default")]
    InvalidPrefixList { entry: String },
}

/// Where canonical bytes go: a buffer, or (for signatures) straight into a digest.
pub trait Sink {
    fn write(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// One canonicalization method with its parameters, applied to documents or subtrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonicalization {
    algorithm: Algorithm,
    inclusive_prefixes: InclusivePrefixes,
}

impl Canonicalization {
    pub fn new(algorithm: Algorithm) -> Self {
        Canonicalization {
            algorithm,
            inclusive_prefixes: InclusivePrefixes::none(),
        }
    }

    /// Sets the `InclusiveNamespaces PrefixList`. Only the exclusive algorithms have this parameter;
    /// the inclusive ones render every in-scope namespace anyway and ignore it.
    pub fn with_inclusive_prefixes(mut self, prefixes: InclusivePrefixes) -> Self {
        self.inclusive_prefixes = prefixes;
        self
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn inclusive_prefixes(&self) -> &InclusivePrefixes {
        &self.inclusive_prefixes
    }

    /// Canonical form of the whole document without the subtrees rooted at `excluded` (an enveloped
    /// `<Signature>` under `URI=""`; pass `&[]` for the plain document).
    pub fn document(&self, doc: &Document, excluded: &[NodeId]) -> Result<Vec<u8>, C14nError> {
        let mut out = Vec::new();
        self.document_to(doc, excluded, &mut out)?;
        Ok(out)
    }

    /// As [`document`](Self::document), written to `out`.
    pub fn document_to(
        &self,
        doc: &Document,
        excluded: &[NodeId],
        out: &mut impl Sink,
    ) -> Result<(), C14nError> {
        render::Renderer::new(doc, self, excluded, out).document()
    }

    /// Canonical form of the subtree rooted at element `apex`, without the subtrees rooted at
    /// `excluded` (the enveloped-signature transform passes the `<Signature>` element here).
    pub fn subtree(&self, doc: &Document, apex: NodeId, excluded: &[NodeId]) -> Result<Vec<u8>, C14nError> {
        let mut out = Vec::new();
        self.subtree_to(doc, apex, excluded, &mut out)?;
        Ok(out)
    }

    /// As [`subtree`](Self::subtree), written to `out`.
    pub fn subtree_to(
        &self,
        doc: &Document,
        apex: NodeId,
        excluded: &[NodeId],
        out: &mut impl Sink,
    ) -> Result<(), C14nError> {
        if !matches!(doc.kind(apex), NodeKind::Element(_)) {
            return Err(C14nError::NotAnElement { node: apex });
        }
        render::Renderer::new(doc, self, excluded, out).subtree(apex)
    }
}
