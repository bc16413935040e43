//! The SP's AuthnRequest (spid-and-cie-id.md §1.1): what spid-sp-test checks, written as assertions
//! on our output; the SAML protocol schema judged by `xmllint --schema`; the signature judged by
//! `xmlsec1 --verify` the way spid-sp-test runs it (`--id-attr:ID …:AuthnRequest`, the metadata
//! certificate), and by our own verifier.

mod common;

use std::process::Command;

use common::*;
use snodo_security::dsig::{SignaturePolicy, signature_children, verify_enveloped_signature};
use snodo_security::saml::{
    AssertionConsumerService, AuthnRequest, Comparison, ENTITY_FORMAT, HTTP_POST_BINDING, SpidLevel,
    TRANSIENT_FORMAT, parse_instant,
};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

const SP: &str = "https://comune.example.it/spid";
const SSO: &str = "https://idp.example.it/samlsso";

fn request(level: SpidLevel, acs: AssertionConsumerService) -> AuthnRequest {
    AuthnRequest::new(
        SP,
        SSO,
        acs,
        1,
        level,
        parse_instant("2026-12-01T10:00:00.531Z").expect("instant"),
    )
}

fn attr<'d>(doc: &'d Document, node: NodeId, name: &str) -> Option<&'d str> {
    doc.element(node).and_then(|e| e.attribute(None, name))
}

fn child_names(doc: &Document, node: NodeId) -> Vec<String> {
    doc.child_elements(node)
        .map(|c| doc.element(c).expect("element").name().qualified())
        .collect()
}

fn schema_valid(xml: &str, dir: &TempDir, name: &str) {
    let file = dir.path().join(name);
    std::fs::write(&file, xml).expect("write request");
    let schema = spid_fixtures_dir().join("../xsd/spid/saml-schema-protocol-2.0.xsd");
    run(
        Command::new(xmllint())
            .arg("--noout")
            .arg("--nonet")
            .arg("--schema")
            .arg(&schema)
            .arg(&file),
        &format!("xmllint --schema saml-schema-protocol-2.0.xsd {name}"),
    );
}

#[test]
fn spid_rule_authn_request_attributes_and_element_order() {
    let xml = request(SpidLevel::L2, AssertionConsumerService::Index(0))
        .sign(&idp().signing_key())
        .expect("signs");
    let doc = parse_str(&xml, &Limits::default()).expect("parses");
    let root = doc.document_element();
    assert!(
        doc.element(root)
            .expect("root")
            .name()
            .is(Some(SAMLP), "AuthnRequest")
    );
    let id = attr(&doc, root, "ID").expect("ID");
    assert!(id.starts_with('_') && id.len() == 33, "{id}");
    assert_eq!(attr(&doc, root, "Version"), Some("2.0"));
    assert_eq!(attr(&doc, root, "IssueInstant"), Some("2026-12-01T10:00:00.531Z"));
    assert_eq!(attr(&doc, root, "Destination"), Some(SSO));
    assert_eq!(attr(&doc, root, "ForceAuthn"), Some("true"));
    assert_eq!(attr(&doc, root, "AssertionConsumerServiceIndex"), Some("0"));
    assert_eq!(attr(&doc, root, "AttributeConsumingServiceIndex"), Some("1"));
    for absent in ["IsPassive", "AssertionConsumerServiceURL", "ProtocolBinding"] {
        assert_eq!(attr(&doc, root, absent), None, "{absent}");
    }
    assert_eq!(
        child_names(&doc, root),
        [
            "saml:Issuer",
            "ds:Signature",
            "samlp:NameIDPolicy",
            "samlp:RequestedAuthnContext"
        ]
    );
    let issuer = children_named(&doc, root, SAML, "Issuer")[0];
    assert_eq!(doc.text_content(issuer), SP);
    // spid-sp-test writes the Audience of its Responses from NameQualifier.
    assert_eq!(attr(&doc, issuer, "NameQualifier"), Some(SP));
    assert_eq!(attr(&doc, issuer, "Format"), Some(ENTITY_FORMAT));
    let policy = children_named(&doc, root, SAMLP, "NameIDPolicy")[0];
    assert_eq!(attr(&doc, policy, "Format"), Some(TRANSIENT_FORMAT));
    assert_eq!(attr(&doc, policy, "AllowCreate"), None, "Avviso 5");
    let context = children_named(&doc, root, SAMLP, "RequestedAuthnContext")[0];
    assert_eq!(attr(&doc, context, "Comparison"), Some("minimum"));
    let refs = children_named(&doc, context, SAML, "AuthnContextClassRef");
    assert_eq!(refs.len(), 1);
    assert_eq!(doc.text_content(refs[0]), "https://www.spid.gov.it/SpidL2");

    // Our verifier agrees, and the signature covers the request itself.
    let signature = signature_children(&doc, root)[0];
    let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &idp().trusted())
        .expect("verifies");
    assert_eq!(verified.signed_element(), root);
}

#[test]
fn spid_rule_acs_by_url_carries_the_http_post_binding() {
    let mut r = request(
        SpidLevel::L1,
        AssertionConsumerService::Url("https://comune.example.it/spid/acs".to_owned()),
    );
    r.comparison = Comparison::Exact;
    let xml = r.to_xml().expect("builds");
    let doc = parse_str(&xml, &Limits::default()).expect("parses");
    let root = doc.document_element();
    assert_eq!(
        attr(&doc, root, "AssertionConsumerServiceURL"),
        Some("https://comune.example.it/spid/acs")
    );
    assert_eq!(attr(&doc, root, "ProtocolBinding"), Some(HTTP_POST_BINDING));
    assert_eq!(attr(&doc, root, "AssertionConsumerServiceIndex"), None);
    assert_eq!(attr(&doc, root, "ForceAuthn"), None, "L1");
    let pending = r.pending();
    assert_eq!(
        (pending.id.as_str(), pending.level),
        (r.id.as_str(), SpidLevel::L1)
    );
    assert_eq!(pending.comparison, Comparison::Exact);
}

#[test]
fn authn_requests_are_valid_against_the_saml_protocol_schema() {
    let dir = TempDir::new("authn-xsd");
    for (i, level) in [SpidLevel::L1, SpidLevel::L2, SpidLevel::L3]
        .into_iter()
        .enumerate()
    {
        let r = request(level, AssertionConsumerService::Index(0));
        schema_valid(&r.to_xml().expect("builds"), &dir, &format!("unsigned-{i}.xml"));
        schema_valid(
            &r.sign(&idp().signing_key()).expect("signs"),
            &dir,
            &format!("signed-{i}.xml"),
        );
    }
    let by_url = request(
        SpidLevel::L2,
        AssertionConsumerService::Url("https://comune.example.it/spid/acs?x=1&y=2".to_owned()),
    );
    schema_valid(
        &by_url.sign(&idp().signing_key()).expect("signs"),
        &dir,
        "by-url.xml",
    );
    // The oracle can say no: the same request with the schema's element order broken.
    let xml = request(SpidLevel::L2, AssertionConsumerService::Index(0))
        .to_xml()
        .expect("builds");
    let issuer = common::saml::span(&xml, "<saml:Issuer", "</saml:Issuer>");
    let moved = common::saml::remove(&xml, issuer.clone()).replace(
        "</samlp:AuthnRequest>",
        &format!("{}</samlp:AuthnRequest>", &xml[issuer]),
    );
    let file = dir.path().join("misordered.xml");
    std::fs::write(&file, moved).expect("write");
    let schema = spid_fixtures_dir().join("../xsd/spid/saml-schema-protocol-2.0.xsd");
    let out = Command::new(xmllint())
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("xmllint runs");
    assert!(
        !out.status.success(),
        "a misordered AuthnRequest passed the schema"
    );
}

#[test]
fn xmlsec1_verifies_our_signed_authn_requests_as_spid_sp_test_does() {
    let dir = TempDir::new("authn-xmlsec");
    for (name, identity) in [("rsa", idp()), ("ecdsa", &ec_identity("Snodo test SP (EC)"))] {
        let xml = request(SpidLevel::L3, AssertionConsumerService::Index(0))
            .sign(&identity.signing_key())
            .expect("signs");
        let (_, cert) = identity.write_pem(dir.path(), name);
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, &xml).expect("write");
        let out = run(
            Command::new(xmlsec1())
                .arg("--verify")
                .arg("--pubkey-cert-pem")
                .arg(&cert)
                .arg("--id-attr:ID")
                .arg("urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest")
                .arg(&file),
            &format!("xmlsec1 --verify ({name})"),
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("OK"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // And xmlsec1 refuses it once a signed value changes (the check can fail).
        let tampered = dir.path().join(format!("{name}-tampered.xml"));
        std::fs::write(&tampered, xml.replace("SpidL3", "SpidL1")).expect("write");
        let status = Command::new(xmlsec1())
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&cert)
            .arg("--id-attr:ID")
            .arg("urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest")
            .arg(&tampered)
            .output()
            .expect("xmlsec1 runs");
        assert!(!status.status.success(), "{name}: tampered request verified");
    }
}
