//! Property tests of signing and verification on generated documents (`common::generate`: prefixes
//! and redeclarations, default namespaces and `xmlns=""`, xml:lang, escaping, CR/LF/TAB, non-ASCII
//! text, comments, PIs, CDATA), any element of which is signed:
//! - sign → verify round-trips for every signature method, exclusive and inclusive c14n, with and
//!   without PrefixLists, whatever the Signature's prefix (`ds`, one the document also uses, or the
//!   default namespace) and placement, and the verifier names exactly the signed element;
//! - signing changes nothing but the inserted Signature (the canonical form of the rest is equal);
//! - changing one character of the signed content, or swapping the key, fails verification.

mod common;

use std::sync::OnceLock;

use common::generate::{document, serialize};
use common::*;
use proptest::prelude::*;
use snodo_security::c14n::{Algorithm, Canonicalization};
use snodo_security::dsig::{
    IdAttribute, SignatureError, SignatureMethod, SignaturePlacement, SignaturePolicy, SigningOptions,
    sign_enveloped, signature_children, verify_enveloped_signature,
};
use snodo_security::xml::{Document, Limits, NodeId, parse_str};

fn ec() -> &'static TestIdentity {
    static EC: OnceLock<TestIdentity> = OnceLock::new();
    EC.get_or_init(|| ec_identity("Snodo test ECDSA property signer"))
}

fn everything() -> SignaturePolicy {
    everything_policy("property test")
}

fn parse(text: &str) -> Document {
    parse_str(text, &Limits::default()).unwrap_or_else(|e| panic!("refused: {e}\n{text}"))
}

/// The generated document with `ID="_t"` and a text marker `MARK` given to its `pick`-th element.
fn with_target(xml: &str, pick: prop::sample::Index) -> String {
    let doc = parse(xml);
    let all = elements(&doc);
    let element = doc.element(all[pick.index(all.len())]).expect("element");
    let name_end = element.offset() + 1 + element.name().qualified().len();
    // Generated attribute values escape `>`, so the first one closes the start tag.
    let tag_end = name_end + xml[name_end..].find('>').expect("start tag ends");
    format!(
        "{} ID=\"_t\"{}>MARK{}",
        &xml[..name_end],
        &xml[name_end..tag_end],
        &xml[tag_end + 1..]
    )
}

fn options(
    method: SignatureMethod,
    c14n: Algorithm,
    prefix_list: Option<&str>,
    prefix: Option<&str>,
) -> SigningOptions {
    let options = SigningOptions::new(method, method.digest(), c14n, vec![IdAttribute::SAML_ID])
        .with_prefix(prefix)
        .expect("valid prefix");
    match prefix_list {
        Some(list) => options.with_inclusive_namespaces(list).expect("valid"),
        None => options,
    }
}

fn identity(method: SignatureMethod) -> &'static TestIdentity {
    match method {
        SignatureMethod::EcdsaSha256 | SignatureMethod::EcdsaSha384 | SignatureMethod::EcdsaSha512 => ec(),
        _ => idp(),
    }
}

fn placement(doc: &Document, target: NodeId, choice: u8) -> SignaturePlacement {
    match choice % 3 {
        0 => SignaturePlacement::FirstChild,
        1 => SignaturePlacement::LastChild,
        _ => doc
            .children(target)
            .last()
            .map_or(SignaturePlacement::FirstChild, SignaturePlacement::After),
    }
}

fn method() -> impl Strategy<Value = SignatureMethod> {
    prop::sample::select(vec![
        SignatureMethod::RsaSha1,
        SignatureMethod::RsaSha256,
        SignatureMethod::RsaSha384,
        SignatureMethod::RsaSha512,
        SignatureMethod::EcdsaSha256,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_round_trips_and_names_the_signed_element(
        root in document(),
        pick in any::<prop::sample::Index>(),
        method in method(),
        c14n in prop::sample::select(vec![Algorithm::Exclusive, Algorithm::Inclusive]),
        prefix_list in prop::sample::select(vec![None, Some("#default"), Some("a c"), Some("#default b")]),
        prefix in prop::sample::select(vec![Some("ds"), Some("a"), None]),
        place in any::<u8>(),
    ) {
        let mut xml = String::new();
        serialize(&root, true, &mut xml);
        let xml = with_target(&xml, pick);
        let doc = parse(&xml);
        let target = element_by_id(&doc, "_t");
        let signed = sign_enveloped(
            &doc,
            target,
            placement(&doc, target, place),
            &options(method, c14n, prefix_list, prefix),
            &identity(method).signing_key(),
        )
        .unwrap_or_else(|e| panic!("signing failed: {e}\n{xml}"));

        let sdoc = parse(&signed);
        let starget = element_by_id(&sdoc, "_t");
        let signatures = signature_children(&sdoc, starget);
        prop_assert_eq!(signatures.len(), 1);
        let verified = verify_enveloped_signature(&sdoc, signatures[0], &everything(), &identity(method).trusted())
            .unwrap_or_else(|e| panic!("our own signature refused: {e}\n{signed}"));
        prop_assert_eq!(verified.signed_element(), starget);
        prop_assert_eq!(verified.signature_method(), method);
        prop_assert!(verified.covers(&sdoc, sdoc.first_child(starget).expect("MARK or Signature")) || place % 3 == 0);

        // Nothing but the Signature was added.
        let c14n_all = Canonicalization::new(Algorithm::InclusiveWithComments);
        let before = c14n_all.document(&doc, &[]).expect("c14n");
        let after = c14n_all.document(&sdoc, &signatures).expect("c14n");
        prop_assert_eq!(String::from_utf8_lossy(&before), String::from_utf8_lossy(&after));

        // One character of signed content changed: the digest no longer matches.
        let tampered = signed.replacen("MARK", "MARX", 1);
        let tdoc = parse(&tampered);
        let tsig = signature_children(&tdoc, element_by_id(&tdoc, "_t"))[0];
        let err = verify_enveloped_signature(&tdoc, tsig, &everything(), &identity(method).trusted())
            .expect_err("tampered");
        prop_assert!(matches!(err, SignatureError::DigestMismatch { .. }), "{}", err);

        // Another trusted key: the signature is not its.
        let other = if matches!(method, SignatureMethod::EcdsaSha256) { ec_other() } else { attacker() };
        let err = verify_enveloped_signature(&sdoc, signatures[0], &everything(), &other.trusted())
            .expect_err("wrong key");
        prop_assert!(
            matches!(err, SignatureError::UntrustedKeyInfo { .. }),
            "the signer's certificate in KeyInfo is not the trusted one: {}", err
        );
    }
}

fn ec_other() -> &'static TestIdentity {
    static EC: OnceLock<TestIdentity> = OnceLock::new();
    EC.get_or_init(|| ec_identity("Snodo test other ECDSA key"))
}
