//! Writes a parsed [`Document`] back as XML, with one fragment inserted among an element's children:
//! how [`sign_enveloped`](super::sign_enveloped) places a Signature into a document it did not write.
//!
//! The output re-parses to the same tree (the signer checks that it does, by recomputing the digest):
//! names, namespace declarations and attributes as written, text and attribute values escaped so that
//! normalization gives them back unchanged (`&#13;`, `&#9;`, `&#10;` where the parser would otherwise
//! fold them). Not canonical: the XML declaration and whitespace outside the root are not in the tree.

use crate::xml::{Document, Element, NodeId, NodeKind};

/// Where the fragment goes: under `parent`, before `before` (`None`: after the last child).
pub(crate) struct Insertion<'f> {
    pub(crate) parent: NodeId,
    pub(crate) before: Option<NodeId>,
    pub(crate) fragment: &'f str,
}

/// The document as text, and the byte offset at which the fragment starts in it.
pub(crate) fn write_with_insertion(doc: &Document, insertion: &Insertion<'_>) -> (String, usize) {
    let mut out = String::with_capacity(doc.len() * 48 + insertion.fragment.len());
    let mut fragment_at = 0;
    let mut insert = |out: &mut String| {
        fragment_at = out.len();
        out.push_str(insertion.fragment);
    };

    enum Step {
        Enter(NodeId),
        Leave(NodeId),
    }
    let root = doc.root();
    let mut seen_root_element = false;
    let mut stack: Vec<Step> = doc
        .children(root)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(Step::Enter)
        .collect();
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(node) => {
                let top_level = doc.parent(node) == Some(root);
                if top_level && seen_root_element {
                    out.push('\n');
                }
                if insertion.before == Some(node) {
                    insert(&mut out);
                }
                match doc.kind(node) {
                    NodeKind::Element(e) => {
                        start_tag(&mut out, &e);
                        stack.push(Step::Leave(node));
                        stack.extend(
                            doc.children(node)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .map(Step::Enter),
                        );
                        if top_level {
                            seen_root_element = true;
                        }
                    }
                    NodeKind::Text(t) => escape_text(&mut out, t),
                    NodeKind::Comment(c) => {
                        out.push_str("<!--");
                        out.push_str(c);
                        out.push_str("-->");
                    }
                    NodeKind::ProcessingInstruction(pi) => {
                        out.push_str("<?");
                        out.push_str(pi.target());
                        if !pi.data().is_empty() {
                            out.push(' ');
                            out.push_str(pi.data());
                        }
                        out.push_str("?>");
                    }
                    NodeKind::Document => {}
                }
                if top_level && !seen_root_element {
                    out.push('\n');
                }
            }
            Step::Leave(node) => {
                if node == insertion.parent && insertion.before.is_none() {
                    insert(&mut out);
                }
                let e = doc.element(node).expect("only elements are left");
                out.push_str("</");
                out.push_str(&e.name().qualified());
                out.push('>');
            }
        }
    }
    (out, fragment_at)
}

fn start_tag(out: &mut String, e: &Element<'_>) {
    out.push('<');
    out.push_str(&e.name().qualified());
    for d in e.namespace_declarations() {
        match d.prefix() {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attribute(out, d.uri());
        out.push('"');
    }
    for a in e.attributes() {
        out.push(' ');
        out.push_str(&a.name().qualified());
        out.push_str("=\"");
        escape_attribute(out, a.value());
        out.push('"');
    }
    out.push('>');
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c14n::{Algorithm, Canonicalization};
    use crate::xml::{Limits, parse_str};

    #[test]
    fn output_reparses_to_the_same_canonical_form() {
        let text = "<?pi x?><!--c--><r xmlns=\"urn:a\" xmlns:p=\"urn:p\" a=\"&amp;&lt;&quot;&#9;&#10;&#13;\">\
                    t&amp;&lt;&gt;&#13;\n<p:e xml:lang=\"it\"/><![CDATA[<x>]]></r><!--after-->";
        let doc = parse_str(text, &Limits::default()).expect("parses");
        let insertion = Insertion {
            parent: doc.document_element(),
            before: None,
            fragment: "",
        };
        let (written, _) = write_with_insertion(&doc, &insertion);
        let again = parse_str(&written, &Limits::default()).expect("re-parses");
        let c14n = Canonicalization::new(Algorithm::InclusiveWithComments);
        assert_eq!(
            c14n.document(&doc, &[]).expect("c14n"),
            c14n.document(&again, &[]).expect("c14n"),
            "{written}"
        );
    }
}
