//! Enveloped signing: what a simulated IdP does to its Responses and Assertions, and what a comune
//! does to the SAML assertion in an ANPR WS-Security header.
//!
//! The signer writes the document back with a Signature template inserted, parses that text again
//! and canonicalizes the SignedInfo *from the re-parsed tree*, so what is signed is exactly what a
//! verifier will canonicalize, namespace context included. The digest is recomputed on the re-parsed
//! tree as a check that the writer lost nothing. Output verifies with `xmlsec1 --verify` (the tests
//! run it).

use openssl::ecdsa::EcdsaSig;
use openssl::pkey::Id;
use openssl::sign::Signer;

use super::algorithms::{DigestMethod, KeyType, SignatureMethod, Transform, encode_base64_lines};
use super::keys::SigningKey;
use super::policy::IdAttribute;
use super::serialize::{Insertion, write_with_insertion};
use super::structure::EXC_C14N_NAMESPACE;
use super::verify::ecdsa_component_len;
use super::{DSIG_NAMESPACE, SignatureError};
use crate::c14n::{Algorithm, Canonicalization, InclusivePrefixes};
use crate::xml::{Document, Limits, NodeId, parse_str};

/// The algorithms and form of the signatures Snodo makes. Usually from
/// [`SignaturePolicy::signing_options`](super::SignaturePolicy::signing_options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningOptions {
    pub(super) signature_method: SignatureMethod,
    pub(super) digest_method: DigestMethod,
    pub(super) canonicalization: Algorithm,
    pub(super) prefix_list: Option<String>,
    pub(super) id_attributes: Vec<IdAttribute>,
    pub(super) include_certificate: bool,
    pub(super) prefix: Option<String>,
}

impl SigningOptions {
    /// Signatures with these algorithms, `canonicalization` for both SignedInfo and the Reference,
    /// referencing the target by the first of `id_attributes` it carries; the signing certificate in
    /// KeyInfo; the `ds` prefix.
    pub fn new(
        signature_method: SignatureMethod,
        digest_method: DigestMethod,
        canonicalization: Algorithm,
        id_attributes: Vec<IdAttribute>,
    ) -> SigningOptions {
        SigningOptions {
            signature_method,
            digest_method,
            canonicalization,
            prefix_list: None,
            id_attributes,
            include_certificate: true,
            prefix: Some("ds".to_owned()),
        }
    }

    /// Writes `InclusiveNamespaces PrefixList="{list}"` on both canonicalizations (exclusive only).
    pub fn with_inclusive_namespaces(mut self, list: &str) -> Result<SigningOptions, SignatureError> {
        InclusivePrefixes::parse(list)?;
        self.prefix_list = Some(list.to_owned());
        Ok(self)
    }

    /// The prefix of the Signature's elements; `None` declares XML-DSig as the default namespace.
    /// Fails on what cannot be a prefix (not an NCName, or reserved: starting with `xml`).
    pub fn with_prefix(mut self, prefix: Option<&str>) -> Result<SigningOptions, SignatureError> {
        if let Some(p) = prefix
            && (!crate::xml::chars::is_ncname(p) || p.to_ascii_lowercase().starts_with("xml"))
        {
            return Err(SignatureError::InvalidPrefix { prefix: p.to_owned() });
        }
        self.prefix = prefix.map(str::to_owned);
        Ok(self)
    }

    /// Whether KeyInfo carries the signing certificate (SPID IdPs send it; verifiers must not use it).
    pub fn with_certificate(mut self, include: bool) -> SigningOptions {
        self.include_certificate = include;
        self
    }

    pub fn with_signature_method(mut self, method: SignatureMethod) -> SigningOptions {
        self.signature_method = method;
        self
    }

    pub fn with_digest_method(mut self, method: DigestMethod) -> SigningOptions {
        self.digest_method = method;
        self
    }
}

/// Where the Signature goes among the signed element's children. SAML wants it right after the
/// `Issuer` (saml-schema-protocol/assertion: Issuer, Signature, ...), i.e. `After(issuer)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePlacement {
    FirstChild,
    LastChild,
    /// After this child of the signed element.
    After(NodeId),
}

/// Signs element `target` of `doc` with an enveloped signature placed at `placement`, and returns the
/// whole document as text (without an XML declaration).
pub fn sign_enveloped(
    doc: &Document,
    target: NodeId,
    placement: SignaturePlacement,
    options: &SigningOptions,
    key: &SigningKey,
) -> Result<String, SignatureError> {
    let element = doc.element(target).ok_or(SignatureError::Canonicalization(
        crate::c14n::C14nError::NotAnElement { node: target },
    ))?;
    let id = options
        .id_attributes
        .iter()
        .find_map(|a| {
            element
                .attribute(a.namespace(), a.local_name())
                .filter(|v| !v.is_empty())
        })
        .filter(|id| crate::xml::chars::is_ncname(id))
        .ok_or_else(|| SignatureError::TargetHasNoId {
            attributes: options
                .id_attributes
                .iter()
                .map(IdAttribute::describe)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let method = options.signature_method;
    let key_fits = match method.key_type() {
        KeyType::Rsa => key.private_key().id() == Id::RSA,
        KeyType::Ec => key.private_key().id() == Id::EC,
    };
    if !key_fits {
        return Err(SignatureError::KeyMismatch {
            method: method.name(),
        });
    }

    // A `#id` reference drops comments (XML-DSig §4.3.3.3), whatever the canonicalization says.
    let reference_c14n = canonicalization(without_comments(options.canonicalization), options)?;
    let digest = digest_of(doc, target, &[], &reference_c14n, options.digest_method)?;

    let before = match placement {
        SignaturePlacement::FirstChild => doc.first_child(target),
        SignaturePlacement::LastChild => None,
        SignaturePlacement::After(child) if doc.parent(child) == Some(target) => doc.next_sibling(child),
        SignaturePlacement::After(_) => return Err(SignatureError::PlacementNotAChild),
    };
    let template = template(options, id, &digest, key);
    let (mut text, fragment_at) = write_with_insertion(
        doc,
        &Insertion {
            parent: target,
            before,
            fragment: &template.text,
        },
    );

    // Find the Signature in the re-parsed tree by position: the path of child indices to the target,
    // then the index the template was inserted at.
    let signed = parse_str(&text, &generous_limits(doc))?;
    let mut node = signed.root();
    for index in child_path(doc, target) {
        node = signed
            .children(node)
            .nth(index)
            .ok_or(SignatureError::SerializationMismatch)?;
    }
    let new_target = node;
    let position = match before {
        Some(b) => doc.children(target).position(|c| c == b).unwrap_or(0),
        None => doc.children(target).count(),
    };
    let signature = signed
        .children(new_target)
        .nth(position)
        .filter(|&s| {
            signed
                .element(s)
                .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), "Signature"))
        })
        .ok_or(SignatureError::SerializationMismatch)?;
    if digest_of(
        &signed,
        new_target,
        &[signature],
        &reference_c14n,
        options.digest_method,
    )? != digest
    {
        return Err(SignatureError::SerializationMismatch);
    }
    let signed_info = signed
        .child_elements(signature)
        .next()
        .ok_or(SignatureError::SerializationMismatch)?;
    let info_bytes =
        canonicalization(options.canonicalization, options)?.subtree(&signed, signed_info, &[])?;

    let value = signature_value(method, key, &info_bytes)?;
    text.insert_str(fragment_at + template.value_at, &encode_base64_lines(&value));
    Ok(text)
}

pub(super) fn without_comments(algorithm: Algorithm) -> Algorithm {
    match algorithm {
        Algorithm::InclusiveWithComments => Algorithm::Inclusive,
        Algorithm::ExclusiveWithComments => Algorithm::Exclusive,
        other => other,
    }
}

pub(super) fn canonicalization(
    algorithm: Algorithm,
    options: &SigningOptions,
) -> Result<Canonicalization, SignatureError> {
    let prefixes = match (&options.prefix_list, algorithm.is_exclusive()) {
        (Some(list), true) => InclusivePrefixes::parse(list)?,
        _ => InclusivePrefixes::none(),
    };
    Ok(Canonicalization::new(algorithm).with_inclusive_prefixes(prefixes))
}

pub(super) fn digest_of(
    doc: &Document,
    target: NodeId,
    excluded: &[NodeId],
    c14n: &Canonicalization,
    method: DigestMethod,
) -> Result<Vec<u8>, SignatureError> {
    let mut digester = method.digester();
    c14n.subtree_to(doc, target, excluded, &mut digester)?;
    Ok(digester.finish())
}

/// The document was parsed under some limits already; the re-parse of our own output must not fail
/// on them, only grow by the Signature.
pub(super) fn generous_limits(doc: &Document) -> Limits {
    Limits {
        max_document_bytes: u32::MAX as usize - 1,
        max_depth: 1_000_000,
        max_attributes: usize::MAX,
        max_text_bytes: usize::MAX,
        max_nodes: doc.len() + 256,
    }
}

/// Indices among its parent's children of each node from the document element down to `node`.
pub(super) fn child_path(doc: &Document, node: NodeId) -> Vec<usize> {
    let mut path = Vec::new();
    let mut current = node;
    while let Some(parent) = doc.parent(current) {
        path.push(doc.children(parent).position(|c| c == current).unwrap_or(0));
        current = parent;
    }
    path.reverse();
    path
}

struct Template {
    text: String,
    /// Offset in `text` where the SignatureValue's content goes.
    value_at: usize,
}

fn template(options: &SigningOptions, id: &str, digest: &[u8], key: &SigningKey) -> Template {
    let p = match &options.prefix {
        Some(p) => format!("{p}:"),
        None => String::new(),
    };
    let declaration = match &options.prefix {
        Some(prefix) => format!(" xmlns:{prefix}=\"{DSIG_NAMESPACE}\""),
        None => format!(" xmlns=\"{DSIG_NAMESPACE}\""),
    };
    let inclusive = |algorithm: Algorithm| match (&options.prefix_list, algorithm.is_exclusive()) {
        (Some(list), true) => format!(
            "<ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N_NAMESPACE}\" PrefixList=\"{}\"/>",
            xml_escape(list)
        ),
        _ => String::new(),
    };
    let c14n = options.canonicalization;
    let method_element = |name: &str, uri: &str, inner: String| {
        if inner.is_empty() {
            format!("<{p}{name} Algorithm=\"{uri}\"/>")
        } else {
            format!("<{p}{name} Algorithm=\"{uri}\">{inner}</{p}{name}>")
        }
    };
    let mut text = format!(
        "<{p}Signature{declaration}>\n<{p}SignedInfo>\n{}\n{}\n<{p}Reference URI=\"#{}\">\n<{p}Transforms>\n{}\n{}\n\
         </{p}Transforms>\n{}\n<{p}DigestValue>{}</{p}DigestValue>\n</{p}Reference>\n</{p}SignedInfo>\n\
         <{p}SignatureValue>",
        method_element("CanonicalizationMethod", c14n.uri(), inclusive(c14n)),
        method_element("SignatureMethod", options.signature_method.uri(), String::new()),
        xml_escape(id),
        method_element("Transform", Transform::ENVELOPED_SIGNATURE_URI, String::new()),
        method_element("Transform", c14n.uri(), inclusive(c14n)),
        method_element("DigestMethod", options.digest_method.uri(), String::new()),
        openssl::base64::encode_block(digest),
    );
    let value_at = text.len();
    text.push_str(&format!("</{p}SignatureValue>\n"));
    if let Some(der) = key
        .certificate()
        .filter(|_| options.include_certificate)
        .and_then(|c| c.to_der().ok())
    {
        text.push_str(&format!(
            "<{p}KeyInfo>\n<{p}X509Data>\n<{p}X509Certificate>{}</{p}X509Certificate>\n</{p}X509Data>\n</{p}KeyInfo>\n",
            encode_base64_lines(&der)
        ));
    }
    text.push_str(&format!("</{p}Signature>"));
    Template { text, value_at }
}

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

pub(super) fn signature_value(
    method: SignatureMethod,
    key: &SigningKey,
    data: &[u8],
) -> Result<Vec<u8>, SignatureError> {
    let pkey = key.private_key();
    let mut signer = Signer::new(method.digest().message_digest(), pkey)
        .map_err(SignatureError::crypto("preparing to sign"))?;
    let der = signer
        .sign_oneshot_to_vec(data)
        .map_err(SignatureError::crypto("signing"))?;
    match method.key_type() {
        KeyType::Rsa => Ok(der),
        KeyType::Ec => {
            // RFC 4051 §3.3: r and s, each left-padded to the curve order's length.
            let n = ecdsa_component_len(pkey).ok_or(SignatureError::KeyMismatch {
                method: method.name(),
            })?;
            let sig =
                EcdsaSig::from_der(&der).map_err(SignatureError::crypto("decoding the ECDSA signature"))?;
            let width = i32::try_from(n).map_err(|_| SignatureError::KeyMismatch {
                method: method.name(),
            })?;
            let mut raw = sig
                .r()
                .to_vec_padded(width)
                .map_err(SignatureError::crypto("encoding r"))?;
            raw.extend(
                sig.s()
                    .to_vec_padded(width)
                    .map_err(SignatureError::crypto("encoding s"))?,
            );
            Ok(raw)
        }
    }
}
