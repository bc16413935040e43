//! Our ANPR WS-Security header judged by an independent implementation, both ways: `xmlsec1 --verify`
//! accepts both signatures we make (the assertion's and the message's), and a header whose
//! signatures xmlsec1 made passes our verifier, which names the Envelope's Body.

mod common;

use std::process::Command;

use common::wssec::*;
use common::*;
use snodo_security::xml::{Limits, parse_str};

fn id_attrs() -> Vec<String> {
    vec![
        "--id-attr:ID".to_owned(),
        format!("{SAML2}:Assertion"),
        "--id-attr:Id".to_owned(),
        format!("{WSU}:Timestamp"),
        "--id-attr:Id".to_owned(),
        format!("{SOAP}:Body"),
    ]
}

const ASSERTION_SIGNATURE: &str = "//*[local-name()='Assertion']/*[local-name()='Signature']";
const MESSAGE_SIGNATURE: &str = "//*[local-name()='Security']/*[local-name()='Signature']";

/// Whether `xmlsec1 --verify` accepts the signature at `xpath` in `text` with the comune certificate.
fn xmlsec1_verifies(text: &str, xpath: &str) -> (bool, String) {
    let dir = TempDir::new("wssec-verify");
    let (_, cert) = comune().write_pem(dir.path(), "comune");
    let path = dir.path().join("message.xml");
    std::fs::write(&path, text).expect("write");
    let output = Command::new(xmlsec1())
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .arg("--trusted-pem")
        .arg(&cert)
        .args(id_attrs())
        .args(["--node-xpath", xpath])
        .arg(&path)
        .output()
        .expect("xmlsec1 runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Empties every `<ds:{element}>` content in `text`.
fn blank(text: &str, element: &str) -> String {
    let (open, close) = (format!("<ds:{element}>"), format!("</ds:{element}>"));
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = start + open.len();
        let end = after + rest[after..].find(&close).expect("closed");
        out.push_str(&rest[..after]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn xmlsec1_verifies_both_signatures_we_make() {
    let text = signed();
    for xpath in [ASSERTION_SIGNATURE, MESSAGE_SIGNATURE] {
        let (ok, stderr) = xmlsec1_verifies(&text, xpath);
        assert!(ok, "xmlsec1 refuses {xpath}: {stderr}\n{text}");
    }
    // The control: the same check fails when the Body or the assertion was altered after signing.
    let altered = text.replacen("<cognome>ROSSI</cognome>", "<cognome>BIANCHI</cognome>", 1);
    assert_ne!(altered, text);
    assert!(!xmlsec1_verifies(&altered, MESSAGE_SIGNATURE).0);
    let altered = text.replacen(
        ">015146</saml2:AttributeValue>",
        ">015147</saml2:AttributeValue>",
        1,
    );
    assert_ne!(altered, text);
    assert!(!xmlsec1_verifies(&altered, ASSERTION_SIGNATURE).0);
}

#[test]
fn a_header_signed_by_xmlsec1_verifies_with_ours() {
    let ours = signed();
    let template = blank(&blank(&ours, "DigestValue"), "SignatureValue");
    assert!(
        !template.contains("<ds:SignatureValue>MI")
            && template.contains("<ds:SignatureValue></ds:SignatureValue>")
    );

    let dir = TempDir::new("wssec-xmlsec1-sign");
    let (key, cert) = comune().write_pem(dir.path(), "comune");
    let mut input = dir.path().join("template.xml");
    std::fs::write(&input, &template).expect("write");
    for (step, xpath) in [ASSERTION_SIGNATURE, MESSAGE_SIGNATURE].into_iter().enumerate() {
        let output = dir.path().join(format!("signed-{step}.xml"));
        run(
            Command::new(xmlsec1())
                .arg("--sign")
                .arg("--privkey-pem")
                .arg(format!("{},{}", key.display(), cert.display()))
                .args(id_attrs())
                .args(["--node-xpath", xpath])
                .arg("--output")
                .arg(&output)
                .arg(&input),
            &format!("xmlsec1 --sign {xpath}"),
        );
        input = output;
    }
    let theirs = std::fs::read_to_string(&input).expect("xmlsec1 wrote it");
    assert!(!theirs.contains("<ds:DigestValue></ds:DigestValue>"), "{theirs}");

    let doc = parse_str(&theirs, &Limits::default()).expect("parses");
    let verified = verifier()
        .verify(&doc, now())
        .expect("xmlsec1's signatures verify with ours");
    let body = children_named(&doc, doc.document_element(), SOAP, "Body")[0];
    assert_eq!(verified.body(), body);
    assert_eq!(verified.attributes().id_sede, "015146");
    assert_eq!(verified.attributes().id_operatore, OPERATOR);

    // RSA PKCS#1 v1.5 is deterministic: over the same canonical SignedInfo, xmlsec1's values are ours.
    let values = |text: &str| -> Vec<String> {
        text.split("<ds:SignatureValue>")
            .skip(1)
            .map(|s| {
                s[..s.find("</ds:SignatureValue>").expect("closed")]
                    .split_whitespace()
                    .collect()
            })
            .collect()
    };
    assert_eq!(values(&theirs), values(&ours));
}
