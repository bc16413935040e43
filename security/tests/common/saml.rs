//! A SAML-shaped Response signed by the test IdP, the pieces attacks are cut from, and `saml_read`:
//! a minimal SAML layer written the way the real one must be (absolute paths from the Response,
//! exactly one Assertion, read only the node the verifier returned). Shared by the attack tests.

use super::*;
use snodo_security::dsig::{
    SignatureError, SignaturePlacement, SignaturePolicy, SigningOptions, TrustedKeys, VerifiedSignature,
    sign_enveloped, signature_children, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, parse_str};

pub const GOOD_NAME_ID: &str = "user@example.it";
pub const EVIL_NAME_ID: &str = "attacker@evil.example";

pub const RESPONSE: &str = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp" Version="2.0" IssueInstant="2026-12-01T10:00:00Z" Destination="https://comune.example.it/spid/acs">
  <saml:Issuer>https://idp.example.it</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="_assertion" Version="2.0" IssueInstant="2026-12-01T10:00:00Z">
    <saml:Issuer>https://idp.example.it</saml:Issuer>
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">NAMEID</saml:NameID>
    </saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="fiscalNumber"><saml:AttributeValue>TINIT-RSSMRA80A01H501U</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"#;

pub fn parse(text: &str) -> Document {
    parse_str(text, &Limits::default())
        .unwrap_or_else(|e| panic!("attack document must be well-formed: {e}\n{text}"))
}

pub fn spid_options() -> SigningOptions {
    SignaturePolicy::spid().signing_options().expect("SPID signs")
}

/// Signs the element with ID `id` of `text`, the Signature right after its Issuer.
pub fn sign_id(text: &str, id: &str, options: &SigningOptions, identity: &TestIdentity) -> String {
    let doc = parse(text);
    let target = element_by_id(&doc, id);
    let issuer = children_named(&doc, target, SAML, "Issuer")[0];
    sign_enveloped(
        &doc,
        target,
        SignaturePlacement::After(issuer),
        options,
        &identity.signing_key(),
    )
    .expect("signs")
}

/// A Response whose Assertion (only) is signed by `identity`.
pub fn assertion_signed(name_id: &str, identity: &TestIdentity, options: &SigningOptions) -> String {
    sign_id(
        &RESPONSE.replace("NAMEID", name_id),
        "_assertion",
        options,
        identity,
    )
}

/// A Response signed by the IdP, Assertion first, then the Response.
pub fn both_signed() -> String {
    let inner = assertion_signed(GOOD_NAME_ID, idp(), &spid_options());
    sign_id(&inner, "_resp", &spid_options(), idp())
}

#[derive(Debug)]
pub enum Refusal {
    Signature(SignatureError),
    Saml(&'static str),
}

/// The SAML layer as it must be written: absolute paths, one Assertion, read only the verified node.
pub fn saml_read(text: &str, keys: &TrustedKeys) -> Result<String, Refusal> {
    let doc = parse(text);
    let policy = SignaturePolicy::spid();
    let root = doc.document_element();
    if !doc
        .element(root)
        .expect("element")
        .name()
        .is(Some(SAMLP), "Response")
    {
        return Err(Refusal::Saml("the document element is not samlp:Response"));
    }
    let response_signatures = signature_children(&doc, root);
    if response_signatures.len() > 1 {
        return Err(Refusal::Saml("more than one Response signature"));
    }
    for signature in response_signatures {
        let verified =
            verify_enveloped_signature(&doc, signature, &policy, keys).map_err(Refusal::Signature)?;
        assert_eq!(
            verified.signed_element(),
            root,
            "enveloped: the parent, by construction"
        );
    }
    let assertions = children_named(&doc, root, SAML, "Assertion");
    let [assertion] = assertions[..] else {
        return Err(Refusal::Saml("a Response must carry exactly one Assertion"));
    };
    let signatures = signature_children(&doc, assertion);
    let [signature] = signatures[..] else {
        return Err(Refusal::Saml("the Assertion must carry exactly one signature"));
    };
    let verified = verify_enveloped_signature(&doc, signature, &policy, keys).map_err(Refusal::Signature)?;
    let signed = verified.signed_element();
    let subjects = children_named(&doc, signed, SAML, "Subject");
    let [subject] = subjects[..] else {
        return Err(Refusal::Saml("exactly one Subject"));
    };
    let name_ids = children_named(&doc, subject, SAML, "NameID");
    let [name_id] = name_ids[..] else {
        return Err(Refusal::Saml("exactly one NameID"));
    };
    assert!(verified.covers(&doc, name_id));
    Ok(doc.text_content(name_id).trim().to_owned())
}

pub fn trusted() -> TrustedKeys {
    idp().trusted()
}

/// Verifies the signature child of the `nth` element (document order) with ID `id`, bypassing the
/// SAML layer's checks, to see what the signature layer alone says.
pub fn verify_signature_of(text: &str, id: &str, nth: usize) -> Result<VerifiedSignature, SignatureError> {
    let doc = parse(text);
    let carriers: Vec<_> = elements(&doc)
        .into_iter()
        .filter(|&e| doc.element(e).and_then(|el| el.attribute(None, "ID")) == Some(id))
        .collect();
    let signature = signature_children(&doc, carriers[nth])[0];
    verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &trusted())
}

/// The span of the first `start…end` in `text` (end included).
pub fn span(text: &str, start: &str, end: &str) -> std::ops::Range<usize> {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?} not found"));
    let to = from
        + text[from..]
            .find(end)
            .unwrap_or_else(|| panic!("{end:?} not found"))
        + end.len();
    from..to
}

pub fn remove(text: &str, range: std::ops::Range<usize>) -> String {
    format!("{}{}", &text[..range.start], &text[range.end..])
}

/// `text` with the first `from` replaced by `to`, which must be there.
pub fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the document");
    text.replacen(from, to, 1)
}

/// `saml_read` must refuse, or read the genuine NameID; never the attacker's.
pub fn assert_never_reads_evil(name: &str, text: &str) -> Refusal {
    match saml_read(text, &trusted()) {
        Ok(name_id) => panic!("{name}: the SAML layer accepted it and read {name_id:?}"),
        Err(refusal) => refusal,
    }
}

pub fn signature_error(name: &str, refusal: Refusal) -> SignatureError {
    match refusal {
        Refusal::Signature(e) => e,
        Refusal::Saml(why) => {
            panic!("{name}: expected a signature-layer refusal, got the SAML layer's: {why}")
        }
    }
}
