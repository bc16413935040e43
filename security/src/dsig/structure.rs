//! Reads a `ds:Signature` element strictly, checking every algorithm against the policy as it goes.
//!
//! XML-DSig allows much that SAML and WS-Security never use (Objects, Manifests, several SignedInfo
//! readings, XPath and XSLT transforms, HMAC output lengths); each has been an attack vector. Here the
//! structure is exactly XML-DSig §4's, in order, with nothing else: `SignedInfo`, `SignatureValue`,
//! an optional `KeyInfo`; no `Object` (where XSW variants hide the signed copy). Comments are allowed
//! anywhere and skipped; text between elements must be whitespace; values are read with
//! [`Document::text_content`], so a comment cannot truncate a DigestValue (xml-crypto
//! CVE-2025-29774).

use super::algorithms::{DigestMethod, SignatureMethod, Transform, decode_base64};
use super::error::AlgorithmRole;
use super::{DSIG_NAMESPACE, SignatureError, SignaturePolicy, shown};
use crate::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use crate::xml::{Document, NodeId, NodeKind};

/// The namespace of `InclusiveNamespaces` (Exc-C14N §3).
pub(crate) const EXC_C14N_NAMESPACE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

pub(crate) struct ParsedSignature<'d> {
    pub(crate) signed_info: NodeId,
    pub(crate) canonicalization: Canonicalization,
    pub(crate) signature_method: SignatureMethod,
    pub(crate) references: Vec<ParsedReference<'d>>,
    pub(crate) signature_value: Vec<u8>,
    pub(crate) key_info: Option<NodeId>,
}

pub(crate) struct ParsedReference<'d> {
    pub(crate) uri: &'d str,
    /// The ID the URI names (`#id` without the `#`).
    pub(crate) id: &'d str,
    pub(crate) enveloped: bool,
    pub(crate) canonicalization: Canonicalization,
    pub(crate) digest_method: DigestMethod,
    pub(crate) digest_value: Vec<u8>,
}

/// The child elements of `parent` as (local name, node) pairs, each checked to be in the XML-DSig
/// namespace, with non-whitespace text refused.
fn ds_children<'d>(
    doc: &'d Document,
    parent: NodeId,
    parent_name: &'static str,
) -> Result<Vec<(&'d str, NodeId)>, SignatureError> {
    let mut out = Vec::new();
    for child in doc.children(parent) {
        match doc.kind(child) {
            NodeKind::Element(e) => {
                let name = e.name();
                if name.namespace() != Some(DSIG_NAMESPACE) {
                    return Err(SignatureError::UnexpectedElement {
                        parent: parent_name,
                        element: name.qualified(),
                    });
                }
                out.push((name.local_name(), child));
            }
            NodeKind::Text(t) if !t.trim_matches([' ', '\t', '\n', '\r']).is_empty() => {
                return Err(SignatureError::UnexpectedText { element: parent_name });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Checks that `children` are exactly `expected`, in order, each occurring as often as it may;
/// returns them in the same order.
fn expect_sequence(
    children: Vec<(&str, NodeId)>,
    parent: &'static str,
    expected: &[(&'static str, Occurs)],
) -> Result<Vec<(&'static str, NodeId)>, SignatureError> {
    let mut out = Vec::new();
    let mut iter = children.into_iter().peekable();
    for (position, &(name, occurs)) in expected.iter().enumerate() {
        let mut count = 0;
        while let Some(&(local, node)) = iter.peek() {
            if local != name || (count == 1 && occurs != Occurs::OneOrMore) {
                break;
            }
            out.push((name, node));
            count += 1;
            iter.next();
        }
        if count == 0 && occurs != Occurs::Optional {
            // Name what is there when it does not belong here at all (a second SignedInfo), what is
            // missing when what follows is a later part of the sequence.
            return Err(match iter.peek() {
                Some(&(local, _)) if !expected[position..].iter().any(|&(n, _)| n == local) => {
                    SignatureError::UnexpectedElement {
                        parent,
                        element: format!("ds:{local}"),
                    }
                }
                _ => SignatureError::MissingElement {
                    parent,
                    element: name,
                },
            });
        }
    }
    if let Some((local, _)) = iter.next() {
        return Err(SignatureError::UnexpectedElement {
            parent,
            element: format!("ds:{local}"),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurs {
    One,
    Optional,
    OneOrMore,
}

fn algorithm_of<'d>(
    doc: &'d Document,
    node: NodeId,
    element: &'static str,
) -> Result<&'d str, SignatureError> {
    doc.element(node)
        .and_then(|e| e.attribute(None, "Algorithm"))
        .ok_or(SignatureError::MissingAlgorithm { element })
}

fn not_allowed(role: AlgorithmRole, uri: &str, policy: &SignaturePolicy) -> SignatureError {
    SignatureError::AlgorithmNotAllowed {
        role,
        algorithm: shown(uri),
        policy: policy.name(),
    }
}

/// An element that must have no child elements (SignatureMethod: no HMACOutputLength; DigestMethod).
fn no_children(doc: &Document, node: NodeId, element: &'static str) -> Result<(), SignatureError> {
    match doc.child_elements(node).next() {
        Some(child) => Err(SignatureError::UnexpectedElement {
            parent: element,
            element: doc
                .element(child)
                .map(|e| e.name().qualified())
                .unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// A canonicalization method with its parameters: exclusive ones may carry one
/// `ec:InclusiveNamespaces PrefixList`, nothing else may have children.
fn canonicalization(
    doc: &Document,
    node: NodeId,
    algorithm: Algorithm,
    element: &'static str,
) -> Result<Canonicalization, SignatureError> {
    let mut prefixes = InclusivePrefixes::none();
    for (i, child) in doc.child_elements(node).enumerate() {
        let e = doc.element(child).expect("child_elements yields elements");
        if i > 0 || !algorithm.is_exclusive() || !e.name().is(Some(EXC_C14N_NAMESPACE), "InclusiveNamespaces")
        {
            return Err(SignatureError::UnexpectedElement {
                parent: element,
                element: e.name().qualified(),
            });
        }
        prefixes = InclusivePrefixes::parse(e.attribute(None, "PrefixList").unwrap_or(""))?;
    }
    Ok(Canonicalization::new(algorithm).with_inclusive_prefixes(prefixes))
}

fn base64_of(doc: &Document, node: NodeId, element: &'static str) -> Result<Vec<u8>, SignatureError> {
    no_children(doc, node, element)?;
    decode_base64(&doc.text_content(node)).ok_or(SignatureError::InvalidBase64 { element })
}

pub(crate) fn parse_signature<'d>(
    doc: &'d Document,
    signature: NodeId,
    policy: &SignaturePolicy,
) -> Result<ParsedSignature<'d>, SignatureError> {
    let is_signature = doc
        .element(signature)
        .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), "Signature"));
    if !is_signature {
        return Err(SignatureError::NotASignature { node: signature });
    }
    let parts = expect_sequence(
        ds_children(doc, signature, "Signature")?,
        "Signature",
        &[
            ("SignedInfo", Occurs::One),
            ("SignatureValue", Occurs::One),
            ("KeyInfo", Occurs::Optional),
        ],
    )?;
    let signed_info = parts[0].1;
    let signature_value = base64_of(doc, parts[1].1, "SignatureValue")?;
    let key_info = parts.get(2).map(|p| p.1);

    let info = expect_sequence(
        ds_children(doc, signed_info, "SignedInfo")?,
        "SignedInfo",
        &[
            ("CanonicalizationMethod", Occurs::One),
            ("SignatureMethod", Occurs::One),
            ("Reference", Occurs::OneOrMore),
        ],
    )?;

    let c14n_uri = algorithm_of(doc, info[0].1, "CanonicalizationMethod")?;
    let c14n = Algorithm::from_uri(c14n_uri)
        .filter(|a| policy.canonicalization_methods().contains(a))
        .ok_or_else(|| not_allowed(AlgorithmRole::CanonicalizationMethod, c14n_uri, policy))?;
    let canonicalization = canonicalization(doc, info[0].1, c14n, "CanonicalizationMethod")?;

    let method_uri = algorithm_of(doc, info[1].1, "SignatureMethod")?;
    let signature_method = SignatureMethod::from_uri(method_uri)
        .filter(|m| policy.signature_methods().contains(m))
        .ok_or_else(|| not_allowed(AlgorithmRole::SignatureMethod, method_uri, policy))?;
    no_children(doc, info[1].1, "SignatureMethod")?;

    let references = info[2..]
        .iter()
        .map(|&(_, node)| parse_reference(doc, node, policy))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(ParsedSignature {
        signed_info,
        canonicalization,
        signature_method,
        references,
        signature_value,
        key_info,
    })
}

fn parse_reference<'d>(
    doc: &'d Document,
    reference: NodeId,
    policy: &SignaturePolicy,
) -> Result<ParsedReference<'d>, SignatureError> {
    let element = doc.element(reference).expect("Reference is an element");
    for attribute in element.attributes() {
        let name = attribute.name();
        if name.namespace().is_some() || !matches!(name.local_name(), "URI" | "Id" | "Type") {
            return Err(SignatureError::UnexpectedAttribute {
                element: "Reference",
                attribute: name.qualified(),
            });
        }
    }
    let uri = element
        .attribute(None, "URI")
        .ok_or(SignatureError::MissingReferenceUri)?;
    // Only `#id` (XML-DSig §4.3.3.2 "same-document" by bare name): `""` is the whole document,
    // `#xpointer(...)` an XPointer, anything else an external resource we would have to fetch.
    let id = uri
        .strip_prefix('#')
        .filter(|id| crate::xml::chars::is_ncname(id))
        .ok_or_else(|| SignatureError::ReferenceUriNotAllowed { uri: shown(uri) })?;
    let reference_name = shown(uri);

    let parts = expect_sequence(
        ds_children(doc, reference, "Reference")?,
        "Reference",
        &[
            ("Transforms", Occurs::Optional),
            ("DigestMethod", Occurs::One),
            ("DigestValue", Occurs::One),
        ],
    )?;
    let (transforms, digest_method_node, digest_value_node) = match parts.as_slice() {
        [t, d, v] => (Some(t.1), d.1, v.1),
        [d, v] => (None, d.1, v.1),
        _ => unreachable!("expect_sequence returns the required elements"),
    };

    let mut enveloped = false;
    let mut canonicalization = None;
    if let Some(transforms) = transforms {
        let list = expect_sequence(
            ds_children(doc, transforms, "Transforms")?,
            "Transforms",
            &[("Transform", Occurs::OneOrMore)],
        )?;
        for (_, node) in list {
            let uri = algorithm_of(doc, node, "Transform")?;
            let transform = Transform::from_uri(uri)
                .filter(|t| policy.transforms().contains(t))
                .ok_or_else(|| not_allowed(AlgorithmRole::Transform, uri, policy))?;
            if canonicalization.is_some() {
                // After canonicalization the data are octets; XML-DSig would re-parse them for a
                // further node-set transform. Nothing legitimate does that.
                return Err(SignatureError::TransformSequence {
                    reference: reference_name,
                    reason: "canonicalization must be the last transform",
                });
            }
            match transform {
                Transform::EnvelopedSignature if enveloped => {
                    return Err(SignatureError::TransformSequence {
                        reference: reference_name,
                        reason: "enveloped-signature appears twice",
                    });
                }
                Transform::EnvelopedSignature => {
                    no_children(doc, node, "Transform")?;
                    enveloped = true;
                }
                Transform::Canonicalization(a) => {
                    canonicalization = Some(self::canonicalization(doc, node, a, "Transform")?);
                }
            }
        }
    }
    let canonicalization = match canonicalization {
        Some(c) => c,
        // XML-DSig §4.3.3.2: a node-set left at the end is converted with Canonical XML 1.0.
        None if policy
            .transforms()
            .contains(&Transform::Canonicalization(Algorithm::Inclusive)) =>
        {
            Canonicalization::new(Algorithm::Inclusive)
        }
        None => {
            return Err(SignatureError::ImplicitCanonicalizationNotAllowed {
                reference: reference_name,
                policy: policy.name(),
            });
        }
    };

    let digest_uri = algorithm_of(doc, digest_method_node, "DigestMethod")?;
    let digest_method = DigestMethod::from_uri(digest_uri)
        .filter(|m| policy.digest_methods().contains(m))
        .ok_or_else(|| not_allowed(AlgorithmRole::DigestMethod, digest_uri, policy))?;
    no_children(doc, digest_method_node, "DigestMethod")?;
    let digest_value = base64_of(doc, digest_value_node, "DigestValue")?;
    if digest_value.len() != digest_method.output_len() {
        return Err(SignatureError::DigestLength {
            reference: reference_name,
            method: digest_method.name(),
            expected: digest_method.output_len(),
            actual: digest_value.len(),
        });
    }

    Ok(ParsedReference {
        uri,
        id,
        enveloped,
        canonicalization,
        digest_method,
        digest_value,
    })
}
