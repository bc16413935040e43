//! `IdPostazioneFirmato` signs the same workstation id for every request, so the signer makes it once
//! per lifetime (ANPR's five minutes) rather than once per request: requests signed within a lifetime
//! carry the same CMS, a request after it carries a fresh one, and every one of them verifies at its
//! own time.
//!
//! A fresh CMS differs from an earlier one only by its signing time, which OpenSSL takes from the
//! wall clock to the second (RSA PKCS#1 v1.5 is deterministic): so the tests let a second pass
//! between the signatures they compare.

mod common;

use std::time::Duration;

use common::wssec::*;
use snodo_security::xml::{Limits, parse_str};

/// The `IdPostazioneFirmato` attribute value of a signed request.
fn firmato(text: &str) -> String {
    let start = text
        .find("Name=\"IdPostazioneFirmato\"")
        .expect("the attribute is there");
    let value = &text[start..];
    let open = value.find("<saml2:AttributeValue").expect("a value");
    let value = &value[open..];
    let from = value.find('>').expect("the value's start tag ends") + 1;
    let to = value.find("</saml2:AttributeValue>").expect("the value ends");
    value[from..to].to_owned()
}

fn verifies_at(text: &str, at: std::time::SystemTime) {
    let doc = parse_str(text, &Limits::default()).expect("parses");
    verifier()
        .verify(&doc, at)
        .unwrap_or_else(|e| panic!("refused: {e}"));
}

#[test]
fn one_workstation_signature_serves_a_lifetime_and_is_renewed_after_it() {
    let signer = signer();
    let first_at = now();
    let later_at = now() + Duration::from_secs(4 * 60);
    let after_at = now() + Duration::from_secs(5 * 60);
    let first = signer.sign(envelope().as_bytes(), first_at).expect("signs");
    std::thread::sleep(Duration::from_millis(1_100));
    let later = signer.sign(envelope().as_bytes(), later_at).expect("signs");
    let after = signer.sign(envelope().as_bytes(), after_at).expect("signs");
    verifies_at(&first, first_at);
    verifies_at(&later, later_at);
    verifies_at(&after, after_at);
    assert!(!firmato(&first).is_empty());
    assert_eq!(
        firmato(&first),
        firmato(&later),
        "within a lifetime the CMS is reused"
    );
    assert_ne!(
        firmato(&first),
        firmato(&after),
        "after a lifetime the CMS is made again"
    );
    // The assertion around it is still made per request.
    assert_ne!(first, later);
}

#[test]
fn a_clock_going_back_makes_a_new_workstation_signature() {
    let signer = signer();
    let now_text = signer.sign(envelope().as_bytes(), now()).expect("signs");
    std::thread::sleep(Duration::from_millis(1_100));
    let earlier_at = now() - Duration::from_secs(60);
    let earlier = signer.sign(envelope().as_bytes(), earlier_at).expect("signs");
    verifies_at(&earlier, earlier_at);
    assert_ne!(firmato(&now_text), firmato(&earlier));
}

#[test]
fn a_verifier_trusting_other_workstations_forgets_what_verified_before() {
    let text = signer().sign(envelope().as_bytes(), now()).expect("signs");
    let doc = parse_str(&text, &Limits::default()).expect("parses");
    let verifier = verifier();
    verifier.verify(&doc, now()).expect("verifies");
    verifier
        .verify(&doc, now())
        .expect("verifies again, the workstation signature remembered");
    // The same verifier, now trusting only the comune's certificate as a workstation: the CMS,
    // signed by the workstation, must be checked again and refused.
    let verifier = verifier.with_workstations(vec![comune().certificate.clone()]);
    let refused = verifier
        .verify(&doc, now())
        .expect_err("the remembered verification does not outlive the trusted workstations");
    assert!(refused.to_string().contains("IdPostazioneFirmato"), "{refused}");
}
