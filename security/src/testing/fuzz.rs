//! The fuzz targets' bodies: parsing, canonicalization and signature verification of hostile bytes.
//!
//! Each function takes the raw input and must never panic, whatever the bytes; where the crate
//! promises more than "no panic", the target checks it, so that the fuzzer looks for wrong answers
//! as well as crashes:
//! - canonical output is well-formed for our own parser and canonicalizes to itself (a canonical form
//!   that re-parses differently is a signature that verifies on one reading only);
//! - a verified enveloped signature covers the element that contains it and nothing outside it; a
//!   verified detached signature covers elements that do not contain it.
//!
//! Work per input is bounded (elements and signatures examined are capped) so that a campaign
//! spends its time on new inputs rather than on one large one.

use crate::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use crate::dsig::{
    DSIG_NAMESPACE, DigestMethod, IdAttribute, SignatureError, SignatureMethod, SignaturePolicy, Transform,
    TrustedKeys, signature_children, verify_detached_signature, verify_enveloped_signature,
};
use crate::xml::{Document, Limits, NodeId, parse};

/// Subtrees canonicalized per document (besides the whole document), in document order.
const MAX_SUBTREES: usize = 24;
/// Signatures verified per document.
const MAX_SIGNATURES: usize = 8;

/// Parsing with the default limits: refusals are fine, panics are not.
pub fn parse_target(data: &[u8]) {
    if let Ok(doc) = parse(data, &Limits::default()) {
        // Walking the tree reads every span the parser produced.
        for node in elements(&doc, usize::MAX) {
            let element = doc.element(node).expect("elements() yields elements");
            let _ = element.name().qualified();
            for attribute in element.attributes() {
                std::hint::black_box(attribute.value());
            }
        }
        std::hint::black_box(doc.text_content(doc.root()));
    }
}

/// Every canonicalization algorithm, with and without an InclusiveNamespaces PrefixList, on the whole
/// document and on its first subtrees (each without its `ds:Signature` children, as the
/// enveloped-signature transform reads it), each result checked to be a fixed point.
pub fn canonicalization_target(data: &[u8]) {
    let Ok(doc) = parse(data, &Limits::default()) else {
        return;
    };
    let prefixes =
        InclusivePrefixes::parse("#default ds saml samlp soapenv wsu a b").expect("a valid PrefixList");
    let mut methods: Vec<Canonicalization> = Algorithm::ALL.into_iter().map(Canonicalization::new).collect();
    methods.push(Canonicalization::new(Algorithm::Exclusive).with_inclusive_prefixes(prefixes));
    let subtrees = elements(&doc, MAX_SUBTREES);
    for method in &methods {
        if let Ok(once) = method.document(&doc, &[]) {
            assert_fixed_point(method, &once, "the document");
        }
        for &apex in &subtrees {
            let excluded = signature_children(&doc, apex);
            if let Ok(once) = method.subtree(&doc, apex, &excluded) {
                assert_fixed_point(method, &once, "a subtree");
            }
        }
    }
}

/// A canonical form is a document of its own whose canonical form (by the same method) is itself.
fn assert_fixed_point(method: &Canonicalization, once: &[u8], what: &str) {
    let reparsed = match parse(once, &generous_limits()) {
        Ok(doc) => doc,
        Err(e) => panic!(
            "{:?} canonical form of {what} does not parse: {e}\n{}",
            method.algorithm(),
            String::from_utf8_lossy(once)
        ),
    };
    let twice = method.document(&reparsed, &[]).unwrap_or_else(|e| {
        panic!(
            "{:?} canonical form of {what} does not canonicalize: {e}",
            method.algorithm()
        )
    });
    assert!(
        once == twice.as_slice(),
        "{:?} is not idempotent on {what}:\nonce:  {}\ntwice: {}",
        method.algorithm(),
        String::from_utf8_lossy(once),
        String::from_utf8_lossy(&twice)
    );
}

/// Canonical forms can be larger than their input (exclusive c14n repeats a namespace declaration
/// on every element that uses it), so they are re-read without the size limits a message gets.
fn generous_limits() -> Limits {
    Limits {
        max_document_bytes: u32::MAX as usize - 1,
        max_depth: Limits::default().max_depth,
        max_attributes: usize::MAX,
        max_text_bytes: usize::MAX,
        max_nodes: usize::MAX,
    }
}

/// Signature verification under the SPID and ANPR presets and under a policy allowing everything the
/// crate implements, in both layouts, with fixed trusted keys. Build it once per process.
pub struct SignatureTarget {
    keys: TrustedKeys,
    policies: Vec<SignaturePolicy>,
}

impl SignatureTarget {
    /// Trusts every certificate in `certificates_pem` (each item one or more PEM blocks): the SPID
    /// fixture IdP's, and the one the committed detached-signature seed was made with.
    pub fn new(certificates_pem: &[&[u8]]) -> Result<SignatureTarget, SignatureError> {
        let mut keys = TrustedKeys::new();
        for pem in certificates_pem {
            for certificate in
                openssl::x509::X509::stack_from_pem(pem).map_err(|e| SignatureError::InvalidCertificate {
                    index: keys.len(),
                    reason: format!("not PEM certificates: {e}"),
                })?
            {
                keys.add_certificate(certificate)?;
            }
        }
        let mut everything = SignaturePolicy::new("fuzzing: everything implemented")
            .with_id_attribute(IdAttribute::SAML_ID)
            .with_id_attribute(IdAttribute::ID)
            .with_id_attribute(IdAttribute::WSU_ID)
            .with_max_references(4)
            .allow_transform(Transform::EnvelopedSignature);
        for method in SignatureMethod::ALL {
            everything = everything.allow_signature_method(method);
        }
        for digest in DigestMethod::ALL {
            everything = everything.allow_digest_method(digest);
        }
        for algorithm in Algorithm::ALL {
            everything = everything
                .allow_canonicalization(algorithm)
                .allow_transform(Transform::Canonicalization(algorithm));
        }
        Ok(SignatureTarget {
            keys,
            policies: vec![
                SignaturePolicy::spid(),
                SignaturePolicy::anpr_ws_security(),
                everything,
            ],
        })
    }

    pub fn run(&self, data: &[u8]) {
        let Ok(doc) = parse(data, &Limits::default()) else {
            return;
        };
        let signatures: Vec<NodeId> = elements(&doc, usize::MAX)
            .into_iter()
            .filter(|&e| {
                doc.element(e)
                    .is_some_and(|el| el.name().is(Some(DSIG_NAMESPACE), "Signature"))
            })
            .take(MAX_SIGNATURES)
            .collect();
        for &signature in &signatures {
            for policy in &self.policies {
                if let Ok(verified) = verify_enveloped_signature(&doc, signature, policy, &self.keys) {
                    let signed = verified.signed_element();
                    assert_eq!(doc.parent(signature), Some(signed), "enveloped: signs its parent");
                    assert_eq!(verified.references().len(), 1, "enveloped: one Reference");
                    assert!(verified.covers(&doc, signed));
                    assert!(
                        !verified.covers(&doc, signature),
                        "the signature is not its own content"
                    );
                    assert!(verified.trusted_key() < self.keys.len());
                }
                if let Ok(verified) = verify_detached_signature(&doc, signature, policy, &self.keys) {
                    let covered: Vec<NodeId> = verified.covered_elements().collect();
                    assert!(!covered.is_empty() && covered.len() <= policy.max_references());
                    for (i, &element) in covered.iter().enumerate() {
                        assert!(
                            !doc.is_ancestor_or_self(element, signature),
                            "detached: no covered element contains the signature"
                        );
                        assert!(!covered[..i].contains(&element), "detached: distinct elements");
                    }
                }
            }
        }
    }
}

/// Up to `max` elements in document order, without recursion (inputs may nest as deep as the limits
/// allow).
fn elements(doc: &Document, max: usize) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root()];
    while let Some(node) = stack.pop() {
        if out.len() >= max {
            break;
        }
        if doc.element(node).is_some() {
            out.push(node);
        }
        let first = stack.len();
        stack.extend(doc.children(node));
        stack[first..].reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_listed_in_document_order_up_to_the_cap() {
        let doc = crate::xml::parse_str("<a><b><c/></b><d/></a>", &Limits::default()).expect("parses");
        let names = |max| {
            elements(&doc, max)
                .into_iter()
                .map(|e| doc.element(e).expect("element").name().local_name().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(usize::MAX), ["a", "b", "c", "d"]);
        assert_eq!(names(2), ["a", "b"]);
    }

    #[test]
    fn a_canonical_form_that_does_not_reparse_is_reported() {
        let result = std::panic::catch_unwind(|| {
            assert_fixed_point(
                &Canonicalization::new(Algorithm::Exclusive),
                b"<a>",
                "a test input",
            )
        });
        assert!(result.is_err(), "an unclosed element is not a fixed point");
    }
}
