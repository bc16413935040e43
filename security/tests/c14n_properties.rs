//! Property tests: canonicalization is idempotent (the canonical form, parsed and canonicalized again
//! with the same method, is unchanged) for every algorithm, on whole documents and on subtrees; and
//! the parser never panics, whatever the bytes.
//!
//! Documents come from `common::generate`: namespace prefixes and redeclarations, default namespaces
//! and `xmlns=""`, xml:lang, attributes with characters that need escaping, text with CR/LF/TAB and
//! non-ASCII characters, comments, processing instructions and CDATA sections.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::generate::{document, serialize};
use proptest::prelude::*;
use snodo_security::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use snodo_security::xml::{Document, Limits, NodeId, NodeKind, parse, parse_str};

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
