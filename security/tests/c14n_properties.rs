//! Property tests: canonicalization is idempotent (the canonical form, parsed and canonicalized again
//! with the same method, is unchanged) for every algorithm, on whole documents and on subtrees; and
//! the parser never panics, whatever the bytes.
//!
//! Documents are generated with namespace prefixes and redeclarations, default namespaces and
//! `xmlns=""`, xml:lang, attributes with characters that need escaping, text with CR/LF/TAB and
//! non-ASCII characters, comments, processing instructions and CDATA sections.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use snodo_security::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use snodo_security::xml::{Document, Limits, NodeId, NodeKind, parse, parse_str};

const PREFIXES: [&str; 3] = ["a", "b", "c"];
const URIS: [&str; 4] = ["urn:x", "urn:y", "http://example.it/z", ""];
const LOCALS: [&str; 4] = ["e", "f", "città", "g-h.i"];

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
    Comment(String),
    Pi(&'static str, String),
    CData(String),
}

#[derive(Debug, Clone)]
struct Element {
    prefix: Option<usize>,
    local: usize,
    /// (prefix index or None for the default namespace, URI index; "" only for the default)
    declarations: Vec<(Option<usize>, usize)>,
    attributes: Vec<(Option<usize>, String)>,
    lang: Option<String>,
    children: Vec<Node>,
}

fn text() -> impl Strategy<Value = String> {
    let chars = vec![
        'a', 'Z', ' ', '&', '<', '>', '"', '\'', '\t', '\n', '\r', ']', 'é', '€', '😀',
    ];
    prop::collection::vec(prop::sample::select(chars), 0..8).prop_map(String::from_iter)
}

fn plain(chars: Vec<char>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(chars), 0..6).prop_map(String::from_iter)
}

fn element(children: impl Strategy<Value = Vec<Node>>) -> impl Strategy<Value = Element> {
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

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        3 => text().prop_map(Node::Text),
        1 => plain(vec!['c', ' ', 'ò', '\n']).prop_map(Node::Comment),
        1 => (prop::sample::select(vec!["pi", "tgt"]), plain(vec!['d', ' ', '='])).prop_map(|(t, d)| Node::Pi(t, d)),
        1 => plain(vec!['<', '&', 'x', '>', '\n']).prop_map(Node::CData),
    ]
}

fn document() -> impl Strategy<Value = Element> {
    let node = leaf().prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            1 => leaf(),
            2 => element(prop::collection::vec(inner, 0..4)).prop_map(Node::Element),
        ]
    });
    element(prop::collection::vec(node, 0..5))
}

fn escape(s: &str, attribute: bool) -> String {
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

fn serialize(e: &Element, is_root: bool, out: &mut String) {
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

fn methods() -> Vec<Canonicalization> {
    let mut methods: Vec<Canonicalization> = Algorithm::ALL.into_iter().map(Canonicalization::new).collect();
    for list in ["#default", "a c", "#default b"] {
        let prefixes = InclusivePrefixes::parse(list).expect("valid PrefixList");
        methods.push(Canonicalization::new(Algorithm::Exclusive).with_inclusive_prefixes(prefixes.clone()));
        methods
            .push(Canonicalization::new(Algorithm::ExclusiveWithComments).with_inclusive_prefixes(prefixes));
    }
    methods
}

fn elements(doc: &Document) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root()];
    while let Some(n) = stack.pop() {
        if matches!(doc.kind(n), NodeKind::Element(_)) {
            out.push(n);
        }
        stack.extend(doc.children(n));
    }
    out
}

/// `xmllint FLAG -` over `xml`: libxml2's canonical form, with comments. Missing xmllint fails loudly.
fn xmllint_c14n(flag: &str, xml: &str) -> Vec<u8> {
    let mut child = Command::new("xmllint")
        .args([flag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("`xmllint` cannot run ({e}): it is the oracle of this test, which never skips. Install it with `apt-get install -y libxml2-utils` (scripts/test does).")
        });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(xml.as_bytes())
        .expect("xmllint reads stdin");
    let output = child.wait_with_output().expect("xmllint finishes");
    assert!(
        output.status.success(),
        "xmllint {flag} refused {xml}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn reparse(bytes: &[u8]) -> Document {
    parse(bytes, &Limits::default()).unwrap_or_else(|e| {
        panic!(
            "canonical output does not parse: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn canonicalization_of_a_document_is_idempotent(root in document()) {
        let mut xml = String::new();
        serialize(&root, true, &mut xml);
        let doc = parse_str(&xml, &Limits::default()).unwrap_or_else(|e| panic!("generated XML refused: {e}\n{xml}"));
        for method in methods() {
            let once = method.document(&doc, &[]).expect("canonicalizes");
            let twice = method.document(&reparse(&once), &[]).expect("canonicalizes");
            prop_assert_eq!(
                String::from_utf8_lossy(&once), String::from_utf8_lossy(&twice),
                "{:?} {:?} on {}", method.algorithm(), method.inclusive_prefixes(), xml
            );
        }
    }

    #[test]
    fn canonicalization_of_a_subtree_is_idempotent(root in document(), pick in any::<prop::sample::Index>()) {
        let mut xml = String::new();
        serialize(&root, true, &mut xml);
        let doc = parse_str(&xml, &Limits::default()).unwrap_or_else(|e| panic!("generated XML refused: {e}\n{xml}"));
        let all = elements(&doc);
        let apex = all[pick.index(all.len())];
        for method in methods() {
            // A subtree's canonical form is a document of its own, already canonical.
            let once = method.subtree(&doc, apex, &[]).expect("canonicalizes");
            let twice = method.document(&reparse(&once), &[]).expect("canonicalizes");
            prop_assert_eq!(
                String::from_utf8_lossy(&once), String::from_utf8_lossy(&twice),
                "{:?} {:?} on {}", method.algorithm(), method.inclusive_prefixes(), xml
            );
        }
    }

    #[test]
    fn generated_documents_canonicalize_exactly_as_xmllint_does(root in document()) {
        let mut xml = String::new();
        serialize(&root, true, &mut xml);
        let doc = parse_str(&xml, &Limits::default()).unwrap_or_else(|e| panic!("generated XML refused: {e}\n{xml}"));
        for (flag, algorithm) in [("--c14n", Algorithm::InclusiveWithComments), ("--exc-c14n", Algorithm::ExclusiveWithComments)] {
            let ours = Canonicalization::new(algorithm).document(&doc, &[]).expect("canonicalizes");
            let theirs = xmllint_c14n(flag, &xml);
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{} on {}", flag, xml);
        }
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, &Limits::default());
    }

    #[test]
    fn the_parser_never_panics_on_damaged_documents(root in document(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut xml = String::new();
        serialize(&root, true, &mut xml);
        let mut bytes = xml.into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        if let Ok(doc) = parse(&bytes, &Limits::default()) {
            for method in methods() {
                let _ = method.document(&doc, &[]);
            }
            // Parser differential: what we accept, libxml2 (xmlsec1's parser) accepts too.
            let xml = String::from_utf8(bytes).expect("accepted input is UTF-8");
            let ours = Canonicalization::new(Algorithm::InclusiveWithComments).document(&doc, &[]);
            if let Ok(ours) = ours {
                let theirs = xmllint_c14n("--c14n", &xml);
                prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{}", xml);
            }
        }
    }
}
