//! Resolving the message signature's `wsse:SecurityTokenReference` to one *trusted* certificate.
//!
//! ANPR's layout references a `wsse:BinarySecurityToken` in the same Security header by
//! `wsse:Reference URI="#X509-…"` (policy: X509Token, IncludeToken AlwaysToRecipient); the policy's
//! Wss10 assertion also names KeyIdentifier references, read here for the subject key identifier and
//! the SHA-1 thumbprint. Whatever the form, the token only *selects* among the configured
//! certificates: a token that is not one of them is refused (key confusion, spid-and-cie-id.md §5),
//! never used.

use openssl::sha::sha1;

use super::envelope::{is, only_child};
use super::{BASE64_ENCODING_TYPE, WSSE_NAMESPACE, WsSecurityError, X509V3_VALUE_TYPE};
use crate::dsig::{DSIG_NAMESPACE, TrustedKeys, WSU_NAMESPACE};
use crate::xml::{Document, NodeId};

const SKI_VALUE_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
const THUMBPRINT_VALUE_TYPE: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1";

/// The index in `keys` of the certificate the signature's KeyInfo names.
pub(crate) fn resolve_token(
    doc: &Document,
    security: NodeId,
    signature: NodeId,
    keys: &TrustedKeys,
) -> Result<usize, WsSecurityError> {
    let reason = |reason| WsSecurityError::TokenReference { reason };
    let key_info = only_child(doc, signature, DSIG_NAMESPACE, "KeyInfo")
        .ok_or(WsSecurityError::MissingTokenReference)?;
    let str_ = only_child(doc, key_info, WSSE_NAMESPACE, "SecurityTokenReference")
        .ok_or(WsSecurityError::MissingTokenReference)?;
    let mut children = doc.child_elements(str_);
    let (Some(reference), None) = (children.next(), children.next()) else {
        return Err(reason("it must hold exactly one Reference or KeyIdentifier"));
    };
    let element = doc.element(reference).ok_or(reason("not an element"))?;

    if is(doc, reference, WSSE_NAMESPACE, "Reference") {
        if element
            .attribute(None, "ValueType")
            .is_some_and(|v| v != X509V3_VALUE_TYPE)
        {
            return Err(reason("Reference ValueType is not X509v3"));
        }
        let uri = element
            .attribute(None, "URI")
            .ok_or(reason("Reference has no URI"))?;
        let id = uri
            .strip_prefix('#')
            .filter(|id| crate::xml::chars::is_ncname(id))
            .ok_or(reason("Reference URI is not a same-document #id"))?;
        let shown = || format!("#{}", crate::dsig::shown(id));
        // The token must be in this Security header: a certificate anywhere else in the message is
        // not part of the security processing.
        let mut tokens = doc.child_elements(security).filter(|&t| {
            is(doc, t, WSSE_NAMESPACE, "BinarySecurityToken")
                && doc
                    .element(t)
                    .and_then(|e| e.attribute(Some(WSU_NAMESPACE), "Id"))
                    == Some(id)
        });
        let (Some(token), None) = (tokens.next(), tokens.next()) else {
            return Err(WsSecurityError::TokenNotFound { reference: shown() });
        };
        let token_element = doc.element(token).ok_or(reason("not an element"))?;
        if token_element.attribute(None, "ValueType") != Some(X509V3_VALUE_TYPE) {
            return Err(WsSecurityError::TokenMalformed {
                reference: shown(),
                reason: "ValueType is not X509v3",
            });
        }
        if token_element
            .attribute(None, "EncodingType")
            .is_some_and(|e| e != BASE64_ENCODING_TYPE)
        {
            return Err(WsSecurityError::TokenMalformed {
                reference: shown(),
                reason: "EncodingType is not Base64Binary",
            });
        }
        let der = decode(&doc.text_content(token)).ok_or(WsSecurityError::TokenMalformed {
            reference: shown(),
            reason: "content is not base64",
        })?;
        return matching(keys, |cert_der, _| cert_der == der)
            .ok_or(WsSecurityError::UntrustedToken { token: shown() });
    }

    if is(doc, reference, WSSE_NAMESPACE, "KeyIdentifier") {
        if element
            .attribute(None, "EncodingType")
            .is_some_and(|e| e != BASE64_ENCODING_TYPE)
        {
            return Err(reason("KeyIdentifier EncodingType is not Base64Binary"));
        }
        let value = decode(&doc.text_content(reference)).ok_or(reason("KeyIdentifier is not base64"))?;
        let found = match element.attribute(None, "ValueType") {
            Some(SKI_VALUE_TYPE) => matching(keys, |_, cert| {
                cert.subject_key_id().map(|s| s.as_slice()) == Some(&value[..])
            }),
            Some(THUMBPRINT_VALUE_TYPE) => matching(keys, |cert_der, _| sha1(cert_der)[..] == value[..]),
            _ => {
                return Err(reason(
                    "KeyIdentifier ValueType is neither a subject key identifier nor ThumbprintSHA1",
                ));
            }
        };
        return found.ok_or(WsSecurityError::UntrustedToken {
            token: "KeyIdentifier".to_owned(),
        });
    }

    Err(reason(
        "only a Reference to a BinarySecurityToken or a KeyIdentifier is accepted",
    ))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    openssl::base64::decode_block(&compact).ok()
}

fn matching(keys: &TrustedKeys, predicate: impl Fn(&[u8], &openssl::x509::X509) -> bool) -> Option<usize> {
    (0..keys.len()).find(|&i| {
        keys.get(i).is_some_and(|k| {
            k.certificate()
                .to_der()
                .is_ok_and(|der| predicate(&der, k.certificate()))
        })
    })
}
