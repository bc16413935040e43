//! Verification: one `ds:Signature` of a parsed document, under a policy, with trusted keys only.
//!
//! The answer is not "valid" but *which elements* the signature covers, as [`NodeId`]s of the same
//! [`Document`] the caller goes on reading. A SAML layer that reads only those nodes cannot be steered
//! to an unsigned copy, whatever an attacker moved or duplicated (XML Signature Wrapping,
//! spid-and-cie-id.md §5): there is no second parse, no search by ID, no `//` path.
//!
//! Order of checks: structure and algorithms (policy), ID uniqueness, the layout (where the referenced
//! elements sit relative to the signature), the SignatureValue over the canonical SignedInfo with the
//! keys KeyInfo may select, and last the digest of each referenced element.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;

use super::algorithms::{DigestMethod, KeyType, SignatureMethod};
use super::ids::IdIndex;
use super::keys::TrustedKeys;
use super::structure::parse_signature;
use super::{SignatureError, SignaturePolicy, shown};
use crate::xml::{Document, NodeId};

/// What a verified signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    signature: NodeId,
    signature_method: SignatureMethod,
    trusted_key: usize,
    references: Vec<VerifiedReference>,
}

/// One verified Reference: the element it names, whose subtree (minus the signature, for an
/// enveloped one) is exactly what was digested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReference {
    element: NodeId,
    id: String,
    digest_method: DigestMethod,
}

impl VerifiedReference {
    /// The element the Reference named, in the verified document.
    pub fn element(&self) -> NodeId {
        self.element
    }
    /// Its ID, as the Reference URI named it (without `#`).
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn digest_method(&self) -> DigestMethod {
        self.digest_method
    }
}

impl VerifiedSignature {
    /// The `ds:Signature` element that was verified.
    pub fn signature(&self) -> NodeId {
        self.signature
    }

    /// The element the first Reference covers: for an enveloped signature, the one element signed
    /// (the Assertion or Response that contains the signature). The SAML layer reads this node.
    pub fn signed_element(&self) -> NodeId {
        self.references[0].element
    }

    /// Every verified Reference, in SignedInfo order.
    pub fn references(&self) -> &[VerifiedReference] {
        &self.references
    }

    /// The elements covered, in SignedInfo order.
    pub fn covered_elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.references.iter().map(|r| r.element)
    }

    /// True when `node` lies inside a covered element and outside the signature itself (which the
    /// enveloped-signature transform removed from what was digested, KeyInfo included).
    pub fn covers(&self, doc: &Document, node: NodeId) -> bool {
        !doc.is_ancestor_or_self(self.signature, node)
            && self
                .covered_elements()
                .any(|element| doc.is_ancestor_or_self(element, node))
    }

    pub fn signature_method(&self) -> SignatureMethod {
        self.signature_method
    }

    /// Index in the [`TrustedKeys`] of the key that verified the signature.
    pub fn trusted_key(&self) -> usize {
        self.trusted_key
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Enveloped,
    Detached,
}

/// Verifies an enveloped signature (SAML Responses and Assertions): exactly one Reference, by `#id`,
/// naming the element that is the signature's parent, with the enveloped-signature transform.
/// Everything else, and every check listed in the module documentation, is an error.
pub fn verify_enveloped_signature(
    doc: &Document,
    signature: NodeId,
    policy: &SignaturePolicy,
    keys: &TrustedKeys,
) -> Result<VerifiedSignature, SignatureError> {
    verify(doc, signature, policy, keys, Layout::Enveloped)
}

/// Verifies a detached same-document signature (WS-Security: a signature in the Security header over
/// the Body and Timestamp by `wsu:Id`): one to [`SignaturePolicy::max_references`] References, by
/// `#id`, to distinct elements that do not contain the signature.
pub fn verify_detached_signature(
    doc: &Document,
    signature: NodeId,
    policy: &SignaturePolicy,
    keys: &TrustedKeys,
) -> Result<VerifiedSignature, SignatureError> {
    verify(doc, signature, policy, keys, Layout::Detached)
}

fn verify(
    doc: &Document,
    signature: NodeId,
    policy: &SignaturePolicy,
    keys: &TrustedKeys,
    layout: Layout,
) -> Result<VerifiedSignature, SignatureError> {
    let parsed = parse_signature(doc, signature, policy)?;

    let (layout_name, max) = match layout {
        Layout::Enveloped => ("enveloped", 1),
        Layout::Detached => ("detached", policy.max_references()),
    };
    let count = parsed.references.len();
    if count > max {
        return Err(SignatureError::ReferenceCount {
            count,
            layout: layout_name,
            min: 1,
            max,
        });
    }

    let ids = IdIndex::build(doc, policy.id_attributes())?;
    let mut targets = Vec::with_capacity(count);
    for reference in &parsed.references {
        let target = ids
            .get(reference.id)
            .ok_or_else(|| SignatureError::ReferenceTargetNotFound {
                reference: shown(reference.uri),
            })?;
        match layout {
            Layout::Enveloped => {
                if doc.parent(signature) != Some(target) {
                    return Err(SignatureError::NotEnveloped {
                        reference: shown(reference.uri),
                    });
                }
                if !reference.enveloped {
                    return Err(SignatureError::MissingEnvelopedTransform {
                        reference: shown(reference.uri),
                    });
                }
            }
            Layout::Detached => {
                if doc.is_ancestor_or_self(target, signature) {
                    return Err(SignatureError::NotDetached {
                        reference: shown(reference.uri),
                    });
                }
                if targets.contains(&target) {
                    return Err(SignatureError::DuplicateReference {
                        reference: shown(reference.uri),
                    });
                }
            }
        }
        targets.push(target);
    }

    // The SignatureValue first: nothing the references say is worth computing before SignedInfo is
    // known to come from a trusted key.
    let method = parsed.signature_method;
    let candidates = keys.candidates(doc, parsed.key_info, method, policy.min_rsa_bits())?;
    let mut signed_info = Vec::with_capacity(2048);
    parsed
        .canonicalization
        .subtree_to(doc, parsed.signed_info, &[], &mut signed_info)?;
    let trusted_key = candidates
        .into_iter()
        .find(|&i| {
            let key = keys.get(i).expect("candidates are indices of trusted keys");
            signature_verifies(method, key.public_key(), &signed_info, &parsed.signature_value)
        })
        .ok_or(SignatureError::BadSignatureValue {
            method: method.name(),
        })?;

    let mut references = Vec::with_capacity(count);
    for (reference, &target) in parsed.references.iter().zip(&targets) {
        let mut digester = reference.digest_method.digester();
        let excluded: &[NodeId] = if reference.enveloped { &[signature] } else { &[] };
        reference
            .canonicalization
            .subtree_to(doc, target, excluded, &mut digester)?;
        let digest = digester.finish();
        // Lengths were checked against the method when parsing; compare in constant time.
        if digest.len() != reference.digest_value.len()
            || !openssl::memcmp::eq(&digest, &reference.digest_value)
        {
            return Err(SignatureError::DigestMismatch {
                reference: shown(reference.uri),
            });
        }
        references.push(VerifiedReference {
            element: target,
            id: reference.id.to_owned(),
            digest_method: reference.digest_method,
        });
    }

    Ok(VerifiedSignature {
        signature,
        signature_method: method,
        trusted_key,
        references,
    })
}

/// True when `value` is a valid `method` signature of `data` under `key`. Malformed values (wrong
/// length, not a point on the curve) are simply not valid.
fn signature_verifies(method: SignatureMethod, key: &PKey<Public>, data: &[u8], value: &[u8]) -> bool {
    let der;
    let value = match method.key_type() {
        KeyType::Rsa => value,
        KeyType::Ec => match ecdsa_raw_to_der(key, value) {
            Some(d) => {
                der = d;
                &der[..]
            }
            None => return false,
        },
    };
    Verifier::new(method.digest().message_digest(), key)
        .and_then(|mut verifier| verifier.verify_oneshot(value, data))
        .unwrap_or(false)
}

/// Bytes of one ECDSA signature component for `key`'s curve.
pub(crate) fn ecdsa_component_len<T: openssl::pkey::HasPublic>(key: &PKey<T>) -> Option<usize> {
    let ec = key.ec_key().ok()?;
    let bits = usize::try_from(ec.group().order_bits()).ok()?;
    Some(bits.div_ceil(8))
}

/// XML-DSig's `r || s` (RFC 4051 §3.3) as the DER `ECDSA-Sig-Value` OpenSSL verifies.
fn ecdsa_raw_to_der(key: &PKey<Public>, raw: &[u8]) -> Option<Vec<u8>> {
    let n = ecdsa_component_len(key)?;
    if raw.len() != 2 * n {
        return None;
    }
    let (r, s) = raw.split_at(n);
    let sig =
        EcdsaSig::from_private_components(BigNum::from_slice(r).ok()?, BigNum::from_slice(s).ok()?).ok()?;
    sig.to_der().ok()
}
