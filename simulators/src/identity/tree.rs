//! A small element tree the IdP simulator writes its messages with (Responses, LogoutResponses,
//! metadata) before signing them.
//!
//! Why a tree and not format strings: the conformance catalogue (spid-and-cie-id.md §2.2) is about
//! one valid Response with one thing changed — an attribute emptied or removed, an element dropped,
//! a value replaced — and a tree addressed by paths of local names makes each case one line of
//! [`Edit`]s on the same builder, instead of a hundred near-copies of a template.

/// An element: prefixed name, attributes in writing order, children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct El {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(El),
    Text(String),
}

impl El {
    /// `<name>` (a qualified name such as `saml:Issuer`).
    pub fn new(name: &str) -> El {
        El {
            name: name.to_owned(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, name: &str, value: impl Into<String>) -> El {
        self.set_attr(name, value);
        self
    }

    pub fn child(mut self, child: El) -> El {
        self.children.push(Node::Element(child));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> El {
        self.children.push(Node::Text(text.into()));
        self
    }

    pub fn set_attr(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// The local part of the element's name.
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The first descendant reached by following child local names.
    pub fn find_mut(&mut self, path: &[&str]) -> Option<&mut El> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        self.children
            .iter_mut()
            .find_map(|c| match c {
                Node::Element(e) if e.local_name() == *first => Some(e),
                _ => None,
            })?
            .find_mut(rest)
    }

    /// Applies `edit`; `false` when its path names no element (a catalogue bug, caught by tests).
    pub fn apply(&mut self, edit: &Edit) -> bool {
        match edit {
            Edit::SetAttr(path, name, value) => {
                self.find_mut(path).map(|e| e.set_attr(name, *value)).is_some()
            }
            Edit::RemoveAttr(path, name) => self
                .find_mut(path)
                .map(|e| e.attributes.retain(|(n, _)| n != name))
                .is_some(),
            Edit::SetText(path, text) => self
                .find_mut(path)
                .map(|e| e.children = vec![Node::Text((*text).to_owned())])
                .is_some(),
            Edit::Empty(path) => self.find_mut(path).map(|e| e.children.clear()).is_some(),
            Edit::Remove(path) => {
                let Some((last, parent)) = path.split_last() else {
                    return false;
                };
                let Some(parent) = self.find_mut(parent) else {
                    return false;
                };
                let before = parent.children.len();
                let mut removed = false;
                parent.children.retain(|c| match c {
                    Node::Element(e) if !removed && e.local_name() == *last => {
                        removed = true;
                        false
                    }
                    _ => true,
                });
                parent.children.len() < before
            }
        }
    }

    /// The element as XML text (no declaration), values escaped.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attributes {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            out.push_str(&escape(value));
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.render_into(out),
                Node::Text(t) => out.push_str(&escape(t)),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// One change to a message, by a path of child local names from the root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    SetAttr(&'static [&'static str], &'static str, &'static str),
    RemoveAttr(&'static [&'static str], &'static str),
    SetText(&'static [&'static str], &'static str),
    /// Removes every child (text included).
    Empty(&'static [&'static str]),
    /// Removes the element (the first of that name).
    Remove(&'static [&'static str]),
}

/// XML escaping for text and attribute values; tab, CR and LF as references so that attribute
/// normalization cannot change them.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_address_elements_by_local_name_paths() {
        let mut root = El::new("p:R")
            .attr("ID", "_1")
            .child(El::new("p:A").child(El::new("p:B").attr("x", "1").text("t")));
        assert!(root.apply(&Edit::SetAttr(&["A", "B"], "x", "2")));
        assert!(root.apply(&Edit::SetText(&["A", "B"], "a<b")));
        assert_eq!(
            root.render(),
            r#"<p:R ID="_1"><p:A><p:B x="2">a&lt;b</p:B></p:A></p:R>"#
        );
        assert!(root.apply(&Edit::Remove(&["A", "B"])));
        assert!(!root.apply(&Edit::Remove(&["A", "B"])));
        assert!(!root.apply(&Edit::SetAttr(&["Missing"], "x", "1")));
        assert!(root.apply(&Edit::RemoveAttr(&[], "ID")));
        assert_eq!(root.render(), "<p:R><p:A/></p:R>");
    }
}
