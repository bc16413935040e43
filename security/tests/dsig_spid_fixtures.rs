//! The 111 SPID fixture Responses (`shared/specs/spid/fixtures/`, spid-and-cie-id.md §2.6) through
//! the signature layer, as the SAML layer will use it: the `ds:Signature` children of the Response and
//! of each `saml:Assertion` child, each verified as an enveloped signature under
//! `SignaturePolicy::spid()` with the fixture IdP's certificate as the only trusted key.
//!
//! index.json's verdict is the whole SP's; the table below says, case by case, what the signature
//! layer contributes to it. Cases rejected for a signature reason (2, 3, 4, 5, 8, 9, 33, 34, 100,
//! xslt, xsw1–8) must not yield a signed Assertion; every case index.json accepts must; every other
//! case must verify, its rejection being the SAML layer's (dates, audience, status…), so the signature
//! layer does not over-reject either.

mod common;

use common::*;
use snodo_security::dsig::{
    SignatureError, SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, parse};

/// What the signature layer makes of one Response.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The Assertion's signature verifies and covers exactly it (and the Response's too, if signed).
    SignedAssertion { response_signed: bool },
    /// The Response's signature verifies; there is no signed Assertion (absent, or unsigned).
    ResponseOnly,
    /// No signature anywhere (error Responses, which need none; unsigned or namespace-stripped ones).
    NothingSigned,
    /// A signature present and refused.
    Refused(String),
}

fn signature_layer(doc: &Document, keys: &TrustedKeys) -> Result<Outcome, SignatureError> {
    let policy = SignaturePolicy::spid();
    let root = doc.document_element();
    let response_signatures = signature_children(doc, root);
    assert!(response_signatures.len() <= 1, "one Response signature at most");
    for &signature in &response_signatures {
        let verified = verify_enveloped_signature(doc, signature, &policy, keys)?;
        assert_eq!(verified.signed_element(), root, "covers the Response itself");
    }
    let mut assertion_signed = false;
    for assertion in children_named(doc, root, SAML, "Assertion") {
        for signature in signature_children(doc, assertion) {
            let verified = verify_enveloped_signature(doc, signature, &policy, keys)?;
            assert_eq!(
                verified.signed_element(),
                assertion,
                "covers the Assertion itself"
            );
            assert_eq!(verified.references().len(), 1);
            assertion_signed = true;
        }
    }
    Ok(match (assertion_signed, response_signatures.is_empty()) {
        (true, response_unsigned) => Outcome::SignedAssertion {
            response_signed: !response_unsigned,
        },
        (false, false) => Outcome::ResponseOnly,
        (false, true) => Outcome::NothingSigned,
    })
}

/// The signature layer's expected outcome per case, and why.
fn expected(test: &str, verdict: &str) -> Outcome {
    let refused = |what: &str| Outcome::Refused(what.to_owned());
    match test {
        // Signed by another key, KeyInfo empty: no trusted key verifies SignedInfo.
        "4" | "100" => refused("BadSignatureValue"),
        // Signed by another key whose certificate is in KeyInfo: KeyInfo may not add a key.
        "5" => refused("UntrustedKeyInfo"),
        // The Response (8, 9: ID empty or missing) or Assertion (33, 34) signature's Reference has no
        // URI, i.e. the whole document: only `#id` of the enveloping element is accepted.
        "8" | "9" | "33" | "34" => refused("MissingReferenceUri"),
        // An XSLT stylesheet as a Transform (without Algorithm attribute).
        "xslt" => refused("MissingAlgorithm"),
        // 3: only the Response is signed; 32: no Assertion at all (SAML layer: success needs one).
        "3" | "32" => Outcome::ResponseOnly,
        // 2: unsigned; xsw1–8: spid-sp-test strips every namespace (del_ns), so there is no
        // ds:Signature and no saml:Assertion; 104–108, 111: error Responses (SAML layer: status).
        "2" | "104" | "105" | "106" | "107" | "108" | "111" => Outcome::NothingSigned,
        t if t.starts_with("xsw") => Outcome::NothingSigned,
        // Everything else is signed correctly; index.json's reject, if any, is the SAML layer's.
        _ => {
            assert!(
                matches!(verdict, "accept" | "either" | "reject"),
                "case {test}: unknown verdict {verdict}"
            );
            Outcome::SignedAssertion {
                response_signed: true,
            }
        }
    }
}

fn error_name(e: &SignatureError) -> String {
    format!("{e:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn cases() -> Vec<(String, String, String)> {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(spid_fixtures_dir().join("index.json")).expect("index.json is readable"),
    )
    .expect("index.json is JSON");
    index["cases"]
        .as_array()
        .expect("index.json has cases")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().expect("case field").to_owned();
            (field("test"), field("file"), field("expected"))
        })
        .collect()
}

#[test]
fn every_spid_fixture_verifies_or_fails_at_the_signature_layer_as_index_json_says() {
    let keys = spid_fixture_keys();
    let cases = cases();
    assert_eq!(cases.len(), 111);
    let mut counts = std::collections::BTreeMap::new();
    for (test, file, verdict) in cases {
        let bytes = std::fs::read(spid_fixtures_dir().join("responses").join(&file)).expect("fixture");
        let doc = parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let outcome = match signature_layer(&doc, &keys) {
            Ok(o) => o,
            Err(e) => Outcome::Refused(error_name(&e)),
        };
        let want = expected(&test, &verdict);
        assert_eq!(outcome, want, "case {test} ({file}, index.json: {verdict})");
        if matches!(verdict.as_str(), "accept" | "either") {
            assert_eq!(
                outcome,
                Outcome::SignedAssertion {
                    response_signed: true
                },
                "case {test}: accepted by index.json, so its signatures must verify"
            );
        }
        *counts.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    // 6 accept + 1 either + 79 rejected by the SAML layer for other reasons.
    assert_eq!(
        counts.get("SignedAssertion { response_signed: true }"),
        Some(&86),
        "{counts:?}"
    );
}

#[test]
fn spid_rule_keys_come_from_metadata_not_from_keyinfo_case_5() {
    let bytes = std::fs::read(spid_fixtures_dir().join("responses/response-5.xml")).expect("fixture");
    let doc = parse(&bytes, &Limits::default()).expect("parses");
    let signature = signature_children(&doc, doc.document_element())[0];
    let err = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &spid_fixture_keys())
        .expect_err("the certificate in KeyInfo is not trusted");
    assert!(
        matches!(
            err,
            SignatureError::UntrustedKeyInfo {
                hint: "X509Certificate"
            }
        ),
        "{err}"
    );
    // Trusting that certificate (as a lax key search would) is what makes it verify: the attack is real.
    let key_info_cert =
        std::fs::read_to_string(spid_fixtures_dir().join("responses/response-5.xml")).expect("fixture");
    let b64 = key_info_cert
        .split("<ds:X509Certificate>")
        .nth(1)
        .and_then(|s| s.split("</ds:X509Certificate>").next())
        .expect("KeyInfo certificate");
    let der = openssl::base64::decode_block(&b64.replace(['\n', '\r', ' '], "")).expect("base64");
    let attacker = openssl::x509::X509::from_der(&der).expect("certificate");
    let lax = TrustedKeys::from_certificates([attacker]).expect("usable");
    verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &lax)
        .expect("verifies with the attacker's own key");
}

#[test]
fn spid_rule_no_trusted_keys_fails_closed() {
    let bytes = std::fs::read(spid_fixtures_dir().join("responses/response-1.xml")).expect("fixture");
    let doc = parse(&bytes, &Limits::default()).expect("parses");
    let signature = signature_children(&doc, doc.document_element())[0];
    let err = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &TrustedKeys::new())
        .expect_err("nothing configured, nothing verified");
    assert!(matches!(err, SignatureError::NoTrustedKeys), "{err}");
}
