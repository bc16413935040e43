//! A generator of XML documents for property tests: namespace prefixes and redeclarations, default
//! namespaces and `xmlns=""`, xml:lang, attributes with characters that need escaping, text with
//! CR/LF/TAB and non-ASCII characters, comments, processing instructions and CDATA sections.
//! Shared by the canonicalization and signature property tests.

use proptest::prelude::*;

pub const PREFIXES: [&str; 3] = ["a", "b", "c"];
pub const URIS: [&str; 4] = ["urn:x", "urn:y", "http://example.it/z", ""];
pub const LOCALS: [&str; 4] = ["e", "f", "città", "g-h.i"];

#[derive(Debug, Clone)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
    Pi(&'static str, String),
    CData(String),
}

#[derive(Debug, Clone)]
pub struct Element {
    pub prefix: Option<usize>,
    pub local: usize,
    /// (prefix index or None for the default namespace, URI index; "" only for the default)
    pub declarations: Vec<(Option<usize>, usize)>,
    pub attributes: Vec<(Option<usize>, String)>,
    pub lang: Option<String>,
    pub children: Vec<Node>,
}

pub fn text() -> impl Strategy<Value = String> {
    let chars = vec![
        'a', 'Z', ' ', '&', '<', '>', '"', '\'', '\t', '\n', '\r', ']', 'é', '€', '😀',
    ];
    prop::collection::vec(prop::sample::select(chars), 0..8).prop_map(String::from_iter)
}

pub fn plain(chars: Vec<char>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(chars), 0..6).prop_map(String::from_iter)
}

pub fn element(children: impl Strategy<Value = Vec<Node>>) -> impl Strategy<Value = Element> {
    (
        prop::option::of(0..PREFIXES.len()),
        0..LOCALS.len(),
        prop::collection::vec((prop::option::of(0..PREFIXES.len()), 0..URIS.len()), 0..3),
        prop::collection::vec((prop::option::of(0..PREFIXES.len()), text()), 0..4),
        prop::option::of(plain(vec!['i', 't', '-'])),
        children,
    )
        .prop_map(
            |(prefix, local, declarations, attributes, lang, children)| Element {
                prefix,
                local,
                declarations,
                attributes,
                lang,
                children,
            },
        )
}

pub fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        3 => text().prop_map(Node::Text),
        1 => plain(vec!['c', ' ', 'ò', '\n']).prop_map(Node::Comment),
        1 => (prop::sample::select(vec!["pi", "tgt"]), plain(vec!['d', ' ', '='])).prop_map(|(t, d)| Node::Pi(t, d)),
        1 => plain(vec!['<', '&', 'x', '>', '\n']).prop_map(Node::CData),
    ]
}

pub fn document() -> impl Strategy<Value = Element> {
    let node = leaf().prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            1 => leaf(),
            2 => element(prop::collection::vec(inner, 0..4)).prop_map(Node::Element),
        ]
    });
    element(prop::collection::vec(node, 0..5))
}

pub fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' | '\n' | '\r' if attribute => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub fn serialize(e: &Element, is_root: bool, out: &mut String) {
    let name = match e.prefix {
        Some(p) => format!("{}:{}", PREFIXES[p], LOCALS[e.local]),
        None => LOCALS[e.local].to_owned(),
    };
    out.push('<');
    out.push_str(&name);
    let mut declared: Vec<Option<usize>> = Vec::new();
    for &(prefix, uri) in &e.declarations {
        // Prefixes cannot be undeclared in XML 1.0: "" goes to the default namespace only.
        let uri = if prefix.is_some() && URIS[uri].is_empty() {
            URIS[0]
        } else {
            URIS[uri]
        };
        if declared.contains(&prefix) {
            continue;
        }
        declared.push(prefix);
        match prefix {
            Some(p) => out.push_str(&format!(" xmlns:{}=\"{uri}\"", PREFIXES[p])),
            None => out.push_str(&format!(" xmlns=\"{uri}\"")),
        }
    }
    if is_root {
        // Every prefix is bound from the root down, so any element or attribute may use it.
        for (i, p) in PREFIXES.iter().enumerate() {
            if !declared.contains(&Some(i)) {
                out.push_str(&format!(" xmlns:{p}=\"{}\"", URIS[i]));
            }
        }
    }
    for (i, (prefix, value)) in e.attributes.iter().enumerate() {
        // Distinct local names keep expanded names distinct whatever the prefixes are bound to.
        let name = match prefix {
            Some(p) => format!("{}:k{i}", PREFIXES[*p]),
            None => format!("k{i}"),
        };
        out.push_str(&format!(" {name}=\"{}\"", escape(value, true)));
    }
    if let Some(lang) = &e.lang {
        out.push_str(&format!(" xml:lang=\"{lang}\""));
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) => serialize(c, false, out),
            Node::Text(t) => out.push_str(&escape(t, false)),
            Node::Comment(c) => out.push_str(&format!("<!--{c}-->")),
            Node::Pi(target, data) => out.push_str(&format!("<?{target} {data}?>")),
            Node::CData(c) => out.push_str(&format!("<![CDATA[{c}]]>")),
        }
    }
    out.push_str(&format!("</{name}>"));
}
