//! The HTTP-Redirect binding (SAML Bindings §3.4.4.1): interoperability with the `openssl dgst` CLI
//! both ways and with a real SP's signed Redirect URL (spid-django, from spid-sp-test's examples);
//! verification over the octets as received; the SigAlg allowlist; trusted keys only; the DEFLATE
//! bomb limit; both directions (`SAMLRequest` and `SAMLResponse`).

mod common;

use std::process::Command;

use common::*;
use snodo_security::dsig::{SignatureMethod, TrustedKeys};
use snodo_security::saml::redirect::{
    MessageParameter, RedirectError, RedirectLimits, encode, spid_sig_algs, url_decode, url_encode, verify,
};
use snodo_security::saml::{AssertionConsumerService, AuthnRequest, SpidLevel, parse_instant};

fn authn_request_xml() -> String {
    AuthnRequest::new(
        "https://comune.example.it/spid",
        "https://idp.example.it/samlsso",
        AssertionConsumerService::Index(0),
        0,
        SpidLevel::L2,
        parse_instant("2026-12-01T10:00:00Z").expect("instant"),
    )
    .to_xml()
    .expect("builds")
}

const LOGOUT_RESPONSE: &str = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2026-12-01T10:00:00Z" InResponseTo="_req" Destination="https://comune.example.it/spid/slo"><saml:Issuer>https://idp.example.it</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#;

fn root_name(message: &snodo_security::saml::redirect::RedirectMessage) -> String {
    let doc = &message.document;
    doc.element(doc.document_element())
        .expect("element")
        .name()
        .local_name()
        .to_owned()
}

fn openssl_digest_flag(method: SignatureMethod) -> &'static str {
    match method {
        SignatureMethod::RsaSha1 => "-sha1",
        SignatureMethod::RsaSha256 | SignatureMethod::EcdsaSha256 => "-sha256",
        SignatureMethod::RsaSha384 | SignatureMethod::EcdsaSha384 => "-sha384",
        SignatureMethod::RsaSha512 | SignatureMethod::EcdsaSha512 => "-sha512",
    }
}

/// `openssl dgst -<sha> -sign key` over `data`.
fn openssl_sign(dir: &TempDir, identity: &TestIdentity, method: SignatureMethod, data: &str) -> Vec<u8> {
    let (key, _) = identity.write_pem(dir.path(), "signer");
    let input = dir.path().join("signed-octets");
    let output = dir.path().join("signature.bin");
    std::fs::write(&input, data).expect("write");
    run(
        Command::new("openssl")
            .arg("dgst")
            .arg(openssl_digest_flag(method))
            .arg("-sign")
            .arg(&key)
            .arg("-out")
            .arg(&output)
            .arg(&input),
        "openssl dgst -sign",
    );
    std::fs::read(&output).expect("signature written")
}

/// `openssl dgst -<sha> -verify pubkey -signature sig` over `data`: true when "Verified OK".
fn openssl_verifies(
    dir: &TempDir,
    identity: &TestIdentity,
    method: SignatureMethod,
    data: &[u8],
    sig: &[u8],
) -> bool {
    let public = dir.path().join("public.pem");
    std::fs::write(&public, identity.key.public_key_to_pem().expect("PEM")).expect("write");
    let input = dir.path().join("verified-octets");
    let signature = dir.path().join("verified.sig");
    std::fs::write(&input, data).expect("write");
    std::fs::write(&signature, sig).expect("write");
    let out = Command::new("openssl")
        .arg("dgst")
        .arg(openssl_digest_flag(method))
        .arg("-verify")
        .arg(&public)
        .arg("-signature")
        .arg(&signature)
        .arg(&input)
        .output()
        .expect("openssl runs");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}

/// Splits `query` into the signed octets and the decoded signature value.
fn signed_part(query: &str) -> (&str, Vec<u8>) {
    let (signed, signature) = query.split_once("&Signature=").expect("signed query");
    let b64 = url_decode(signature, "Signature").expect("url-encoded");
    (signed, openssl::base64::decode_block(&b64).expect("base64"))
}

#[test]
fn openssl_cli_verifies_the_query_strings_we_sign() {
    let dir = TempDir::new("redirect-ours");
    for method in [
        SignatureMethod::RsaSha256,
        SignatureMethod::RsaSha384,
        SignatureMethod::RsaSha512,
    ] {
        let query = encode(
            MessageParameter::Request,
            &authn_request_xml(),
            Some("opaque-relay-state 1"),
            Some((method, &idp().signing_key())),
        )
        .expect("signs");
        assert!(query.starts_with("SAMLRequest="));
        assert!(query.contains("&RelayState=opaque-relay-state+1&SigAlg="));
        let (signed, signature) = signed_part(&query);
        assert!(
            openssl_verifies(&dir, idp(), method, signed.as_bytes(), &signature),
            "{method:?}"
        );
        // The CLI is a real judge: one changed octet fails.
        let altered = signed.replacen("opaque", "Opaque", 1);
        assert!(!openssl_verifies(
            &dir,
            idp(),
            method,
            altered.as_bytes(),
            &signature
        ));
        // And ours accepts it too, naming the key and method.
        let message = verify(
            &query,
            &spid_sig_algs(),
            &idp().trusted(),
            &RedirectLimits::default(),
        )
        .expect("verifies");
        assert_eq!(message.signature_method, method);
        assert_eq!(message.relay_state.as_deref(), Some("opaque-relay-state 1"));
        assert_eq!(root_name(&message), "AuthnRequest");
    }
}

#[test]
fn we_verify_query_strings_signed_by_the_openssl_cli() {
    let dir = TempDir::new("redirect-cli");
    let unsigned =
        encode(MessageParameter::Request, &authn_request_xml(), Some("r1"), None).expect("encodes");
    for method in [SignatureMethod::RsaSha256, SignatureMethod::RsaSha512] {
        let signed = format!("{unsigned}&SigAlg={}", url_encode(method.uri()));
        let signature = openssl_sign(&dir, idp(), method, &signed);
        let query = format!(
            "{signed}&Signature={}",
            url_encode(&openssl::base64::encode_block(&signature))
        );
        let message = verify(
            &query,
            &spid_sig_algs(),
            &idp().trusted(),
            &RedirectLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(message.parameter, MessageParameter::Request);
        assert_eq!(message.trusted_key, 0);
    }
}

#[test]
fn bindings_rule_the_signature_is_over_the_octets_as_received() {
    // A signer that writes lower-case escapes (legal URL-encoding) and puts Signature first and an
    // extra parameter in between: the signed string is cut from what arrived, so it verifies; a
    // verifier that re-encoded the decoded values would rebuild upper-case escapes and fail.
    let dir = TempDir::new("redirect-octets");
    let unsigned = encode(
        MessageParameter::Request,
        &authn_request_xml(),
        Some("a/b c"),
        None,
    )
    .expect("encodes");
    let lower = unsigned
        .replace("%2F", "%2f")
        .replace("%2B", "%2b")
        .replace("%3D", "%3d");
    assert_ne!(lower, unsigned, "the encoding has escapes to vary");
    let sig_alg = url_encode(SignatureMethod::RsaSha256.uri()).to_lowercase();
    let signed = format!("{lower}&SigAlg={sig_alg}");
    let signature = openssl_sign(&dir, idp(), SignatureMethod::RsaSha256, &signed);
    let signature_param = format!(
        "Signature={}",
        url_encode(&openssl::base64::encode_block(&signature))
    );
    let (message, rest) = signed.split_once("&RelayState=").expect("relay state");
    let query = format!("{signature_param}&{message}&utm=1&RelayState={rest}");
    let verified = verify(
        &query,
        &spid_sig_algs(),
        &idp().trusted(),
        &RedirectLimits::default(),
    )
    .expect("verifies over the received octets");
    assert_eq!(verified.relay_state.as_deref(), Some("a/b c"));
    // Re-encoded (upper-case) octets are not what was signed.
    let reencoded = format!(
        "{signature_param}&{unsigned}&SigAlg={}",
        url_encode(SignatureMethod::RsaSha256.uri())
    );
    assert!(matches!(
        verify(
            &reencoded,
            &spid_sig_algs(),
            &idp().trusted(),
            &RedirectLimits::default()
        ),
        Err(RedirectError::BadSignature { .. })
    ));
}

#[test]
fn a_real_sp_redirect_url_verifies_with_its_certificate() {
    // spid-django's signed AuthnRequest (pysaml2, spid-sp-test `tests/authn`), with RelayState;
    // its certificate is the one in spid-sp-test's `private-sp-cie.xml` metadata. (The two
    // spid-express URLs there do not match their metadata keys, so they cannot serve.)
    let specs = spid_fixtures_dir().join("../spid-sp-test");
    let url = std::fs::read_to_string(specs.join("authn/spid_django_redirect.url")).expect("url");
    let metadata = std::fs::read_to_string(specs.join("metadata/private-sp-cie.xml")).expect("metadata");
    let doc =
        snodo_security::xml::parse_str(&metadata, &snodo_security::xml::Limits::default()).expect("parses");
    // Every certificate of the metadata (signing, encryption, the metadata's own signature).
    let certificates = descendants_named(&doc, doc.root(), DSIG, "X509Certificate")
        .into_iter()
        .map(|c| {
            let der = openssl::base64::decode_block(&doc.text_content(c).replace(['\n', '\r', ' '], ""))
                .expect("base64");
            openssl::x509::X509::from_der(&der).expect("certificate")
        });
    let keys = TrustedKeys::from_certificates(certificates).expect("usable");
    let query = url.trim().split_once('?').expect("query").1;
    let message = verify(query, &spid_sig_algs(), &keys, &RedirectLimits::default()).expect("verifies");
    assert_eq!(root_name(&message), "AuthnRequest");
    assert_eq!(message.signature_method, SignatureMethod::RsaSha256);
    assert_eq!(message.relay_state.as_deref(), Some("/spid/echo_attributes"));
    // Another key does not verify it.
    assert!(matches!(
        verify(
            query,
            &spid_sig_algs(),
            &idp().trusted(),
            &RedirectLimits::default()
        ),
        Err(RedirectError::BadSignature { .. })
    ));
}

#[test]
fn spid_rule_sha1_and_unknown_sig_algs_are_refused_even_when_the_signature_is_good() {
    let dir = TempDir::new("redirect-sha1");
    let unsigned = encode(MessageParameter::Request, &authn_request_xml(), None, None).expect("encodes");
    for uri in [
        SignatureMethod::RsaSha1.uri(),
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    ] {
        let signed = format!("{unsigned}&SigAlg={}", url_encode(uri));
        let signature = openssl_sign(&dir, idp(), SignatureMethod::RsaSha1, &signed);
        let query = format!(
            "{signed}&Signature={}",
            url_encode(&openssl::base64::encode_block(&signature))
        );
        assert!(
            matches!(
                verify(
                    &query,
                    &spid_sig_algs(),
                    &idp().trusted(),
                    &RedirectLimits::default()
                ),
                Err(RedirectError::SigAlgNotAllowed { .. })
            ),
            "{uri}"
        );
    }
}

#[test]
fn untrusted_keys_tampering_and_malformed_queries_are_refused() {
    let limits = RedirectLimits::default();
    let good = encode(
        MessageParameter::Request,
        &authn_request_xml(),
        Some("r"),
        Some((SignatureMethod::RsaSha256, &idp().signing_key())),
    )
    .expect("signs");
    let check = |query: &str, what: &str, ok: fn(&RedirectError) -> bool| match verify(
        query,
        &spid_sig_algs(),
        &idp().trusted(),
        &limits,
    ) {
        Err(e) if ok(&e) => {}
        other => panic!("{what}: {other:?}"),
    };
    assert!(matches!(
        verify(&good, &spid_sig_algs(), &attacker().trusted(), &limits),
        Err(RedirectError::BadSignature { .. })
    ));
    assert!(matches!(
        verify(&good, &spid_sig_algs(), &TrustedKeys::new(), &limits),
        Err(RedirectError::NoTrustedKeys)
    ));
    check(
        &good.replace("RelayState=r", "RelayState=s"),
        "tampered RelayState",
        |e| matches!(e, RedirectError::BadSignature { .. }),
    );
    check(&good.replace("&RelayState=r", ""), "RelayState removed", |e| {
        matches!(e, RedirectError::BadSignature { .. })
    });
    check(
        good.split("&Signature=").next().expect("prefix"),
        "no Signature",
        |e| matches!(e, RedirectError::MissingParameter { name: "Signature" }),
    );
    check(
        &good
            .replace("&SigAlg=", "&Sig=")
            .replace("&Sig=", "&SigAlg=&SigAlg="),
        "SigAlg twice",
        |e| matches!(e, RedirectError::DuplicateParameter { name: "SigAlg" }),
    );
    check(&format!("SAMLResponse=x&{good}"), "both messages", |e| {
        matches!(e, RedirectError::BothMessages)
    });
    check(
        &good.replace("&Signature=", "&Signature=%zz"),
        "bad escape",
        |e| matches!(e, RedirectError::BadPercentEncoding { name: "Signature" }),
    );
    check("RelayState=r", "no message", |e| {
        matches!(e, RedirectError::MissingParameter { name: "SAMLRequest" })
    });
    let huge = format!("{good}&pad={}", "x".repeat(limits.max_query_bytes));
    check(&huge, "oversized query", |e| {
        matches!(e, RedirectError::QueryTooLarge { .. })
    });
}

#[test]
fn a_signed_deflate_bomb_stops_at_the_inflation_limit() {
    // 8 MiB of XML-ish filler deflates to a few KB: inside the query limit, far beyond the XML one.
    let bomb = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">{}</samlp:LogoutRequest>",
        " ".repeat(8 << 20)
    );
    let query = encode(
        MessageParameter::Request,
        &bomb,
        None,
        Some((SignatureMethod::RsaSha256, &idp().signing_key())),
    )
    .expect("signs");
    let limits = RedirectLimits::default();
    assert!(
        query.len() < limits.max_query_bytes,
        "query is {} bytes",
        query.len()
    );
    match verify(&query, &spid_sig_algs(), &idp().trusted(), &limits) {
        Err(RedirectError::InflatedTooLarge {
            name: "SAMLRequest",
            limit,
        }) => {
            assert_eq!(limit, limits.max_inflated_bytes);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn saml_response_direction_with_ecdsa_and_without_relay_state() {
    let sp = ec_identity("Snodo test IdP (EC)");
    let query = encode(
        MessageParameter::Response,
        LOGOUT_RESPONSE,
        None,
        Some((SignatureMethod::EcdsaSha256, &sp.signing_key())),
    )
    .expect("signs");
    assert!(query.starts_with("SAMLResponse=") && !query.contains("RelayState"));
    let message = verify(
        &query,
        &spid_sig_algs(),
        &sp.trusted(),
        &RedirectLimits::default(),
    )
    .expect("verifies");
    assert_eq!(message.parameter, MessageParameter::Response);
    assert_eq!(message.relay_state, None);
    assert_eq!(root_name(&message), "LogoutResponse");
    // The ECDSA value is r || s (XML-DSig's form): 64 bytes for P-256.
    let (_, signature) = signed_part(&query);
    assert_eq!(signature.len(), 64);
    // An RSA key cannot verify an ECDSA SigAlg.
    assert!(matches!(
        verify(
            &query,
            &spid_sig_algs(),
            &idp().trusted(),
            &RedirectLimits::default()
        ),
        Err(RedirectError::BadSignature { .. })
    ));
    // The inflated message goes through the screening parser: a DOCTYPE is refused after
    // the signature checks out.
    let doctype = encode(
        MessageParameter::Response,
        &format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{LOGOUT_RESPONSE}"),
        None,
        Some((SignatureMethod::EcdsaSha256, &sp.signing_key())),
    )
    .expect("signs");
    assert!(matches!(
        verify(
            &doctype,
            &spid_sig_algs(),
            &sp.trusted(),
            &RedirectLimits::default()
        ),
        Err(RedirectError::Xml(_))
    ));
}
