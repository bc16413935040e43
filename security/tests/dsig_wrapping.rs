//! XML Signature Wrapping against the signature layer, with namespaces kept (unlike spid-sp-test's
//! XSW payloads, which strip them and so prove nothing; spid-and-cie-id.md §0, §5): SAMLRaider's eight
//! variants, and a validly signed foreign element beside an unsigned or badly signed Assertion
//! (spid-saml-check cases 112/113).
//!
//! Each attack is checked twice: the signature layer's own answer (the error that names the problem),
//! and `saml_read` (`common::saml`), a minimal SAML layer written the way the real one must be, which
//! must never return the attacker's NameID.

mod common;

use common::saml::*;
use common::*;
use snodo_security::dsig::{SignatureError, SignaturePolicy, signature_children, verify_enveloped_signature};

/// The pieces XSW attacks are assembled from, cut out of a correctly signed Response.
struct Pieces {
    /// The signed Assertion as text, its signature included.
    assertion: String,
    /// The Assertion's Signature element.
    assertion_signature: String,
    /// The signed Assertion without its Signature (what its digest covers).
    assertion_unsigned: String,
    /// An Assertion for the attacker: unsigned, NameID changed.
    evil: String,
    /// The Response around the Assertion: everything before it and after it.
    before: String,
    after: String,
}

fn pieces(signed: &str) -> Pieces {
    let a = span(signed, "<saml:Assertion ", "</saml:Assertion>");
    let assertion = signed[a.clone()].to_owned();
    let s = span(&assertion, "<ds:Signature ", "</ds:Signature>");
    let assertion_signature = assertion[s.clone()].to_owned();
    let assertion_unsigned = remove(&assertion, s);
    let evil = replace(&assertion_unsigned, GOOD_NAME_ID, EVIL_NAME_ID).replace("_assertion", "_evil");
    Pieces {
        assertion,
        assertion_signature,
        assertion_unsigned,
        evil,
        before: signed[..a.start].to_owned(),
        after: signed[a.end..].to_owned(),
    }
}

#[test]
fn the_untouched_response_reads_the_genuine_name_id() {
    assert_eq!(
        saml_read(&both_signed(), &trusted()).expect("valid"),
        GOOD_NAME_ID
    );
    let only_assertion = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    assert_eq!(
        saml_read(&only_assertion, &trusted()).expect("valid"),
        GOOD_NAME_ID
    );
}

// --- XML Signature Wrapping, SAMLRaider's XSW1–XSW8, namespaces kept -------------------------------

/// XSW1: a new Response (attacker's Assertion) carries the original Response signature, with the
/// original signed Response copied inside that Signature.
#[test]
fn xsw1_signed_response_copied_into_its_signature() {
    let signed = both_signed();
    let s = span(&signed, "<ds:Signature ", "</ds:Signature>");
    let response_signature = signed[s.clone()].to_owned();
    let original_unsigned = remove(&signed, s);
    let p = pieces(&signed);
    let wrapped_signature = replace(
        &response_signature,
        "</ds:Signature>",
        &format!("{original_unsigned}</ds:Signature>"),
    );
    let attack = format!("{}{}{}", p.before, p.evil, p.after)
        .replacen("ID=\"_resp\"", "ID=\"_evil_resp\"", 1)
        .replacen(&response_signature, &wrapped_signature, 1);
    let e = signature_error("XSW1", assert_never_reads_evil("XSW1", &attack));
    assert!(
        matches!(
            e,
            SignatureError::UnexpectedElement {
                parent: "Signature",
                ..
            }
        ),
        "{e}"
    );
}

/// XSW2: as XSW1, the original Response placed before the Signature instead (a detached reference).
#[test]
fn xsw2_signed_response_copied_beside_its_signature() {
    let signed = both_signed();
    let s = span(&signed, "<ds:Signature ", "</ds:Signature>");
    let response_signature = signed[s.clone()].to_owned();
    let original_unsigned = remove(&signed, s);
    let p = pieces(&signed);
    let attack = format!("{}{}{}", p.before, p.evil, p.after)
        .replacen("ID=\"_resp\"", "ID=\"_evil_resp\"", 1)
        .replacen(
            &response_signature,
            &format!("{original_unsigned}{response_signature}"),
            1,
        );
    let e = signature_error("XSW2", assert_never_reads_evil("XSW2", &attack));
    assert!(matches!(e, SignatureError::NotEnveloped { .. }), "{e}");
}

/// XSW3: the attacker's Assertion inserted before the signed one, with the same ID or another.
#[test]
fn xsw3_evil_assertion_before_the_signed_one() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let same_id = p.evil.replace("_evil", "_assertion");
    let attack = format!("{}{same_id}{}{}", p.before, p.assertion, p.after);
    assert!(matches!(
        assert_never_reads_evil("XSW3 same ID", &attack),
        Refusal::Saml("a Response must carry exactly one Assertion")
    ));
    // A SAML layer that looked for the signature first would still be stopped, by the ID index.
    let e = verify_signature_of(&attack, "_assertion", 1).expect_err("duplicate ID");
    assert!(
        matches!(&e, SignatureError::DuplicateId { id } if id == "_assertion"),
        "{e}"
    );

    let attack = format!("{}{}{}{}", p.before, p.evil, p.assertion, p.after);
    assert!(matches!(
        assert_never_reads_evil("XSW3 new ID", &attack),
        Refusal::Saml("a Response must carry exactly one Assertion")
    ));
}

/// XSW4: the attacker's Assertion wraps the signed one.
#[test]
fn xsw4_evil_assertion_wraps_the_signed_one() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let wrapper = replace(
        &p.evil,
        "</saml:Assertion>",
        &format!("{}</saml:Assertion>", p.assertion),
    );
    let attack = format!("{}{wrapper}{}", p.before, p.after);
    assert!(matches!(
        assert_never_reads_evil("XSW4", &attack),
        Refusal::Saml("the Assertion must carry exactly one signature")
    ));
    // With the original signature moved up into the wrapper, it no longer envelops what it names.
    let wrapper = replace(
        &p.evil,
        "</saml:Assertion>",
        &format!(
            "{}{}</saml:Assertion>",
            p.assertion_signature, p.assertion_unsigned
        ),
    );
    let attack = format!("{}{wrapper}{}", p.before, p.after);
    let e = signature_error("XSW4", assert_never_reads_evil("XSW4 signature moved", &attack));
    assert!(matches!(e, SignatureError::NotEnveloped { .. }), "{e}");
}

/// XSW5: the attacker's Assertion carries the original signature; the original Assertion, unsigned,
/// is appended at the end of the Response.
#[test]
fn xsw5_signature_moved_to_the_evil_assertion_original_appended() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let evil_signed = replace(
        &p.evil.replace("_evil", "_assertion"),
        "</saml:Issuer>",
        &format!("</saml:Issuer>{}", p.assertion_signature),
    );
    let attack = format!("{}{evil_signed}{}", p.before, p.after).replacen(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", p.assertion_unsigned),
        1,
    );
    assert!(matches!(
        assert_never_reads_evil("XSW5", &attack),
        Refusal::Saml("a Response must carry exactly one Assertion")
    ));
    let e = verify_signature_of(&attack, "_assertion", 0).expect_err("duplicate ID");
    assert!(matches!(e, SignatureError::DuplicateId { .. }), "{e}");
    // Without the duplicate (original appended elsewhere, not as an Assertion child), the evil
    // Assertion's digest is wrong.
    let attack = format!("{}{evil_signed}{}", p.before, p.after);
    let e = signature_error("XSW5", assert_never_reads_evil("XSW5 alone", &attack));
    assert!(matches!(e, SignatureError::DigestMismatch { .. }), "{e}");
}

/// XSW6: the attacker's Assertion carries the original signature, inside which sits the original
/// Assertion.
#[test]
fn xsw6_original_assertion_inside_the_moved_signature() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let signature = replace(
        &p.assertion_signature,
        "</ds:Signature>",
        &format!("{}</ds:Signature>", p.assertion_unsigned),
    );
    let evil = replace(&p.evil, "</saml:Issuer>", &format!("</saml:Issuer>{signature}"));
    let attack = format!("{}{evil}{}", p.before, p.after);
    let e = signature_error("XSW6", assert_never_reads_evil("XSW6", &attack));
    assert!(
        matches!(
            e,
            SignatureError::UnexpectedElement {
                parent: "Signature",
                ..
            }
        ),
        "{e}"
    );
}

/// XSW7: the signed Assertion hidden in an Extensions element, the attacker's beside it.
#[test]
fn xsw7_signed_assertion_in_extensions() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let attack = format!(
        "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
        p.before, p.assertion, p.evil, p.after
    );
    assert!(matches!(
        assert_never_reads_evil("XSW7", &attack),
        Refusal::Saml("the Assertion must carry exactly one signature")
    ));
    // The Extensions copy still verifies on its own: "some valid signature somewhere" is not enough.
    let doc = parse(&attack);
    let hidden = element_by_id(&doc, "_assertion");
    let signature = signature_children(&doc, hidden)[0];
    let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &trusted())
        .expect("the hidden copy is validly signed");
    assert_eq!(verified.signed_element(), hidden);
    assert_ne!(
        Some(hidden),
        children_named(&doc, doc.document_element(), SAML, "Assertion")
            .first()
            .copied()
    );
}

/// XSW8: the attacker's Assertion carries the original signature with an Object holding the original
/// Assertion.
#[test]
fn xsw8_original_assertion_in_a_signature_object() {
    let p = pieces(&assertion_signed(GOOD_NAME_ID, idp(), &spid_options()));
    let signature = replace(
        &p.assertion_signature,
        "</ds:Signature>",
        &format!("<ds:Object>{}</ds:Object></ds:Signature>", p.assertion_unsigned),
    );
    let evil = replace(
        &p.evil.replace("_evil", "_assertion"),
        "</saml:Issuer>",
        &format!("</saml:Issuer>{signature}"),
    );
    let attack = format!("{}{evil}{}", p.before, p.after);
    let e = signature_error("XSW8", assert_never_reads_evil("XSW8", &attack));
    assert!(
        matches!(&e, SignatureError::UnexpectedElement { parent: "Signature", element } if element == "ds:Object"),
        "{e}"
    );
}

// --- A validly signed foreign element beside an unsigned or badly signed Assertion -----------------

/// spid-saml-check cases 112/113: a valid signature somewhere does not make the Assertion signed.
#[test]
fn validly_signed_foreign_element_beside_an_unsigned_assertion() {
    let at = RESPONSE.find("  <saml:Assertion").expect("assertion");
    let response = format!(
        "{}<samlp:Extensions><saml:Advice ID=\"_foreign\"><saml:Issuer>https://idp.example.it</saml:Issuer>\
         <saml:Subject><saml:NameID>someone-else@example.it</saml:NameID></saml:Subject></saml:Advice>\
         </samlp:Extensions>\n{}",
        &RESPONSE[..at],
        &RESPONSE[at..]
    )
    .replace("NAMEID", EVIL_NAME_ID);
    let attack = sign_id(&response, "_foreign", &spid_options(), idp());
    let doc = parse(&attack);
    let foreign_node = element_by_id(&doc, "_foreign");
    verify_enveloped_signature(
        &doc,
        signature_children(&doc, foreign_node)[0],
        &SignaturePolicy::spid(),
        &trusted(),
    )
    .expect("the foreign element's signature is valid");
    assert!(matches!(
        assert_never_reads_evil("foreign + unsigned", &attack),
        Refusal::Saml("the Assertion must carry exactly one signature")
    ));

    // The foreign signature moved into the Assertion does not cover the Assertion.
    let s = span(&attack, "<ds:Signature ", "</ds:Signature>");
    let moved = attack[s.clone()].to_owned();
    let without = remove(&attack, s);
    let attack = replace(&without, "<saml:Subject>\n", &format!("{moved}<saml:Subject>\n"));
    let e = signature_error(
        "moved",
        assert_never_reads_evil("foreign signature moved", &attack),
    );
    assert!(matches!(e, SignatureError::NotEnveloped { .. }), "{e}");
}

#[test]
fn validly_signed_response_around_a_badly_signed_assertion() {
    // The IdP signed an Assertion; the attacker edits it, then (with a stolen Response signature
    // impossible) leaves the Response unsigned: the Assertion's digest no longer matches.
    let signed = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    let attack = replace(&signed, GOOD_NAME_ID, EVIL_NAME_ID);
    let e = signature_error(
        "bad assertion",
        assert_never_reads_evil("edited Assertion", &attack),
    );
    assert!(
        matches!(&e, SignatureError::DigestMismatch { reference } if reference == "#_assertion"),
        "{e}"
    );
    // And with the Response validly signed over the edited Assertion (an IdP that signs whatever
    // it is given): the Response verifies, the Assertion still does not.
    let attack = sign_id(&attack, "_resp", &spid_options(), idp());
    let e = signature_error(
        "bad assertion",
        assert_never_reads_evil("edited Assertion, signed Response", &attack),
    );
    assert!(matches!(e, SignatureError::DigestMismatch { .. }), "{e}");
}
