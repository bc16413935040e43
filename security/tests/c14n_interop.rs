//! Canonicalization against the independent implementation: libxml2's, through `xmllint` (whole
//! documents, with comments) and `xmlsec1` (every algorithm, with and without comments, whole
//! documents and `#id` subtrees with the enveloped-signature transform, InclusiveNamespaces
//! PrefixLists), over the corpus in `tests/c14n-corpus/` (namespace prefixes, default namespaces,
//! InclusiveNamespaces, whitespace and line ends, comments and PIs, attribute order, character
//! escaping, UTF-8 text and names, xml:* inheritance, empty elements).
//!
//! xmlsec1 signs a template carrying one Reference per case; each DigestValue it writes must equal
//! the SHA-256 of our canonical bytes for the same node-set of the same input.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use snodo_security::c14n::{Algorithm, C14nError, Canonicalization, InclusivePrefixes};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

fn parse(text: &str, what: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("{what}: our parser refused it: {e}"))
}

#[test]
fn inclusive_c14n_with_comments_of_whole_documents_matches_xmllint() {
    let xmllint = xmllint();
    for (name, text) in corpus() {
        let path = corpus_dir().join(&name);
        let expected = run(
            Command::new(&xmllint).arg("--c14n").arg(&path),
            &format!("xmllint --c14n {name}"),
        )
        .stdout;
        let ours = Canonicalization::new(Algorithm::InclusiveWithComments)
            .document(&parse(&text, &name), &[])
            .expect("canonicalizes");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&expected),
            "{name}: inclusive C14N with comments differs from xmllint --c14n"
        );
    }
}

#[test]
fn exclusive_c14n_with_comments_of_whole_documents_matches_xmllint() {
    let xmllint = xmllint();
    for (name, text) in corpus() {
        let path = corpus_dir().join(&name);
        let expected = run(
            Command::new(&xmllint).arg("--exc-c14n").arg(&path),
            &format!("xmllint --exc-c14n {name}"),
        )
        .stdout;
        let ours = Canonicalization::new(Algorithm::ExclusiveWithComments)
            .document(&parse(&text, &name), &[])
            .expect("canonicalizes");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&expected),
            "{name}: exclusive C14N with comments differs from xmllint --exc-c14n"
        );
    }
}

/// Canonical XML 1.0 §2.1: relative namespace URIs make canonicalization fail, in xmllint and here.
#[test]
fn c14n_1_0_section_2_1_relative_namespace_uris_fail_like_xmllint() {
    let xmllint = xmllint();
    let dir = TempDir::new("relative-ns");
    for (i, text) in ["<a xmlns=\"relative\"/>", "<a xmlns:p=\"../up\"><p:b/></a>"]
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("relative-{i}.xml"));
        std::fs::write(&path, text).expect("write");
        for flag in ["--c14n", "--exc-c14n"] {
            let status = Command::new(&xmllint)
                .arg(flag)
                .arg(&path)
                .output()
                .expect("xmllint runs")
                .status;
            assert!(!status.success(), "xmllint {flag} accepted {text}");
        }
        let doc = parse(text, text);
        for algorithm in Algorithm::ALL {
            let result = Canonicalization::new(algorithm).document(&doc, &[]);
            assert!(
                matches!(result, Err(C14nError::RelativeNamespaceUri { .. })),
                "{algorithm:?} on {text}: {result:?}"
            );
        }
    }
}

enum Target {
    Document,
    Id(String),
}

struct Case {
    uri: String,
    target: Target,
    algorithm: Algorithm,
    prefix_list: Option<String>,
}

/// One case per node-set (the document, each element with an ID) × algorithm × PrefixList (none, all
/// prefixes declared in the document plus #default, the first prefix alone).
fn cases(doc: &Document) -> Vec<Case> {
    let mut targets = vec![Target::Document];
    let mut prefixes = BTreeSet::new();
    for e in elements(doc) {
        let element = doc.element(e).expect("element");
        if let Some(id) = element.attribute(None, "ID") {
            targets.push(Target::Id(id.to_owned()));
        }
        prefixes.extend(
            element
                .namespace_declarations()
                .filter_map(|d| d.prefix().map(str::to_owned)),
        );
    }
    let mut lists = vec![None];
    if let Some(first) = prefixes.first() {
        let all: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        lists.push(Some(format!("#default {}", all.join(" "))));
        lists.push(Some(first.clone()));
    } else {
        lists.push(Some("#default".to_owned()));
    }
    let mut cases = Vec::new();
    for target in &targets {
        for algorithm in Algorithm::ALL {
            // Same-document references drop comments (XML-DSig §4.3.3.3) unless written as xpointer.
            let uri = match (target, algorithm.with_comments()) {
                (Target::Document, false) => String::new(),
                (Target::Document, true) => "#xpointer(/)".to_owned(),
                (Target::Id(id), false) => format!("#{id}"),
                (Target::Id(id), true) => format!("#xpointer(id('{id}'))"),
            };
            let lists_here = if algorithm.is_exclusive() {
                lists.clone()
            } else {
                vec![None]
            };
            for prefix_list in lists_here {
                let target = match target {
                    Target::Document => Target::Document,
                    Target::Id(id) => Target::Id(id.clone()),
                };
                cases.push(Case {
                    uri: uri.clone(),
                    target,
                    algorithm,
                    prefix_list,
                });
            }
        }
    }
    cases
}

fn signature_template(cases: &[Case]) -> String {
    let mut references = String::new();
    for case in cases {
        let parameter = match &case.prefix_list {
            Some(list) => format!(
                "<ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{list}\"/>"
            ),
            None => String::new(),
        };
        references.push_str(&format!(
            "<ds:Reference URI=\"{}\"><ds:Transforms>\
             <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
             <ds:Transform Algorithm=\"{}\">{parameter}</ds:Transform></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference>",
            case.uri,
            case.algorithm.uri()
        ));
    }
    format!(
        "<ds:Signature xmlns:ds=\"{DSIG}\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
         {references}</ds:SignedInfo><ds:SignatureValue/></ds:Signature>"
    )
}

/// The `Signature` we inserted: the last `ds:Signature` child of the document element.
fn our_signature(doc: &Document) -> NodeId {
    *children_named(doc, doc.document_element(), DSIG, "Signature")
        .last()
        .expect("the template's Signature")
}

/// The pre-digest buffers xmlsec1 prints with --store-references.
fn predigest_buffers(stdout: &str) -> Vec<&str> {
    stdout
        .split("== PreDigest data - start buffer:\n")
        .skip(1)
        .filter_map(|part| part.split("\n== PreDigest data - end buffer").next())
        .collect()
}

#[test]
fn all_c14n_algorithms_match_xmlsec1_digests_on_documents_and_id_subtrees() {
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("xmlsec1-c14n");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, signing_key_pem()).expect("write key");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, text) in corpus() {
        let doc = parse(&text, &name);
        let cases = cases(&doc);
        let root_name = doc
            .element(doc.document_element())
            .expect("root")
            .name()
            .qualified();
        let close = text.rfind(&format!("</{root_name}")).unwrap_or_else(|| {
            panic!("{name}: the corpus needs a root element with an end tag to insert the Signature into")
        });
        let template = format!(
            "{}{}{}",
            &text[..close],
            signature_template(&cases),
            &text[close..]
        );
        let template_path = dir.path().join(&name);
        let signed_path = dir.path().join(format!("signed-{name}"));
        std::fs::write(&template_path, &template).expect("write template");

        let mut command = Command::new(&xmlsec1);
        command
            .args(["--sign", "--store-references", "--privkey-pem"])
            .arg(&key);
        let mut id_elements = BTreeSet::new();
        for e in elements(&doc) {
            let element = doc.element(e).expect("element");
            if element.attribute(None, "ID").is_some() {
                let n = element.name();
                id_elements.insert(match n.namespace() {
                    Some(ns) => format!("{ns}:{}", n.local_name()),
                    None => n.local_name().to_owned(),
                });
            }
        }
        for element in &id_elements {
            command.arg("--id-attr:ID").arg(element);
        }
        command.arg("--output").arg(&signed_path).arg(&template_path);
        let output = run(&mut command, &format!("xmlsec1 --sign {name}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let buffers = predigest_buffers(&stdout);

        let signed_text = std::fs::read_to_string(&signed_path).expect("xmlsec1 wrote the signed document");
        let signed = parse(&signed_text, &format!("xmlsec1's output for {name}"));
        let digests: Vec<String> = descendants_named(&signed, our_signature(&signed), DSIG, "DigestValue")
            .into_iter()
            .map(|d| signed.text_content(d))
            .collect();
        assert_eq!(
            digests.len(),
            cases.len(),
            "{name}: one DigestValue per Reference"
        );

        // Our side canonicalizes the template, the very bytes xmlsec1 read.
        let tdoc = parse(&template, &format!("template for {name}"));
        let signature = our_signature(&tdoc);
        for (case, expected) in cases.iter().zip(&digests) {
            let prefixes = case
                .prefix_list
                .as_deref()
                .map_or_else(InclusivePrefixes::none, |l| {
                    InclusivePrefixes::parse(l).expect("valid PrefixList")
                });
            let method = Canonicalization::new(case.algorithm).with_inclusive_prefixes(prefixes);
            let ours = match &case.target {
                Target::Document => method.document(&tdoc, &[signature]),
                Target::Id(id) => method.subtree(&tdoc, element_by_id(&tdoc, id), &[signature]),
            }
            .expect("canonicalizes");
            checked += 1;
            if &sha256_base64(&ours) != expected {
                let theirs = buffers
                    .iter()
                    .find(|b| &sha256_base64(b.as_bytes()) == expected)
                    .map_or("(not found in xmlsec1's output)", |b| b);
                failures.push(format!(
                    "{name} URI={:?} {:?} PrefixList={:?}\n  ours:    {}\n  xmlsec1: {theirs}",
                    case.uri,
                    case.algorithm,
                    case.prefix_list,
                    String::from_utf8_lossy(&ours)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from xmlsec1:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} cases were compared");
}
