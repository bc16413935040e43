//! The canonical serializer shared by the four algorithms; they differ only in which namespace
//! declarations an element renders, whether comments are kept, and whether `xml:*` attributes are
//! inherited by the apex of a subset.
//!
//! The walk is iterative (an explicit stack), so depth never threatens the thread's stack whatever
//! limits the caller parsed with; scratch vectors are reused across elements, so the cost is the
//! output itself.

use super::uri::{UriProblem, check_absolute_uri};
use super::{C14nError, Canonicalization, Sink};
use crate::xml::scope::Scopes;
use crate::xml::{Document, Element, Name, NodeId, NodeKind, XML_NAMESPACE};

/// A namespace binding: prefix (`""` for the default namespace, never a valid prefix) and URI (`""`
/// for "no default namespace").
type Binding<'d> = (&'d str, &'d str);

enum Step {
    /// Render this node, then (unless it is the apex) its following siblings.
    Enter(NodeId),
    /// Close this element and unwind the namespace scopes to the marks taken when it opened.
    Leave {
        id: NodeId,
        scope_mark: usize,
        rendered_mark: usize,
    },
}

pub(super) struct Renderer<'d, 'o, S: Sink> {
    doc: &'d Document,
    method: &'d Canonicalization,
    excluded: &'d [NodeId],
    out: &'o mut S,
    /// In-scope bindings of the element being rendered (the prefix is repeated in the value so that
    /// it borrows from the document).
    scope: Scopes<Binding<'d>>,
    /// Bindings rendered by output ancestors.
    rendered: Scopes<Binding<'d>>,
    candidates: Vec<&'d str>,
    namespaces: Vec<Binding<'d>>,
    attributes: Vec<(Name<'d>, &'d str)>,
}

impl<'d, 'o, S: Sink> Renderer<'d, 'o, S> {
    pub(super) fn new(
        doc: &'d Document,
        method: &'d Canonicalization,
        excluded: &'d [NodeId],
        out: &'o mut S,
    ) -> Self {
        Renderer {
            doc,
            method,
            excluded,
            out,
            scope: Scopes::new(),
            rendered: Scopes::new(),
            candidates: Vec::new(),
            namespaces: Vec::new(),
            attributes: Vec::new(),
        }
    }

    fn with_comments(&self) -> bool {
        self.method.algorithm().with_comments()
    }

    /// C14N 1.0 §2.1: the document's children in order; a comment or PI before the document element
    /// is followed by a line feed, one after it is preceded by one. The XML declaration, the DOCTYPE
    /// and whitespace outside the document element are not part of the data model.
    pub(super) fn document(mut self) -> Result<(), C14nError> {
        let mut before_root = true;
        for child in self.doc.children(self.doc.root()) {
            if self.excluded.contains(&child) {
                continue;
            }
            match self.doc.kind(child) {
                NodeKind::Element(_) => {
                    self.element_tree(child)?;
                    before_root = false;
                }
                NodeKind::Comment(_) if !self.with_comments() => {}
                NodeKind::Comment(_) | NodeKind::ProcessingInstruction(_) => {
                    if !before_root {
                        self.out.write(b"\n");
                    }
                    self.leaf(child);
                    if before_root {
                        self.out.write(b"\n");
                    }
                }
                NodeKind::Text(_) | NodeKind::Document => {}
            }
        }
        Ok(())
    }

    /// A document subset: `apex`'s subtree minus excluded subtrees. The apex's ancestors are not in
    /// the node-set, but their namespace declarations are in scope, and under inclusive C14N they are
    /// rendered on the apex (C14N 1.0 §2.4, "Document Subsets").
    pub(super) fn subtree(mut self, apex: NodeId) -> Result<(), C14nError> {
        let mut ancestors = Vec::new();
        let mut cur = self.doc.parent(apex);
        while let Some(a) = cur {
            ancestors.push(a);
            cur = self.doc.parent(a);
        }
        for &a in ancestors.iter().rev() {
            if let Some(e) = self.doc.element(a) {
                for d in e.namespace_declarations() {
                    let prefix = d.prefix().unwrap_or("");
                    self.scope.push(prefix, (prefix, d.uri()));
                }
            }
        }
        self.element_tree(apex)
    }

    fn element_tree(&mut self, apex: NodeId) -> Result<(), C14nError> {
        let mut stack = vec![Step::Enter(apex)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(id) => {
                    if id != apex
                        && let Some(next) = self.doc.next_sibling(id)
                    {
                        stack.push(Step::Enter(next));
                    }
                    if self.excluded.contains(&id) {
                        continue;
                    }
                    let Some(element) = self.doc.element(id) else {
                        self.leaf(id);
                        continue;
                    };
                    let scope_mark = self.scope.mark();
                    let rendered_mark = self.rendered.mark();
                    self.start_tag(id, element, id == apex)?;
                    stack.push(Step::Leave {
                        id,
                        scope_mark,
                        rendered_mark,
                    });
                    if let Some(first) = self.doc.first_child(id) {
                        stack.push(Step::Enter(first));
                    }
                }
                Step::Leave {
                    id,
                    scope_mark,
                    rendered_mark,
                } => {
                    if let Some(element) = self.doc.element(id) {
                        self.out.write(b"</");
                        self.name(element.name());
                        self.out.write(b">");
                    }
                    self.scope.truncate(scope_mark);
                    self.rendered.truncate(rendered_mark);
                }
            }
        }
        Ok(())
    }

    /// Text, comment or processing instruction (C14N 1.0 §2.3 "Processing Model").
    fn leaf(&mut self, id: NodeId) {
        match self.doc.kind(id) {
            NodeKind::Text(text) => escape(self.out, text, EscapeContext::Text),
            NodeKind::Comment(text) if self.with_comments() => {
                self.out.write(b"<!--");
                self.out.write(text.as_bytes());
                self.out.write(b"-->");
            }
            NodeKind::ProcessingInstruction(pi) => {
                self.out.write(b"<?");
                self.out.write(pi.target().as_bytes());
                if !pi.data().is_empty() {
                    self.out.write(b" ");
                    self.out.write(pi.data().as_bytes());
                }
                self.out.write(b"?>");
            }
            _ => {}
        }
    }

    fn start_tag(&mut self, id: NodeId, element: Element<'d>, is_apex: bool) -> Result<(), C14nError> {
        for d in element.namespace_declarations() {
            check_absolute(element, d.uri())?;
            let prefix = d.prefix().unwrap_or("");
            self.scope.push(prefix, (prefix, d.uri()));
        }
        self.candidates.clear();
        if self.method.algorithm().is_exclusive() {
            self.exclusive_candidates(element);
        } else {
            self.inclusive_candidates(element, is_apex);
        }
        // Of the candidates, render the bindings whose in-scope value differs from what output
        // ancestors rendered (for the default namespace, "" stands for none: xmlns="" is rendered
        // only over a non-empty rendered default).
        self.namespaces.clear();
        for &prefix in &self.candidates {
            let value = self.scope.get(prefix).map_or("", |(_, uri)| uri);
            if value != self.rendered.get(prefix).map_or("", |(_, uri)| uri) {
                self.namespaces.push((prefix, value));
            }
        }
        for &(_, uri) in &self.namespaces {
            check_absolute(element, uri)?;
        }
        // C14N 1.0 §2.3: namespace nodes in lexicographic order of local name, the default (empty
        // local name) first.
        self.namespaces.sort_unstable();
        for &(prefix, uri) in &self.namespaces {
            self.rendered.push(prefix, (prefix, uri));
        }

        self.attributes.clear();
        self.attributes
            .extend(element.attributes().map(|a| (a.name(), a.value())));
        if is_apex && !self.method.algorithm().is_exclusive() {
            self.inherit_xml_attributes(id);
        }
        // C14N 1.0 §2.3: attributes sorted by namespace URI (none first), then local name.
        self.attributes.sort_unstable_by(|(a, _), (b, _)| {
            (a.namespace().unwrap_or(""), a.local_name()).cmp(&(b.namespace().unwrap_or(""), b.local_name()))
        });

        self.out.write(b"<");
        self.name(element.name());
        for i in 0..self.namespaces.len() {
            let (prefix, uri) = self.namespaces[i];
            if prefix.is_empty() {
                self.out.write(b" xmlns=\"");
            } else {
                self.out.write(b" xmlns:");
                self.out.write(prefix.as_bytes());
                self.out.write(b"=\"");
            }
            escape(self.out, uri, EscapeContext::Attribute);
            self.out.write(b"\"");
        }
        for i in 0..self.attributes.len() {
            let (name, value) = self.attributes[i];
            self.out.write(b" ");
            self.name(name);
            self.out.write(b"=\"");
            escape(self.out, value, EscapeContext::Attribute);
            self.out.write(b"\"");
        }
        self.out.write(b">");
        Ok(())
    }

    /// Canonical XML 1.0 §2.3 ("Namespace Nodes", "Element Nodes"): an element renders each
    /// in-scope namespace that its nearest output ancestor does not have with the same value, and
    /// `xmlns=""` when it has no default namespace but that ancestor has one. In the subsets built
    /// here the output parent's namespaces are exactly `rendered`, so only the element's own
    /// declarations can differ, except at the apex, which renders everything in scope.
    fn inclusive_candidates(&mut self, element: Element<'d>, is_apex: bool) {
        if is_apex {
            self.candidates
                .extend(self.scope.in_scope().map(|(_, (prefix, _))| prefix));
        } else {
            self.candidates
                .extend(element.namespace_declarations().map(|d| d.prefix().unwrap_or("")));
        }
    }

    /// Exclusive C14N §3: an element renders the namespaces it visibly utilizes (its own prefix, or
    /// the default namespace when unprefixed, and its attributes' prefixes) plus those in the
    /// InclusiveNamespaces PrefixList, unless the nearest output ancestor already rendered the same
    /// binding. Unprefixed attributes never utilize the default namespace (Namespaces §6.2).
    fn exclusive_candidates(&mut self, element: Element<'d>) {
        self.candidates.push(element.name().prefix().unwrap_or(""));
        for a in element.attributes() {
            if let Some(p) = a.name().prefix()
                && p != "xml"
                && !self.candidates.contains(&p)
            {
                self.candidates.push(p);
            }
        }
        // PrefixList entries follow the inclusive rules; a listed prefix that is not in scope has no
        // namespace node and renders nothing, while "#default" may render xmlns="" as inclusive does.
        let listed = self.method.inclusive_prefixes();
        if listed.includes_default() && !self.candidates.contains(&"") {
            self.candidates.push("");
        }
        for p in listed.prefixes() {
            if self.scope.get(p).is_some() && !self.candidates.contains(&p.as_str()) {
                self.candidates.push(p);
            }
        }
    }

    /// C14N 1.0 §2.4: the apex of a subset gets the `xml:*` attributes (xml:lang, xml:space, …) of
    /// its ancestors that it does not carry itself, the nearest ancestor's value winning. Exclusive
    /// C14N §3 drops this rule, which is one reason SAML uses it.
    fn inherit_xml_attributes(&mut self, apex: NodeId) {
        let mut cur = self.doc.parent(apex);
        while let Some(a) = cur {
            if let Some(e) = self.doc.element(a) {
                for attr in e.attributes() {
                    let name = attr.name();
                    let present = |(n, _): &(Name<'_>, &str)| {
                        n.namespace() == Some(XML_NAMESPACE) && n.local_name() == name.local_name()
                    };
                    if name.namespace() == Some(XML_NAMESPACE) && !self.attributes.iter().any(present) {
                        self.attributes.push((name, attr.value()));
                    }
                }
            }
            cur = self.doc.parent(a);
        }
    }

    fn name(&mut self, name: Name<'_>) {
        if let Some(p) = name.prefix() {
            self.out.write(p.as_bytes());
            self.out.write(b":");
        }
        self.out.write(name.local_name().as_bytes());
    }
}

/// Namespace URIs must be absolute URIs (Canonical XML 1.0 §2.1; see `uri.rs`); `""` is the
/// `xmlns=""` undeclaration and always fine.
fn check_absolute(element: Element<'_>, uri: &str) -> Result<(), C14nError> {
    if uri.is_empty() {
        return Ok(());
    }
    match check_absolute_uri(uri) {
        Ok(()) => Ok(()),
        Err(problem) => {
            let (element, uri) = (element.name().qualified(), uri.to_owned());
            Err(match problem {
                UriProblem::Relative => C14nError::RelativeNamespaceUri { element, uri },
                UriProblem::Invalid => C14nError::InvalidNamespaceUri { element, uri },
            })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EscapeContext {
    Text,
    Attribute,
}

/// C14N 1.0 §2.3: in text `&`, `<`, `>` and CR are escaped; in attribute values `&`, `<`, `"`, and the
/// TAB, LF and CR that survived attribute-value normalization (they came from character references).
fn escape<S: Sink>(out: &mut S, s: &str, context: EscapeContext) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match (b, context) {
            (b'&', _) => b"&amp;",
            (b'<', _) => b"&lt;",
            (b'\r', _) => b"&#xD;",
            (b'>', EscapeContext::Text) => b"&gt;",
            (b'"', EscapeContext::Attribute) => b"&quot;",
            (b'\t', EscapeContext::Attribute) => b"&#x9;",
            (b'\n', EscapeContext::Attribute) => b"&#xA;",
            _ => continue,
        };
        out.write(&bytes[start..i]);
        out.write(replacement);
        start = i + 1;
    }
    out.write(&bytes[start..]);
}
