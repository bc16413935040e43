//! XML Signature (XML-DSig 1.0) for hostile input: verification that answers *which element* was
//! signed, and enveloped signing, restricted to what SAML and WS-Security need.
//!
//! ```text
//! parse ──► Document ──► verify_enveloped_signature(&doc, signature, &policy, &keys)
//!                              │   policy: allowed algorithms, transforms, ID attributes (per use)
//!                              │   keys:   trusted certificates only; KeyInfo selects, never adds
//!                              ▼
//!                        VerifiedSignature { signed_element: NodeId, … }  ──► the SAML layer reads
//!                                                                             that node, and only it
//! ```
//!
//! Everything runs on the one [`Document`] the caller parsed: canonicalization
//! streams into the digest, keys are OpenSSL keys parsed once ([`TrustedKeys`]), and the result names
//! nodes of that same tree. spid-and-cie-id.md §5 lists the attacks this is built against; each check
//! cites the one it stops.

mod algorithms;
mod error;
mod ids;
mod keys;
mod policy;
pub(crate) mod serialize;
mod sign;
mod sign_detached;
mod structure;
mod verify;

pub use algorithms::{DigestMethod, KeyType, SignatureMethod, Transform};
pub use error::{AlgorithmRole, SignatureError};
pub use ids::IdIndex;
pub use keys::{SigningKey, TrustedKey, TrustedKeys};
pub use policy::{IdAttribute, SignaturePolicy, WSU_NAMESPACE};
pub use sign::{SignaturePlacement, SigningOptions, sign_enveloped};
pub use sign_detached::{DetachedPlacement, sign_detached};
pub use verify::{
    VerifiedReference, VerifiedSignature, verify_detached_signature, verify_enveloped_signature,
};

use crate::xml::{Document, NodeId};

/// The XML-DSig namespace.
pub const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The `ds:Signature` children of `element`, in document order: where SAML puts the signature of a
/// Response or Assertion. Looking only at children (never descendants) is part of reading by
/// absolute path rather than by search.
pub fn signature_children(doc: &Document, element: NodeId) -> Vec<NodeId> {
    doc.child_elements(element)
        .filter(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), "Signature"))
        })
        .collect()
}

/// A value from the message for an error message: IDs and algorithm URIs, never text content; cut
/// short so a hostile message cannot make logs arbitrarily long.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}
