//! Reading SAML fields by absolute path: children by namespace-aware name, attributes, text.
//!
//! Only children are ever looked at, never descendants, so a copy of an element placed deeper (in
//! Extensions, in a signature, in another element) is never found instead of the real one. Where the
//! schema allows one element, a second is an error rather than "the first wins": an XSW variant that
//! appends a sibling must not get to choose what is read.
//!
//! Text values are read with [`Document::text_content`], so comments and CDATA splitting cannot
//! truncate them (CERT VU#475445): what is read is exactly the character data that canonicalization
//! without comments put under the digest. Element children where text is expected are refused, so
//! markup cannot hide inside a value either. Leading and trailing XML whitespace is dropped: SPID IdPs
//! (and spid-sp-test) wrap NameID in newlines.

use chrono::{DateTime, Utc};

use super::error::{Field, ResponseError};
use super::time::parse_instant;
use crate::xml::{Document, NodeId};

/// The one child of `parent` named `{namespace}local`, if any.
pub(super) fn child(
    doc: &Document,
    parent: NodeId,
    namespace: &str,
    local: &str,
    field: Field,
) -> Result<Option<NodeId>, ResponseError> {
    let mut found = children(doc, parent, namespace, local);
    let first = found.next();
    if found.next().is_some() {
        return Err(ResponseError::Duplicate { field });
    }
    Ok(first)
}

/// The one child of `parent` named `{namespace}local`: [`ResponseError::Missing`] when absent.
pub(super) fn required_child(
    doc: &Document,
    parent: NodeId,
    namespace: &str,
    local: &str,
    field: Field,
) -> Result<NodeId, ResponseError> {
    child(doc, parent, namespace, local, field)?.ok_or(ResponseError::Missing { field })
}

/// Every child of `parent` named `{namespace}local`, in document order.
pub(super) fn children<'d>(
    doc: &'d Document,
    parent: NodeId,
    namespace: &'d str,
    local: &'d str,
) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent).filter(move |&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(namespace), local))
    })
}

/// Refuses a container element without any child element (spid-sp-test's "non specificato" cases:
/// `<saml:Subject/>`, `<saml:AuthnContext/>`…), so the error names the container, not its child.
pub(super) fn require_content(doc: &Document, element: NodeId, field: Field) -> Result<(), ResponseError> {
    match doc.child_elements(element).next() {
        Some(_) => Ok(()),
        None => Err(ResponseError::Empty { field }),
    }
}

/// The unprefixed attribute `name` of `element`, present and not empty.
pub(super) fn attribute<'d>(
    doc: &'d Document,
    element: NodeId,
    name: &str,
    field: Field,
) -> Result<&'d str, ResponseError> {
    match optional_attribute(doc, element, name) {
        None => Err(ResponseError::Missing { field }),
        Some(v) if v.trim().is_empty() => Err(ResponseError::Empty { field }),
        Some(v) => Ok(v),
    }
}

pub(super) fn optional_attribute<'d>(doc: &'d Document, element: NodeId, name: &str) -> Option<&'d str> {
    doc.element(element)?.attribute(None, name)
}

/// The attribute `name` of `element` as an instant.
pub(super) fn instant(
    doc: &Document,
    element: NodeId,
    name: &str,
    field: Field,
) -> Result<DateTime<Utc>, ResponseError> {
    parse_instant(attribute(doc, element, name, field)?).ok_or(ResponseError::MalformedInstant { field })
}

/// The character data of `element`, trimmed, not empty, with no element children.
pub(super) fn text(doc: &Document, element: NodeId, field: Field) -> Result<String, ResponseError> {
    let value = optional_text(doc, element, field)?;
    if value.is_empty() {
        return Err(ResponseError::Empty { field });
    }
    Ok(value)
}

/// Like [`text`], but an empty value is allowed.
pub(super) fn optional_text(doc: &Document, element: NodeId, field: Field) -> Result<String, ResponseError> {
    if doc.child_elements(element).next().is_some() {
        return Err(ResponseError::ElementInText { field });
    }
    let content = doc.text_content(element);
    let trimmed = content.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    Ok(if trimmed.len() == content.len() {
        content
    } else {
        trimmed.to_owned()
    })
}

/// A value from the message for an error: an ID, a URL or a URI, never personal data; cut short.
pub(super) fn value_shown(value: &str) -> String {
    crate::dsig::shown(value)
}
