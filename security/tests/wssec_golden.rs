//! Our ANPR WS-Security header, element by element, against what the documents say — not against our
//! own output: anpr-and-cie-booking.md §1.6, the WS-SecurityPolicy ANPR ships
//! (`specs/anpr/soap-client-example/wsdl/policy-X509v3.xml`: X509 tokens IncludeToken
//! AlwaysToRecipient, IncludeTimestamp, Basic128Rsa15 = RSA-SHA1 + SHA-1 + exclusive c14n, Strict
//! layout, SignedParts Body + Timestamp) and the example client's request traces (italia/anpr#1903,
//! #2504: `2021-02-18T08:22:49.985Z`, Issuer `XS`, attribute names and NameFormat). Expected values
//! are literals here; a connector and simulator written together must not merely agree.

mod common;

use std::process::Command;

use common::wssec::*;
use common::*;
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const X509V3: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
const BASE64: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";

fn parse(text: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn attr<'d>(doc: &'d Document, node: NodeId, ns: Option<&str>, local: &str) -> &'d str {
    doc.element(node)
        .and_then(|e| e.attribute(ns, local))
        .unwrap_or_else(|| panic!("attribute {local} missing"))
}

fn names(doc: &Document, parent: NodeId) -> Vec<(String, String)> {
    doc.child_elements(parent)
        .map(|c| {
            let n = doc.element(c).expect("element").name();
            (n.namespace().unwrap_or("").to_owned(), n.local_name().to_owned())
        })
        .collect()
}

fn named(ns: &str, local: &str) -> (String, String) {
    (ns.to_owned(), local.to_owned())
}

fn one(doc: &Document, parent: NodeId, ns: &str, local: &str) -> NodeId {
    let found = children_named(doc, parent, ns, local);
    assert_eq!(found.len(), 1, "exactly one {local}");
    found[0]
}

struct Header {
    doc: Document,
    body: NodeId,
    security: NodeId,
    timestamp: NodeId,
    assertion: NodeId,
    token: NodeId,
    signature: NodeId,
}

fn header(text: &str) -> Header {
    let doc = parse(text);
    let envelope = doc.document_element();
    assert_eq!(
        names(&doc, envelope),
        vec![named(SOAP, "Header"), named(SOAP, "Body")]
    );
    let soap_header = one(&doc, envelope, SOAP, "Header");
    let body = one(&doc, envelope, SOAP, "Body");
    let security = one(&doc, soap_header, WSSE, "Security");
    // Order of the traces; Strict layout puts the token before the signature that references it.
    assert_eq!(
        names(&doc, security),
        vec![
            named(WSU, "Timestamp"),
            named(SAML2, "Assertion"),
            named(WSSE, "BinarySecurityToken"),
            named(DSIG, "Signature"),
        ]
    );
    let children: Vec<NodeId> = doc.child_elements(security).collect();
    Header {
        body,
        security,
        timestamp: children[0],
        assertion: children[1],
        token: children[2],
        signature: children[3],
        doc,
    }
}

#[test]
fn security_header_is_must_understand() {
    let h = header(&signed());
    assert_eq!(attr(&h.doc, h.security, Some(SOAP), "mustUnderstand"), "1");
}

#[test]
fn timestamp_created_now_expires_five_minutes_later_in_utc_milliseconds() {
    let h = header(&signed());
    let doc = &h.doc;
    assert_eq!(
        names(doc, h.timestamp),
        vec![named(WSU, "Created"), named(WSU, "Expires")]
    );
    let created = doc.text_content(one(doc, h.timestamp, WSU, "Created"));
    let expires = doc.text_content(one(doc, h.timestamp, WSU, "Expires"));
    assert_eq!(created, NOW_TEXT);
    assert_eq!(expires, NOW_PLUS_5_MIN_TEXT);
    // The traces' shape: 24 characters, milliseconds, Z.
    for value in [&created, &expires] {
        assert_eq!(value.len(), "2021-02-18T08:22:49.985Z".len());
        assert!(value.ends_with('Z') && value.as_bytes()[19] == b'.');
    }
    assert!(attr(doc, h.timestamp, Some(WSU), "Id").starts_with("TS-"));
}

#[test]
fn assertion_follows_the_example_client() {
    let h = header(&signed());
    let doc = &h.doc;
    let a = h.assertion;
    assert_eq!(attr(doc, a, None, "Version"), "2.0");
    assert_eq!(attr(doc, a, None, "IssueInstant"), NOW_TEXT);
    assert_eq!(
        names(doc, a),
        vec![
            named(SAML2, "Issuer"),
            named(DSIG, "Signature"),
            named(SAML2, "Subject"),
            named(SAML2, "AuthnStatement"),
            named(SAML2, "AttributeStatement"),
        ]
    );
    assert_eq!(doc.text_content(one(doc, a, SAML2, "Issuer")), "XS");
    let subject = one(doc, a, SAML2, "Subject");
    assert_eq!(doc.text_content(one(doc, subject, SAML2, "NameID")), OPERATOR);
    let confirmation = one(doc, subject, SAML2, "SubjectConfirmation");
    assert_eq!(
        attr(doc, confirmation, None, "Method"),
        "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    );
    let data = one(doc, confirmation, SAML2, "SubjectConfirmationData");
    assert_eq!(attr(doc, data, None, "NotBefore"), NOW_TEXT);
    assert_eq!(attr(doc, data, None, "NotOnOrAfter"), NOW_PLUS_5_MIN_TEXT);
    let authn = one(doc, a, SAML2, "AuthnStatement");
    let locality = one(doc, authn, SAML2, "SubjectLocality");
    assert_eq!(attr(doc, locality, None, "Address"), "10.1.2.3");

    let statement = one(doc, a, SAML2, "AttributeStatement");
    let attributes: Vec<(String, String, String)> = children_named(doc, statement, SAML2, "Attribute")
        .into_iter()
        .map(|at| {
            (
                attr(doc, at, None, "Name").to_owned(),
                attr(doc, at, None, "NameFormat").to_owned(),
                doc.text_content(one(doc, at, SAML2, "AttributeValue")),
            )
        })
        .collect();
    let expected_names = ["IdSede", "IdPostazione", "IdPostazioneFirmato", "IdApplicazione"];
    assert_eq!(
        attributes.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        expected_names
    );
    assert!(attributes.iter().all(|a| a.1 == UNSPECIFIED));
    assert_eq!(attributes[0].2, "015146", "IdSede is the ISTAT code");
    assert_eq!(attributes[1].2, "015146-CO-0001");
    assert_eq!(attributes[3].2, "SNODO");
}

#[test]
fn assertion_signature_is_enveloped_exclusive_rsa_sha1_with_the_comune_certificate() {
    let h = header(&signed());
    let doc = &h.doc;
    let signature = one(doc, h.assertion, DSIG, "Signature");
    let info = one(doc, signature, DSIG, "SignedInfo");
    assert_eq!(
        attr(
            doc,
            one(doc, info, DSIG, "CanonicalizationMethod"),
            None,
            "Algorithm"
        ),
        EXC_C14N
    );
    assert_eq!(
        attr(doc, one(doc, info, DSIG, "SignatureMethod"), None, "Algorithm"),
        RSA_SHA1
    );
    let reference = one(doc, info, DSIG, "Reference");
    assert_eq!(
        attr(doc, reference, None, "URI"),
        format!("#{}", attr(doc, h.assertion, None, "ID"))
    );
    let transforms: Vec<&str> =
        children_named(doc, one(doc, reference, DSIG, "Transforms"), DSIG, "Transform")
            .into_iter()
            .map(|t| attr(doc, t, None, "Algorithm"))
            .collect();
    assert_eq!(transforms, vec![ENVELOPED, EXC_C14N]);
    assert_eq!(
        attr(doc, one(doc, reference, DSIG, "DigestMethod"), None, "Algorithm"),
        SHA1
    );
    let certificate = doc.text_content(one(
        doc,
        one(doc, one(doc, signature, DSIG, "KeyInfo"), DSIG, "X509Data"),
        DSIG,
        "X509Certificate",
    ));
    let der: String = certificate.split_whitespace().collect();
    assert_eq!(
        openssl::base64::decode_block(&der).expect("base64"),
        comune().certificate.to_der().expect("DER")
    );
}

#[test]
fn binary_security_token_is_the_comune_x509v3_certificate() {
    let h = header(&signed());
    let doc = &h.doc;
    assert_eq!(attr(doc, h.token, None, "ValueType"), X509V3);
    assert_eq!(attr(doc, h.token, None, "EncodingType"), BASE64);
    assert!(attr(doc, h.token, Some(WSU), "Id").starts_with("X509-"));
    assert_eq!(
        openssl::base64::decode_block(&doc.text_content(h.token)).expect("base64"),
        comune().certificate.to_der().expect("DER")
    );
}

#[test]
fn message_signature_covers_timestamp_and_body_by_wsu_id_under_basic128rsa15() {
    let h = header(&signed());
    let doc = &h.doc;
    assert_eq!(
        names(doc, h.signature),
        vec![
            named(DSIG, "SignedInfo"),
            named(DSIG, "SignatureValue"),
            named(DSIG, "KeyInfo")
        ]
    );
    let info = one(doc, h.signature, DSIG, "SignedInfo");
    assert_eq!(
        attr(
            doc,
            one(doc, info, DSIG, "CanonicalizationMethod"),
            None,
            "Algorithm"
        ),
        EXC_C14N
    );
    assert_eq!(
        attr(doc, one(doc, info, DSIG, "SignatureMethod"), None, "Algorithm"),
        RSA_SHA1
    );
    let references = children_named(doc, info, DSIG, "Reference");
    let uris: Vec<&str> = references.iter().map(|&r| attr(doc, r, None, "URI")).collect();
    assert_eq!(
        uris,
        vec![
            format!("#{}", attr(doc, h.timestamp, Some(WSU), "Id")),
            format!("#{}", attr(doc, h.body, Some(WSU), "Id")),
        ]
    );
    for &reference in &references {
        let transforms = children_named(doc, one(doc, reference, DSIG, "Transforms"), DSIG, "Transform");
        assert_eq!(transforms.len(), 1);
        assert_eq!(attr(doc, transforms[0], None, "Algorithm"), EXC_C14N);
        assert_eq!(
            attr(doc, one(doc, reference, DSIG, "DigestMethod"), None, "Algorithm"),
            SHA1
        );
    }
    // KeyInfo: a SecurityTokenReference to the BinarySecurityToken (RequireEmbeddedTokenReference).
    let key_info = one(doc, h.signature, DSIG, "KeyInfo");
    assert_eq!(names(doc, key_info), vec![named(WSSE, "SecurityTokenReference")]);
    let str_ = one(doc, key_info, WSSE, "SecurityTokenReference");
    let reference = one(doc, str_, WSSE, "Reference");
    assert_eq!(
        attr(doc, reference, None, "URI"),
        format!("#{}", attr(doc, h.token, Some(WSU), "Id"))
    );
    assert_eq!(attr(doc, reference, None, "ValueType"), X509V3);
}

#[test]
fn ids_are_unique_within_and_across_messages() {
    let ids = |text: &str| -> Vec<String> {
        let doc = parse(text);
        elements(&doc)
            .into_iter()
            .flat_map(|e| {
                let el = doc.element(e).expect("element");
                [
                    el.attribute(Some(WSU), "Id"),
                    el.attribute(None, "ID"),
                    el.attribute(None, "Id"),
                ]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect::<Vec<_>>()
            })
            .collect()
    };
    let first = ids(&signed());
    let second = ids(&signed());
    assert_eq!(
        first.len(),
        7,
        "TS, Body, Assertion, X509, SIG, KI, STR: {first:?}"
    );
    let mut all = first.clone();
    all.extend(second);
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "an ID repeated");
}

#[test]
fn body_content_is_unchanged_and_an_existing_body_wsu_id_is_kept() {
    let original = parse(&envelope());
    let h = header(&signed());
    let c14n = Canonicalization::new(Algorithm::Exclusive);
    let original_body = one(&original, original.document_element(), SOAP, "Body");
    let payload = |doc: &Document, body: NodeId| {
        let child = doc.child_elements(body).next().expect("payload");
        c14n.subtree(doc, child, &[]).expect("c14n")
    };
    assert_eq!(payload(&original, original_body), payload(&h.doc, h.body));

    let with_id = envelope().replace(
        "<soapenv:Body>",
        &format!("<soapenv:Body xmlns:wsu=\"{WSU}\" wsu:Id=\"id-mine\">"),
    );
    let text = signer().sign(with_id.as_bytes(), now()).expect("signs");
    let h = header(&text);
    assert_eq!(attr(&h.doc, h.body, Some(WSU), "Id"), "id-mine");
}

#[test]
fn an_envelope_without_header_gets_one_before_the_body() {
    let bare = envelope().replace("<soapenv:Header/>", "");
    let text = signer().sign(bare.as_bytes(), now()).expect("signs");
    header(&text);
    verifier().verify(&parse(&text), now()).expect("verifies");
}

#[test]
fn id_postazione_firmato_is_cms_signed_data_sha256_with_rsa_content_attached() {
    let h = header(&signed());
    let doc = &h.doc;
    let statement = one(doc, h.assertion, SAML2, "AttributeStatement");
    let firmato = children_named(doc, statement, SAML2, "Attribute")
        .into_iter()
        .find(|&a| attr(doc, a, None, "Name") == "IdPostazioneFirmato")
        .map(|a| doc.text_content(one(doc, a, SAML2, "AttributeValue")))
        .expect("IdPostazioneFirmato");
    let dir = TempDir::new("wssec-cms");
    let cms = dir.path().join("firmato.der");
    std::fs::write(&cms, openssl::base64::decode_block(&firmato).expect("base64")).expect("write");
    let (_, cert) = workstation().write_pem(dir.path(), "workstation");
    let content = dir.path().join("content");
    run(
        Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(&cms)
            .arg("-CAfile")
            .arg(&cert)
            .args(["-purpose", "any", "-out"])
            .arg(&content),
        "openssl cms -verify of IdPostazioneFirmato",
    );
    assert_eq!(std::fs::read(&content).expect("content"), b"015146-CO-0001");
    let printed = run(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(&cms),
        "openssl cms -cmsout -print",
    );
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(printed.contains("pkcs7-signedData"), "{printed}");
    assert!(printed.contains("sha256"), "SHA-256 digest: {printed}");
    assert!(printed.contains("rsaEncryption") || printed.contains("sha256WithRSAEncryption"));
    // Signed by the workstation, not the comune: the comune certificate does not verify it.
    let (_, comune_cert) = comune().write_pem(dir.path(), "comune");
    let status = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-noverify",
            "-nointern",
            "-certfile",
        ])
        .arg(&comune_cert)
        .arg("-in")
        .arg(&cms)
        .args(["-out", "/dev/null"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(
        !status.success(),
        "only the workstation certificate may verify it"
    );
}
