//! Detached signing: one `ds:Signature` over several elements that do not contain it, referenced by
//! ID — the WS-Security layout, where the signature sits in the Security header and covers the
//! Timestamp and the Body by `wsu:Id`.
//!
//! Same method as [`sign_enveloped`](super::sign_enveloped): the document is written back with the
//! Signature inserted, parsed again, every digest is recomputed on the re-parsed tree as a check that
//! the writer lost nothing, and SignedInfo is canonicalized from that tree, so what is signed is what
//! a verifier canonicalizes. KeyInfo content is the caller's (a WS-Security SecurityTokenReference):
//! this module does not know token profiles.

use openssl::pkey::Id;

use super::algorithms::{KeyType, encode_base64_lines};
use super::keys::SigningKey;
use super::policy::IdAttribute;
use super::serialize::{Insertion, write_with_insertion};
use super::sign::{
    SigningOptions, canonicalization, child_path, digest_of, generous_limits, signature_value,
    without_comments, xml_escape,
};
use super::structure::EXC_C14N_NAMESPACE;
use super::{DSIG_NAMESPACE, SignatureError};
use crate::c14n::Algorithm;
use crate::xml::{Document, NodeId, parse_str};

/// Where a detached Signature goes and what it carries besides SignedInfo and SignatureValue.
#[derive(Debug, Clone, Copy)]
pub struct DetachedPlacement<'a> {
    /// The element the Signature becomes a child of (the `wsse:Security` header).
    pub parent: NodeId,
    /// The child of `parent` the Signature goes before; `None`: after the last child.
    pub before: Option<NodeId>,
    /// The Signature's `Id` attribute, if any (WSS4J writes `SIG-…`).
    pub signature_id: Option<&'a str>,
    /// The `Id` attribute of KeyInfo, if any.
    pub key_info_id: Option<&'a str>,
    /// The markup inside `KeyInfo`, written as given; prefixes it uses must be in scope at `parent`.
    /// `None` writes the signing certificate as `X509Data` when the options ask for it.
    pub key_info: Option<&'a str>,
}

/// Signs `targets` (in that order, one Reference each, by the first of the options' ID attributes
/// each carries) with a Signature placed as `placement` says, and returns the whole document as text
/// (without an XML declaration). A target may not contain `placement.parent`: that would be an
/// enveloped signature without its transform.
pub fn sign_detached(
    doc: &Document,
    targets: &[NodeId],
    placement: &DetachedPlacement<'_>,
    options: &SigningOptions,
    key: &SigningKey,
) -> Result<String, SignatureError> {
    if targets.is_empty() {
        return Err(SignatureError::ReferenceCount {
            count: 0,
            layout: "detached",
            min: 1,
            max: usize::MAX,
        });
    }
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
    if doc.element(placement.parent).is_none() {
        return Err(SignatureError::PlacementNotAChild);
    }
    if let Some(before) = placement.before
        && doc.parent(before) != Some(placement.parent)
    {
        return Err(SignatureError::PlacementNotAChild);
    }

    let reference_c14n = canonicalization(without_comments(options.canonicalization), options)?;
    let mut references = Vec::with_capacity(targets.len());
    for (i, &target) in targets.iter().enumerate() {
        let id = id_of(doc, target, &options.id_attributes)?;
        if doc.is_ancestor_or_self(target, placement.parent) {
            return Err(SignatureError::NotDetached {
                reference: format!("#{}", super::shown(id)),
            });
        }
        if targets[..i].contains(&target) {
            return Err(SignatureError::DuplicateReference {
                reference: format!("#{}", super::shown(id)),
            });
        }
        let digest = digest_of(doc, target, &[], &reference_c14n, options.digest_method)?;
        references.push((id, digest));
    }

    let template = template(options, &references, placement, key);
    let (mut text, fragment_at) = write_with_insertion(
        doc,
        &Insertion {
            parent: placement.parent,
            before: placement.before,
            fragment: &template.text,
        },
    );

    let signed = parse_str(&text, &generous_limits(doc))?;
    let parent_path = child_path(doc, placement.parent);
    let position = match placement.before {
        Some(b) => doc
            .children(placement.parent)
            .position(|c| c == b)
            .ok_or(SignatureError::PlacementNotAChild)?,
        None => doc.children(placement.parent).count(),
    };
    let mut signature_path = parent_path.clone();
    signature_path.push(position);
    let signature = follow(&signed, &signature_path)
        .filter(|&s| {
            signed
                .element(s)
                .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), "Signature"))
        })
        .ok_or(SignatureError::SerializationMismatch)?;
    for (&target, (_, digest)) in targets.iter().zip(&references) {
        // The target's path in the signed tree: one more child under `parent` at or after the
        // insertion point.
        let mut path = child_path(doc, target);
        if path.len() > parent_path.len()
            && path[..parent_path.len()] == parent_path[..]
            && path[parent_path.len()] >= position
        {
            path[parent_path.len()] += 1;
        }
        let new_target = follow(&signed, &path).ok_or(SignatureError::SerializationMismatch)?;
        if digest_of(&signed, new_target, &[], &reference_c14n, options.digest_method)? != *digest {
            return Err(SignatureError::SerializationMismatch);
        }
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

fn id_of<'d>(
    doc: &'d Document,
    target: NodeId,
    attributes: &[IdAttribute],
) -> Result<&'d str, SignatureError> {
    let no_id = || SignatureError::TargetHasNoId {
        attributes: attributes
            .iter()
            .map(IdAttribute::describe)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let element = doc.element(target).ok_or_else(no_id)?;
    attributes
        .iter()
        .find_map(|a| {
            element
                .attribute(a.namespace(), a.local_name())
                .filter(|v| !v.is_empty())
        })
        .filter(|id| crate::xml::chars::is_ncname(id))
        .ok_or_else(no_id)
}

/// The node at `path` (child indices from the document node).
fn follow(doc: &Document, path: &[usize]) -> Option<NodeId> {
    let mut node = doc.root();
    for &index in path {
        node = doc.children(node).nth(index)?;
    }
    Some(node)
}

struct Template {
    text: String,
    /// Offset in `text` where the SignatureValue's content goes.
    value_at: usize,
}

fn template(
    options: &SigningOptions,
    references: &[(&str, Vec<u8>)],
    placement: &DetachedPlacement<'_>,
    key: &SigningKey,
) -> Template {
    let p = match &options.prefix {
        Some(p) => format!("{p}:"),
        None => String::new(),
    };
    let declaration = match &options.prefix {
        Some(prefix) => format!(" xmlns:{prefix}=\"{DSIG_NAMESPACE}\""),
        None => format!(" xmlns=\"{DSIG_NAMESPACE}\""),
    };
    let id_attribute = |id: Option<&str>| match id {
        Some(id) => format!(" Id=\"{}\"", xml_escape(id)),
        None => String::new(),
    };
    let inclusive = |algorithm: Algorithm| match (&options.prefix_list, algorithm.is_exclusive()) {
        (Some(list), true) => format!(
            "<ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N_NAMESPACE}\" PrefixList=\"{}\"/>",
            xml_escape(list)
        ),
        _ => String::new(),
    };
    let method_element = |name: &str, uri: &str, inner: String| {
        if inner.is_empty() {
            format!("<{p}{name} Algorithm=\"{uri}\"/>")
        } else {
            format!("<{p}{name} Algorithm=\"{uri}\">{inner}</{p}{name}>")
        }
    };
    let c14n = options.canonicalization;
    let reference_c14n = without_comments(c14n);
    let mut text = format!(
        "<{p}Signature{declaration}{}>\n<{p}SignedInfo>\n{}\n{}\n",
        id_attribute(placement.signature_id),
        method_element("CanonicalizationMethod", c14n.uri(), inclusive(c14n)),
        method_element("SignatureMethod", options.signature_method.uri(), String::new()),
    );
    for (id, digest) in references {
        text.push_str(&format!(
            "<{p}Reference URI=\"#{}\">\n<{p}Transforms>\n{}\n</{p}Transforms>\n{}\n\
             <{p}DigestValue>{}</{p}DigestValue>\n</{p}Reference>\n",
            xml_escape(id),
            method_element("Transform", reference_c14n.uri(), inclusive(reference_c14n)),
            method_element("DigestMethod", options.digest_method.uri(), String::new()),
            openssl::base64::encode_block(digest),
        ));
    }
    text.push_str(&format!("</{p}SignedInfo>\n<{p}SignatureValue>"));
    let value_at = text.len();
    text.push_str(&format!("</{p}SignatureValue>\n"));
    let key_info = match placement.key_info {
        Some(markup) => Some(markup.to_owned()),
        None => key
            .certificate()
            .filter(|_| options.include_certificate)
            .and_then(|c| c.to_der().ok())
            .map(|der| {
                format!(
                    "<{p}X509Data>\n<{p}X509Certificate>{}</{p}X509Certificate>\n</{p}X509Data>",
                    encode_base64_lines(&der)
                )
            }),
    };
    if let Some(inner) = key_info {
        text.push_str(&format!(
            "<{p}KeyInfo{}>\n{inner}\n</{p}KeyInfo>\n",
            id_attribute(placement.key_info_id)
        ));
    }
    text.push_str(&format!("</{p}Signature>"));
    Template { text, value_at }
}
