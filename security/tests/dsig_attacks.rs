//! The other attacks of spid-and-cie-id.md §5 against the signature layer (wrapping is in
//! `dsig_wrapping.rs`): keys in KeyInfo that are not trusted, comment and CDATA splitting in NameID and
//! DigestValue, algorithm downgrade, XSLT/XPath transforms, and the structural tricks around
//! References and IDs. Each is checked through `saml_read` (`common::saml`), which must never return
//! the attacker's NameID, and by the error that names the problem.

mod common;

use common::saml::*;
use common::*;
use snodo_security::dsig::{
    AlgorithmRole, DigestMethod, IdAttribute, SignatureError, SignatureMethod, SignaturePolicy, TrustedKeys,
    signature_children, verify_enveloped_signature,
};

// --- Keys: KeyInfo selects among trusted keys, never adds one ---------------------------------------

#[test]
fn key_in_keyinfo_that_is_not_trusted_is_refused() {
    let attack = assertion_signed(EVIL_NAME_ID, attacker(), &spid_options());
    let e = signature_error(
        "own cert",
        assert_never_reads_evil("attacker's certificate in KeyInfo", &attack),
    );
    assert!(
        matches!(
            e,
            SignatureError::UntrustedKeyInfo {
                hint: "X509Certificate"
            }
        ),
        "{e}"
    );

    // Without a certificate: the trusted keys are tried, none verifies.
    let attack = assertion_signed(EVIL_NAME_ID, attacker(), &spid_options().with_certificate(false));
    let e = signature_error("no cert", assert_never_reads_evil("no KeyInfo", &attack));
    assert!(matches!(e, SignatureError::BadSignatureValue { .. }), "{e}");

    // Pointing KeyInfo at the trusted certificate selects the trusted key, which does not verify.
    let idp_cert = openssl::base64::encode_block(&idp().certificate.to_der().expect("der"));
    let attacker_cert = openssl::base64::encode_block(&attacker().certificate.to_der().expect("der"));
    let with_cert = assertion_signed(EVIL_NAME_ID, attacker(), &spid_options());
    let flat = with_cert.replace('\n', "");
    let attack = replace(&flat, &attacker_cert, &idp_cert);
    let e = signature_error(
        "idp cert",
        assert_never_reads_evil("trusted certificate in KeyInfo", &attack),
    );
    assert!(matches!(e, SignatureError::BadSignatureValue { .. }), "{e}");
}

fn rfc4514(name: &openssl::x509::X509NameRef) -> String {
    let mut parts: Vec<String> = name
        .entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().expect("short name"),
                e.data().to_string().expect("utf-8").replace(',', "\\,")
            )
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

fn with_key_info(signed: &str, key_info_content: &str) -> String {
    let k = span(signed, "<ds:KeyInfo>", "</ds:KeyInfo>");
    format!(
        "{}<ds:KeyInfo>{key_info_content}</ds:KeyInfo>{}",
        &signed[..k.start],
        &signed[k.end..]
    )
}

#[test]
fn keyinfo_issuer_serial_ski_and_subject_select_among_trusted_keys() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let keys = TrustedKeys::from_certificates([attacker().certificate.clone(), idp().certificate.clone()])
        .expect("usable");
    let cert = &idp().certificate;
    let serial = cert
        .serial_number()
        .to_bn()
        .expect("bn")
        .to_dec_str()
        .expect("dec")
        .to_string();
    let ski = openssl::base64::encode_block(cert.subject_key_id().expect("SKI").as_slice());
    let hints = [
        format!(
            "<ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName>\
             <ds:X509SerialNumber>{serial}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data>",
            rfc4514(cert.issuer_name())
        ),
        format!("<ds:X509Data><ds:X509SKI>{ski}</ds:X509SKI></ds:X509Data>"),
        format!(
            "<ds:X509Data><ds:X509SubjectName>{}</ds:X509SubjectName></ds:X509Data>",
            rfc4514(cert.subject_name()).to_uppercase()
        ),
        "<ds:KeyName>anything</ds:KeyName>".to_owned(),
    ];
    for hint in hints {
        let text = with_key_info(&signed, &hint);
        let doc = parse(&text);
        let signature = signature_children(&doc, element_by_id(&doc, "_assertion"))[0];
        let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &keys)
            .unwrap_or_else(|e| panic!("{hint}: {e}"));
        assert_eq!(verified.trusted_key(), 1, "{hint}");
    }

    // A chain in one X509Data (an untrusted CA beside the trusted leaf) selects the trusted key; the
    // attacker adding the trusted certificate beside their own gains nothing.
    let idp_b64 = openssl::base64::encode_block(&cert.to_der().expect("der"));
    let other_b64 = openssl::base64::encode_block(&attacker().certificate.to_der().expect("der"));
    let chain = format!(
        "<ds:X509Data><ds:X509Certificate>{other_b64}</ds:X509Certificate>\
         <ds:X509Certificate>{idp_b64}</ds:X509Certificate></ds:X509Data>"
    );
    let doc = parse(&with_key_info(&signed, &chain));
    let signature = signature_children(&doc, element_by_id(&doc, "_assertion"))[0];
    verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &trusted()).expect("chain");
    let forged = assertion_signed(EVIL_NAME_ID, attacker(), &spid_options());
    let e = signature_error(
        "chain",
        assert_never_reads_evil("chain", &with_key_info(&forged, &chain)),
    );
    assert!(matches!(e, SignatureError::BadSignatureValue { .. }), "{e}");

    // The same hints naming the attacker's certificate, with only the IdP trusted: refused by name.
    let acert = &attacker().certificate;
    let aski = openssl::base64::encode_block(acert.subject_key_id().expect("SKI").as_slice());
    let aserial = acert
        .serial_number()
        .to_bn()
        .expect("bn")
        .to_dec_str()
        .expect("dec")
        .to_string();
    for (hint, name) in [
        (
            format!("<ds:X509Data><ds:X509SKI>{aski}</ds:X509SKI></ds:X509Data>"),
            "X509SKI",
        ),
        (
            format!(
                "<ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName>\
                 <ds:X509SerialNumber>{aserial}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data>",
                rfc4514(acert.issuer_name())
            ),
            "X509IssuerSerial",
        ),
    ] {
        let text = with_key_info(&signed, &hint);
        let e = signature_error(name, assert_never_reads_evil(name, &text));
        assert!(
            matches!(e, SignatureError::UntrustedKeyInfo { hint } if hint == name),
            "{e}"
        );
    }
}

#[test]
fn signing_refuses_what_cannot_be_a_prefix() {
    for prefix in ["xmlns", "XMLfoo", "a:b", "1a", ""] {
        let e = spid_options().with_prefix(Some(prefix)).expect_err(prefix);
        assert!(matches!(e, SignatureError::InvalidPrefix { .. }), "{e}");
    }
}

#[test]
fn spid_rule_rsa_keys_under_2048_bits_are_refused() {
    let weak = rsa_identity("Snodo test weak IdP", 1024);
    let signed = assertion_signed(GOOD_NAME_ID, &weak, &spid_options());
    let e = signature_error(
        "weak",
        saml_read(&signed, &weak.trusted()).expect_err("1024-bit key"),
    );
    assert!(
        matches!(
            e,
            SignatureError::KeyTooSmall {
                bits: 1024,
                minimum: 2048
            }
        ),
        "{e}"
    );
}

// --- Comment and text-node splitting -----------------------------------------------------------------

/// CERT VU#475445: a comment inside a signed value leaves the signature valid (comments are not
/// canonicalized); the reader must still see the whole value.
#[test]
fn comment_injection_in_name_id_does_not_change_what_is_read() {
    let registered = format!("{GOOD_NAME_ID}.evil.example");
    let signed = assertion_signed(&registered, idp(), &spid_options());
    for split in [
        format!("{GOOD_NAME_ID}<!---->.evil.example"),
        format!("{GOOD_NAME_ID}<!-- x -->.evil<!---->.example"),
        format!("{GOOD_NAME_ID}<![CDATA[.evil]]>.example"),
        format!("<!---->{GOOD_NAME_ID}.evil.example<!---->"),
    ] {
        let attack = replace(&signed, &registered, &split);
        let doc = parse(&attack);
        let name_id = descendants_named(&doc, doc.document_element(), SAML, "NameID")[0];
        if let Some(first) = doc.first_child(name_id)
            && let snodo_security::xml::NodeKind::Text(t) = doc.kind(first)
            && split.starts_with(&format!("{GOOD_NAME_ID}<!--"))
        {
            assert_eq!(t.trim(), GOOD_NAME_ID, "a first-text-node reader would be fooled");
        }
        assert_eq!(
            saml_read(&attack, &trusted()).expect("still validly signed"),
            registered,
            "{split}"
        );
    }
}

#[test]
fn comment_in_digest_value_is_not_a_truncation() {
    // xml-crypto CVE-2025-29774: a comment inside DigestValue made the first text node the digest.
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let d = span(&signed, "<ds:DigestValue>", "</ds:DigestValue>");
    let value = &signed[d.start + "<ds:DigestValue>".len()..d.end - "</ds:DigestValue>".len()];
    let (head, tail) = value.split_at(10);
    let attack = format!(
        "{}<ds:DigestValue>{head}<!--{tail}-->{tail}</ds:DigestValue>{}",
        &signed[..d.start],
        &signed[d.end..]
    );
    assert_eq!(saml_read(&attack, &trusted()).expect("same digest"), GOOD_NAME_ID);
    let truncated = format!(
        "{}<ds:DigestValue>{head}<!--{tail}--></ds:DigestValue>{}",
        &signed[..d.start],
        &signed[d.end..]
    );
    assert!(saml_read(&truncated, &trusted()).is_err());
}

// --- Algorithm downgrade and transform injection --------------------------------------------------

fn refused_algorithm(name: &str, text: &str) -> (AlgorithmRole, String, String) {
    match signature_error(name, assert_never_reads_evil(name, text)) {
        e @ SignatureError::AlgorithmNotAllowed { .. } => {
            let message = e.to_string();
            let SignatureError::AlgorithmNotAllowed { role, algorithm, .. } = e else {
                unreachable!()
            };
            (role, algorithm, message)
        }
        e => panic!("{name}: expected AlgorithmNotAllowed, got {e}"),
    }
}

#[test]
fn algorithm_downgrade_is_refused_by_name() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let cases = [
        (
            SignatureMethod::RsaSha256.uri(),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            AlgorithmRole::SignatureMethod,
        ),
        (
            SignatureMethod::RsaSha256.uri(),
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            AlgorithmRole::SignatureMethod,
        ),
        (
            SignatureMethod::RsaSha256.uri(),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            AlgorithmRole::SignatureMethod,
        ),
        (
            SignatureMethod::RsaSha256.uri(),
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            AlgorithmRole::SignatureMethod,
        ),
        (
            DigestMethod::Sha256.uri(),
            "http://www.w3.org/2000/09/xmldsig#sha1",
            AlgorithmRole::DigestMethod,
        ),
        (
            DigestMethod::Sha256.uri(),
            "http://www.w3.org/2001/04/xmldsig-more#md5",
            AlgorithmRole::DigestMethod,
        ),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#WithComments\"",
            AlgorithmRole::CanonicalizationMethod,
        ),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"",
            AlgorithmRole::CanonicalizationMethod,
        ),
    ];
    for (from, to, role) in cases {
        let attack = replace(&signed, from, to);
        let (got_role, algorithm, message) = refused_algorithm(to, &attack);
        assert_eq!(got_role, role, "{to}");
        assert!(to.contains(&algorithm), "{algorithm} named");
        assert!(
            message.contains(&algorithm) && message.contains("SPID"),
            "{message}"
        );
    }
}

#[test]
fn spid_rule_sha1_is_never_accepted_on_saml_while_anpr_follows_its_policy() {
    // A genuine RSA-SHA1/SHA-1 signature: valid, and what ANPR's Basic128Rsa15 policy asks for.
    let sha1 = SignaturePolicy::anpr_ws_security()
        .signing_options()
        .expect("ANPR signs");
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &sha1);
    let doc = parse(&signed);
    let signature = signature_children(&doc, element_by_id(&doc, "_assertion"))[0];
    let verified =
        verify_enveloped_signature(&doc, signature, &SignaturePolicy::anpr_ws_security(), &trusted())
            .expect("ANPR policy accepts RSA-SHA1");
    assert_eq!(verified.signature_method(), SignatureMethod::RsaSha1);
    assert_eq!(verified.references()[0].digest_method(), DigestMethod::Sha1);
    let (role, algorithm, _) = refused_algorithm("SHA-1 on SAML", &signed);
    assert_eq!(role, AlgorithmRole::SignatureMethod);
    assert_eq!(algorithm, SignatureMethod::RsaSha1.uri());
    // SHA-256 digests under an RSA-SHA1 signature: the digest is fine, the method still is not.
    let mixed = assertion_signed(
        GOOD_NAME_ID,
        idp(),
        &spid_options().with_signature_method(SignatureMethod::RsaSha1),
    );
    let (role, _, _) = refused_algorithm("RSA-SHA1 with SHA-256", &mixed);
    assert_eq!(role, AlgorithmRole::SignatureMethod);
    let mixed = assertion_signed(
        GOOD_NAME_ID,
        idp(),
        &spid_options().with_digest_method(DigestMethod::Sha1),
    );
    let (role, _, _) = refused_algorithm("RSA-SHA256 with SHA-1", &mixed);
    assert_eq!(role, AlgorithmRole::DigestMethod);
}

#[test]
fn xslt_and_xpath_transforms_are_refused_by_name() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let exc = "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>";
    let injected = [
        (
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "<xsl:stylesheet xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\" version=\"1.0\">\
             <xsl:template match=\"/\"><xsl:value-of select=\"document('http://evil.example/x')\"/></xsl:template>\
             </xsl:stylesheet>",
        ),
        (
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
            "<ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath>",
        ),
        (
            "http://www.w3.org/2002/06/xmldsig-filter2",
            "<dsig-xpath:XPath xmlns:dsig-xpath=\"http://www.w3.org/2002/06/xmldsig-filter2\" \
             Filter=\"subtract\">//saml:Subject</dsig-xpath:XPath>",
        ),
        ("http://www.w3.org/2000/09/xmldsig#base64", ""),
    ];
    for (uri, body) in injected {
        let transform = format!("<ds:Transform Algorithm=\"{uri}\">{body}</ds:Transform>");
        // Before the canonicalization, as an attacker would put it.
        let attack = replace(&signed, exc, &format!("{transform}{exc}"));
        let (role, algorithm, _) = refused_algorithm(uri, &attack);
        assert_eq!((role, algorithm.as_str()), (AlgorithmRole::Transform, uri));
    }
    // An allowed transform smuggling an XPath parameter.
    let attack = replace(
        &signed,
        exc,
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"><ds:XPath>1</ds:XPath></ds:Transform>",
    );
    let e = signature_error("smuggled", assert_never_reads_evil("XPath in exc-c14n", &attack));
    assert!(
        matches!(
            e,
            SignatureError::UnexpectedElement {
                parent: "Transform",
                ..
            }
        ),
        "{e}"
    );
    // The inclusive c14n and comment-preserving transforms are outside SPID's list too.
    for uri in [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    ] {
        let attack = replace(&signed, exc, &format!("<ds:Transform Algorithm=\"{uri}\"/>"));
        let (role, _, _) = refused_algorithm(uri, &attack);
        assert_eq!(role, AlgorithmRole::Transform);
    }
    // No canonicalization transform at all: the implicit inclusive c14n is not allowed either.
    let attack = replace(&signed, exc, "");
    let e = signature_error("implicit", assert_never_reads_evil("implicit c14n", &attack));
    assert!(
        matches!(e, SignatureError::ImplicitCanonicalizationNotAllowed { .. }),
        "{e}"
    );
}

// --- References, IDs and structure -----------------------------------------------------------------

#[test]
fn duplicate_ids_anywhere_are_refused() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let attack = replace(
        &signed,
        "<samlp:Status>",
        "<samlp:Extensions><x:any xmlns:x=\"urn:x\" ID=\"_assertion\"/></samlp:Extensions><samlp:Status>",
    );
    let e = signature_error("dup", assert_never_reads_evil("duplicate ID", &attack));
    assert!(
        matches!(&e, SignatureError::DuplicateId { id } if id == "_assertion"),
        "{e}"
    );
}

#[test]
fn only_same_document_id_references_to_the_enveloping_element_are_accepted() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    for uri in [
        "",
        "#",
        "#xpointer(/)",
        "#xpointer(id('_assertion'))",
        "https://evil.example/a.xml",
    ] {
        let attack = replace(&signed, "URI=\"#_assertion\"", &format!("URI=\"{uri}\""));
        let e = signature_error(uri, assert_never_reads_evil(uri, &attack));
        assert!(
            matches!(e, SignatureError::ReferenceUriNotAllowed { .. }),
            "{uri}: {e}"
        );
    }
    let attack = replace(&signed, " URI=\"#_assertion\"", "");
    let e = signature_error("no URI", assert_never_reads_evil("no URI", &attack));
    assert!(matches!(e, SignatureError::MissingReferenceUri), "{e}");

    // The Response's ID from inside the Assertion: names an element that does not envelop it.
    let attack = replace(&signed, "URI=\"#_assertion\"", "URI=\"#_resp\"");
    let e = signature_error("resp", assert_never_reads_evil("#_resp", &attack));
    assert!(matches!(e, SignatureError::NotEnveloped { .. }), "{e}");

    // An ID attribute SPID does not use is not an ID.
    let attack = replace(&signed, "URI=\"#_assertion\"", "URI=\"#_other\"").replacen(
        "<saml:Subject>",
        "<saml:Subject Id=\"_other\">",
        1,
    );
    let e = signature_error("Id", assert_never_reads_evil("Id attribute", &attack));
    assert!(matches!(e, SignatureError::ReferenceTargetNotFound { .. }), "{e}");
}

#[test]
fn signature_structure_is_checked_strictly() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let r = span(&signed, "<ds:Reference ", "</ds:Reference>");
    let reference = signed[r.clone()].to_owned();
    let si = span(&signed, "<ds:SignedInfo>", "</ds:SignedInfo>");
    let signed_info = signed[si.clone()].to_owned();

    let two_references = replace(&signed, &reference, &format!("{reference}{reference}"));
    let e = signature_error(
        "two refs",
        assert_never_reads_evil("two References", &two_references),
    );
    assert!(
        matches!(e, SignatureError::ReferenceCount { count: 2, .. }),
        "{e}"
    );

    let two_signed_infos = replace(&signed, &signed_info, &format!("{signed_info}{signed_info}"));
    let e = signature_error(
        "two SignedInfo",
        assert_never_reads_evil("two SignedInfo", &two_signed_infos),
    );
    assert!(
        matches!(&e, SignatureError::UnexpectedElement { parent: "Signature", element } if element == "ds:SignedInfo"),
        "{e}"
    );

    let no_enveloped = replace(
        &signed,
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "",
    );
    let e = signature_error(
        "no enveloped",
        assert_never_reads_evil("no enveloped transform", &no_enveloped),
    );
    assert!(
        matches!(e, SignatureError::MissingEnvelopedTransform { .. }),
        "{e}"
    );

    let text_in_signed_info = replace(&signed, "<ds:SignedInfo>", "<ds:SignedInfo>text");
    let e = signature_error(
        "text",
        assert_never_reads_evil("text in SignedInfo", &text_in_signed_info),
    );
    assert!(
        matches!(
            e,
            SignatureError::UnexpectedText {
                element: "SignedInfo"
            }
        ),
        "{e}"
    );

    let hmac_length = replace(
        &signed,
        &format!(
            "<ds:SignatureMethod Algorithm=\"{}\"/>",
            SignatureMethod::RsaSha256.uri()
        ),
        &format!(
            "<ds:SignatureMethod Algorithm=\"{}\"><ds:HMACOutputLength>0</ds:HMACOutputLength></ds:SignatureMethod>",
            SignatureMethod::RsaSha256.uri()
        ),
    );
    let e = signature_error("hmac", assert_never_reads_evil("HMACOutputLength", &hmac_length));
    assert!(
        matches!(
            e,
            SignatureError::UnexpectedElement {
                parent: "SignatureMethod",
                ..
            }
        ),
        "{e}"
    );

    let bad_value = replace(&signed, "<ds:SignatureValue>", "<ds:SignatureValue>AAAA");
    let e = signature_error(
        "value",
        assert_never_reads_evil("altered SignatureValue", &bad_value),
    );
    assert!(matches!(e, SignatureError::BadSignatureValue { .. }), "{e}");
}

#[test]
fn errors_never_quote_personal_values() {
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let attacks = [
        replace(&signed, GOOD_NAME_ID, "RSSMRA80A01H501U"),
        replace(&signed, "TINIT-RSSMRA80A01H501U", "TINIT-VRDGPP80A01H501X"),
        replace(&signed, "<ds:SignatureValue>", "<ds:SignatureValue>AAAA"),
    ];
    for attack in attacks {
        let e = signature_error("personal", assert_never_reads_evil("personal", &attack));
        let message = format!("{e} {e:?}");
        for personal in ["RSSMRA80A01H501U", "VRDGPP80A01H501X", GOOD_NAME_ID, "TINIT"] {
            assert!(!message.contains(personal), "{message}");
        }
    }
}

#[test]
fn id_index_is_configured_per_use() {
    // WS-Security references by wsu:Id; the ANPR policy indexes wsu:Id and SAML ID together.
    let text = format!(
        "<r xmlns:wsu=\"{}\"><a wsu:Id=\"x\"/><b ID=\"x\"/></r>",
        snodo_security::dsig::WSU_NAMESPACE
    );
    let doc = parse(&text);
    let anpr = SignaturePolicy::anpr_ws_security();
    let e =
        snodo_security::dsig::IdIndex::build(&doc, anpr.id_attributes()).expect_err("x is on two elements");
    assert!(matches!(e, SignatureError::DuplicateId { .. }), "{e}");
    let spid =
        snodo_security::dsig::IdIndex::build(&doc, SignaturePolicy::spid().id_attributes()).expect("only ID");
    assert_eq!(spid.len(), 1);
    let only_wsu = snodo_security::dsig::IdIndex::build(&doc, &[IdAttribute::WSU_ID]).expect("only wsu:Id");
    assert_eq!(only_wsu.get("x"), Some(elements(&doc)[1]));
}
