//! ANPR's WS-Security signatures under `SignaturePolicy::anpr_ws_security()`, which follows the
//! WS-SecurityPolicy ANPR publishes (`specs/anpr/soap-client-example/wsdl/policy-X509v3.xml`:
//! AsymmetricBinding, Basic128Rsa15, SignedParts Body + Timestamp): a detached RSA-SHA1 signature in
//! the Security header over the Timestamp and the Body by `wsu:Id`, as xmlsec1 makes it, verified by
//! `verify_detached_signature`, which names both elements.

mod common;

use std::process::Command;

use common::*;
use snodo_security::dsig::{
    AlgorithmRole, SignatureError, SignatureMethod, SignaturePolicy, WSU_NAMESPACE,
    verify_detached_signature, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// A SOAP request shaped like ANPR's (`soap-client-example/requests/`), with a WS-Security header
/// carrying a Timestamp and a signature template: exclusive c14n with the PrefixLists WSS4J writes,
/// RSA-SHA1, SHA-1 digests, a SecurityTokenReference as KeyInfo.
fn template() -> String {
    let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
    let reference = |id: &str, prefixes: &str| {
        format!(
            "<ds:Reference URI=\"#{id}\"><ds:Transforms><ds:Transform Algorithm=\"{exc}\">\
             <ec:InclusiveNamespaces xmlns:ec=\"{exc}\" PrefixList=\"{prefixes}\"/></ds:Transform></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/><ds:DigestValue/></ds:Reference>"
        )
    };
    format!(
        r##"<soapenv:Envelope xmlns:soapenv="{SOAP}" xmlns:ser="http://sogei.it/ANPR/3000consultazione">
  <soapenv:Header>
    <wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU_NAMESPACE}" soapenv:mustUnderstand="1">
      <wsu:Timestamp wsu:Id="TS-1"><wsu:Created>2026-12-01T10:00:00Z</wsu:Created><wsu:Expires>2026-12-01T10:05:00Z</wsu:Expires></wsu:Timestamp>
      <ds:Signature xmlns:ds="{DSIG}" Id="SIG-1"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{exc}"><ec:InclusiveNamespaces xmlns:ec="{exc}" PrefixList="ser soapenv"/></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>{}{}</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#X509-1"/></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>
    </wsse:Security>
  </soapenv:Header>
  <soapenv:Body xmlns:wsu="{WSU_NAMESPACE}" wsu:Id="id-2">
    <ser:Richiesta3001><testataRichiesta><idOperazioneComune>42</idOperazioneComune><codMittente>888002</codMittente></testataRichiesta></ser:Richiesta3001>
  </soapenv:Body>
</soapenv:Envelope>"##,
        reference("TS-1", "wsse soapenv ser"),
        reference("id-2", "ser")
    )
}

/// The template signed by xmlsec1 with the test identity.
fn signed_by_xmlsec1(template: &str) -> String {
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("dsig-anpr");
    let (key, cert) = idp().write_pem(dir.path(), "comune");
    let path = dir.path().join("template.xml");
    let out = dir.path().join("signed.xml");
    std::fs::write(&path, template).expect("write");
    run(
        Command::new(&xmlsec1)
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key.display(), cert.display()))
            .args(["--id-attr:Id", &format!("{WSU_NAMESPACE}:Timestamp")])
            .args(["--id-attr:Id", &format!("{SOAP}:Body")])
            .arg("--output")
            .arg(&out)
            .arg(&path),
        "xmlsec1 --sign of a WS-Security template",
    );
    std::fs::read_to_string(&out).expect("xmlsec1 wrote it")
}

fn parse(text: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn the_signature(doc: &Document) -> NodeId {
    descendants_named(doc, doc.root(), DSIG, "Signature")[0]
}

#[test]
fn anpr_policy_rsa_sha1_detached_signature_over_timestamp_and_body_verifies() {
    let signed = signed_by_xmlsec1(&template());
    let doc = parse(&signed);
    let signature = the_signature(&doc);
    let verified = verify_detached_signature(
        &doc,
        signature,
        &SignaturePolicy::anpr_ws_security(),
        &idp().trusted(),
    )
    .expect("verifies");
    assert_eq!(verified.signature_method(), SignatureMethod::RsaSha1);
    let envelope = doc.document_element();
    let header = children_named(&doc, envelope, SOAP, "Header")[0];
    let security = children_named(&doc, header, WSSE, "Security")[0];
    let timestamp = children_named(&doc, security, WSU_NAMESPACE, "Timestamp")[0];
    let body = children_named(&doc, envelope, SOAP, "Body")[0];
    assert_eq!(
        verified.covered_elements().collect::<Vec<_>>(),
        vec![timestamp, body]
    );
    assert_eq!(verified.references()[1].id(), "id-2");
    let operation = descendants_named(
        &doc,
        body,
        "http://sogei.it/ANPR/3000consultazione",
        "Richiesta3001",
    )[0];
    assert!(verified.covers(&doc, operation));
    assert!(!verified.covers(&doc, header));

    // The same signature is not an enveloped one, and SHA-1 is not SPID's.
    let e = verify_enveloped_signature(
        &doc,
        signature,
        &SignaturePolicy::anpr_ws_security(),
        &idp().trusted(),
    )
    .expect_err("two References");
    assert!(
        matches!(e, SignatureError::ReferenceCount { count: 2, max: 1, .. }),
        "{e}"
    );
    let e = verify_detached_signature(&doc, signature, &SignaturePolicy::spid(), &idp().trusted())
        .expect_err("RSA-SHA1 on SPID");
    assert!(
        matches!(
            e,
            SignatureError::AlgorithmNotAllowed {
                role: AlgorithmRole::SignatureMethod,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn ws_security_body_wrapping_is_visible_in_what_the_signature_covers() {
    // The signed Body moved into the header under another element, a new Body in its place: the
    // signature still verifies, and says it covers the moved element, not Envelope/Body; a
    // WS-Security layer comparing node identities refuses it.
    let signed = signed_by_xmlsec1(&template());
    let start = signed.find("<soapenv:Body").expect("Body");
    let end = signed.find("</soapenv:Body>").expect("Body end") + "</soapenv:Body>".len();
    let original = &signed[start..end];
    let evil_body = "<soapenv:Body><ser:Richiesta3001><testataRichiesta><idOperazioneComune>43</idOperazioneComune>\
                     </testataRichiesta></ser:Richiesta3001></soapenv:Body>";
    let attack = format!("{}{}{}", &signed[..start], evil_body, &signed[end..]).replacen(
        "</wsse:Security>",
        &format!("<wsse:Wrapper>{original}</wsse:Wrapper></wsse:Security>"),
        1,
    );
    let doc = parse(&attack);
    let verified = verify_detached_signature(
        &doc,
        the_signature(&doc),
        &SignaturePolicy::anpr_ws_security(),
        &idp().trusted(),
    )
    .expect("the moved Body is still validly signed");
    let real_body = children_named(&doc, doc.document_element(), SOAP, "Body")[0];
    assert!(!verified.covered_elements().any(|e| e == real_body));
    assert!(!verified.covers(&doc, real_body));
}

#[test]
fn detached_references_may_not_contain_the_signature() {
    let text = template().replacen(
        "<soapenv:Header>",
        &format!("<soapenv:Header xmlns:wsu=\"{WSU_NAMESPACE}\" wsu:Id=\"H-1\">"),
        1,
    );
    let text = text.replacen("URI=\"#TS-1\"", "URI=\"#H-1\"", 1);
    let signed = signed_by_xmlsec1_lenient(&text);
    let doc = parse(&signed);
    let e = verify_detached_signature(
        &doc,
        the_signature(&doc),
        &SignaturePolicy::anpr_ws_security(),
        &idp().trusted(),
    )
    .expect_err("the Header contains the signature");
    assert!(
        matches!(&e, SignatureError::NotDetached { reference } if reference == "#H-1"),
        "{e}"
    );
}

/// xmlsec1 signs a Reference to an element containing the Signature (without the enveloped transform
/// the digest covers the template), which is enough to test that the layout is refused.
fn signed_by_xmlsec1_lenient(template: &str) -> String {
    let xmlsec1 = xmlsec1();
    let dir = TempDir::new("dsig-anpr-lenient");
    let (key, cert) = idp().write_pem(dir.path(), "comune");
    let path = dir.path().join("template.xml");
    let out = dir.path().join("signed.xml");
    std::fs::write(&path, template).expect("write");
    let status = Command::new(&xmlsec1)
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .args(["--id-attr:Id", &format!("{WSU_NAMESPACE}:Timestamp")])
        .args(["--id-attr:Id", &format!("{SOAP}:Body")])
        .args(["--id-attr:Id", &format!("{SOAP}:Header")])
        .arg("--output")
        .arg(&out)
        .arg(&path)
        .status()
        .expect("xmlsec1 runs");
    assert!(status.success(), "xmlsec1 --sign");
    std::fs::read_to_string(&out).expect("xmlsec1 wrote it")
}
