//! What the ANPR simulator refuses, each with its own error: wrapping (the signed Body moved or
//! duplicated), stale or future Timestamps, tokens that are not trusted certificates, signatures that
//! leave the Body or the Timestamp out, SHA-1 under a stricter policy, and tampering with the
//! assertion. Every refusal is also checked not to quote the operator's codice fiscale.

mod common;

use std::time::Duration;

use common::wssec::*;
use common::*;
use snodo_security::c14n::Algorithm;
use snodo_security::dsig::Transform;
use snodo_security::dsig::{
    AlgorithmRole, DetachedPlacement, DigestMethod, IdAttribute, SignatureError, SignatureMethod,
    SignaturePolicy, sign_detached,
};
use snodo_security::wssec::{RequestSigner, WsSecurityError};
use snodo_security::xml::{Document, Limits, parse_str};

fn parse(text: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Verifies `text` at `now() + offset_ms` and returns the refusal, checked free of personal data.
fn refusal_at(text: &str, offset_ms: i64) -> WsSecurityError {
    let at = if offset_ms >= 0 {
        now() + Duration::from_millis(offset_ms.unsigned_abs())
    } else {
        now() - Duration::from_millis(offset_ms.unsigned_abs())
    };
    let e = verifier().verify(&parse(text), at).expect_err("must be refused");
    assert!(!format!("{e} {e:?}").contains(OPERATOR), "personal data in {e:?}");
    e
}

fn refusal(text: &str) -> WsSecurityError {
    refusal_at(text, 0)
}

fn body_span(text: &str) -> std::ops::Range<usize> {
    let start = text.find("<soapenv:Body").expect("Body");
    let end = text.find("</soapenv:Body>").expect("Body end") + "</soapenv:Body>".len();
    start..end
}

const EVIL_BODY: &str = "<soapenv:Body><ns2:Richiesta3002 xmlns:ns2=\"http://sogei.it/ANPR/3000consultazione\">\
                         <criteriRicerca><cognome>BIANCHI</cognome></criteriRicerca></ns2:Richiesta3002></soapenv:Body>";

#[test]
fn a_signed_request_verifies_and_names_the_envelope_body() {
    let text = signed();
    let doc = parse(&text);
    let verified = verifier().verify(&doc, now()).expect("verifies");
    let envelope = doc.document_element();
    let body = children_named(&doc, envelope, SOAP, "Body")[0];
    let header = children_named(&doc, envelope, SOAP, "Header")[0];
    let security = children_named(&doc, header, WSSE, "Security")[0];
    assert_eq!(verified.body(), body);
    assert_eq!(
        verified.timestamp(),
        children_named(&doc, security, WSU, "Timestamp")[0]
    );
    assert_eq!(
        verified.assertion(),
        children_named(&doc, security, SAML2, "Assertion")[0]
    );
    let a = verified.attributes();
    assert_eq!(
        (
            a.issuer.as_str(),
            a.id_sede.as_str(),
            a.id_postazione.as_str(),
            a.id_applicazione.as_str()
        ),
        ("XS", "015146", "015146-CO-0001", "SNODO")
    );
    assert_eq!(a.id_operatore, OPERATOR);
    assert_eq!(a.ip_address.as_deref(), Some("10.1.2.3"));
    assert!(!format!("{a:?}").contains(OPERATOR), "Debug masks the operator");
    assert_eq!(
        verified.expires().duration_since(verified.created()).ok(),
        Some(Duration::from_secs(300))
    );
}

#[test]
fn wrapping_body_moved_into_a_header_is_refused() {
    let text = signed();
    let span = body_span(&text);
    let original = text[span.clone()].to_owned();
    let attack = format!("{}{EVIL_BODY}{}", &text[..span.start], &text[span.end..]).replacen(
        "<soapenv:Header>",
        &format!("<soapenv:Header><x:Wrapper xmlns:x=\"urn:attacker\">{original}</x:Wrapper>"),
        1,
    );
    // The signature itself still verifies over the moved Body: only node identity catches this.
    assert!(
        matches!(refusal(&attack), WsSecurityError::BodyNotSigned),
        "{:?}",
        refusal(&attack)
    );
}

#[test]
fn wrapping_body_duplicated_is_refused() {
    let text = signed();
    let span = body_span(&text);
    let original = text[span.clone()].to_owned();
    // A second Body after the signed one.
    let twice = format!("{}{EVIL_BODY}{}", &text[..span.end], &text[span.end..]);
    assert!(
        matches!(refusal(&twice), WsSecurityError::EnvelopeStructure { .. }),
        "{:?}",
        refusal(&twice)
    );
    // The evil Body claims the signed Body's wsu:Id, the signed one hidden in a header.
    let id_start = original.find("wsu:Id=\"").expect("Body id") + 8;
    let id = &original[id_start..id_start + original[id_start..].find('"').expect("quote")];
    let evil = EVIL_BODY.replacen(
        "<soapenv:Body>",
        &format!("<soapenv:Body xmlns:wsu=\"{WSU}\" wsu:Id=\"{id}\">"),
        1,
    );
    let attack = format!("{}{evil}{}", &text[..span.start], &text[span.end..]).replacen(
        "<soapenv:Header>",
        &format!("<soapenv:Header><x:Wrapper xmlns:x=\"urn:attacker\">{original}</x:Wrapper>"),
        1,
    );
    assert!(
        matches!(
            refusal(&attack),
            WsSecurityError::MessageSignature(SignatureError::DuplicateId { .. })
        ),
        "{:?}",
        refusal(&attack)
    );
}

#[test]
fn timestamp_expired_or_from_the_future_is_refused() {
    let text = signed();
    // Expires = now + 5 min; the verifier tolerates 60 s of skew.
    assert!(
        verifier()
            .verify(&parse(&text), now() + Duration::from_secs(330))
            .is_ok()
    );
    assert!(matches!(
        refusal_at(&text, 361_000),
        WsSecurityError::TimestampExpired { .. }
    ));
    assert!(
        verifier()
            .verify(&parse(&text), now() - Duration::from_secs(30))
            .is_ok()
    );
    assert!(matches!(
        refusal_at(&text, -61_000),
        WsSecurityError::TimestampInFuture { .. }
    ));
}

#[test]
fn timestamp_lifetime_beyond_the_bound_is_refused() {
    let long = signer()
        .with_lifetime(Duration::from_secs(3600))
        .sign(envelope().as_bytes(), now())
        .expect("signs");
    assert!(matches!(
        refusal(&long),
        WsSecurityError::TimestampLifetime {
            lifetime_ms: 3_600_000,
            max_ms: 300_000
        }
    ));
}

#[test]
fn untrusted_binary_security_token_is_refused() {
    // The attacker signs everything with its own key and sends its own certificate as the token.
    let forged = RequestSigner::new(
        &SignaturePolicy::anpr_ws_security(),
        attacker().signing_key(),
        workstation().signing_key(),
        identity(),
    )
    .expect("signer")
    .sign(envelope().as_bytes(), now())
    .expect("signs");
    assert!(
        matches!(refusal(&forged), WsSecurityError::UntrustedToken { .. }),
        "{:?}",
        refusal(&forged)
    );
    // The trusted certificate as the token, the attacker's signature: the token selects the
    // trusted key, which does not verify the signature.
    let attacker_der = openssl::base64::encode_block(&attacker().certificate.to_der().expect("DER"));
    let comune_der = openssl::base64::encode_block(&comune().certificate.to_der().expect("DER"));
    let swapped = forged.replacen(&attacker_der, &comune_der, 1);
    assert_ne!(swapped, forged);
    assert!(
        matches!(
            refusal(&swapped),
            WsSecurityError::MessageSignature(SignatureError::BadSignatureValue { .. })
        ),
        "{:?}",
        refusal(&swapped)
    );
}

/// The signed request with its message signature replaced by one over `which` (`"Timestamp"`,
/// `"Body"`), made with the trusted key: the signature is valid, the coverage is not.
fn signed_over(which: &[&str]) -> String {
    let text = signed();
    let start = text.rfind("<ds:Signature ").expect("message signature");
    let end = text.rfind("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &text[..start], &text[end..]);
    let doc = parse(&unsigned);
    let envelope = doc.document_element();
    let header = children_named(&doc, envelope, SOAP, "Header")[0];
    let security = children_named(&doc, header, WSSE, "Security")[0];
    let token = children_named(&doc, security, WSSE, "BinarySecurityToken")[0];
    let token_id = doc
        .element(token)
        .and_then(|e| e.attribute(Some(WSU), "Id"))
        .expect("id");
    let targets: Vec<_> = which
        .iter()
        .map(|w| match *w {
            "Timestamp" => children_named(&doc, security, WSU, "Timestamp")[0],
            _ => children_named(&doc, envelope, SOAP, "Body")[0],
        })
        .collect();
    let key_info = format!(
        "<wsse:SecurityTokenReference><wsse:Reference URI=\"#{token_id}\"/></wsse:SecurityTokenReference>"
    );
    let options = SignaturePolicy::anpr_ws_security()
        .signing_options()
        .expect("options");
    sign_detached(
        &doc,
        &targets,
        &DetachedPlacement {
            parent: security,
            before: None,
            signature_id: None,
            key_info_id: None,
            key_info: Some(&key_info),
        },
        &options,
        &comune().signing_key(),
    )
    .expect("signs")
}

#[test]
fn signature_missing_the_body_or_the_timestamp_is_refused() {
    assert!(
        verifier()
            .verify(&parse(&signed_over(&["Timestamp", "Body"])), now())
            .is_ok()
    );
    assert!(matches!(
        refusal(&signed_over(&["Timestamp"])),
        WsSecurityError::BodyNotSigned
    ));
    assert!(matches!(
        refusal(&signed_over(&["Body"])),
        WsSecurityError::TimestampNotSigned
    ));
}

#[test]
fn sha1_is_refused_when_a_stricter_policy_is_configured() {
    let strict = SignaturePolicy::new("ANPR WS-Security, SHA-256")
        .allow_signature_method(SignatureMethod::RsaSha256)
        .allow_digest_method(DigestMethod::Sha256)
        .allow_canonicalization(Algorithm::Exclusive)
        .allow_transform(Transform::Canonicalization(Algorithm::Exclusive))
        .allow_transform(Transform::EnvelopedSignature)
        .with_id_attribute(IdAttribute::WSU_ID)
        .with_id_attribute(IdAttribute::SAML_ID)
        .with_max_references(4);
    let e = verifier_with(strict.clone())
        .verify(&parse(&signed()), now())
        .expect_err("RSA-SHA1 under a SHA-256 policy");
    assert!(
        matches!(
            &e,
            WsSecurityError::MessageSignature(SignatureError::AlgorithmNotAllowed {
                role: AlgorithmRole::SignatureMethod,
                ..
            })
        ),
        "{e:?}"
    );
    // The same configuration signs with SHA-256, which it accepts and the ANPR preset refuses.
    let strong = signer_with(&strict)
        .sign(envelope().as_bytes(), now())
        .expect("signs");
    assert!(strong.contains("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"));
    verifier_with(strict)
        .verify(&parse(&strong), now())
        .expect("verifies");
    assert!(matches!(
        refusal(&strong),
        WsSecurityError::MessageSignature(SignatureError::AlgorithmNotAllowed { .. })
    ));
}

#[test]
fn security_header_missing_or_repeated_is_refused() {
    assert!(matches!(
        refusal(&envelope()),
        WsSecurityError::MissingSecurityHeader
    ));
    let text = signed();
    let start = text.find("<wsse:Security").expect("Security");
    let end = text.find("</wsse:Security>").expect("end") + "</wsse:Security>".len();
    let twice = format!("{}{}", &text[..end], &text[start..]);
    assert!(matches!(
        refusal(&twice),
        WsSecurityError::DuplicateSecurityHeader { count: 2 }
    ));
}

#[test]
fn tampering_with_body_or_assertion_is_refused() {
    let text = signed();
    let body = text.replacen("<cognome>ROSSI</cognome>", "<cognome>BIANCHI</cognome>", 1);
    assert!(matches!(
        refusal(&body),
        WsSecurityError::MessageSignature(SignatureError::DigestMismatch { .. })
    ));
    let sede = text.replacen(
        ">015146</saml2:AttributeValue>",
        ">015147</saml2:AttributeValue>",
        1,
    );
    assert_ne!(sede, text);
    assert!(matches!(
        refusal(&sede),
        WsSecurityError::AssertionSignature(SignatureError::DigestMismatch { .. })
    ));
    let operator = text.replacen(OPERATOR, "BNCLRA80A41F205X", 1);
    assert_ne!(operator, text);
    assert!(matches!(
        refusal(&operator),
        WsSecurityError::AssertionSignature(SignatureError::DigestMismatch { .. })
    ));
}

#[test]
fn assertion_signed_by_another_key_is_refused() {
    // Message keys trust the comune; assertion keys trust only the attacker.
    let verifier = snodo_security::wssec::RequestVerifier::new(
        SignaturePolicy::anpr_ws_security(),
        comune().trusted(),
        attacker().trusted(),
    );
    let e = verifier
        .verify(&parse(&signed()), now())
        .expect_err("untrusted assertion issuer");
    assert!(
        matches!(
            e,
            WsSecurityError::AssertionSignature(SignatureError::UntrustedKeyInfo { .. })
        ),
        "{e:?}"
    );
}

#[test]
fn id_postazione_firmato_from_another_workstation_is_refused() {
    let verifier = verifier().with_workstations(vec![attacker().certificate.clone()]);
    let e = verifier
        .verify(&parse(&signed()), now())
        .expect_err("wrong workstation");
    assert!(matches!(e, WsSecurityError::AssertionMalformed { .. }), "{e:?}");
    assert!(!e.to_string().contains(OPERATOR));
}
