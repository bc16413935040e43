//! The attacks `spid-sp` plays beyond the simulator's catalogue are what they claim to be, judged by
//! independent parties: `xmlsec1` verifies each downgraded signature and each foreign signed element
//! (so an SP refusing them refuses the algorithm or the binding, not a broken signature), and the
//! security crate's SPID verifier accepts the comment cases that must be accepted and refuses the
//! others for the reason each case is about.

use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use snodo_certify::spid_sp::idp::{SuiteIdp, signing_key};
use snodo_certify::spid_sp::responses::{Attack, build, login};
use snodo_security::dsig::TrustedKeys;
use snodo_security::saml::{
    Comparison, InMemoryReplayCache, PendingRequest, ResponseError, ResponseExpectations, SpidLevel,
    new_message_id, verify_response_xml,
};
use snodo_simulators::identity::{AcceptedRequest, Binding, Profile};

const SP: &str = "https://sp.example.invalid/sp";
const ACS: &str = "https://sp.example.invalid/acs";

struct Fixture {
    dir: PathBuf,
    idp: SuiteIdp,
    certificate: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("snodo-certify-attacks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = signing_key(None, &dir.join("keys")).expect("the IdP key is made");
    let certificate = dir.join("idp.pem");
    std::fs::write(&certificate, key.certificate().unwrap().to_pem().unwrap()).unwrap();
    let idp = SuiteIdp::new(Profile::Spid, "https://idp.example.invalid", key).unwrap();
    Fixture {
        dir,
        idp,
        certificate,
    }
}

fn request() -> AcceptedRequest {
    AcceptedRequest {
        id: new_message_id(),
        issue_instant: Utc::now(),
        sp_entity_id: SP.into(),
        acs_url: ACS.into(),
        level: SpidLevel::L2,
        comparison: Comparison::Minimum,
        attributes: vec!["fiscalNumber".into(), "name".into()],
        relay_state: Some("relay".into()),
        binding: Binding::Redirect,
    }
}

fn make(fixture: &Fixture, attack: Attack) -> (String, AcceptedRequest) {
    let request = request();
    let login = login(&fixture.idp, &request);
    let xml = build(attack, &fixture.idp, &request, &login, None).expect("the attack builds");
    (xml, request)
}

/// The SPID verifier's verdict on `xml` as the answer to `request`.
fn spid_verdict(fixture: &Fixture, xml: &str, request: &AcceptedRequest) -> Result<(), ResponseError> {
    let pending = PendingRequest {
        id: request.id.clone(),
        issue_instant: request.issue_instant,
        level: request.level,
        comparison: request.comparison,
    };
    let keys = TrustedKeys::from_pem(&std::fs::read(&fixture.certificate).unwrap()).unwrap();
    let entity_id = fixture.idp.entity_id();
    let expectations = ResponseExpectations::spid(SP, ACS, &pending, &entity_id, &keys, Utc::now());
    verify_response_xml(xml.as_bytes(), &expectations, &InMemoryReplayCache::new(16)).map(|_| ())
}

/// `xmlsec1 --verify` of the first signature of `document` (an Assertion or a Response).
fn xmlsec1(fixture: &Fixture, document: &str, name: &str, key: &[&str]) -> (bool, String) {
    let path = fixture.dir.join(name);
    std::fs::write(&path, document).unwrap();
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .args(key)
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response"])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&path)
        .output()
        .expect("xmlsec1 runs (Debian: xmlsec1; scripts/test installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_certificate(fixture: &Fixture) -> Vec<String> {
    vec![
        "--pubkey-cert-pem".into(),
        fixture.certificate.to_string_lossy().into_owned(),
    ]
}

/// The Assertion of a Response as a document of its own (its `saml` prefix declared on it: the
/// exclusive canonical form, hence the digest, is the same).
fn assertion_alone(xml: &str) -> String {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    xml[start..end].replacen(
        "<saml:Assertion",
        "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
        1,
    )
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn downgraded_signatures_verify_with_xmlsec1_and_the_spid_verifier_refuses_their_algorithm() {
    let f = fixture("downgrade");
    let cert = with_certificate(&f);
    for (attack, algorithm) in [
        (Attack::AssertionRsaSha1, "rsa-sha1"),
        (Attack::AssertionDigestSha1, "sha1\""),
        (Attack::AssertionRsaMd5, "rsa-md5"),
    ] {
        let (xml, request) = make(&f, attack);
        let assertion = assertion_alone(&xml);
        assert!(assertion.contains(algorithm), "{attack:?}: {assertion}");
        let (ok, why) = xmlsec1(&f, &assertion, "assertion.xml", &strs(&cert));
        assert!(
            ok,
            "{attack:?}: xmlsec1 refused the downgraded Assertion signature: {why}"
        );
        let refused = spid_verdict(&f, &xml, &request).expect_err("a downgraded signature is refused");
        assert!(
            refused.to_string().contains("algorithm"),
            "{attack:?}: refused for another reason: {refused}"
        );
    }

    // HMAC keyed by the public certificate's DER: verifies for whoever takes that as a key.
    let (xml, request) = make(&f, Attack::AssertionHmacSha1);
    let hmac_key = f.dir.join("hmac.key");
    let der = openssl::x509::X509::from_pem(&std::fs::read(&f.certificate).unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    std::fs::write(&hmac_key, der).unwrap();
    let hmac_key = hmac_key.to_string_lossy().into_owned();
    let (ok, why) = xmlsec1(
        &f,
        &assertion_alone(&xml),
        "hmac.xml",
        &["--hmackey", &hmac_key, "--enabled-key-data", "hmac"],
    );
    assert!(ok, "xmlsec1 refused the HMAC signature: {why}");
    assert!(spid_verdict(&f, &xml, &request).is_err());

    // The Response signed with RSA-SHA1: its first signature is the Response's.
    let (xml, request) = make(&f, Attack::ResponseRsaSha1);
    let (ok, why) = xmlsec1(&f, &xml, "response.xml", &strs(&cert));
    assert!(ok, "xmlsec1 refused the RSA-SHA1 Response signature: {why}");
    assert!(spid_verdict(&f, &xml, &request).is_err());
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn comments_that_keep_the_value_are_accepted_and_those_that_change_it_are_refused_for_it() {
    let f = fixture("comments");
    for attack in [Attack::CommentNameId, Attack::CommentAttribute] {
        let (xml, request) = make(&f, attack);
        assert!(xml.contains("<!---->"), "{attack:?}: no comment in {xml}");
        spid_verdict(&f, &xml, &request).unwrap_or_else(|e| panic!("{attack:?} must be accepted: {e}"));
    }
    for (attack, field) in [
        (Attack::CommentAudience, "Audience"),
        (Attack::CommentIssuer, "Issuer"),
    ] {
        let (xml, request) = make(&f, attack);
        assert!(xml.contains("<!---->.attacker.example"), "{attack:?}");
        let refused = spid_verdict(&f, &xml, &request).expect_err("the signed value is another");
        assert!(
            refused.to_string().contains(field),
            "{attack:?}: refused for another reason: {refused}"
        );
    }
    // The valid Response the replay case posts twice is accepted once.
    let (xml, request) = make(&f, Attack::Replay);
    spid_verdict(&f, &xml, &request).expect("the replayed Response is valid the first time");
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn foreign_signed_elements_are_really_signed_by_the_idp() {
    let f = fixture("foreign");
    let cert = with_certificate(&f);
    for attack in [
        Attack::ForeignSignedUnsignedAssertion,
        Attack::ForeignSignedBadAssertion,
    ] {
        let (xml, request) = make(&f, attack);
        // The Response itself is unsigned: xmlsec1's first signature is the metadata's.
        assert!(
            xml.contains("<samlp:Extensions><md:EntityDescriptor"),
            "{attack:?}"
        );
        let (ok, why) = xmlsec1(&f, &xml, "foreign.xml", &strs(&cert));
        assert!(
            ok,
            "{attack:?}: the foreign element's signature does not verify: {why}"
        );
        assert!(spid_verdict(&f, &xml, &request).is_err(), "{attack:?}");
    }
    // The bad Assertion was signed, then altered: its own signature no longer verifies.
    let (xml, _) = make(&f, Attack::ForeignSignedBadAssertion);
    let (ok, _) = xmlsec1(&f, &assertion_alone(&xml), "bad.xml", &strs(&cert));
    assert!(!ok, "the altered Assertion must not verify");
    let _ = std::fs::remove_dir_all(&f.dir);
}
