//! Verifying a SAML Response of the HTTP-POST binding (SPID and CIE ID), from the base64 form value
//! to a [`VerifiedAssertion`].
//!
//! Order: the Response's own fields (cheap, and they bind the message to our pending request), its
//! signature when present, the Status (error Responses are unsigned and end here), then the one
//! Assertion: its signature, and its fields read from the verified element only (`assertion.rs`).
//! The replay cache is consulted last, so a Response refused for another reason does not use up its ID.
//!
//! The Response signature is optional under the Regole Tecniche (`single-sign-on.rst`: "la Response
//! può essere firmata"), while the Assertion's is mandatory; every accepted spid-sp-test fixture signs
//! both, and a Response signature that is present must verify. What decides a login is in the
//! Assertion, whose own InResponseTo, Recipient and validity are checked: an unsigned Response cannot
//! carry a stolen Assertion to another SP or request. [`ResponseExpectations::require_signed_response`]
//! makes the Response signature mandatory for deployments that want it.

use chrono::{DateTime, TimeDelta, Utc};

use super::assertion::read_assertion;
use super::authn_request::PendingRequest;
use super::error::{Field, ResponseError};
use super::read::{attribute, child, instant, optional_attribute, text, value_shown};
use super::replay::{ReplayCache, Seen};
use super::status::check_status;
use super::verified::VerifiedAssertion;
use super::{ASSERTION_NAMESPACE, ENTITY_FORMAT, PROTOCOL_NAMESPACE};
use crate::dsig::{SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature};
use crate::xml::{Document, Limits, NodeId, NodeKind, parse};

/// Which federation's profile applies; they differ in small ways (spid-and-cie-id.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Federation {
    Spid,
    /// CIE ID: the Assertion `Issuer` may omit `Format` (spid-sp-test skips cases 70 and 71 for the
    /// `cie-sp-public` profile; the CIE manual's samples differ on it).
    CieId,
}

/// What a Response must match: our side of the exchange and the clock.
#[derive(Debug, Clone)]
pub struct ResponseExpectations<'a> {
    pub federation: Federation,
    /// Our entity ID: the Audience.
    pub sp_entity_id: &'a str,
    /// The ACS URL the Response was posted to: Destination and Recipient.
    pub acs_url: &'a str,
    /// The AuthnRequest this Response must answer, as stored when it was sent.
    pub request: &'a PendingRequest,
    /// The entity ID of the IdP the request was sent to: both Issuers.
    pub idp_entity_id: &'a str,
    /// The signing certificates of that IdP's metadata; KeyInfo never adds to them.
    pub idp_keys: &'a TrustedKeys,
    /// Tolerance for the difference between the IdP's clock and ours, on every instant.
    pub clock_skew: TimeDelta,
    pub now: DateTime<Utc>,
    /// Refuse Responses without their own signature (SPID allows them; see the module docs).
    pub require_signed_response: bool,
    /// Parser limits for the decoded Response.
    pub limits: Limits,
}

impl<'a> ResponseExpectations<'a> {
    /// SPID expectations with a 90-second clock skew, an optional Response signature and the
    /// parser's default limits.
    pub fn spid(
        sp_entity_id: &'a str,
        acs_url: &'a str,
        request: &'a PendingRequest,
        idp_entity_id: &'a str,
        idp_keys: &'a TrustedKeys,
        now: DateTime<Utc>,
    ) -> ResponseExpectations<'a> {
        ResponseExpectations {
            federation: Federation::Spid,
            sp_entity_id,
            acs_url,
            request,
            idp_entity_id,
            idp_keys,
            clock_skew: TimeDelta::seconds(90),
            now,
            require_signed_response: false,
            limits: Limits::default(),
        }
    }

    /// `instant` (of `field`) is not earlier than the request and not in the future.
    pub(super) fn check_issued(&self, instant: DateTime<Utc>, field: Field) -> Result<(), ResponseError> {
        if instant < self.request.issue_instant - self.clock_skew {
            return Err(ResponseError::IssuedBeforeRequest { field });
        }
        if instant > self.now + self.clock_skew {
            return Err(ResponseError::IssuedInTheFuture { field });
        }
        Ok(())
    }

    /// `not_before` (of `field`) has been reached.
    pub(super) fn check_not_before(
        &self,
        not_before: DateTime<Utc>,
        field: Field,
    ) -> Result<(), ResponseError> {
        if not_before > self.now + self.clock_skew {
            return Err(ResponseError::NotYetValid { field });
        }
        Ok(())
    }

    /// `not_on_or_after` (of `field`) has not passed.
    pub(super) fn check_not_on_or_after(
        &self,
        not_on_or_after: DateTime<Utc>,
        field: Field,
    ) -> Result<(), ResponseError> {
        if self.now >= not_on_or_after + self.clock_skew {
            return Err(ResponseError::Expired { field });
        }
        Ok(())
    }
}

/// Verifies the `SAMLResponse` form value of the HTTP-POST binding (base64; line breaks allowed).
pub fn verify_response(
    saml_response: &str,
    expectations: &ResponseExpectations<'_>,
    replay: &dyn ReplayCache,
) -> Result<VerifiedAssertion, ResponseError> {
    // Base64 is 4/3 of the document, plus line breaks: refuse before decoding anything larger.
    let limit = expectations.limits.max_document_bytes.saturating_mul(3) / 2 + 1024;
    if saml_response.len() > limit {
        return Err(ResponseError::TooLarge {
            size: saml_response.len(),
            limit,
        });
    }
    let xml = decode_base64(saml_response).ok_or(ResponseError::NotBase64)?;
    verify_response_xml(&xml, expectations, replay)
}

/// Verifies a Response already base64-decoded.
pub fn verify_response_xml(
    xml: &[u8],
    expectations: &ResponseExpectations<'_>,
    replay: &dyn ReplayCache,
) -> Result<VerifiedAssertion, ResponseError> {
    let doc = parse(xml, &expectations.limits)?;
    verify_response_document(&doc, expectations, replay)
}

fn verify_response_document(
    doc: &Document,
    expected: &ResponseExpectations<'_>,
    replay: &dyn ReplayCache,
) -> Result<VerifiedAssertion, ResponseError> {
    let root = doc.document_element();
    let name = doc
        .element(root)
        .expect("the document element is an element")
        .name();
    if !name.is(Some(PROTOCOL_NAMESPACE), "Response") {
        return Err(ResponseError::NotAResponse {
            found: value_shown(&name.qualified()),
        });
    }

    let response_id = attribute(doc, root, "ID", Field::ResponseId)?.to_owned();
    check_version(doc, root, Field::ResponseVersion)?;
    let issue_instant = instant(doc, root, "IssueInstant", Field::ResponseIssueInstant)?;
    expected.check_issued(issue_instant, Field::ResponseIssueInstant)?;
    let in_response_to = attribute(doc, root, "InResponseTo", Field::ResponseInResponseTo)?;
    must_equal(in_response_to, &expected.request.id, Field::ResponseInResponseTo)?;
    let destination = attribute(doc, root, "Destination", Field::ResponseDestination)?;
    must_equal(destination, expected.acs_url, Field::ResponseDestination)?;
    check_issuer(
        doc,
        root,
        expected,
        Field::ResponseIssuer,
        Field::ResponseIssuerFormat,
        false,
    )?;

    let policy = SignaturePolicy::spid();
    match signature_children(doc, root)[..] {
        [] if expected.require_signed_response => {
            return Err(ResponseError::Unsigned {
                field: Field::Response,
            });
        }
        [] => {}
        [signature] => {
            verify_enveloped_signature(doc, signature, &policy, expected.idp_keys).map_err(|source| {
                ResponseError::Signature {
                    field: Field::Response,
                    source,
                }
            })?;
        }
        _ => {
            return Err(ResponseError::MultipleSignatures {
                field: Field::Response,
            });
        }
    }

    check_status(doc, root)?;

    let assertion = the_assertion(doc, root)?;
    let signature = match signature_children(doc, assertion)[..] {
        [] => {
            return Err(ResponseError::Unsigned {
                field: Field::Assertion,
            });
        }
        [signature] => signature,
        _ => {
            return Err(ResponseError::MultipleSignatures {
                field: Field::Assertion,
            });
        }
    };
    let verified =
        verify_enveloped_signature(doc, signature, &policy, expected.idp_keys).map_err(|source| {
            ResponseError::Signature {
                field: Field::Assertion,
                source,
            }
        })?;
    let user = read_assertion(doc, &verified, expected, response_id)?;

    let until = user.not_on_or_after + expected.clock_skew;
    match replay.check_and_remember(&user.assertion_id, until, expected.now)? {
        Seen::First => Ok(user),
        Seen::Before => Err(ResponseError::Replayed {
            assertion_id: value_shown(&user.assertion_id),
        }),
    }
}

/// The one `saml:Assertion` of the document, which must be a child of the Response. The whole
/// document is scanned, signatures and extensions included: a second Assertion anywhere (XSW
/// variants put one in Extensions, Object or Advice) or an EncryptedAssertion is refused outright,
/// whatever is signed.
fn the_assertion(doc: &Document, root: NodeId) -> Result<NodeId, ResponseError> {
    let mut found = Vec::with_capacity(1);
    // The arena holds every node in document order: a walk without a stack (as dsig's IdIndex).
    for index in 0..doc.len() {
        let node = NodeId(u32::try_from(index).expect("node count is bounded by Limits::max_nodes"));
        if let NodeKind::Element(e) = doc.kind(node) {
            let name = e.name();
            if name.is(Some(ASSERTION_NAMESPACE), "Assertion") {
                found.push(node);
            } else if name.is(Some(ASSERTION_NAMESPACE), "EncryptedAssertion") {
                return Err(ResponseError::EncryptedAssertion);
            }
        }
    }
    match found[..] {
        [] => Err(ResponseError::Missing {
            field: Field::Assertion,
        }),
        [assertion] if doc.parent(assertion) == Some(root) => Ok(assertion),
        [_] => Err(ResponseError::AssertionMisplaced),
        _ => Err(ResponseError::AssertionCount { count: found.len() }),
    }
}

pub(super) fn check_version(doc: &Document, element: NodeId, field: Field) -> Result<(), ResponseError> {
    let version = attribute(doc, element, "Version", field)?;
    if version != "2.0" {
        return Err(ResponseError::NotAllowed {
            field,
            found: value_shown(version),
            expected: "2.0",
        });
    }
    Ok(())
}

/// The `saml:Issuer` child of `parent`: the IdP's entity ID; `Format` entity, or absent where allowed.
pub(super) fn check_issuer(
    doc: &Document,
    parent: NodeId,
    expected: &ResponseExpectations<'_>,
    field: Field,
    format_field: Field,
    format_required: bool,
) -> Result<(NodeId, String), ResponseError> {
    let issuer =
        child(doc, parent, ASSERTION_NAMESPACE, "Issuer", field)?.ok_or(ResponseError::Missing { field })?;
    let value = text(doc, issuer, field)?;
    must_equal(&value, expected.idp_entity_id, field)?;
    match optional_attribute(doc, issuer, "Format") {
        None if format_required => Err(ResponseError::Missing { field: format_field }),
        None => Ok((issuer, value)),
        Some(f) if f == ENTITY_FORMAT => Ok((issuer, value)),
        Some(f) if f.trim().is_empty() => Err(ResponseError::Empty { field: format_field }),
        Some(f) => Err(ResponseError::NotAllowed {
            field: format_field,
            found: value_shown(f),
            expected: ENTITY_FORMAT,
        }),
    }
}

/// Exact comparison with a configured or expected value (IDs and URLs: no normalization, which
/// would be a second notion of equality for an attacker to play with).
pub(super) fn must_equal(found: &str, expected: &str, field: Field) -> Result<(), ResponseError> {
    if found != expected {
        return Err(ResponseError::Mismatch {
            field,
            found: value_shown(found),
            expected: value_shown(expected),
        });
    }
    Ok(())
}

/// Strict base64 (the alphabet, padding, whole quanta), whitespace ignored: browsers and IdPs break
/// long form values into lines.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .collect();
    let body = compact.trim_end_matches('=');
    if compact.is_empty()
        || !compact.len().is_multiple_of(4)
        || compact.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    openssl::base64::decode_block(&compact).ok()
}
