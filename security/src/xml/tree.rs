//! The parsed document: an arena of nodes addressed by [`NodeId`].
//!
//! One tree is built per message and everything above reads the same tree: canonicalization, signature
//! verification and the SAML/WS-Security profiles. A verifier can therefore answer "which element was
//! signed" with a `NodeId`, and the profile code reads exactly that node, never a second parse or a
//! document-wide search that an attacker could steer to a copy (XML Signature Wrapping).
//!
//! The model is the XPath 1.0 data model that Canonical XML is defined on: adjacent character data
//! (text, CDATA sections, character references) is one text node; the XML declaration and whitespace
//! outside the root element are not nodes; namespace prefixes are resolved at parse time.
//!
//! Layout: all strings live in one buffer and nodes hold spans into it; attributes and namespace
//! declarations live in two document-wide vectors and elements hold ranges. A Response is parsed
//! with a handful of allocations instead of several per element, which is most of the parse time.
//! Readers get borrowed views ([`Element`], [`Name`], [`Attribute`]) that are `Copy`.

use std::ops::Range;

/// The namespace bound to the `xml` prefix by definition (Namespaces in XML 1.0 §3).
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` attributes; no prefix may be bound to it (Namespaces in XML 1.0 §3).
pub const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// A node of one [`Document`]. Only meaningful with the document that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A string in [`Document::strings`]; `XML` stands for [`XML_NAMESPACE`], which is never copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Span {
    pub(crate) const XML: Span = Span {
        start: u32::MAX,
        len: 0,
    };
    pub(crate) fn end(self) -> usize {
        self.start as usize + self.len as usize
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct NameData {
    pub(crate) prefix: Option<Span>,
    pub(crate) local: Span,
    pub(crate) namespace: Option<Span>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct AttributeData {
    pub(crate) name: NameData,
    pub(crate) value: Span,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct DeclarationData {
    pub(crate) prefix: Option<Span>,
    pub(crate) uri: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct ElementData {
    pub(crate) name: NameData,
    pub(crate) declarations: Range<u32>,
    pub(crate) attributes: Range<u32>,
    pub(crate) offset: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeData {
    Document,
    Element(ElementData),
    Text(Span),
    Comment(Span),
    ProcessingInstruction { target: Span, data: Span },
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) parent: Option<NodeId>,
    pub(crate) first_child: Option<NodeId>,
    pub(crate) last_child: Option<NodeId>,
    pub(crate) next_sibling: Option<NodeId>,
    pub(crate) data: NodeData,
}

/// A parsed, screened document. Build it with [`parse`](crate::xml::parse).
#[derive(Debug, Clone)]
pub struct Document {
    pub(crate) strings: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) attributes: Vec<AttributeData>,
    pub(crate) declarations: Vec<DeclarationData>,
    pub(crate) document_element: NodeId,
}

/// A qualified name with its namespace resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'d> {
    prefix: Option<&'d str>,
    local: &'d str,
    namespace: Option<&'d str>,
}

impl<'d> Name<'d> {
    pub fn prefix(&self) -> Option<&'d str> {
        self.prefix
    }
    pub fn local_name(&self) -> &'d str {
        self.local
    }
    /// The namespace URI, `None` for a name in no namespace.
    pub fn namespace(&self) -> Option<&'d str> {
        self.namespace
    }
    /// True when the name is `{namespace}local`.
    pub fn is(&self, namespace: Option<&str>, local: &str) -> bool {
        self.namespace == namespace && self.local == local
    }
    /// The name as written, `prefix:local` or `local`.
    pub fn qualified(&self) -> String {
        match self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.to_owned(),
        }
    }
}

/// An attribute other than a namespace declaration, with its value normalized as XML 1.0 §3.3.3
/// requires (references resolved, literal whitespace characters turned into spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'d> {
    name: Name<'d>,
    value: &'d str,
}

impl<'d> Attribute<'d> {
    pub fn name(&self) -> Name<'d> {
        self.name
    }
    pub fn value(&self) -> &'d str {
        self.value
    }
}

/// A namespace declaration as written on an element (`xmlns="…"` has no prefix; an empty URI is the
/// `xmlns=""` undeclaration). Declarations of the `xml` prefix are not kept: it is bound by definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceDeclaration<'d> {
    prefix: Option<&'d str>,
    uri: &'d str,
}

impl<'d> NamespaceDeclaration<'d> {
    pub fn prefix(&self) -> Option<&'d str> {
        self.prefix
    }
    pub fn uri(&self) -> &'d str {
        self.uri
    }
}

/// An element of a [`Document`].
#[derive(Debug, Clone, Copy)]
pub struct Element<'d> {
    doc: &'d Document,
    data: &'d ElementData,
}

impl<'d> Element<'d> {
    pub fn name(&self) -> Name<'d> {
        self.doc.name(&self.data.name)
    }
    pub fn namespace_declarations(&self) -> impl ExactSizeIterator<Item = NamespaceDeclaration<'d>> + 'd {
        let doc = self.doc;
        let range = self.data.declarations.start as usize..self.data.declarations.end as usize;
        doc.declarations[range].iter().map(move |d| NamespaceDeclaration {
            prefix: d.prefix.map(|p| doc.str(p)),
            uri: doc.str(d.uri),
        })
    }
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = Attribute<'d>> + 'd {
        let doc = self.doc;
        let range = self.data.attributes.start as usize..self.data.attributes.end as usize;
        doc.attributes[range].iter().map(move |a| Attribute {
            name: doc.name(&a.name),
            value: doc.str(a.value),
        })
    }
    /// The value of the attribute `{namespace}local`; SAML and XML-DSig attributes such as `ID`
    /// and `URI` are in no namespace (`namespace = None`).
    pub fn attribute(&self, namespace: Option<&str>, local: &str) -> Option<&'d str> {
        self.attributes()
            .find(|a| a.name.is(namespace, local))
            .map(|a| a.value)
    }
    /// Byte offset of the start tag in the parsed input, for error messages.
    pub fn offset(&self) -> usize {
        self.data.offset
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingInstruction<'d> {
    target: &'d str,
    data: &'d str,
}

impl<'d> ProcessingInstruction<'d> {
    pub fn target(&self) -> &'d str {
        self.target
    }
    /// The XPath string-value: what follows the target and its separating whitespace.
    pub fn data(&self) -> &'d str {
        self.data
    }
}

#[derive(Debug, Clone, Copy)]
pub enum NodeKind<'d> {
    /// The root of the tree: parent of the document element and of comments/PIs outside it.
    Document,
    Element(Element<'d>),
    Text(&'d str),
    Comment(&'d str),
    ProcessingInstruction(ProcessingInstruction<'d>),
}

impl Document {
    pub(crate) fn new(capacity: usize) -> Self {
        let root = Node {
            parent: None,
            first_child: None,
            last_child: None,
            next_sibling: None,
            data: NodeData::Document,
        };
        let mut nodes = Vec::with_capacity(capacity / 64 + 1);
        nodes.push(root);
        Document {
            strings: String::with_capacity(capacity),
            nodes,
            attributes: Vec::with_capacity(capacity / 128 + 1),
            declarations: Vec::new(),
            document_element: NodeId(0),
        }
    }

    pub(crate) fn str(&self, span: Span) -> &str {
        if span == Span::XML {
            return XML_NAMESPACE;
        }
        &self.strings[span.start as usize..span.end()]
    }

    /// Copies `s` into the string buffer. Its length is bounded by the input size, which
    /// [`parse`](crate::xml::parse) keeps under `u32::MAX`.
    pub(crate) fn intern(&mut self, s: &str) -> Span {
        let start = u32::try_from(self.strings.len()).expect("strings are bounded by the input size");
        self.strings.push_str(s);
        Span {
            start,
            len: u32::try_from(s.len()).expect("strings are bounded by the input size"),
        }
    }

    fn name(&self, n: &NameData) -> Name<'_> {
        Name {
            prefix: n.prefix.map(|p| self.str(p)),
            local: self.str(n.local),
            namespace: n.namespace.map(|s| self.str(s)),
        }
    }

    /// Appends `data` as the last child of `parent`.
    pub(crate) fn append(&mut self, parent: NodeId, data: NodeData) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("node count is bounded by Limits::max_nodes"));
        self.nodes.push(Node {
            parent: Some(parent),
            first_child: None,
            last_child: None,
            next_sibling: None,
            data,
        });
        let p = &mut self.nodes[parent.index()];
        match p.last_child.replace(id) {
            Some(prev) => self.nodes[prev.index()].next_sibling = Some(id),
            None => p.first_child = Some(id),
        }
        id
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// The document node, parent of the document element.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The single top-level element.
    pub fn document_element(&self) -> NodeId {
        self.document_element
    }

    /// Number of nodes, the document node included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true for a parsed document (it has at least its root element).
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    pub fn kind(&self, id: NodeId) -> NodeKind<'_> {
        match &self.node(id).data {
            NodeData::Document => NodeKind::Document,
            NodeData::Element(data) => NodeKind::Element(Element { doc: self, data }),
            NodeData::Text(s) => NodeKind::Text(self.str(*s)),
            NodeData::Comment(s) => NodeKind::Comment(self.str(*s)),
            NodeData::ProcessingInstruction { target, data } => {
                NodeKind::ProcessingInstruction(ProcessingInstruction {
                    target: self.str(*target),
                    data: self.str(*data),
                })
            }
        }
    }

    pub fn element(&self, id: NodeId) -> Option<Element<'_>> {
        match &self.node(id).data {
            NodeData::Element(data) => Some(Element { doc: self, data }),
            _ => None,
        }
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.node(id).parent
    }

    pub fn next_sibling(&self, id: NodeId) -> Option<NodeId> {
        self.node(id).next_sibling
    }

    pub fn first_child(&self, id: NodeId) -> Option<NodeId> {
        self.node(id).first_child
    }

    pub fn children(&self, id: NodeId) -> Children<'_> {
        Children {
            doc: self,
            next: self.node(id).first_child,
        }
    }

    /// Child elements only, in document order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id)
            .filter(|c| matches!(self.node(*c).data, NodeData::Element(_)))
    }

    /// True when `ancestor` is `node` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: NodeId, node: NodeId) -> bool {
        let mut cur = Some(node);
        while let Some(n) = cur {
            if n == ancestor {
                return true;
            }
            cur = self.parent(n);
        }
        false
    }

    /// The concatenation of all descendant text, comments skipped. Identity fields are read this way
    /// so that a comment cannot truncate them (`user@x<!---->.evil`, CERT VU#475445).
    pub fn text_content(&self, id: NodeId) -> String {
        let mut out = String::new();
        let mut next = Some(id);
        // Pre-order walk without recursion or allocation: descend, else advance, else climb.
        while let Some(n) = next {
            if let NodeData::Text(s) = self.node(n).data {
                out.push_str(self.str(s));
            }
            next = self.node(n).first_child.or_else(|| {
                let mut up = Some(n);
                while let Some(u) = up.filter(|&u| u != id) {
                    if let Some(s) = self.node(u).next_sibling {
                        return Some(s);
                    }
                    up = self.parent(u);
                }
                None
            });
        }
        out
    }

    /// The namespace URI bound to `prefix` (`None` = the default namespace) at element `id`.
    pub fn lookup_namespace(&self, id: NodeId, prefix: Option<&str>) -> Option<&str> {
        if prefix == Some("xml") {
            return Some(XML_NAMESPACE);
        }
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(e) = self.element(n)
                && let Some(d) = e.namespace_declarations().find(|d| d.prefix() == prefix)
            {
                return (!d.uri.is_empty()).then_some(d.uri);
            }
            cur = self.parent(n);
        }
        None
    }
}

/// Iterator over the children of a node, in document order.
pub struct Children<'d> {
    doc: &'d Document,
    next: Option<NodeId>,
}

impl Iterator for Children<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next?;
        self.next = self.doc.node(id).next_sibling;
        Some(id)
    }
}
