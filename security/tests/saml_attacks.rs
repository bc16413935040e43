//! Attacks on the SAML profile (spid-and-cie-id.md §5), on a real SPID Response (`response-1.xml`)
//! re-signed with a test IdP key: wrapping variants that still verify at the signature layer must
//! yield the signed values or be refused; comment and CDATA splitting cannot change what is read;
//! second and encrypted assertions, unsigned or foreign-signed assertions, rewritten unsigned Response
//! fields, replays and expectations that do not match are refused, each with its own error.

mod common;

use common::saml::{EVIL_NAME_ID, replace, sign_id, spid_options};
use common::spid_profile::*;
use common::*;
use snodo_security::saml::{
    InMemoryReplayCache, ResponseError, ResponseExpectations, SpidAttribute, VerifiedAssertion,
    verify_response_xml,
};
use snodo_security::xml::{Limits, parse_str};

const NAME_ID: &str = "that-transient-opaque-value";
const FISCAL_NUMBER: &str = "TINIT-GDASDV00A01H501J";
const EVIL_FISCAL_NUMBER: &str = "TINIT-EVLTTK00A01H501X";

fn verify(xml: &str) -> Result<VerifiedAssertion, ResponseError> {
    verify_with(
        xml.as_bytes(),
        &idp().trusted(),
        &fixture_request(),
        fixture_now(),
    )
}

fn refusal(name: &str, xml: &str) -> String {
    match verify(xml) {
        Ok(user) => panic!("{name}: accepted, read {user:?}"),
        Err(e) => error_kind(&e),
    }
}

fn assert_genuine(name: &str, user: &VerifiedAssertion) {
    assert_eq!(user.name_id.value, NAME_ID, "{name}");
    assert_eq!(
        user.attributes.get(SpidAttribute::FiscalNumber),
        Some(FISCAL_NUMBER),
        "{name}"
    );
}

/// What a naive reader finds first: the first NameID in document order, anywhere.
fn first_name_id_anywhere(xml: &str) -> String {
    let doc = parse_str(xml, &Limits::default()).expect("well-formed");
    let name_id = descendants_named(&doc, doc.root(), SAML, "NameID")[0];
    doc.text_content(name_id).trim().to_owned()
}

const EVIL_SUBJECT: &str = r#"<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="https://localhost:8443">attacker@evil.example</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="fiscalNumber"><saml:AttributeValue>TINIT-EVLTTK00A01H501X</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#;

#[test]
fn re_signed_baseline_is_accepted_with_and_without_a_response_signature() {
    for sign_response in [true, false] {
        let user = verify(&resigned(|t| t, sign_response, idp())).expect("valid");
        assert_genuine("baseline", &user);
    }
}

#[test]
fn xsw_unsigned_values_before_the_signed_assertion_are_never_read() {
    // The Response is unsigned (SPID allows it), so anything may be added outside the Assertion.
    // A reader that searches (`//NameID`, first match) would take the attacker's values.
    let signed = resigned(|t| t, false, idp());
    for (place, xml) in [
        (
            "Response/Extensions",
            replace(
                &signed,
                "<samlp:Status>",
                &format!("<samlp:Extensions>{EVIL_SUBJECT}</samlp:Extensions><samlp:Status>"),
            ),
        ),
        (
            "before the Status",
            replace(
                &signed,
                "<samlp:Status>",
                &format!("{EVIL_SUBJECT}<samlp:Status>"),
            ),
        ),
        (
            "inside Status",
            replace(
                &signed,
                "<samlp:StatusCode",
                &format!("<samlp:StatusDetail>{EVIL_SUBJECT}</samlp:StatusDetail><samlp:StatusCode"),
            ),
        ),
    ] {
        assert_eq!(
            first_name_id_anywhere(&xml),
            EVIL_NAME_ID,
            "{place}: the attack is real"
        );
        let user = verify(&xml).unwrap_or_else(|e| panic!("{place}: {e}"));
        assert_genuine(place, &user);
        assert!(xml.contains(EVIL_FISCAL_NUMBER));
    }
}

#[test]
fn xsw_a_second_assertion_anywhere_is_refused() {
    let signed = resigned(|t| t, false, idp());
    let genuine = {
        let r = common::saml::span(&signed, "<saml:Assertion ", "</saml:Assertion>");
        signed[r].to_owned()
    };
    let evil = genuine
        .replace(NAME_ID, EVIL_NAME_ID)
        .replace(FIXTURE_ASSERTION_ID, "_evil");
    for (name, xml) in [
        // An unsigned Assertion first, the signed one after it.
        (
            "evil sibling first",
            replace(&signed, "<saml:Assertion ", &format!("{evil}<saml:Assertion ")),
        ),
        // The signed one after an evil one, in Extensions.
        (
            "signed copy in Extensions",
            replace(
                &signed.replace(&genuine, &evil),
                "<samlp:Status>",
                &format!("<samlp:Extensions>{genuine}</samlp:Extensions><samlp:Status>"),
            ),
        ),
        // The signed one wrapped inside the evil one.
        (
            "signed nested in evil",
            signed.replace(
                &genuine,
                &evil.replace("</saml:Assertion>", &format!("{genuine}</saml:Assertion>")),
            ),
        ),
    ] {
        assert!(
            refusal(name, &xml).starts_with("AssertionCount"),
            "{name}: {}",
            refusal(name, &xml)
        );
    }
    // An Assertion inside the signed Assertion's Advice: signed, and still refused.
    let advice = resigned(
        |t| {
            replace(
                &t,
                "<saml:Subject>",
                r#"<saml:Advice><saml:Assertion ID="_inner" Version="2.0" IssueInstant="2026-12-01T10:00:00Z"><saml:Issuer>https://localhost:8443</saml:Issuer></saml:Assertion></saml:Advice><saml:Subject>"#,
            )
        },
        true,
        idp(),
    );
    assert_eq!(refusal("advice", &advice), "AssertionCount");
    // Advice alone is forbidden by SPID.
    let advice_only = resigned(
        |t| replace(&t, "<saml:Subject>", "<saml:Advice/><saml:Subject>"),
        true,
        idp(),
    );
    assert_eq!(
        refusal("advice only", &advice_only),
        "Forbidden(Assertion/Advice)"
    );
}

#[test]
fn encrypted_assertions_are_refused() {
    let signed = resigned(|t| t, false, idp());
    let xml = replace(
        &signed,
        "<saml:Assertion ",
        "<saml:EncryptedAssertion><x:EncryptedData xmlns:x=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion><saml:Assertion ",
    );
    assert_eq!(refusal("encrypted", &xml), "EncryptedAssertion");
}

#[test]
fn comment_and_cdata_splitting_in_name_id_and_attributes_change_nothing_read() {
    // The IdP signs `user@example.it.evil.example`; the attacker splits it, which canonicalization
    // without comments does not see. A reader of the first text node would get `user@example.it`.
    let long = "user@example.it.evil.example";
    let signed = resigned(|t| t.replace(NAME_ID, long), true, idp());
    for split in [
        "user@example.it<!---->.evil.example",
        "user@example.it<!-- x -->.evil<!---->.example",
        "user@example.it<![CDATA[.evil]]>.example",
    ] {
        let xml = replace(&signed, long, split);
        let user = verify(&xml).unwrap_or_else(|e| panic!("{split}: {e}"));
        assert_eq!(user.name_id.value, long, "{split}");
    }
    // A processing instruction, unlike a comment, is canonicalized and digested: inserting one
    // breaks the signature.
    let xml = replace(&signed, long, "user@example.it<?pi x?>.evil.example");
    assert_eq!(refusal("PI", &xml), "Signature(Response: DigestMismatch)");
    let signed = resigned(|t| t, true, idp());
    let xml = replace(&signed, FISCAL_NUMBER, "TINIT-GDASDV<!---->00A01H501J");
    let user = verify(&xml).expect("comment in a signed attribute value");
    assert_eq!(
        user.attributes.get(SpidAttribute::FiscalNumber),
        Some(FISCAL_NUMBER)
    );
}

#[test]
fn elements_inside_text_values_are_refused_even_when_signed() {
    let in_name_id = resigned(
        |t| t.replace(NAME_ID, "user@example.it<saml:X/>.evil"),
        true,
        idp(),
    );
    assert_eq!(
        refusal("NameID", &in_name_id),
        "ElementInText(Assertion/Subject/NameID)"
    );
    let in_attribute = resigned(|t| t.replace(FISCAL_NUMBER, "TINIT-<b>X</b>"), true, idp());
    assert_eq!(
        refusal("AttributeValue", &in_attribute),
        "ElementInText(Assertion/AttributeStatement/Attribute/AttributeValue)"
    );
}

#[test]
fn ambiguous_signed_assertions_are_refused() {
    let twice = |from: &str, to: &str| resigned(|t| replace(&t, from, to), true, idp());
    let subject = twice(
        "<saml:Subject>",
        r#"<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="x">second</saml:NameID>"#,
    );
    assert_eq!(
        refusal("two NameIDs", &subject),
        "Duplicate(Assertion/Subject/NameID)"
    );
    let attribute = twice(
        "<saml:AttributeStatement>",
        r#"<saml:AttributeStatement><saml:Attribute Name="fiscalNumber"><saml:AttributeValue>TINIT-EVLTTK00A01H501X</saml:AttributeValue></saml:Attribute>"#,
    );
    assert_eq!(refusal("two fiscalNumbers", &attribute), "DuplicateAttribute");
    let values = twice(
        "TINIT-GDASDV00A01H501J</saml:AttributeValue>",
        "TINIT-GDASDV00A01H501J</saml:AttributeValue><saml:AttributeValue>TINIT-EVLTTK00A01H501X</saml:AttributeValue>",
    );
    assert_eq!(refusal("two values", &values), "AttributeValueCount");
    let unknown = twice(r#"Name="email""#, r#"Name="isAdmin""#);
    assert_eq!(refusal("unknown attribute", &unknown), "UnknownAttribute");
    let conditions = twice(
        "<saml:AuthnStatement ",
        "<saml:Conditions NotBefore=\"2026-12-01T10:00:00Z\" NotOnOrAfter=\"2036-12-01T10:05:05Z\"><saml:AudienceRestriction><saml:Audience>https://comune.example.it/spid</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement ",
    );
    assert_eq!(
        refusal("two Conditions", &conditions),
        "Duplicate(Assertion/Conditions)"
    );
    let audience = twice(
        "</saml:AudienceRestriction>",
        "</saml:AudienceRestriction><saml:AudienceRestriction><saml:Audience>https://other.example.it</saml:Audience></saml:AudienceRestriction>",
    );
    assert_eq!(
        refusal("a second AudienceRestriction without us", &audience),
        "Mismatch(Assertion/Conditions/AudienceRestriction/Audience)"
    );
}

#[test]
fn assertions_signed_by_anyone_but_the_idp_are_refused() {
    let by_attacker = resigned(|t| t, false, attacker());
    assert_eq!(
        refusal("attacker's signature", &by_attacker),
        "Signature(Response/Assertion: UntrustedKeyInfo)"
    );
    // The IdP signs the Response, the attacker the Assertion it carries.
    let mixed = sign_id(&by_attacker, FIXTURE_RESPONSE_ID, &spid_options(), idp());
    assert_eq!(
        refusal("foreign assertion in a signed response", &mixed),
        "Signature(Response/Assertion: UntrustedKeyInfo)"
    );
    // Unsigned assertion in a Response the IdP signed (spid-sp-test 3, with our key).
    let unsigned = {
        let signed = resigned(|t| t, false, idp());
        let signature = common::saml::span(&signed, "<ds:Signature", "</ds:Signature>");
        let stripped = common::saml::remove(&signed, signature);
        sign_id(&stripped, FIXTURE_RESPONSE_ID, &spid_options(), idp())
    };
    assert_eq!(
        refusal("unsigned assertion", &unsigned),
        "Unsigned(Response/Assertion)"
    );
}

#[test]
fn rewritten_unsigned_response_fields_do_not_override_the_signed_assertion() {
    // The Response is unsigned: its InResponseTo and Destination can be rewritten, but the signed
    // SubjectConfirmationData still names the real request and ACS.
    let signed = resigned(|t| t, false, idp());
    let other_request = replace(
        &signed,
        r#"InResponseTo="_fixture-authnrequest-0001" IssueInstant"#,
        r#"InResponseTo="_another-request" IssueInstant"#,
    );
    let mut request = fixture_request();
    request.id = "_another-request".to_owned();
    let err = verify_with(
        other_request.as_bytes(),
        &idp().trusted(),
        &request,
        fixture_now(),
    )
    .expect_err("the assertion answers another request");
    assert_eq!(
        error_kind(&err),
        "Mismatch(SubjectConfirmationData/@InResponseTo)"
    );
    let other_acs = replace(
        &signed,
        r#"Destination="https://comune.example.it/spid/acs""#,
        r#"Destination="https://other.example.it/acs""#,
    );
    let keys = idp().trusted();
    let request = fixture_request();
    let mut expectations = ResponseExpectations::spid(
        SP_ENTITY_ID,
        "https://other.example.it/acs",
        &request,
        IDP_ENTITY_ID,
        &keys,
        fixture_now(),
    );
    let cache = InMemoryReplayCache::default();
    let err = verify_response_xml(other_acs.as_bytes(), &expectations, &cache).expect_err("Recipient");
    assert_eq!(error_kind(&err), "Mismatch(SubjectConfirmationData/@Recipient)");
    // Deployments that want the Response signed too can require it.
    expectations.acs_url = ACS_URL;
    expectations.require_signed_response = true;
    let err = verify_response_xml(signed.as_bytes(), &expectations, &cache).expect_err("unsigned");
    assert_eq!(error_kind(&err), "Unsigned(Response)");
    let both = resigned(|t| t, true, idp());
    verify_response_xml(both.as_bytes(), &expectations, &cache).expect("both signed");
}

#[test]
fn expectations_that_do_not_match_are_refused_field_by_field() {
    let xml = resigned(|t| t, true, idp());
    let keys = idp().trusted();
    let request = fixture_request();
    let base = ResponseExpectations::spid(
        SP_ENTITY_ID,
        ACS_URL,
        &request,
        IDP_ENTITY_ID,
        &keys,
        fixture_now(),
    );
    let cache = InMemoryReplayCache::default();
    let check = |e: ResponseExpectations<'_>, want: &str| {
        let err = verify_response_xml(xml.as_bytes(), &e, &cache).expect_err(want);
        assert_eq!(error_kind(&err), want);
    };
    check(
        ResponseExpectations {
            sp_entity_id: "https://other.example.it/spid",
            ..base.clone()
        },
        "Mismatch(Assertion/Conditions/AudienceRestriction/Audience)",
    );
    check(
        ResponseExpectations {
            acs_url: "https://comune.example.it/spid/acs2",
            ..base.clone()
        },
        "Mismatch(Response/@Destination)",
    );
    check(
        ResponseExpectations {
            idp_entity_id: "https://idp.example.it",
            ..base.clone()
        },
        "Mismatch(Response/Issuer)",
    );
    let other_request = snodo_security::saml::PendingRequest {
        id: "_other".to_owned(),
        ..fixture_request()
    };
    check(
        ResponseExpectations {
            request: &other_request,
            ..base.clone()
        },
        "Mismatch(Response/@InResponseTo)",
    );
    let untrusted = attacker().trusted();
    check(
        ResponseExpectations {
            idp_keys: &untrusted,
            ..base.clone()
        },
        "Signature(Response: UntrustedKeyInfo)",
    );
    check(
        ResponseExpectations {
            now: instant("2026-12-01T10:07:00Z"),
            ..base.clone()
        },
        "Expired(SubjectConfirmationData/@NotOnOrAfter)",
    );
    // Before the request was sent (an old Response replayed against a new request's clock).
    let late_request = snodo_security::saml::PendingRequest {
        issue_instant: instant("2026-12-01T10:03:00Z"),
        ..fixture_request()
    };
    check(
        ResponseExpectations {
            request: &late_request,
            ..base.clone()
        },
        "IssuedBeforeRequest(Response/@IssueInstant)",
    );
    // Nothing went through the cache; the genuine Response is accepted, then only once.
    verify_response_xml(xml.as_bytes(), &base, &cache).expect("accepted");
    let err = verify_response_xml(xml.as_bytes(), &base, &cache).expect_err("replay");
    assert_eq!(error_kind(&err), "Replayed");
}

#[test]
fn other_documents_are_not_responses() {
    let xml = std::fs::read_to_string(spid_fixtures_dir().join("authnrequest.xml")).expect("fixture");
    assert_eq!(refusal("an AuthnRequest", &xml), "NotAResponse");
    let doctype = format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{}", resigned(|t| t, true, idp()));
    assert_eq!(refusal("DOCTYPE", &doctype), "Xml");
}
