//! Reading the verified Assertion: every SPID rule on its fields (spid-and-cie-id.md §1.3 items 8–14,
//! spid-sp-test cases 33–99), each value read from the element the signature layer verified.
//!
//! The starting point is [`VerifiedSignature::signed_element`], never a lookup by ID; from there
//! only children are followed, and every node read is checked to be covered by that signature
//! (outside the `ds:Signature` the enveloped transform removed). The check cannot fail for a reader
//! that follows children of the signed element, which is the point: it turns a future mistake in
//! this file into a refusal instead of an accepted unsigned value.

use chrono::{DateTime, Utc};

use super::ASSERTION_NAMESPACE;
use super::attributes::{Attributes, read_attribute_statement};
use super::error::{Field, ResponseError};
use super::level::SpidLevel;
use super::read::{
    attribute, child, children, instant, optional_attribute, require_content, required_child, text,
    value_shown,
};
use super::response::{Federation, ResponseExpectations, check_issuer, check_version, must_equal};
use super::verified::{NameId, VerifiedAssertion};
use super::{BEARER_METHOD, TRANSIENT_FORMAT};
use crate::dsig::VerifiedSignature;
use crate::xml::{Document, NodeId};

const NS: &str = ASSERTION_NAMESPACE;

pub(super) fn read_assertion(
    doc: &Document,
    verified: &VerifiedSignature,
    expected: &ResponseExpectations<'_>,
    response_id: String,
) -> Result<VerifiedAssertion, ResponseError> {
    let assertion = verified.signed_element();
    let covered = |node: NodeId, field: Field| -> Result<(), ResponseError> {
        if verified.covers(doc, node) {
            Ok(())
        } else {
            Err(ResponseError::NotCovered { field })
        }
    };
    // Follows one child name from a covered parent, checking the child is covered too.
    let required = |parent: NodeId, local: &str, field: Field| -> Result<NodeId, ResponseError> {
        let node = required_child(doc, parent, NS, local, field)?;
        covered(node, field)?;
        Ok(node)
    };

    let assertion_id = attribute(doc, assertion, "ID", Field::AssertionId)?.to_owned();
    check_version(doc, assertion, Field::AssertionVersion)?;
    let issue_instant = instant(doc, assertion, "IssueInstant", Field::AssertionIssueInstant)?;
    expected.check_issued(issue_instant, Field::AssertionIssueInstant)?;
    let (issuer_node, issuer) = check_issuer(
        doc,
        assertion,
        expected,
        Field::AssertionIssuer,
        Field::AssertionIssuerFormat,
        expected.federation == Federation::Spid,
    )?;
    covered(issuer_node, Field::AssertionIssuer)?;
    // Regole Tecniche: "l'elemento <Advice> non deve essere presente".
    if child(doc, assertion, NS, "Advice", Field::Advice)?.is_some() {
        return Err(ResponseError::Forbidden { field: Field::Advice });
    }

    // Subject: NameID and the bearer confirmation.
    let subject = required(assertion, "Subject", Field::Subject)?;
    require_content(doc, subject, Field::Subject)?;
    let name_id = read_name_id(doc, required(subject, "NameID", Field::NameId)?)?;
    let confirmation_until = read_subject_confirmation(doc, subject, expected, &covered)?;

    // Conditions: validity window (NotOnOrAfter first: spid-sp-test 82 breaks both) and audience.
    let conditions = required(assertion, "Conditions", Field::Conditions)?;
    let conditions_until = instant(doc, conditions, "NotOnOrAfter", Field::ConditionsNotOnOrAfter)?;
    let not_before = instant(doc, conditions, "NotBefore", Field::ConditionsNotBefore)?;
    expected.check_not_on_or_after(conditions_until, Field::ConditionsNotOnOrAfter)?;
    expected.check_not_before(not_before, Field::ConditionsNotBefore)?;
    check_audience(doc, conditions, expected, &covered)?;

    // AuthnStatement: the level (and SessionIndex, present for L1 only).
    let statement = required(assertion, "AuthnStatement", Field::AuthnStatement)?;
    require_content(doc, statement, Field::AuthnStatement)?;
    let session_index = match optional_attribute(doc, statement, "SessionIndex") {
        Some(_) => Some(attribute(doc, statement, "SessionIndex", Field::SessionIndex)?.to_owned()),
        None => None,
    };
    let context = required(statement, "AuthnContext", Field::AuthnContext)?;
    require_content(doc, context, Field::AuthnContext)?;
    let class_ref = required(context, "AuthnContextClassRef", Field::AuthnContextClassRef)?;
    let class_ref = text(doc, class_ref, Field::AuthnContextClassRef)?;
    let level = SpidLevel::from_uri(&class_ref).ok_or_else(|| ResponseError::UnknownLevel {
        found: value_shown(&class_ref),
    })?;
    let request = expected.request;
    if !request.level.is_satisfied_by(level, request.comparison) {
        return Err(ResponseError::LevelTooLow {
            returned: level,
            requested: request.level,
            comparison: request.comparison,
        });
    }

    let attributes = match child(
        doc,
        assertion,
        NS,
        "AttributeStatement",
        Field::AttributeStatement,
    )? {
        Some(statement) => {
            covered(statement, Field::AttributeStatement)?;
            read_attribute_statement(doc, statement, &covered)?
        }
        None => Attributes::default(),
    };

    Ok(VerifiedAssertion {
        issuer,
        response_id,
        assertion_id,
        in_response_to: request.id.clone(),
        name_id,
        session_index,
        level,
        attributes,
        issue_instant,
        not_on_or_after: confirmation_until.min(conditions_until),
    })
}

/// NameID (spid-sp-test 43–49): a transient identifier with its NameQualifier.
fn read_name_id(doc: &Document, name_id: NodeId) -> Result<NameId, ResponseError> {
    let value = text(doc, name_id, Field::NameId)?;
    let format = attribute(doc, name_id, "Format", Field::NameIdFormat)?;
    if format != TRANSIENT_FORMAT {
        return Err(ResponseError::NotAllowed {
            field: Field::NameIdFormat,
            found: value_shown(format),
            expected: TRANSIENT_FORMAT,
        });
    }
    // The Regole Tecniche write the IdP there, but spid-sp-test checks only presence (48, 49) and
    // IdPs differ; it is returned for the application rather than compared.
    let name_qualifier = attribute(doc, name_id, "NameQualifier", Field::NameIdNameQualifier)?.to_owned();
    Ok(NameId {
        value,
        name_qualifier,
    })
}

/// SubjectConfirmation (51–66): one bearer confirmation for our ACS, answering our request, still
/// valid. Returns its NotOnOrAfter.
fn read_subject_confirmation(
    doc: &Document,
    subject: NodeId,
    expected: &ResponseExpectations<'_>,
    covered: &dyn Fn(NodeId, Field) -> Result<(), ResponseError>,
) -> Result<DateTime<Utc>, ResponseError> {
    let field = Field::SubjectConfirmation;
    let confirmation = required_child(doc, subject, NS, "SubjectConfirmation", field)?;
    covered(confirmation, field)?;
    let method = optional_attribute(doc, confirmation, "Method");
    if method.is_none() && doc.child_elements(confirmation).next().is_none() {
        return Err(ResponseError::Empty { field });
    }
    let method = attribute(doc, confirmation, "Method", Field::SubjectConfirmationMethod)?;
    if method != BEARER_METHOD {
        return Err(ResponseError::NotAllowed {
            field: Field::SubjectConfirmationMethod,
            found: value_shown(method),
            expected: BEARER_METHOD,
        });
    }
    let data_field = Field::SubjectConfirmationData;
    let data = required_child(doc, confirmation, NS, "SubjectConfirmationData", data_field)?;
    covered(data, data_field)?;
    let recipient = attribute(doc, data, "Recipient", Field::Recipient)?;
    must_equal(recipient, expected.acs_url, Field::Recipient)?;
    let in_response_to = attribute(doc, data, "InResponseTo", Field::SubjectConfirmationInResponseTo)?;
    must_equal(
        in_response_to,
        &expected.request.id,
        Field::SubjectConfirmationInResponseTo,
    )?;
    let until = instant(doc, data, "NotOnOrAfter", Field::SubjectConfirmationNotOnOrAfter)?;
    expected.check_not_on_or_after(until, Field::SubjectConfirmationNotOnOrAfter)?;
    // SAML Profiles §4.1.4.2 says a bearer confirmation has no NotBefore; one that is present is
    // honoured rather than refused.
    if optional_attribute(doc, data, "NotBefore").is_some() {
        let not_before = instant(doc, data, "NotBefore", Field::SubjectConfirmationNotBefore)?;
        expected.check_not_before(not_before, Field::SubjectConfirmationNotBefore)?;
    }
    Ok(until)
}

/// AudienceRestriction (73, 83–87). SAML Core §2.5.1.4: every AudienceRestriction must name us (in
/// any of its Audiences); SPID sends one.
fn check_audience(
    doc: &Document,
    conditions: NodeId,
    expected: &ResponseExpectations<'_>,
    covered: &dyn Fn(NodeId, Field) -> Result<(), ResponseError>,
) -> Result<(), ResponseError> {
    let mut restrictions = children(doc, conditions, NS, "AudienceRestriction").peekable();
    if restrictions.peek().is_none() {
        return Err(ResponseError::Missing {
            field: Field::AudienceRestriction,
        });
    }
    for restriction in restrictions {
        covered(restriction, Field::AudienceRestriction)?;
        let mut audiences = children(doc, restriction, NS, "Audience").peekable();
        if audiences.peek().is_none() {
            return Err(ResponseError::Missing {
                field: Field::Audience,
            });
        }
        let mut ours = false;
        let mut first = None;
        for audience in audiences {
            covered(audience, Field::Audience)?;
            let value = text(doc, audience, Field::Audience)?;
            ours |= value == expected.sp_entity_id;
            first.get_or_insert(value);
        }
        if !ours {
            return Err(ResponseError::Mismatch {
                field: Field::Audience,
                found: value_shown(&first.unwrap_or_default()),
                expected: value_shown(expected.sp_entity_id),
            });
        }
    }
    Ok(())
}
