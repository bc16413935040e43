//! Schema validation agrees with `xmllint --schema` on the official schemas of every platform.
//!
//! The corpus: the official example messages in `shared/specs/` (pagoPA SOAP requests, whose Body
//! payload is validated; ANPR requests and registry-change examples; SPID Responses, AuthnRequest and
//! metadata), and for each of them mutants that a platform must judge — a required element removed,
//! an unknown element added, an element repeated, a leaf value made too long or of the wrong kind. Every
//! document is judged by `xmllint` (the independent oracle, one process per schema) and by
//! [`Schema`]; the verdicts must be identical, and both kinds of verdict must occur for every schema,
//! so the comparison cannot pass by everything being valid or everything invalid.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, xmllint};
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::schema::{Schema, SchemaError};
use snodo_security::xml::{Document, Limits, NodeId, NodeKind, parse};

const SOAP_ENVELOPE: &str = "http://schemas.xmlsoap.org/soap/envelope/";

fn specs() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs");
    assert!(
        dir.is_dir(),
        "specs not found at {}: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

/// Where the payload to validate sits in an example file.
#[derive(Clone, Copy)]
enum Payload {
    /// The document element.
    Root,
    /// The first element child of the SOAP 1.1 Body.
    SoapBody,
}

struct Case {
    schema: &'static str,
    documents: Vec<PathBuf>,
    payload: Payload,
}

fn files(dir: &str, filter: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(specs().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .filter(|p| filter(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no example documents in {dir}");
    found
}

fn cases() -> Vec<Case> {
    let spid_responses: Vec<PathBuf> = files("spid/fixtures/responses", |_| true)
        .into_iter()
        .take(12)
        .collect();
    vec![
        Case {
            schema: "pagopa/wsdl/xsd/paForNode.xsd",
            documents: files("pagopa/examples/pagopa-mock-ec", |_| true),
            payload: Payload::SoapBody,
        },
        Case {
            schema: "anpr/soap/comuni/3000consultazione.xsd",
            documents: files("anpr/soap-client-example/requests", |n| n.starts_with("3002_888")),
            payload: Payload::Root,
        },
        Case {
            schema: "anpr/soap/comuni/6001certificazione.xsd",
            documents: files("anpr/soap-client-example/requests", |n| n.starts_with("6001")),
            payload: Payload::Root,
        },
        Case {
            schema: "anpr/soap/ansc/xsd/predisposizioneAnagrafica.xsd",
            documents: files("anpr/soap/ansc/esempi", |_| true),
            payload: Payload::Root,
        },
        Case {
            schema: "spid/xsd/spid/saml-schema-protocol-2.0.xsd",
            documents: {
                let mut d = spid_responses;
                d.push(specs().join("spid/fixtures/authnrequest.xml"));
                d
            },
            payload: Payload::Root,
        },
        Case {
            schema: "spid/xsd/spid/saml-schema-metadata-sp-spid-av29.xsd",
            documents: vec![specs().join("spid/fixtures/sp-metadata.xml")],
            payload: Payload::Root,
        },
    ]
}

/// The payload of `file` as a standalone document (every in-scope namespace declared on it), parsed.
fn payload_of(file: &Path, payload: Payload) -> Document {
    let bytes = std::fs::read(file).unwrap();
    let doc = parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let node = match payload {
        Payload::Root => doc.document_element(),
        Payload::SoapBody => {
            let envelope = doc.document_element();
            let body = doc
                .child_elements(envelope)
                .find(|&c| doc.element(c).unwrap().name().is(Some(SOAP_ENVELOPE), "Body"))
                .unwrap_or_else(|| panic!("{}: no soap Body", file.display()));
            doc.child_elements(body).next().expect("a Body payload")
        }
    };
    let standalone = Canonicalization::new(Algorithm::Inclusive)
        .subtree(&doc, node, &[])
        .unwrap();
    parse(&standalone, &Limits::default()).unwrap()
}

enum Mutation {
    None,
    Skip(NodeId),
    Duplicate(NodeId),
    ReplaceText(NodeId, String),
    AppendUnknown,
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A plain serializer, independent of the crate's canonicalization, that applies one mutation.
fn write(doc: &Document, node: NodeId, mutation: &Mutation, out: &mut String) {
    match doc.kind(node) {
        NodeKind::Text(t) => out.push_str(&escape(t, false)),
        NodeKind::Element(e) => {
            if matches!(mutation, Mutation::Skip(n) if *n == node) {
                return;
            }
            let name = e.name().qualified();
            write!(out, "<{name}").unwrap();
            for d in e.namespace_declarations() {
                match d.prefix() {
                    Some(p) => write!(out, " xmlns:{p}=\"{}\"", escape(d.uri(), true)).unwrap(),
                    None => write!(out, " xmlns=\"{}\"", escape(d.uri(), true)).unwrap(),
                }
            }
            for a in e.attributes() {
                write!(out, " {}=\"{}\"", a.name().qualified(), escape(a.value(), true)).unwrap();
            }
            out.push('>');
            match mutation {
                Mutation::ReplaceText(n, text) if *n == node => out.push_str(&escape(text, false)),
                _ => {
                    for child in doc.children(node) {
                        write(doc, child, mutation, out);
                    }
                }
            }
            if matches!(mutation, Mutation::AppendUnknown) && node == doc.document_element() {
                out.push_str("<snodoUnexpectedElement>1</snodoUnexpectedElement>");
            }
            write!(out, "</{name}>").unwrap();
            if matches!(mutation, Mutation::Duplicate(n) if *n == node) {
                let mut copy = String::new();
                write(doc, node, &Mutation::None, &mut copy);
                out.push_str(&copy);
            }
        }
        NodeKind::Document => {
            for child in doc.children(node) {
                write(doc, child, mutation, out);
            }
        }
        NodeKind::Comment(_) | NodeKind::ProcessingInstruction(_) => {}
    }
}

fn descendants(doc: &Document, node: NodeId, out: &mut Vec<NodeId>) {
    for c in doc.child_elements(node) {
        out.push(c);
        descendants(doc, c, out);
    }
}

/// The original and its mutants, as text.
fn variants(doc: &Document) -> Vec<(String, String)> {
    let root = doc.document_element();
    let mut all = Vec::new();
    descendants(doc, root, &mut all);
    let leaves: Vec<NodeId> = all
        .iter()
        .copied()
        .filter(|&n| doc.child_elements(n).next().is_none())
        .collect();
    let children: Vec<NodeId> = doc.child_elements(root).collect();

    let mut mutations = vec![
        ("original".to_owned(), Mutation::None),
        ("unknown".to_owned(), Mutation::AppendUnknown),
    ];
    for (i, &c) in children.iter().take(3).enumerate() {
        mutations.push((format!("skip-child-{i}"), Mutation::Skip(c)));
        mutations.push((format!("duplicate-child-{i}"), Mutation::Duplicate(c)));
    }
    // Leaves spread through the document, each replaced by values that break common facets.
    let step = (leaves.len() / 4).max(1);
    for (i, &leaf) in leaves.iter().step_by(step).take(4).enumerate() {
        mutations.push((format!("long-{i}"), Mutation::ReplaceText(leaf, "X".repeat(300))));
        mutations.push((
            format!("word-{i}"),
            Mutation::ReplaceText(leaf, "not-a-number".into()),
        ));
        mutations.push((format!("empty-{i}"), Mutation::ReplaceText(leaf, String::new())));
    }
    mutations
        .into_iter()
        .map(|(label, m)| {
            let mut text = String::new();
            write(doc, doc.root(), &m, &mut text);
            (label, text)
        })
        .collect()
}

/// An XML catalog that points xmllint at the local copies of the W3C schemas the SAML metadata
/// schemas import by URL (it runs with `--nonet`, as the crate's validator never fetches either).
fn w3c_catalog(dir: &Path) -> PathBuf {
    let local = specs().join("spid/xsd/spid");
    let mut entries = String::new();
    for (url, file) in [
        ("http://www.w3.org/2001/xml.xsd", "xml.xsd"),
        ("http://www.w3.org/2001/03/xml.xsd", "xml.xsd"),
        (
            "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
            "xmldsig-core-schema.xsd",
        ),
    ] {
        let target = format!("file://{}", local.join(file).display());
        write!(
            entries,
            r#"<system systemId="{url}" uri="{target}"/><uri name="{url}" uri="{target}"/>"#
        )
        .unwrap();
    }
    let path = dir.join("catalog.xml");
    std::fs::write(
        &path,
        format!(r#"<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">{entries}</catalog>"#),
    )
    .unwrap();
    path
}

/// `xmllint`'s verdict on each file: true when it validates.
fn xmllint_verdicts(schema: &Path, files: &[PathBuf], catalog: &Path) -> BTreeMap<PathBuf, bool> {
    let output = Command::new(xmllint())
        .env("XML_CATALOG_FILES", catalog)
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schema)
        .args(files)
        .output()
        .expect("xmllint runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut verdicts = BTreeMap::new();
    for line in stderr.lines() {
        if let Some(file) = line.strip_suffix(" validates") {
            verdicts.insert(PathBuf::from(file), true);
        } else if let Some(file) = line.strip_suffix(" fails to validate") {
            verdicts.insert(PathBuf::from(file), false);
        }
    }
    for f in files {
        assert!(
            verdicts.contains_key(f),
            "xmllint gave no verdict for {}:\n{stderr}",
            f.display()
        );
    }
    verdicts
}

#[test]
fn verdicts_agree_with_xmllint_on_every_platform_schema() {
    let tmp = TempDir::new("schema-agreement");
    let catalog = w3c_catalog(tmp.path());
    let mut compared = 0;
    for case in cases() {
        let schema_path = specs().join(case.schema);
        let schema = Schema::compile(&schema_path).unwrap_or_else(|e| panic!("{}: {e}", case.schema));
        let mut written = Vec::new();
        for file in &case.documents {
            let payload = payload_of(file, case.payload);
            for (label, text) in variants(&payload) {
                let stem = file.file_stem().unwrap().to_string_lossy();
                let path = tmp.path().join(format!("{}-{stem}-{label}.xml", written.len()));
                std::fs::write(&path, &text).unwrap();
                written.push((path, text));
            }
        }
        let paths: Vec<PathBuf> = written.iter().map(|(p, _)| p.clone()).collect();
        let oracle = xmllint_verdicts(&schema_path, &paths, &catalog);
        let (mut valid, mut invalid) = (0, 0);
        for (path, text) in &written {
            let ours = schema.validate(text.as_bytes(), &Limits::default());
            let theirs = oracle[path];
            assert_eq!(
                ours.is_ok(),
                theirs,
                "{} disagrees with xmllint on {}: ours {:?}",
                case.schema,
                path.display(),
                ours.as_ref().err().map(ToString::to_string)
            );
            if theirs {
                valid += 1
            } else {
                invalid += 1
            }
            compared += 1;
        }
        println!(
            "{}: {valid} valid, {invalid} invalid, verdicts identical",
            case.schema
        );
        assert!(
            valid > 0 && invalid > 0,
            "{}: {valid} valid, {invalid} invalid — the corpus must have both",
            case.schema
        );
    }
    assert!(compared >= 200, "only {compared} documents compared");
}

#[test]
fn a_soap_body_payload_validates_in_place() {
    let specs = specs();
    let schema = Schema::compile(specs.join("pagopa/wsdl/xsd/paForNode.xsd")).unwrap();
    let bytes = std::fs::read(specs.join("pagopa/examples/pagopa-mock-ec/paSendRTReq_avv4.xml")).unwrap();
    let doc = parse(&bytes, &Limits::default()).unwrap();
    let envelope = doc.document_element();
    let body = doc.child_elements(envelope).last().unwrap();
    let payload = doc.child_elements(body).next().unwrap();
    schema
        .validate_element(&doc, payload)
        .expect("the official example is valid");
    // The whole envelope is not a paForNode document: the schema does not declare soapenv:Envelope.
    let err = schema.validate(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(err, SchemaError::Invalid { .. }), "{err}");
}

#[test]
fn hostile_documents_never_reach_libxml2() {
    let schema = Schema::compile(specs().join("pagopa/wsdl/xsd/paForNode.xsd")).unwrap();
    let bomb =
        br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]><a>&y;</a>"#;
    assert!(matches!(
        schema.validate(bomb, &Limits::default()),
        Err(SchemaError::Refused(_))
    ));
    let xxe = br#"<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>"#;
    assert!(matches!(
        schema.validate(xxe, &Limits::default()),
        Err(SchemaError::Refused(_))
    ));
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(matches!(
        schema.validate(deep.as_bytes(), &Limits::default()),
        Err(SchemaError::Refused(_))
    ));
}

#[test]
fn errors_name_the_element_and_mask_the_value() {
    let schema = Schema::compile(specs().join("anpr/soap/comuni/3000consultazione.xsd")).unwrap();
    let bytes =
        std::fs::read(specs().join("anpr/soap-client-example/requests/3002_888002_FREE.xml")).unwrap();
    let text = String::from_utf8(bytes).unwrap().replace(
        "<dataRiferimentoRichiesta>2017-03-27+02:00</dataRiferimentoRichiesta>",
        "<dataRiferimentoRichiesta>RSSMRA80A01H501U</dataRiferimentoRichiesta>",
    );
    let err = schema.validate(text.as_bytes(), &Limits::default()).unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, SchemaError::Invalid { .. }), "{shown}");
    assert!(shown.contains("dataRiferimentoRichiesta"), "{shown}");
    assert!(!shown.contains("RSSMRA"), "personal data leaked: {shown}");
    assert!(err.problems().iter().all(|p| !p.message.contains("RSSMRA")));
}

#[test]
fn remote_imports_resolve_to_local_copies_and_missing_ones_fail_cleanly() {
    // The SPID metadata schema imports xml.xsd by its W3C URL: compiled offline from the local copy.
    Schema::compile(specs().join("spid/xsd/spid/saml-schema-metadata-sp-spid-av29.xsd"))
        .expect("offline import");

    let tmp = TempDir::new("schema-remote");
    let xsd = tmp.path().join("remote.xsd");
    std::fs::write(
        &xsd,
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
             <xs:import namespace="urn:elsewhere" schemaLocation="http://example.invalid/not-here.xsd"/>
             <xs:element name="a" type="xs:string"/>
           </xs:schema>"#,
    )
    .unwrap();
    // Nothing is fetched: an import that has no local copy makes the schema fail to compile, naming
    // the URL (xmllint --nonet would skip the import with a warning and validate less than asked).
    let err = Schema::compile(&xsd).unwrap_err();
    assert!(matches!(err, SchemaError::Compile { .. }), "{err}");
    assert!(
        err.to_string().contains("http://example.invalid/not-here.xsd"),
        "{err}"
    );

    let broken = tmp.path().join("broken.xsd");
    std::fs::write(&broken, r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="nope"/></xs:schema>"#)
        .unwrap();
    let err = Schema::compile(&broken).unwrap_err();
    assert!(matches!(err, SchemaError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("broken.xsd"), "{err}");
    assert!(matches!(
        Schema::compile(tmp.path().join("absent.xsd")),
        Err(SchemaError::Unreadable { .. })
    ));
}

#[test]
fn one_schema_validates_from_many_threads() {
    let schema =
        std::sync::Arc::new(Schema::compile(specs().join("anpr/soap/comuni/3000consultazione.xsd")).unwrap());
    let good = std::fs::read(specs().join("anpr/soap-client-example/requests/3002_888002_FREE.xml")).unwrap();
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace("<tipoInvio>FREE</tipoInvio>", "");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let schema = schema.clone();
            let (good, bad) = (good.clone(), bad.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    if i % 2 == 0 {
                        schema.validate(&good, &Limits::default()).unwrap();
                    } else {
                        assert!(schema.validate(bad.as_bytes(), &Limits::default()).is_err());
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
