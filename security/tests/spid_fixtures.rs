//! The generated SPID fixtures (`shared/specs/spid/fixtures/`, spid-and-cie-id.md §2.6): Responses
//! rendered by spid-sp-test and signed by xmlsec1 1.2.37, i.e. real IdP-shaped input and an
//! independent signer. Every fixture goes through the screening parser, and for the Responses the
//! tool expects an SP to accept, every signature's DigestValue equals the SHA-256 of our exclusive
//! canonicalization of the element it references, minus that signature (the enveloped transform).

mod common;

use common::*;
use snodo_security::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use snodo_security::xml::{Document, Limits, NodeId, parse};

fn fixture_files() -> Vec<(String, String)> {
    let index_path = spid_fixtures_dir().join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index.json is readable"))
            .expect("index.json is JSON");
    index["cases"]
        .as_array()
        .expect("index.json has cases")
        .iter()
        .map(|c| {
            let file = c["file"].as_str().expect("case has file").to_owned();
            let expected = c["expected"].as_str().expect("case has expected").to_owned();
            (file, expected)
        })
        .collect()
}

fn load(file: &str) -> Vec<u8> {
    std::fs::read(spid_fixtures_dir().join("responses").join(file)).expect("fixture is readable")
}

#[test]
fn every_spid_fixture_passes_the_screening_parser() {
    let files = fixture_files();
    assert_eq!(
        files.len(),
        111,
        "index.json lists the 111 spid-sp-test Responses"
    );
    for (file, _) in files {
        let bytes = load(&file);
        let doc = parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Every canonicalization is defined on them (no relative namespaces, nothing unexpected).
        for algorithm in Algorithm::ALL {
            Canonicalization::new(algorithm)
                .document(&doc, &[])
                .unwrap_or_else(|e| panic!("{file} {algorithm:?}: {e}"));
        }
    }
}

/// The digest of `signature`'s single Reference, recomputed over our canonical form.
fn recompute_digest(doc: &Document, signature: NodeId) -> (String, String) {
    let signed_info = children_named(doc, signature, DSIG, "SignedInfo")[0];
    let reference = children_named(doc, signed_info, DSIG, "Reference")[0];
    let uri = doc
        .element(reference)
        .and_then(|e| e.attribute(None, "URI"))
        .expect("Reference has a URI");
    let id = uri.strip_prefix('#').expect("same-document reference");
    let target = element_by_id(doc, id);
    assert_eq!(
        doc.parent(signature),
        Some(target),
        "SPID signatures are enveloped in the signed element"
    );
    let transforms = descendants_named(doc, reference, DSIG, "Transform");
    let c14n = transforms
        .iter()
        .filter_map(|&t| doc.element(t).and_then(|e| e.attribute(None, "Algorithm")))
        .find_map(Algorithm::from_uri)
        .expect("a canonicalization transform");
    assert_eq!(
        c14n,
        Algorithm::Exclusive,
        "SPID uses exclusive C14N without comments"
    );
    let ours = Canonicalization::new(c14n)
        .with_inclusive_prefixes(InclusivePrefixes::none())
        .subtree(doc, target, &[signature])
        .expect("canonicalizes");
    let expected = doc.text_content(children_named(doc, reference, DSIG, "DigestValue")[0]);
    (sha256_base64(&ours), expected.trim().to_owned())
}

#[test]
fn exclusive_c14n_reproduces_the_digests_xmlsec1_signed_in_accepted_spid_responses() {
    let mut checked = 0;
    for (file, expected) in fixture_files() {
        if expected != "accept" {
            continue;
        }
        let doc = parse(&load(&file), &Limits::default()).expect("parses");
        let signatures = descendants_named(&doc, doc.root(), DSIG, "Signature");
        assert!(!signatures.is_empty(), "{file} is signed");
        for signature in signatures {
            let (ours, theirs) = recompute_digest(&doc, signature);
            assert_eq!(
                ours, theirs,
                "{file}: digest of the element signed by Signature at {signature:?}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 12,
        "six accepted Responses, two signatures each; checked {checked}"
    );
}

#[test]
fn spid_sp_test_xxe_template_is_refused_at_its_doctype() {
    // spid-sp-test's (disabled) xxe case: a parameter entity pulling an external DTD.
    let template =
        std::fs::read_to_string(spid_fixtures_dir().join("../spid-sp-test/response-templates/xxe.xml"))
            .expect("xxe.xml template");
    let start = template.find("<?xml").expect("template has the prolog");
    let end = template.find("{% endblock pre %}").expect("template block end");
    let response = format!(
        "{}<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
        &template[start..end]
    );
    let err = parse(response.as_bytes(), &Limits::default()).expect_err("DOCTYPE must be refused");
    assert!(
        matches!(
            err,
            snodo_security::xml::XmlError::DoctypeForbidden { offset: 21 }
        ),
        "{err}"
    );
}
